/*
 * form.c - application/x-www-form-urlencoded: the decoder ("%XX", '+') that
 * form bodies and request.c's query parameters share, and the form fields
 * of a request body.  The body is decoded once, on the first lookup, into
 * one array of fields in the request arena (srv__lazy); later lookups scan
 * that array.  Whether the body is a form at all is the Content-Type's
 * business (media.c): anything else has no fields.
 */
#include "internal.h"

#include <string.h>

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decodes one byte of a component at *P (which stops at END): "%XX" is a
 * byte, '+' a space, anything else itself (a malformed escape is taken
 * literally). */
static inline char decode_byte(const char **p, const char *end)
{
    const char *s = *p;
    if (*s == '+') {
        *p = s + 1;
        return ' ';
    }
    if (*s == '%' && end - s >= 3) {
        int hi = hexval((unsigned char)s[1]), lo = hexval((unsigned char)s[2]);
        if (hi >= 0 && lo >= 0) {
            *p = s + 3;
            return (char)(hi << 4 | lo);
        }
    }
    *p = s + 1;
    return *s;
}

size_t srv__form_decode(char *out, const char *in, size_t len)
{
    const char *end = in + len;
    size_t n = 0;
    while (in < end)
        out[n++] = decode_byte(&in, end);
    return n;
}

bool srv__form_key_equals(const char *k, size_t len, const char *name)
{
    const char *end = k + len;
    while (k < end) {
        if (*name == '\0' || decode_byte(&k, end) != *name)
            return false;
        name++;
    }
    return *name == '\0';
}

/* Splits and decodes the body once.  Pieces are '&'-separated; empty ones
 * are skipped (as browsers and the URL standard do). */
static void form_parse(struct srv_request *req, struct srv__lazy *lz)
{
    static const struct srv_form_field none[1];
    lz->form_done = true;
    lz->form = none;
    lz->nform = 0;
    struct srv__media m;
    if (req->body_len == 0 || !srv__content_type(req, &m) ||
        !srv__media_is(&m, "application", "x-www-form-urlencoded"))
        return;
    const char *b = req->body, *end = b + req->body_len;

    size_t n = 0;
    for (const char *p = b; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pend = amp ? amp : end;
        n += pend > p;
        p = pend + 1;
    }
    if (n == 0)
        return;
    /* Each piece decodes to at most its own length, plus two NULs. */
    struct srv_form_field *f = srv__arena_alloc(req->arena, n * sizeof *f);
    char *text = srv__arena_alloc(req->arena, req->body_len + 2 * n);
    size_t i = 0;
    for (const char *p = b; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pend = amp ? amp : end;
        if (pend > p) {
            const char *eq = memchr(p, '=', (size_t)(pend - p));
            const char *kend = eq ? eq : pend;
            f[i].name = text;
            f[i].name_len = srv__form_decode(text, p, (size_t)(kend - p));
            text += f[i].name_len;
            *text++ = '\0';
            f[i].value = text;
            f[i].value_len = eq ? srv__form_decode(text, eq + 1, (size_t)(pend - eq - 1)) : 0;
            text += f[i].value_len;
            *text++ = '\0';
            i++;
        }
        p = pend + 1;
    }
    lz->form = f;
    lz->nform = n;
}

const struct srv_form_field *srv_request_form_fields(struct srv_request *req, size_t *count)
{
    struct srv__lazy *lz = srv__request_lazy(req);
    if (!lz->form_done)
        form_parse(req, lz);
    if (count != NULL)
        *count = lz->nform;
    return lz->form;
}

const struct srv_form_field *srv_request_form_field(struct srv_request *req, const char *name)
{
    if (name == NULL)
        return NULL;
    size_t n, len = strlen(name);
    const struct srv_form_field *f = srv_request_form_fields(req, &n);
    for (size_t i = 0; i < n; i++)
        if (f[i].name_len == len && memcmp(f[i].name, name, len) == 0)
            return &f[i];
    return NULL;
}

const char *srv_request_form(struct srv_request *req, const char *name)
{
    const struct srv_form_field *f = srv_request_form_field(req, name);
    return f != NULL ? f->value : NULL;
}
