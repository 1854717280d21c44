/*
 * http_parse.c - request heads and chunked bodies (RFC 9112), in place.
 * The scanner generated from grammar/http.re checks the syntax and finds the
 * pieces; this file gives them their meaning: which Host, how the body is
 * framed (Content-Length / Transfer-Encoding, refusing every ambiguity a
 * request-smuggling attack relies on), Connection and Expect, and the path
 * as handlers see it (percent-decoded, dot-segments removed).  It sits in
 * L1, below conn.c, and never logs, allocates or blocks.
 *
 * Policies (see also the top of grammar/http.re):
 * - Content-Length must be one line holding 1*DIGIT.  A repeated line or a
 *   list, even of identical values ("5, 5"), is rejected with 400: RFC 9112
 *   6.3 lets a recipient accept identical repeats, but a strict server gains
 *   nothing from doing so and a proxy in front of it might disagree.
 * - Transfer-Encoding must end in exactly one "chunked" and contain nothing
 *   else we could decode, so: "chunked" only.  When chunked is not the
 *   final coding ("gzip", "chunked, gzip") the body's length cannot be
 *   known, so RFC 9112 6.3 requires 400 and a close; so does "chunked"
 *   twice or with parameters, any Transfer-Encoding in HTTP/1.0 and
 *   Transfer-Encoding with Content-Length.  Other codings before a final
 *   chunked ("gzip, chunked") are framed correctly but not decoded: 501.
 * - Absolute-form: HTTP/1.1 still needs exactly one valid Host line (RFC
 *   9112 3.2), but the host reported is the one from the request-target, as
 *   RFC 9112 3.2.2 requires; it is moved down over the "http://" so it can
 *   be NUL-terminated in place.
 * - ".." segments that would climb above the root are rejected, not
 *   clamped: no legitimate client sends them (RFC 3986 5.2.4 clients resolve
 *   them before sending).  Percent-decoding happens first, so "%2e%2e" and
 *   "%2f" count as dots and slashes: the check applies to the path the
 *   handler sees.
 * - Expect: 100-continue is ignored in HTTP/1.0 (RFC 9110 10.1.1); any
 *   other expectation gets 417.
 */
#include "http_scan.h"

#include <string.h>
#include <strings.h>

void srv__limits_resolve(struct srv_limits *out, const struct srv_limits *in)
{
    static const struct srv_limits none;
    if (!in)
        in = &none;
    out->request_line = in->request_line ? in->request_line : 8 * 1024;
    out->header_bytes = in->header_bytes ? in->header_bytes : 32 * 1024;
    out->header_count = in->header_count ? in->header_count : 100;
    out->body = in->body ? in->body : 1024 * 1024;
    out->header_timeout_ms = in->header_timeout_ms ? in->header_timeout_ms : 15000;
    out->body_timeout_ms = in->body_timeout_ms ? in->body_timeout_ms : 30000;
    out->idle_timeout_ms = in->idle_timeout_ms ? in->idle_timeout_ms : 60000;
    out->shutdown_timeout_ms = in->shutdown_timeout_ms ? in->shutdown_timeout_ms : 10000;
    out->response_timeout_ms = in->response_timeout_ms ? in->response_timeout_ms : 30000;
    out->sse_queue = in->sse_queue ? in->sse_queue : 64 * 1024;
    out->reload_timeout_ms = in->reload_timeout_ms ? in->reload_timeout_ms : 60000;
    out->multipart_parts = in->multipart_parts ? in->multipart_parts : 128;
    out->multipart_header = in->multipart_header ? in->multipart_header : 8 * 1024;
}

static unsigned hex_value(unsigned char c)
{
    return c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
}

/* The next byte of the decoded path at *I (the scanner has checked every
 * escape), advancing *I. */
static char path_next(const char *p, uint32_t *i)
{
    unsigned char c = (unsigned char)p[*i];
    if (c != '%') {
        ++*i;
        return (char)c;
    }
    c = (unsigned char)(hex_value((unsigned char)p[*i + 1]) << 4 | hex_value((unsigned char)p[*i + 2]));
    *i += 3;
    return (char)c;
}

/* Whether a ".." segment of the decoded path P[0..LEN) would climb above the
 * root.  Read-only, so a rejected request leaves the buffer untouched.
 * Every segment counts, empty ones too, as in RFC 3986 5.2.4. */
