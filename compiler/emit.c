/*
 * emit.c - the output buffer codegen writes into.  It counts lines so
 * codegen can point #line directives back at the generated file, and it
 * writes the finished text through a temporary file renamed into place, so
 * a failed or interrupted srvc never leaves a half-written .c behind.
 */
#include "srvc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void emit_init(Emit *e)
{
    e->buf = NULL;
    e->len = e->cap = 0;
    e->line = 1;
}

void emit_free(Emit *e)
{
    free(e->buf);
    emit_init(e);
}

static void reserve(Emit *e, size_t n)
{
    if (e->cap - e->len >= n)
        return;
    size_t cap = e->cap ? e->cap : 4096;
    while (cap - e->len < n)
        cap *= 2;
    e->buf = xrealloc(e->buf, cap);
    e->cap = cap;
}

void emit_bytes(Emit *e, const char *p, size_t n)
{
    reserve(e, n);
    for (size_t i = 0; i < n; i++)
        e->line += p[i] == '\n';
    memcpy(e->buf + e->len, p, n);
    e->len += n;
}

void emit_str(Emit *e, const char *s)
{
    emit_bytes(e, s, strlen(s));
}

void emit_vfmt(Emit *e, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    if (n > 0) {
        reserve(e, (size_t)n + 1);
        vsnprintf(e->buf + e->len, (size_t)n + 1, fmt, again);
        for (int i = 0; i < n; i++)
            e->line += e->buf[e->len + (size_t)i] == '\n';
        e->len += (size_t)n;
    }
    va_end(again);
}

void emit_fmt(Emit *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit_vfmt(e, fmt, ap);
    va_end(ap);
}

/* Printable ASCII stays readable; everything else becomes a 3-digit octal
 * escape, which (unlike \x) cannot swallow a following hex digit.  "??" is
 * broken up because C11 still has trigraphs. */
void emit_c_string(Emit *e, const char *s, size_t n)
{
    char tmp[8];
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': emit_str(e, "\\\""); break;
        case '\\': emit_str(e, "\\\\"); break;
        case '\n': emit_str(e, "\\n"); break;
        case '\t': emit_str(e, "\\t"); break;
        case '\r': emit_str(e, "\\r"); break;
        case '?':
            emit_str(e, i > 0 && s[i - 1] == '?' ? "\\?" : "?");
            break;
        default:
            if (c >= 0x20 && c < 0x7f) {
                tmp[0] = (char)c;
                emit_bytes(e, tmp, 1);
            } else {
                snprintf(tmp, sizeof tmp, "\\%03o", c);
                emit_str(e, tmp);
            }
        }
    }
}

bool emit_write_file(const Emit *e, const char *path, FILE *err)
{
    size_t plen = strlen(path);
    char *tmp = xrealloc(NULL, plen + sizeof ".tmp.XXXXXX");
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    int fd = mkstemp(tmp);
    if (fd < 0) {
        diag_tool_error(err, "cannot write '%s': %s", path, strerror(errno));
        free(tmp);
        return false;
    }
    /* mkstemp makes the file 0600; a generated source is as public as any
     * other file the user creates. */
    mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(fd, 0666 & ~mask);
    size_t done = 0;
    int saved = 0;
    while (done < e->len) {
        ssize_t n = write(fd, e->buf + done, e->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            saved = n < 0 ? errno : EIO;
            break;
        }
        done += (size_t)n;
    }
    if (close(fd) != 0 && !saved)
        saved = errno;
    if (!saved && rename(tmp, path) != 0)
        saved = errno;
    if (saved) {
        diag_tool_error(err, "cannot write '%s': %s", path, strerror(saved));
        unlink(tmp);
        free(tmp);
        return false;
    }
    free(tmp);
    return true;
}
