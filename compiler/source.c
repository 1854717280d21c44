/*
 * source.c - loads a .srv file into memory and answers "which line and
 * column is this byte on" for diagnostics and #line directives.  The text is
 * followed by a NUL so the re2c lexer can use it as a sentinel; NULs inside
 * the file are ordinary (bad) characters.
 */
#include "srvc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void index_lines(Source *src, Arena *a)
{
    size_t n = 1;
    for (size_t i = 0; i < src->len; i++)
        n += src->text[i] == '\n';
    src->line_starts = arena_alloc(a, n * sizeof *src->line_starts);
    src->nlines = 0;
    src->line_starts[src->nlines++] = 0;
    for (size_t i = 0; i < src->len; i++)
        if (src->text[i] == '\n')
            src->line_starts[src->nlines++] = i + 1;
}

void source_from_memory(Source *src, Arena *a, const char *name, const char *text,
                        size_t len)
{
    src->name = name;
    src->text = arena_strndup(a, text, len);
    src->len = len;
    index_lines(src, a);
}

bool source_load(Source *src, Arena *a, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            buf = xrealloc(buf, cap);
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    int err = ferror(f) ? EIO : 0;
    fclose(f);
    if (err) {
        free(buf);
        errno = err;
        return false;
    }
    source_from_memory(src, a, path, buf, len);
    free(buf);
    return true;
}

void source_line_col(const Source *src, size_t off, unsigned *line, unsigned *col)
{
    if (off > src->len)
        off = src->len;
    size_t lo = 0, hi = src->nlines; /* last line start <= off */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (src->line_starts[mid] <= off)
            lo = mid;
        else
            hi = mid;
    }
    *line = (unsigned)(lo + 1);
    *col = (unsigned)(off - src->line_starts[lo] + 1);
}

const char *source_line_text(const Source *src, unsigned line, size_t *len)
{
    if (line == 0 || line > src->nlines) {
        *len = 0;
        return "";
    }
    size_t start = src->line_starts[line - 1];
    size_t end = line < src->nlines ? src->line_starts[line] - 1 : src->len;
    if (end > start && src->text[end - 1] == '\r')
        end--;
    *len = end - start;
    return src->text + start;
}
