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
#include <string.h>

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

/* --- did you mean ---------------------------------------------------------- */

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

enum { SUGGEST_MAX = 64 }; /* longer words are not typos of ours */

/* Edit distance between A and B (optimal string alignment: an insertion,
 * a deletion, a substitution or two neighbours swapped cost one each, so
 * "wrokers" is one edit from "workers", as a typist sees it). */
static size_t distance(const char *a, size_t n, const char *b, size_t m)
{
    size_t rows[3][SUGGEST_MAX + 1];
    size_t *prev2 = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= m; j++)
        prev[j] = j;
    for (size_t i = 1; i <= n; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t v = prev[j - 1] + cost;
            if (prev[j] + 1 < v)
                v = prev[j] + 1;
            if (cur[j - 1] + 1 < v)
                v = cur[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                prev2[j - 2] + 1 < v)
                v = prev2[j - 2] + 1;
            cur[j] = v;
        }
        size_t *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[m];
}

const char *diag_suggest(const char *name, size_t len, const char *const *cands, size_t n)
{
    if (len == 0 || len > SUGGEST_MAX)
        return NULL;
    /* The same word in another case first: `Get` is `GET`. */
    for (size_t i = 0; i < n; i++) {
        size_t m = strlen(cands[i]);
        size_t k = 0;
        while (k < len && k < m && lower(name[k]) == lower(cands[i][k]))
            k++;
        if (k == len && k == m)
            return cands[i];
    }
    /* Then the closest word within a third of the longer one's length:
     * one slip in a short word, more in a long one, and never a word that
     * merely shares a few letters (FETCH is not PATCH). */
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        size_t m = strlen(cands[i]);
        if (m > SUGGEST_MAX)
            continue;
        size_t longer = m > len ? m : len;
        size_t dist = distance(name, len, cands[i], m);
        if (dist * 3 <= longer && dist < best_d) {
            best = cands[i];
            best_d = dist;
        }
    }
    return best;
}

void diag_unknown(Diag *d, Loc loc, const char *what, const char *name, size_t len,
                  const char *const *cands, size_t n, const char *expected)
{
    const char *s = diag_suggest(name, len, cands, n);
    if (s)
        diag_error(d, loc, "unknown %s '%.*s'; did you mean '%s'?", what, (int)len, name, s);
    else if (expected)
        diag_error(d, loc, "unknown %s '%.*s' (expected %s)", what, (int)len, name, expected);
    else
        diag_error(d, loc, "unknown %s '%.*s'", what, (int)len, name);
}
