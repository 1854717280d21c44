/*
 * request.c - the request line `srvc --match` asks about, read by the
 * server's own parser.  The one compiler file built against the runtime:
 * it links runtime/http_parse.c and the scanner generated from
 * grammar/http.re (from the runtime's internal library, nothing else), so
 * the path --match routes is decoded and normalised exactly as a server
 * decodes it (percent-escapes, `%2f`, dot-segments, `..` above the root),
 * and what the server answers before routing (400, 414, 501, 505) is the
 * parser's own answer.  Everything else in srvc knows the runtime only as
 * the text codegen writes.
 */
#include "srvc.h"

#include "http_scan.h"

#include <stdlib.h>
#include <string.h>

static const unsigned method_bits[M_COUNT] = {
    SRV_METHOD_GET,    SRV_METHOD_HEAD,  SRV_METHOD_POST,    SRV_METHOD_PUT,
    SRV_METHOD_DELETE, SRV_METHOD_PATCH, SRV_METHOD_OPTIONS, SRV_METHOD_ANY,
};

unsigned request_method_bit(int m)
{
    return m >= 0 && m < M_COUNT ? method_bits[m] : 0;
}

/* The next word of *P (up to a space), advancing *P past the spaces that
 * follow it. */
static const char *next_word(const char **p, size_t *len)
{
    const char *w = *p;
    size_t n = strcspn(w, " ");
    const char *q = w + n;
    while (*q == ' ')
        q++;
    *p = q;
    *len = n;
    return w;
}

bool request_parse(Request *rq, const char *line, const Server *s, Arena *a)
{
    memset(rq, 0, sizeof *rq);
    const char *p = line;
    while (*p == ' ')
        p++;
    size_t mlen, tlen, vlen;
    const char *method = next_word(&p, &mlen);
    const char *target = next_word(&p, &tlen);
    const char *version = next_word(&p, &vlen);
    rq->method_name = arena_strndup(a, method, mlen);
    /* A control character in the request line is a 400 for the server; here
     * it could also end the line early and make another request of it. */
    for (const char *c = line; *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            rq->status = 400;
            return true;
        }
    }
    if (mlen == 0 || tlen == 0 || *p != '\0' ||
        (vlen && (vlen < 5 || memcmp(version, "HTTP/", 5) != 0)))
        return false;
    if (vlen == 0) {
        version = "HTTP/1.1";
        vlen = 8;
    }
    static const char host[] = "\r\nHost: srvc.invalid\r\n\r\n";
    size_t n = mlen + 1 + tlen + 1 + vlen + sizeof host - 1;
    char *buf = arena_alloc(a, n + 1);
    memcpy(buf, method, mlen);
    buf[mlen] = ' ';
    memcpy(buf + mlen + 1, target, tlen);
    buf[mlen + 1 + tlen] = ' ';
    memcpy(buf + mlen + 2 + tlen, version, vlen);
    memcpy(buf + mlen + 2 + tlen + vlen, host, sizeof host - 1);

    /* The server's limits decide 414 as they would for a real request. */
    struct srv_limits set = {0}, lim;
    set.request_line = (size_t)s->limit_values[LIM_REQUEST_LINE];
    set.header_bytes = (size_t)s->limit_values[LIM_HEADER_BYTES];
    set.header_count = (unsigned)s->limit_values[LIM_HEADER_COUNT];
    srv__limits_resolve(&lim, &set);
    struct srv__head h;
    memset(&h, 0, sizeof h);
    h.headers = arena_alloc(a, (lim.header_count + 1) * sizeof *h.headers);
    int r = srv__http_parse_head(buf, n, &lim, &h);
    if (r <= 0) {
        /* An incomplete head cannot happen: it ends with its empty line. */
        rq->status = r < 0 ? -r : 400;
        return true;
    }
    rq->method = h.method;
    rq->method_index = -1;
    for (int m = 0; m < M_ANY; m++)
        if (method_bits[m] == h.method)
            rq->method_index = m;
    rq->path = h.path;
    rq->path_len = h.path_len;
    rq->query = h.query;
    return true;
}
