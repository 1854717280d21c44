/*
 * json_write.c - the JSON writer (srv_json_*): a response body built in the
 * request arena as the handler calls, with no tree in between.  Each call
 * appends to one growing buffer; a small stack of open containers tells
 * where commas and colons go and catches misuse, which marks the response
 * failed (response.c) so a broken document is never sent.  Strings are
 * escaped here too (srv__json_quote() serves json.c's error bodies): a
 * table says which bytes are copied as they are, runs of them are copied
 * with one memcpy, and bytes >= 0x80 are checked to be well-formed UTF-8
 * (Unicode table 3-7), each offending byte becoming U+FFFD.  Only doubles
 * go through the C library (printf, then strtod to find the shortest form
 * that reads back the same); integers and strings never do.
 *
 * The same writer makes messages (srv_json_message: a WebSocket message,
 * an event, a publish), which have no response and no arena: the buffer is
 * then the writer's own, on the heap, and a misuse is logged instead.
 */
#include "internal.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

struct srv_json {
    struct srv_response *res; /* NULL: a message (srv_json_message) */
    char *buf;
    size_t len, cap;
    unsigned depth;
    bool need_comma; /* a value was written at this level: the next one needs ',' */
    bool after_key;  /* in an object: a key was written, its value comes next */
    bool has_top;    /* the top-level value was written */
    bool done;       /* srv_json_end() ran */
    bool failed;     /* a misuse was reported: later calls do nothing */
    char open[MAX_DEPTH]; /* '{' or '[' per open container */
};

/* ---- Strings -------------------------------------------------------------- */

/* Bytes copied as they are: printable ASCII but '"' and '\\', and DEL. */
#define P(c) [c] = (c) != '"' && (c) != '\\'
#define R16(b) P(b), P(b + 1), P(b + 2), P(b + 3), P(b + 4), P(b + 5), P(b + 6), P(b + 7), \
               P(b + 8), P(b + 9), P(b + 10), P(b + 11), P(b + 12), P(b + 13), P(b + 14), \
               P(b + 15)
static const uint8_t plain[256] = {R16(0x20), R16(0x30), R16(0x40), R16(0x50), R16(0x60),
                                   R16(0x70)};
#undef R16
#undef P

/* The length of the well-formed UTF-8 sequence at P (lead byte >= 0x80),
 * or 0 when P does not start one before END. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t n;
    unsigned lo = 0x80, hi = 0xbf; /* the range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong below */
        else if (c == 0xed)
            hi = 0x9f; /* surrogates above */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong below */
        else if (c == 0xf4)
            hi = 0x8f; /* past U+10FFFF above */
    } else {
        return 0; /* a continuation byte, C0, C1 or F5..FF */
    }
    if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

/* Writes the escaped form of [*PP, END) at O, without quotes.  Stops early,
 * with *PP at the first byte not written, when an escape would leave less
 * room before LIMIT than the bytes still to come (each of which takes at
 * least one); so a caller that starts with LIMIT - O >= END - *PP only has
 * to grow its buffer and call again. */
static char *escape(char *o, const unsigned char **pp, const unsigned char *end,
                    const char *limit)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = *pp;
    while (p < end) {
        const unsigned char *r = p;
        while (r < end && plain[*r])
            r++;
        memcpy(o, p, (size_t)(r - p));
        o += r - p;
        p = r;
        if (p == end)
            break;
        unsigned c = *p;
        if (c >= 0x80) {
            size_t k = utf8_seq(p, end);
            if (k) {
                memcpy(o, p, k);
                o += k;
                p += k;
                continue;
            }
        }
        /* One byte in, up to six out. */
        if ((size_t)(limit - o) < 6 + (size_t)(end - p - 1))
            break;
        if (c >= 0x80) {
            memcpy(o, "\xef\xbf\xbd", 3); /* U+FFFD */
            o += 3;
        } else {
            *o++ = '\\';
            switch (c) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '\b': *o++ = 'b'; break;
            case '\f': *o++ = 'f'; break;
            case '\n': *o++ = 'n'; break;
            case '\r': *o++ = 'r'; break;
            case '\t': *o++ = 't'; break;
            default:
                memcpy(o, "u00", 3);
                o[3] = hex[c >> 4];
                o[4] = hex[c & 15];
                o += 5;
            }
        }
        p++;
    }
    *pp = p;
    return o;
}

