/*
 * media.c - media types and parameter lists (RFC 9110 8.3.1 and 5.6.6), the
 * one parser behind the body accessors: form.c and json.c check a request's
 * Content-Type with it, multipart.c also takes the boundary parameter from
 * it and parses each part's Content-Disposition (RFC 6266 has the same
 * parameter syntax).  It only reads: results are views into the text given,
 * and a quoted-string is unescaped by srv__param_copy() into memory the
 * caller chose.  Strict like the HTTP parser: no whitespace around '=', a
 * quoted-string must be closed, anything after a value but ';' is an error.
 */
#include "internal.h"

#include <errno.h>
#include <strings.h>

/* RFC 9110 tchar. */
static bool is_tchar(unsigned char c)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    if ((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'))
        return true;
    return c != '\0' && memchr(extra, c, sizeof extra - 1) != NULL;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* The end of the token at P (P itself when there is none). */
static const char *token_end(const char *p, const char *end)
{
    while (p < end && is_tchar((unsigned char)*p))
        p++;
    return p;
}

int srv__media_parse(const char *s, size_t len, struct srv__media *m)
{
    const char *p = s, *end = s + len;
    while (p < end && is_ows(*p))
        p++;
    while (end > p && is_ows(end[-1]))
        end--;
    const char *t = token_end(p, end);
    if (t == p || t == end || *t != '/')
        return -EINVAL;
    const char *st = t + 1, *se = token_end(st, end);
    if (se == st)
        return -EINVAL;
    m->type = p;
    m->type_len = (size_t)(t - p);
    m->subtype = st;
    m->subtype_len = (size_t)(se - st);
    m->params = se;
    m->end = end;
    /* Only whitespace or a parameter list may follow the subtype. */
    const char *q = se;
    while (q < end && is_ows(*q))
        q++;
    return q == end || *q == ';' ? 0 : -EINVAL;
}

bool srv__media_is(const struct srv__media *m, const char *type, const char *subtype)
{
    size_t tl = strlen(type), sl = strlen(subtype);
    return m->type_len == tl && strncasecmp(m->type, type, tl) == 0 &&
           m->subtype_len == sl && strncasecmp(m->subtype, subtype, sl) == 0;
}

bool srv__content_type(const struct srv_request *req, struct srv__media *m)
{
    const char *v = srv_request_header(req, "content-type");
    if (v == NULL)
        return false;
    size_t len = 0;
    for (; v[len]; len++) {
        unsigned char c = (unsigned char)v[len];
        if ((c < 0x20 && c != '\t') || c >= 0x7f)
            return false;
    }
    if (srv__media_parse(v, len, m) < 0)
        return false;
    const char *p = m->params;
    struct srv__param prm;
    int r;
    while ((r = srv__param_next(&p, m->end, &prm)) > 0)
        ;
    return r == 0;
}

/* quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE at P: its end
 * (past the closing quote), or NULL when it is not closed or holds a byte
 * it may not (a control character other than HTAB, DEL). */
static const char *quoted_end(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c == '\\') {
            if (++p == end)
                return NULL;
            c = (unsigned char)*p;
        }
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return NULL;
    }
    return NULL;
}

int srv__param_next(const char **pp, const char *end, struct srv__param *prm)
{
    const char *p = *pp;
    for (;;) {
        while (p < end && is_ows(*p))
            p++;
        if (p == end) {
            *pp = p;
            return 0;
        }
        if (*p != ';')
            return -EINVAL;
        p++;
        while (p < end && is_ows(*p))
            p++;
        if (p < end && *p != ';')
            break;
    }
    const char *n = p;
    p = token_end(p, end);
    if (p == n || p == end || *p != '=')
        return -EINVAL;
    prm->name = n;
    prm->name_len = (size_t)(p - n);
    const char *v = ++p;
    if (p < end && *p == '"')
        p = quoted_end(p, end);
    else
        p = token_end(p, end);
    if (p == NULL || p == v)
        return -EINVAL;
    prm->value = v;
    prm->value_len = (size_t)(p - v);
    *pp = p;
    return 1;
}

bool srv__param_is(const struct srv__param *prm, const char *name)
{
    size_t n = strlen(name);
    return prm->name_len == n && strncasecmp(prm->name, name, n) == 0;
}

size_t srv__param_copy(const struct srv__param *prm, char *dst)
{
    const char *v = prm->value;
    size_t len = prm->value_len, n = 0;
    if (len >= 2 && v[0] == '"') {
        /* srv__param_next() checked it: closed, every '\\' followed by a byte. */
        for (size_t i = 1; i + 1 < len; i++) {
            if (v[i] == '\\')
                i++;
            dst[n++] = v[i];
        }
    } else {
        memcpy(dst, v, len);
        n = len;
    }
    dst[n] = '\0';
    return n;
}
