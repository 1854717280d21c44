/*
 * diag.c - the one printer for compiler diagnostics, in GCC's form:
 *
 *     app.srv:9:5: error: route GET "/users/:id" defined twice
 *         GET "/users/:id" show_user;
 *         ^~~
 *     app.srv:4:5: note: first defined here
 *
 * Every pass reports through here and checks d->nerrors afterwards.
 */
#include "srvc.h"

#include <stdarg.h>

void diag_init(Diag *d, const Source *src, FILE *out)
{
    d->src = src;
    d->out = out;
    d->nerrors = 0;
    d->max_errors = 100;
}

/* The source line, then spaces (tabs kept, so the caret lines up in any
 * terminal) and "^~~~" under the span, clipped to the line. */
static void show_line(const Source *src, FILE *out, size_t off, size_t len)
{
    unsigned line, col;
    source_line_col(src, off, &line, &col);
    size_t n;
    const char *text = source_line_text(src, line, &n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        fputc(c == '\t' || c >= 0x20 ? c : ' ', out);
    }
    fputc('\n', out);
    for (size_t i = 0; i + 1 < col && i < n; i++)
        fputc(text[i] == '\t' ? '\t' : ' ', out);
    fputc('^', out);
    size_t avail = col - 1 < n ? n - (col - 1) : 0;
    for (size_t i = 1; i < len && i < avail; i++)
        fputc('~', out);
    fputc('\n', out);
}

static void report(Diag *d, Loc loc, const char *kind, const char *fmt, va_list ap)
{
    if (loc.off == LOC_NONE) {
        fprintf(d->out, "%s: %s: ", d->src->name, kind);
        vfprintf(d->out, fmt, ap);
        fputc('\n', d->out);
        return;
    }
    unsigned line, col;
    source_line_col(d->src, loc.off, &line, &col);
    fprintf(d->out, "%s:%u:%u: %s: ", d->src->name, line, col, kind);
    vfprintf(d->out, fmt, ap);
    fputc('\n', d->out);
    show_line(d->src, d->out, loc.off, loc.len);
}

void diag_error(Diag *d, Loc loc, const char *fmt, ...)
{
    d->nerrors++;
    if (d->nerrors > d->max_errors)
        return;
    va_list ap;
    va_start(ap, fmt);
    report(d, loc, "error", fmt, ap);
    va_end(ap);
    if (d->nerrors == d->max_errors)
        fprintf(d->out, "%s: note: too many errors, stopping\n", d->src->name);
}

void diag_note(Diag *d, Loc loc, const char *fmt, ...)
{
    if (d->nerrors > d->max_errors)
        return;
    va_list ap;
    va_start(ap, fmt);
    report(d, loc, "note", fmt, ap);
    va_end(ap);
}

void diag_tool_error(FILE *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("srvc: error: ", out);
    vfprintf(out, fmt, ap);
    fputc('\n', out);
    va_end(ap);
}