static bool path_climbs(const char *p, uint32_t len)
{
    long depth = 0;
    uint32_t i = 1, seg = 0;
    bool dots = true;
    for (;;) {
        bool at_end = i == len;
        char c = at_end ? '/' : path_next(p, &i);
        if (c != '/') {
            seg++;
            dots = dots && c == '.';
            continue;
        }
        if (dots && seg == 2) {
            if (--depth < 0)
                return true;
        } else if (!(dots && seg == 1)) {
            depth++;
        }
        if (at_end)
            return false;
        seg = 0;
        dots = true;
    }
}

/* Decodes P[0..LEN) in place and removes dot-segments (RFC 3986 5.2.4);
 * returns the new length.  The output never overtakes the input.  The
 * caller has checked path_climbs(). */
static uint32_t path_normalize(char *p, uint32_t len)
{
    char *w = p + 1, *seg = w;
    uint32_t i = 1;
    for (;;) {
        bool at_end = i == len;
        char c = at_end ? '/' : path_next(p, &i);
        if (c != '/') {
            *w++ = c;
            continue;
        }
        size_t n = (size_t)(w - seg);
        if (n == 1 && seg[0] == '.') {
            w = seg;
        } else if (n == 2 && seg[0] == '.' && seg[1] == '.') {
            w = seg - 1; /* the '/' that ends the previous segment */
            while (w[-1] != '/')
                w--;
        } else if (!at_end) {
            *w++ = '/';
        }
        if (at_end)
            return (uint32_t)(w - p);
        seg = w;
    }
}

static bool name_is(const struct srv__header *f, const char *name, uint32_t len)
{
    return f->name_len == len && strncasecmp(f->name, name, len) == 0;
}

/* Content-Length = 1*DIGIT, at most 2^64 - 1. */
static int parse_content_length(const struct srv__header *f, uint64_t *out)
{
    uint64_t n = 0;
    if (f->value_len == 0)
        return -400;
    for (uint32_t i = 0; i < f->value_len; i++) {
        unsigned d = (unsigned char)f->value[i] - '0';
        if (d > 9 || n > (UINT64_MAX - d) / 10)
            return -400;
        n = n * 10 + d;
    }
    *out = n;
    return 0;
}

/* Applies Connection, Transfer-Encoding and Expect, which may each span
 * several lines (only the first of each kind is known by index). */
static int apply_lists(const struct srv__scan *s, struct srv__head *h)
{
    if (s->count[SRV__F_CONNECTION]) {
        unsigned tokens = 0;
        for (uint32_t i = s->first[SRV__F_CONNECTION], left = s->count[SRV__F_CONNECTION];
             left; i++) {
            const struct srv__header *f = &h->headers[i];
            if (i != s->first[SRV__F_CONNECTION] && !name_is(f, "connection", 10))
                continue;
            if (f->value_len == 10 && strncasecmp(f->value, "keep-alive", 10) == 0)
                tokens |= SRV__CONN_KEEP_ALIVE; /* what browsers send: skip the list scanner */
            else if (srv__http_scan_connection(f->value, f->value_len, &tokens) < 0)
                return -400;
            left--;
        }
        if (tokens & SRV__CONN_CLOSE)
            h->keep_alive = false;
        else if (tokens & SRV__CONN_KEEP_ALIVE)
            h->keep_alive = true;
    }
    if (s->count[SRV__F_TRANSFER_ENCODING]) {
        struct srv__te te = {0};
        if (s->count[SRV__F_CONTENT_LENGTH] || h->version_minor == 0)
            return -400;
        for (uint32_t i = s->first[SRV__F_TRANSFER_ENCODING],
                      left = s->count[SRV__F_TRANSFER_ENCODING];
             left; i++) {
            const struct srv__header *f = &h->headers[i];
            if (i != s->first[SRV__F_TRANSFER_ENCODING] && !name_is(f, "transfer-encoding", 17))
                continue;
            if (srv__http_scan_te(f->value, f->value_len, &te) < 0)
                return -400;
            left--;
        }
        if (te.n == 0 || te.chunked_early || !te.last_chunked)
            return -400;
        if (te.unknown)
            return -501;
        h->chunked = true;
    }
    if (s->count[SRV__F_EXPECT]) {
        for (uint32_t i = s->first[SRV__F_EXPECT], left = s->count[SRV__F_EXPECT]; left; i++) {
            const struct srv__header *f = &h->headers[i];
            if (i != s->first[SRV__F_EXPECT] && !name_is(f, "expect", 6))
                continue;
            if (f->value_len != 12 || strncasecmp(f->value, "100-continue", 12) != 0)
                return -417;
            left--;
        }
        h->expect_continue = h->version_minor == 1;
    }
    return 0;
}

