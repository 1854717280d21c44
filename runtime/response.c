/*
 * response.c - building a response (the handler API) and serialising its
 * head.  Handlers add headers and a body; everything they pass is checked
 * here and copied into the request arena.  A misuse (a CR/LF/NUL in a header,
 * an invalid name, a header the server owns, a bad status) marks the response
 * failed; dispatch.c logs it and answers 500 instead, so nothing invalid is
 * ever sent.  srv__response_error() is the one place that makes the
 * responses the server produces itself.  Redirects live here too: a status,
 * a checked Location and a fixed body.  A body is bytes in memory, or (for
 * static files) parts of a file that conn.c sends with sendfile(); the body
 * setters replace either kind.  Serialising uses tables and
 * hand-rolled integer formatting: no printf on the hot path.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- Status table --------------------------------------------------------- */

struct status_info {
    /* "HTTP/1.1 404 Not Found\r\n" in a fixed-size array, so serialising
     * copies a constant 48 bytes (a few vector moves, no memcpy call) and
     * advances by line_len. */
    char line[48];
    uint8_t line_len, ebody_len;
    const char *reason;
    const char *ebody; /* "404 Not Found\n", for server-made errors */
};

#define ST(code, text)                                                        \
    [code] = {"HTTP/1.1 " #code " " text "\r\n",                              \
              (uint8_t)(sizeof("HTTP/1.1 " #code " " text "\r\n") - 1),        \
              (uint8_t)(sizeof(#code " " text "\n") - 1), text, #code " " text "\n"}

static const struct status_info statuses[600] = {
    ST(100, "Continue"), ST(101, "Switching Protocols"), ST(103, "Early Hints"),
    ST(200, "OK"), ST(201, "Created"), ST(202, "Accepted"),
    ST(203, "Non-Authoritative Information"), ST(204, "No Content"),
    ST(205, "Reset Content"), ST(206, "Partial Content"),
    ST(300, "Multiple Choices"), ST(301, "Moved Permanently"), ST(302, "Found"),
    ST(303, "See Other"), ST(304, "Not Modified"), ST(307, "Temporary Redirect"),
    ST(308, "Permanent Redirect"),
    ST(400, "Bad Request"), ST(401, "Unauthorized"), ST(402, "Payment Required"),
    ST(403, "Forbidden"), ST(404, "Not Found"), ST(405, "Method Not Allowed"),
    ST(406, "Not Acceptable"), ST(407, "Proxy Authentication Required"),
    ST(408, "Request Timeout"), ST(409, "Conflict"), ST(410, "Gone"),
    ST(411, "Length Required"), ST(412, "Precondition Failed"),
    ST(413, "Content Too Large"), ST(414, "URI Too Long"),
    ST(415, "Unsupported Media Type"), ST(416, "Range Not Satisfiable"),
    ST(417, "Expectation Failed"), ST(418, "I'm a teapot"),
    ST(421, "Misdirected Request"), ST(422, "Unprocessable Content"),
    ST(425, "Too Early"), ST(426, "Upgrade Required"),
    ST(428, "Precondition Required"), ST(429, "Too Many Requests"),
    ST(431, "Request Header Fields Too Large"),
    ST(451, "Unavailable For Legal Reasons"),
    ST(500, "Internal Server Error"), ST(501, "Not Implemented"),
    ST(502, "Bad Gateway"), ST(503, "Service Unavailable"),
    ST(504, "Gateway Timeout"), ST(505, "HTTP Version Not Supported"),
};

const char *srv__status_reason(int status)
{
    if (status >= 0 && status < 600 && statuses[status].reason != NULL)
        return statuses[status].reason;
    return "Unknown";
}

const char *srv__status_page(int status, size_t *len)
{
    if (status < 100 || status > 599 || statuses[status].reason == NULL)
        status = 500;
    *len = statuses[status].ebody_len;
    return statuses[status].ebody;
}

/* ---- Building ------------------------------------------------------------- */

void srv__response_fail(struct srv_response *res, const char *what, const char *text)
{
    if (res->failed)
        return;
    res->failed = true;
    size_t len = strlen(what) + strlen(text) + 8;
    char *msg = srv__arena_alloc(res->arena, len);
    snprintf(msg, len, "%s \"%s\"", what, text);
    res->failure = msg;
}

void srv_response_set_status(struct srv_response *res, int status)
{
    if (status < 100 || status > 599) {
        char num[16];
        snprintf(num, sizeof num, "%d", status);
        srv__response_fail(res, "invalid status", num);
        return;
    }
    res->status = status;
    res->answered = true;
}

/* RFC 9110 tchar. */
static const uint8_t is_tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
    ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,
    ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
    ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
    ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
    ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
    ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
    ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

/* field-value bytes: VCHAR, obs-text, SP and HTAB; never CR, LF, NUL or
 * another control character. */
static const uint8_t is_vchar[256] = {
    ['\t'] = 1,
#define R16(b) [b] = 1, [b + 1] = 1, [b + 2] = 1, [b + 3] = 1, [b + 4] = 1, [b + 5] = 1, \
               [b + 6] = 1, [b + 7] = 1, [b + 8] = 1, [b + 9] = 1, [b + 10] = 1,     \
               [b + 11] = 1, [b + 12] = 1, [b + 13] = 1, [b + 14] = 1, [b + 15] = 1
    R16(0x20), R16(0x30), R16(0x40), R16(0x50), R16(0x60),
    [0x70] = 1, [0x71] = 1, [0x72] = 1, [0x73] = 1, [0x74] = 1, [0x75] = 1, [0x76] = 1,
    [0x77] = 1, [0x78] = 1, [0x79] = 1, [0x7a] = 1, [0x7b] = 1, [0x7c] = 1, [0x7d] = 1,
    [0x7e] = 1, /* not 0x7f (DEL) */
    R16(0x80), R16(0x90), R16(0xa0), R16(0xb0), R16(0xc0), R16(0xd0), R16(0xe0), R16(0xf0),
#undef R16
};

/* Headers the server writes itself.  Compared only when the length fits,
 * so the usual header costs no string comparison at all. */
static bool reserved_name(const char *name, size_t len)
{
    switch (len) {
    case 4:
        return strncasecmp(name, "Date", 4) == 0;
    case 10:
        return strncasecmp(name, "Connection", 10) == 0;
    case 14:
        return strncasecmp(name, "Content-Length", 14) == 0;
    case 17:
        return strncasecmp(name, "Transfer-Encoding", 17) == 0;
    default:
        return false;
    }
}

/* Makes the header block NEED bytes long at least, growing it in the arena. */
static inline void reserve_headers(struct srv_response *res, size_t need)
{
    if (SRV__UNLIKELY(need > res->headers_cap)) {
        size_t cap = res->headers_cap ? res->headers_cap * 2 : 256;
        while (cap < need)
            cap *= 2;
        char *h = srv__arena_alloc(res->arena, cap);
        if (res->headers_len)
            memcpy(h, res->headers, res->headers_len);
        res->headers = h;
        res->headers_cap = cap;
    }
}

/* Appends "NAME: VALUE\r\n" to the header block, growing it in the arena. */
static void append_header(struct srv_response *res, const char *name, size_t nlen,
                          const char *value, size_t vlen)
{
    size_t need = res->headers_len + nlen + vlen + 4;
    reserve_headers(res, need);
    char *p = res->headers + res->headers_len;
    memcpy(p, name, nlen);
    p += nlen;
    *p++ = ':';
    *p++ = ' ';
    memcpy(p, value, vlen);
    p += vlen;
    *p++ = '\r';
    *p++ = '\n';
    res->headers_len = need;
}

/* Length of VALUE if every byte of it may appear in a field value, else
 * (size_t)-1.  One table lookup per byte; the NUL ends the loop as it is not
 * in the class.  (Word-at-a-time and unrolled versions measured no faster
 * for the short values handlers set.) */
static inline size_t value_length(const char *value)
{
    size_t len = 0;
    while (is_vchar[(unsigned char)value[len]])
        len++;
    return value[len] == '\0' ? len : (size_t)-1;
}

void srv_response_add_header(struct srv_response *res, const char *name,
                             const char *value)
{
    if (SRV__UNLIKELY(name == NULL || value == NULL)) {
        srv__response_fail(res, "NULL header name or value for", name ? name : "(null)");
        return;
    }
    /* One table lookup per byte; the NUL ends both loops as it is in
     * neither class. */
    size_t nlen = 0;
    while (is_tchar[(unsigned char)name[nlen]])
        nlen++;
    if (SRV__UNLIKELY(name[nlen] != '\0' || nlen == 0)) {
        srv__response_fail(res, "invalid header name", name);
        return;
    }
    if (SRV__UNLIKELY(reserved_name(name, nlen))) {
        srv__response_fail(res, "handlers may not set header", name);
        return;
    }
    size_t vlen = value_length(value);
    if (SRV__UNLIKELY(vlen == (size_t)-1)) {
        srv__response_fail(res, "control character in the value of header", name);
        return;
    }
    append_header(res, name, nlen, value, vlen);
}

void srv__response_add_lines(struct srv_response *res, const char *lines, size_t len)
{
    size_t need = res->headers_len + len;
    reserve_headers(res, need);
    memcpy(res->headers + res->headers_len, lines, len);
    res->headers_len = need;
}

void srv_response_set_content_type(struct srv_response *res, const char *type)
{
    /* The name is known to be valid: only the value needs checking. */
    if (SRV__UNLIKELY(type == NULL)) {
        srv__response_fail(res, "NULL value for header", "Content-Type");
        return;
    }
    size_t vlen = value_length(type);
    if (SRV__UNLIKELY(vlen == (size_t)-1)) {
        srv__response_fail(res, "control character in the value of header", "Content-Type");
        return;
    }
    /* Most handlers set this header once, into a block with room: write it
     * with fixed-size moves instead of append_header's memcpy calls. */
    if (SRV__LIKELY(vlen <= 32 && res->headers_cap - res->headers_len >= 14 + 32 + 2)) {
        char *p = res->headers + res->headers_len;
        memcpy(p, "Content-Type: ", 14);
        srv__copy(p + 14, type, vlen);
        memcpy(p + 14 + vlen, "\r\n", 2);
        res->headers_len += 14 + vlen + 2;
        return;
    }
    append_header(res, "Content-Type", 12, type, vlen);
}

void srv_response_body(struct srv_response *res, const void *data, size_t len)
{
    char *b = srv__arena_alloc(res->arena, len + 1);
    if (len)
        memcpy(b, data, len);
    b[len] = '\0';
    res->body = b;
    res->body_len = len;
    res->answered = true;
}

void srv_response_text(struct srv_response *res, const char *text)
{
    srv_response_body(res, text, strlen(text));
}

void srv_response_body_static(struct srv_response *res, const void *data, size_t len)
{
    res->body = data;
    res->body_len = len;
    res->answered = true;
}

void srv_response_printf(struct srv_response *res, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    res->body = srv__arena_vprintf(res->arena, &res->body_len, fmt, ap);
    va_end(ap);
    res->answered = true;
}

/* ---- Redirects ------------------------------------------------------------ */

void srv_response_redirect(struct srv_response *res, int status, const char *location)
{
    if (status != 301 && status != 302 && status != 303 && status != 307 && status != 308) {
        char num[16];
        snprintf(num, sizeof num, "%d", status);
        srv__response_fail(res, "redirect with a status that is not 301, 302, 303, 307 or 308:",
                           num);
        return;
    }
    if (location == NULL || location[0] == '\0') {
        srv__response_fail(res, "redirect location is", "");
        return;
    }
    /* A space or a byte >= 0x80 cannot appear in a URI; percent-encoding
     * them is what a browser would do with the link, and never changes a
     * valid URI.  Control characters have no such meaning: a misuse. */
    size_t len = 0, extra = 0;
    for (; location[len]; len++) {
        unsigned char c = (unsigned char)location[len];
        if (c < 0x20 || c == 0x7f) {
            /* Named by position: the location itself would break the log line. */
            char what[48];
            snprintf(what, sizeof what, "0x%02x at byte %zu", c, len);
            srv__response_fail(res, "control character in redirect location:", what);
            return;
        }
        if (c == ' ' || c >= 0x80)
            extra += 2;
    }
    char *v = srv__arena_alloc(res->arena, len + extra + 1), *p = v;
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)location[i];
        if (c == ' ' || c >= 0x80) {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        } else {
            *p++ = (char)c;
        }
    }
    *p = '\0';
    srv_response_set_status(res, status);
    srv_response_set_header(res, "Location", v);
    srv_response_set_header(res, "Content-Type", "text/plain; charset=utf-8");
    res->body = statuses[status].ebody;
    res->body_len = statuses[status].ebody_len;
}

/* ---- Reading back (after blocks) ------------------------------------------ */

void srv_response_defer(struct srv_response *res, srv_cancel_fn cancel, void *arg)
{
    if (res->deferred || res->req == NULL || res->req->conn == NULL) {
        srv__response_fail(res, "srv_response_defer", res->deferred ? "called twice" : "outside a connection");
        return;
    }
    res->deferred = true;
    res->outlives = true;
    res->answered = true; /* a before block that defers answers, later */
    res->cancel = cancel;
    res->cancel_arg = arg;
}

struct srv_request *srv_response_request(struct srv_response *res)
{
    return res->req;
}

int srv_response_status(const struct srv_response *res)
{
    return res->status;
}

bool srv_response_answered(const struct srv_response *res)
{
    return res->answered || res->failed;
}

const void *srv_response_get_body(const struct srv_response *res, size_t *len)
{
    if (len != NULL)
        *len = res->body_len;
    return res->body; /* NULL for a file body: see struct srv_response */
}

/* The next "Name: value\r\n" line of the header block at or after *OFF
 * whose name is NAME (NLEN bytes, case-insensitive): its offset, with *OFF
 * moved past it; (size_t)-1 when there is none. */
static size_t find_header(const struct srv_response *res, const char *name, size_t nlen,
                          size_t *off)
{
    const char *h = res->headers;
    while (*off < res->headers_len) {
        size_t start = *off;
        const char *eol = memchr(h + start, '\n', res->headers_len - start);
        *off = (size_t)(eol - h) + 1;
        if (*off - start > nlen && h[start + nlen] == ':' &&
            strncasecmp(h + start, name, nlen) == 0)
            return start;
    }
    return (size_t)-1;
}

const char *srv_response_header(struct srv_response *res, const char *name)
{
    if (name == NULL)
        return NULL;
    size_t off = 0, nlen = strlen(name);
    size_t at = find_header(res, name, nlen, &off);
    if (at == (size_t)-1)
        return NULL;
    /* The line is "Name: value\r\n"; the value as added, without the CRLF. */
    size_t vstart = at + nlen + 2, vlen = off - 2 - vstart;
    char *v = srv__arena_alloc(res->arena, vlen + 1);
    memcpy(v, res->headers + vstart, vlen);
    v[vlen] = '\0';
    return v;
}

unsigned srv_response_remove_header(struct srv_response *res, const char *name)
{
    if (name == NULL)
        return 0;
    size_t off = 0, nlen = strlen(name), at;
    unsigned n = 0;
    while ((at = find_header(res, name, nlen, &off)) != (size_t)-1) {
        memmove(res->headers + at, res->headers + off, res->headers_len - off);
        res->headers_len -= off - at;
        off = at;
        n++;
    }
    return n;
}

void srv_response_set_header(struct srv_response *res, const char *name, const char *value)
{
    bool failed = res->failed;
    res->failed = false;
    /* Validate first (through add_header), then drop the old lines. */
    size_t len = res->headers_len;
    srv_response_add_header(res, name, value);
    if (res->failed) {
        res->failed = true;
        return;
    }
    res->failed = failed;
    size_t added = res->headers_len - len;
    char line[256], *copy = added <= sizeof line ? line : srv__arena_alloc(res->arena, added);
    memcpy(copy, res->headers + len, added);
    res->headers_len = len;
    srv_response_remove_header(res, name);
    memcpy(res->headers + res->headers_len, copy, added); /* fits: we only removed */
    res->headers_len += added;
}

/* ---- Server-made responses ------------------------------------------------ */

size_t srv__allow_format(char *buf, unsigned methods)
{
    static const char *const names[] = {"GET", "HEAD", "POST", "PUT",
                                        "DELETE", "PATCH", "OPTIONS"};
    size_t n = 0;
    memcpy(buf, "Allow: ", 7);
    n = 7;
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(methods & (1u << i)))
            continue;
        if (n > 7) {
            buf[n++] = ',';
            buf[n++] = ' ';
        }
        size_t l = strlen(names[i]);
        memcpy(buf + n, names[i], l);
        n += l;
    }
    buf[n] = '\0';
    return n;
}

void srv__response_error(struct srv_response *res, int status, unsigned allow)
{
    if (status < 100 || status > 599 || statuses[status].reason == NULL)
        status = 500;
    const struct status_info *si = &statuses[status];
    res->status = status;
    res->failed = false;
    res->headers_len = 0; /* nothing the handler set survives */
    append_header(res, "Content-Type", 12, "text/plain; charset=utf-8", 25);
    if (status == 405) {
        char buf[80];
        size_t n = srv__allow_format(buf, allow);
        append_header(res, "Allow", 5, buf + 7, n - 7);
    }
    res->body = si->ebody;
    res->body_len = si->ebody_len;
}

/* ---- Serialising ---------------------------------------------------------- */

size_t srv__response_head(const struct srv_response *res, unsigned flags, char *buf)
{
    char *p = buf;
    int status = res->status;
    const struct status_info *si = &statuses[status];
    if (SRV__LIKELY(si->line_len != 0)) {
        memcpy(p, si->line, sizeof si->line);
        p += si->line_len;
    } else {
        memcpy(p, "HTTP/1.1 ", 9);
        p = srv__put_uint(p + 9, (uint64_t)status);
        memcpy(p, " Unknown\r\n", 10);
        p += 10;
    }
    memcpy(p, srv__date_line, SRV__DATE_LINE_LEN);
    p += SRV__DATE_LINE_LEN;
    if (SRV__LIKELY(srv__status_has_body(status)) && !(flags & SRV__RESP_STREAM)) {
        memcpy(p, "Content-Length: ", 16);
        p = srv__put_uint(p + 16, res->body_len);
        *p++ = '\r';
        *p++ = '\n';
    }
    if (SRV__UNLIKELY(flags & (SRV__RESP_CLOSE | SRV__RESP_KEEPALIVE))) {
        if (flags & SRV__RESP_CLOSE) {
            memcpy(p, "Connection: close\r\n", 19);
            p += 19;
        } else {
            memcpy(p, "Connection: keep-alive\r\n", 24);
            p += 24;
        }
    }
    srv__copy(p, res->headers, res->headers_len);
    p += res->headers_len;
    *p++ = '\r';
    *p++ = '\n';
    return (size_t)(p - buf);
}