char *srv__json_quote(char *out, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    *out++ = '"';
    out = escape(out, &p, p + len, out + 6 * len);
    *out++ = '"';
    return out;
}

/* ---- The buffer and the nesting ------------------------------------------- */

static void misuse(struct srv_json *j, const char *what)
{
    if (!j->failed) {
        if (j->res != NULL)
            srv__response_fail(j->res, "JSON writer:", what);
        else
            srv_log(SRV_LOG_ERROR, "JSON writer: %s (the message is not sent)", what);
    }
    j->failed = true;
}

/* Makes room for N more bytes. */
static void reserve(struct srv_json *j, size_t n)
{
    if (SRV__LIKELY(j->cap - j->len >= n))
        return;
    size_t cap = j->cap * 2;
    if (cap < j->len + n)
        cap = j->len + n;
    if (j->res == NULL) {
        j->buf = srv__xrealloc(j->buf, cap);
    } else {
        char *b = srv__arena_alloc(j->res->arena, cap);
        memcpy(b, j->buf, j->len);
        j->buf = b;
    }
    j->cap = cap;
}

static void put(struct srv_json *j, const char *s, size_t n)
{
    reserve(j, n);
    memcpy(j->buf + j->len, s, n);
    j->len += n;
}

/* Before a value: is one allowed here?  Writes the comma. */
static bool value_begin(struct srv_json *j)
{
    if (SRV__UNLIKELY(j->failed || j->done)) {
        if (j->done)
            misuse(j, "a call after srv_json_end()");
        return false;
    }
    if (j->depth == 0) {
        if (j->has_top) {
            misuse(j, "a second top-level value");
            return false;
        }
        return true;
    }
    if (j->open[j->depth - 1] == '{') {
        if (!j->after_key) {
            misuse(j, "a value where an object expects a key");
            return false;
        }
        return true;
    }
    if (j->need_comma)
        put(j, ",", 1);
    return true;
}

static void value_end(struct srv_json *j)
{
    j->after_key = false;
    j->need_comma = true;
    if (j->depth == 0)
        j->has_top = true;
}

static void put_string(struct srv_json *j, const char *s, size_t n)
{
    reserve(j, n + 2);
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    char *o = j->buf + j->len;
    *o++ = '"';
    for (;;) {
        /* Keeps one byte for the closing quote. */
        o = escape(o, &p, end, j->buf + j->cap - 1);
        if (p == end)
            break;
        j->len = (size_t)(o - j->buf);
        reserve(j, (size_t)(end - p) + 7);
        o = j->buf + j->len;
    }
    *o++ = '"';
    j->len = (size_t)(o - j->buf);
}

/* ---- The API -------------------------------------------------------------- */

struct srv_json *srv_json_begin(struct srv_response *res)
{
    struct srv_json *j = srv__arena_alloc(res->arena, sizeof *j);
    memset(j, 0, sizeof *j);
    j->res = res;
    j->cap = 256;
    j->buf = srv__arena_alloc(res->arena, j->cap);
    return j;
}

struct srv_json *srv_json_message(void)
{
    struct srv_json *j = srv__xcalloc(1, sizeof *j);
    j->cap = 256;
    j->buf = srv__xmalloc(j->cap);
    return j;
}

const char *srv_json_text(const struct srv_json *j, size_t *len)
{
    if (j->res != NULL || !j->done || j->failed) {
        *len = 0;
        return NULL;
    }
    *len = j->len;
    return j->buf;
}

void srv_json_free(struct srv_json *j)
{
    if (j == NULL || j->res != NULL)
        return; /* a response's writer lives in the request arena */
    free(j->buf);
    free(j);
}

static void open_container(struct srv_json *j, char c)
{
    if (!value_begin(j))
        return;
    if (j->depth == MAX_DEPTH) {
        misuse(j, "more than 64 levels of nesting");
        return;
    }
    j->open[j->depth++] = c;
    put(j, &c, 1);
    j->need_comma = false;
    j->after_key = false;
}

static void close_container(struct srv_json *j, char c)
{
    if (j->failed)
        return;
    if (j->done) {
        misuse(j, "a call after srv_json_end()");
        return;
    }
    char want = c == '}' ? '{' : '[';
    if (j->depth == 0 || j->open[j->depth - 1] != want) {
        misuse(j, c == '}' ? "srv_json_object_end() without an open object"
                           : "srv_json_array_end() without an open array");
        return;
    }
    if (j->after_key) {
        misuse(j, "a key without a value");
        return;
    }
    j->depth--;
    put(j, &c, 1);
    value_end(j);
}