/* Everything after the syntax: returns 0 or -STATUS, writes nothing. */
static int check_head(const struct srv__scan *s, struct srv__head *h, const struct srv_limits *lim)
{
    if (!s->method_bit)
        return -501;
    if (s->form == SRV__T_ASTERISK && s->method_bit != SRV_METHOD_OPTIONS)
        return -400;
    h->version_minor = s->version_minor;
    h->keep_alive = s->version_minor == 1;
    h->expect_continue = false;
    h->chunked = false;
    h->has_content_length = false;
    h->content_length = 0;

    /* RFC 9112 3.2: exactly one Host in HTTP/1.1, at most one in 1.0. */
    if (SRV__LIKELY(s->count[SRV__F_HOST] == 1)) {
        const struct srv__header *f = &h->headers[s->first[SRV__F_HOST]];
        if (s->host_bad || f->value_len == 0)
            return -400;
        h->host = f->value;
        h->host_len = f->value_len;
    } else {
        if (s->count[SRV__F_HOST] > 1 || s->version_minor == 1)
            return -400;
        h->host = NULL;
        h->host_len = 0;
    }

    if (s->count[SRV__F_CONTENT_LENGTH]) {
        if (s->count[SRV__F_CONTENT_LENGTH] > 1)
            return -400;
        if (parse_content_length(&h->headers[s->first[SRV__F_CONTENT_LENGTH]],
                                 &h->content_length) < 0)
            return -400;
        h->has_content_length = true;
    }
    if (SRV__UNLIKELY(s->count[SRV__F_CONNECTION] | s->count[SRV__F_TRANSFER_ENCODING] |
                      s->count[SRV__F_EXPECT])) {
        int rc = apply_lists(s, h);
        if (rc < 0)
            return rc;
    }
    if (h->content_length > lim->body)
        return -413;
    if (SRV__UNLIKELY(s->path_flags) && path_climbs(s->path, s->path_len))
        return -400;
    return 0;
}

/* NUL-terminates the request line's pieces in place: the method, the host
 * of an absolute-form target (moved down over the "http://" to make room,
 * and reported in H), the path (decoded, dot-segments removed: the caller
 * has checked path_climbs()) and the query. */
static inline __attribute__((always_inline)) void
terminate_request_line(char *buf, struct srv__scan *s, struct srv__head *h)
{
    h->method = s->method_bit;
    h->method_name = s->method;
    h->method_len = s->method_len;
    buf[s->method - buf + s->method_len] = '\0';
    if (s->form == SRV__T_ABSOLUTE) {
        char *host = buf + (s->target - buf);
        memmove(host, s->authority, s->authority_len);
        host[s->authority_len] = '\0';
        h->host = host;
        h->host_len = s->authority_len;
        if (s->path_len == 0) { /* "http://a" or "http://a?q": the path is "/" */
            s->path = host + s->authority_len + 1;
            buf[s->path - buf] = '/';
            s->path_len = 1;
        }
    }
    h->path = buf + (s->path - buf);
    h->path_len = SRV__UNLIKELY(s->path_flags) ? path_normalize(h->path, s->path_len) : s->path_len;
    h->path[h->path_len] = '\0';
    h->query = NULL;
    h->query_len = 0;
    if (s->query) {
        h->query = buf + (s->query - buf);
        h->query_len = s->query_len;
        h->query[s->query_len] = '\0';
    }
}

int srv__http_parse_head(char *buf, size_t len, const struct srv_limits *lim,
                         struct srv__head *h)
{
    struct srv__scan s;
    int n = srv__http_scan_head(buf, len, lim, h, &s);
    if (n <= 0)
        return n;
    int rc = check_head(&s, h, lim);
    if (rc < 0)
        return rc;

    /* Valid: terminate the pieces in place. */
    terminate_request_line(buf, &s, h);
    /* (Locals: the stores below may alias H as far as the compiler knows.
     * Two lines a turn: this loop is a good share of a head's cost.) */
    struct srv__header *f = h->headers, *const end = f + h->nheaders;
    for (; end - f >= 2; f += 2) {
        buf[f[0].name - buf + f[0].name_len] = '\0';
        buf[f[0].value - buf + f[0].value_len] = '\0';
        buf[f[1].name - buf + f[1].name_len] = '\0';
        buf[f[1].value - buf + f[1].value_len] = '\0';
    }
    if (f < end) {
        buf[f->name - buf + f->name_len] = '\0';
        buf[f->value - buf + f->value_len] = '\0';
    }
    return n;
}