void srv_json_object(struct srv_json *j)
{
    open_container(j, '{');
}

void srv_json_object_end(struct srv_json *j)
{
    close_container(j, '}');
}

void srv_json_array(struct srv_json *j)
{
    open_container(j, '[');
}

void srv_json_array_end(struct srv_json *j)
{
    close_container(j, ']');
}

void srv_json_key_n(struct srv_json *j, const char *key, size_t len)
{
    if (j->failed)
        return;
    if (j->done) {
        misuse(j, "a call after srv_json_end()");
        return;
    }
    if (j->depth == 0 || j->open[j->depth - 1] != '{') {
        misuse(j, "a key outside an object");
        return;
    }
    if (j->after_key) {
        misuse(j, "a key where a value is expected");
        return;
    }
    if (key == NULL) {
        misuse(j, "a NULL key");
        return;
    }
    if (j->need_comma)
        put(j, ",", 1);
    put_string(j, key, len);
    put(j, ":", 1);
    j->after_key = true;
}

void srv_json_key(struct srv_json *j, const char *key)
{
    srv_json_key_n(j, key, key ? strlen(key) : 0);
}

void srv_json_string_n(struct srv_json *j, const char *s, size_t len)
{
    if (s == NULL) {
        srv_json_null(j);
        return;
    }
    if (!value_begin(j))
        return;
    put_string(j, s, len);
    value_end(j);
}

void srv_json_string(struct srv_json *j, const char *s)
{
    srv_json_string_n(j, s, s ? strlen(s) : 0);
}

/* Writes V in decimal, with a '-' when NEG. */
static void put_u64(struct srv_json *j, uint64_t v, bool neg)
{
    char tmp[21];
    size_t n = sizeof tmp;
    do {
        tmp[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    if (neg)
        tmp[--n] = '-';
    put(j, tmp + n, sizeof tmp - n);
}

void srv_json_int(struct srv_json *j, int64_t v)
{
    if (!value_begin(j))
        return;
    /* The magnitude of INT64_MIN does not fit an int64_t. */
    put_u64(j, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, v < 0);
    value_end(j);
}

void srv_json_uint(struct srv_json *j, uint64_t v)
{
    if (!value_begin(j))
        return;
    put_u64(j, v, false);
    value_end(j);
}

/* The "C" numeric locale, so a program that called setlocale() still gets
 * a '.' in its numbers; (locale_t)0 if it could not be made. */
static locale_t c_numeric(void)
{
    static locale_t loc;
    static bool tried;
    if (!tried) {
        tried = true;
        loc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    }
    return loc;
}

void srv_json_double(struct srv_json *j, double v)
{
    if (!value_begin(j))
        return;
    if (!isfinite(v)) {
        misuse(j, isnan(v) ? "NaN has no JSON form" : "an infinity has no JSON form");
        return;
    }
    locale_t c = c_numeric(), old = c ? uselocale(c) : (locale_t)0;
    /* 17 significant digits always read back the same double; fewer often
     * do and read better (0.1, not 0.10000000000000001). */
    char tmp[32];
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    if (c)
        uselocale(old);
    put(j, tmp, (size_t)n);
    value_end(j);
}

void srv_json_bool(struct srv_json *j, bool v)
{
    if (!value_begin(j))
        return;
    if (v)
        put(j, "true", 4);
    else
        put(j, "false", 5);
    value_end(j);
}

void srv_json_null(struct srv_json *j)
{
    if (!value_begin(j))
        return;
    put(j, "null", 4);
    value_end(j);
}

void srv_json_end(struct srv_json *j)
{
    if (j->failed)
        return;
    if (j->done) {
        misuse(j, "srv_json_end() twice");
        return;
    }
    if (j->depth > 0) {
        misuse(j, j->open[j->depth - 1] == '{' ? "srv_json_end() with an object still open"
                                               : "srv_json_end() with an array still open");
        return;
    }
    if (!j->has_top) {
        misuse(j, "srv_json_end() with no value written");
        return;
    }
    j->done = true;
    if (j->res == NULL) {
        reserve(j, 1);
        j->buf[j->len] = '\0'; /* text for srv_ws_send_text and printf alike */
        return;
    }
    srv_response_set_header(j->res, "Content-Type", "application/json");
    srv_response_body_static(j->res, j->buf, j->len);
}