int srv__http_parse_request_line(char *buf, size_t len, const struct srv_limits *lim,
                                 struct srv__head *h)
{
    struct srv__scan s;
    int n = srv__http_scan_request_line(buf, len, lim, &s);
    if (n <= 0)
        return n;
    if (SRV__UNLIKELY(s.path_flags) && path_climbs(s.path, s.path_len))
        return -400;
    terminate_request_line(buf, &s, h);
    h->version_minor = s.version_minor;
    h->host = NULL;
    h->host_len = 0;
    h->nheaders = 0;
    return n;
}

size_t srv__http_head_limit(const char *buf, size_t len, const struct srv_limits *lim)
{
    /* The scanner's limits: the request line (after any empty lines) must
     * end within request_line + 2 bytes, the field lines within
     * header_bytes after it. */
    size_t line_max = lim->request_line + 2, region = len < line_max ? len : line_max, i = 0;
    while (i + 1 < region && buf[i] == '\r' && buf[i + 1] == '\n')
        i += 2;
    const char *lf = memchr(buf + i, '\n', region - i);
    if (!lf)
        return line_max;
    return (size_t)(lf + 1 - buf) + lim->header_bytes;
}

/* ---------------------------------------------------------------------------
 * Chunked bodies (RFC 9112 7.1).
 */
enum {
    CH_SIZE,      /* expecting a chunk-size line (0 = the initial state) */
    CH_DATA,      /* inside chunk data, c->remaining bytes to go */
    CH_DATA_CRLF, /* expecting the CRLF after chunk data */
    CH_TRAILER,   /* expecting trailer fields or the final empty line */
    CH_DONE,
};

/* A chunk-size line is a few bytes; extensions are allowed but bounded. */
#define CHUNK_LINE_MAX 4096
/* Trailers are read and dropped; they may take what a header block may by
 * default (the decoder is given no srv_limits).  c->remaining counts them. */
#define TRAILER_MAX (32 * 1024)

int srv__http_parse_chunked(struct srv__chunked *c, char *buf, size_t len, uint64_t limit)
{
    for (;;) {
        char *p = buf + c->raw;
        size_t avail = len - c->raw;
        switch (c->state) {
        case CH_SIZE: {
            uint64_t size = 0;
            size_t scan = avail < CHUNK_LINE_MAX ? avail : CHUNK_LINE_MAX;
            int n = srv__http_scan_chunk_line(p, scan, &size);
            if (n < 0)
                return -400;
            if (n == 0)
                return avail >= CHUNK_LINE_MAX ? -400 : 0;
            c->raw += (size_t)n;
            if (size == 0) {
                c->state = CH_TRAILER;
                c->remaining = 0;
            } else {
                if (size > limit - c->out)
                    return -413;
                c->remaining = size;
                c->state = CH_DATA;
            }
            break;
        }
        case CH_DATA: {
            size_t n = avail < c->remaining ? avail : (size_t)c->remaining;
            if (n == 0)
                return 0;
            memmove(buf + c->out, p, n);
            c->out += n;
            c->raw += n;
            c->remaining -= n;
            if (c->remaining)
                return 0;
            c->state = CH_DATA_CRLF;
            break;
        }
        case CH_DATA_CRLF:
            if (avail >= 1 && p[0] != '\r')
                return -400;
            if (avail < 2)
                return 0;
            if (p[1] != '\n')
                return -400;
            c->raw += 2;
            c->state = CH_SIZE;
            break;
        case CH_TRAILER: {
            size_t room = TRAILER_MAX - (size_t)c->remaining;
            size_t scan = avail < room ? avail : room;
            int n = srv__http_scan_field_line(p, scan);
            if (n < 0)
                return -400;
            if (n == 0)
                return avail >= room ? -431 : 0;
            c->raw += (size_t)n;
            c->remaining += (uint64_t)n;
            if (n == 2) { /* the empty line: every field line is longer */
                c->state = CH_DONE;
                return 1;
            }
            break;
        }
        default:
            return 1;
        }
    }
}
