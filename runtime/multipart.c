/*
 * multipart.c - multipart/form-data request bodies (RFC 7578), split at
 * their boundaries by the rules of RFC 2046 5.1.1:
 *
 *   multipart-body := [preamble CRLF] dash-boundary transport-padding CRLF
 *                     body-part *( CRLF dash-boundary transport-padding
 *                     CRLF body-part ) CRLF dash-boundary "--"
 *                     transport-padding [CRLF epilogue]
 *   dash-boundary  := "--" boundary        (1-70 bchars, no final space)
 *   body-part      := header lines, an empty line, the data
 *
 * The body is parsed once, on the first srv_request_parts() call, into an
 * array of parts in the request arena (srv__lazy); a part's data is a view
 * into the body, so an upload is never copied.  The parser reads only
 * BODY[0..LEN): it never relies on the NUL after a request body, so it is
 * tested and fuzzed on buffers that end exactly where the body does.
 *
 * Strict where the RFCs leave room, as the HTTP parser is: a line that
 * starts with the delimiter is a delimiter (RFC 2046 says prefix matching
 * is enough), so one followed by anything but padding and CRLF (or "--")
 * is an error, not data; header lines end in CRLF, never a bare CR or LF;
 * no obs-fold; every part has Content-Disposition: form-data with a name;
 * the body ends with the close delimiter.  Tolerated because senders do
 * it: a preamble and an epilogue (ignored), transport padding, a body with
 * no part at all ("--B--", an empty FormData), UTF-8 in quoted filenames.
 * Content-Disposition's quoted-pairs ("\"") are resolved; the "%22"
 * escaping of HTML forms is left as sent, since a name can also contain
 * "%22" literally; "filename*" (RFC 7578 4.2 tells senders not to use it)
 * is ignored.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

/* RFC 2046 bchars: bcharsnospace and the space. */
static bool is_bchar(unsigned char c)
{
    static const char extra[] = "'()+_,-./:=? ";
    if ((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'))
        return true;
    return c != '\0' && memchr(extra, c, sizeof extra - 1) != NULL;
}

int srv__multipart_boundary(const struct srv__media *m, char *out)
{
    if (!srv__media_is(m, "multipart", "form-data"))
        return -EMEDIUMTYPE;
    const char *p = m->params;
    struct srv__param prm;
    int r, len = -EBADMSG;
    while ((r = srv__param_next(&p, m->end, &prm)) > 0) {
        if (!srv__param_is(&prm, "boundary"))
            continue;
        /* Quoted, 70 bytes may take 2 quotes and a backslash each. */
        if (len != -EBADMSG || prm.value_len > 2 + 2 * 70)
            return -EBADMSG;
        char tmp[2 + 2 * 70 + 1];
        size_t n = srv__param_copy(&prm, tmp);
        if (n == 0 || n > 70 || tmp[n - 1] == ' ')
            return -EBADMSG;
        for (size_t i = 0; i < n; i++)
            if (!is_bchar((unsigned char)tmp[i]))
                return -EBADMSG;
        memcpy(out, tmp, n + 1);
        len = (int)n;
    }
    return r < 0 ? -EBADMSG : len;
}

struct parser {
    const char *body;
    size_t len;
    size_t max_header;
    struct srv__arena *arena;
    const char *why;
};

static int bad(struct parser *ps, const char *why)
{
    ps->why = why;
    return -EBADMSG;
}

static bool is_tchar(unsigned char c)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    if ((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'))
        return true;
    return c != '\0' && memchr(extra, c, sizeof extra - 1) != NULL;
}

/* A copy of PRM's unquoted value in the arena. */
static char *param_dup(struct parser *ps, const struct srv__param *prm)
{
    char *s = srv__arena_alloc(ps->arena, prm->value_len + 1);
    srv__param_copy(prm, s);
    return s;
}

/* Content-Disposition: form-data; name="..."[; filename="..."] */
static int disposition(struct parser *ps, const char *v, const char *end, struct srv_part *part)
{
    const char *t = v;
    while (t < end && is_tchar((unsigned char)*t))
        t++;
    if (t - v != 9 || strncasecmp(v, "form-data", 9) != 0)
        return bad(ps, "Content-Disposition is not form-data");
    struct srv__param prm;
    int r;
    while ((r = srv__param_next(&t, end, &prm)) > 0) {
        const char **slot = srv__param_is(&prm, "name")       ? &part->name
                            : srv__param_is(&prm, "filename") ? &part->filename
                                                              : NULL;
        if (slot == NULL)
            continue; /* filename*, or a parameter of some extension */
        if (*slot != NULL)
            return bad(ps, "repeated Content-Disposition parameter");
        *slot = param_dup(ps, &prm);
    }
    if (r < 0)
        return bad(ps, "malformed Content-Disposition parameters");
    if (part->name == NULL)
        return bad(ps, "part without a name");
    return 0;
}

/* One header line LINE[0..LEN) (CRLF removed): name ":" OWS value OWS. */
static int header_line(struct parser *ps, const char *line, size_t len, struct srv_part *part)
{
    const char *end = line + len, *p = line;
    while (p < end && is_tchar((unsigned char)*p))
        p++;
    if (p == line || p == end || *p != ':')
        return bad(ps, "malformed part header line");
    size_t nlen = (size_t)(p - line);
    const char *v = p + 1;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    for (const char *q = v; q < end; q++) {
        unsigned char c = (unsigned char)*q;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return bad(ps, "control character in a part header");
    }
    if (nlen == 19 && strncasecmp(line, "Content-Disposition", 19) == 0) {
        if (part->name != NULL)
            return bad(ps, "repeated Content-Disposition");
        return disposition(ps, v, end, part);
    }
    if (nlen == 12 && strncasecmp(line, "Content-Type", 12) == 0) {
        struct srv__media m;
        if (part->content_type != NULL)
            return bad(ps, "repeated Content-Type");
        const char *q = NULL;
        struct srv__param prm;
        int r = srv__media_parse(v, (size_t)(end - v), &m);
        if (r == 0) {
            q = m.params;
            while ((r = srv__param_next(&q, m.end, &prm)) > 0)
                ;
        }
        if (r < 0)
            return bad(ps, "malformed part Content-Type");
        char *ct = srv__arena_alloc(ps->arena, (size_t)(end - v) + 1);
        memcpy(ct, v, (size_t)(end - v));
        ct[end - v] = '\0';
        part->content_type = ct;
    }
    return 0; /* other headers (Content-Transfer-Encoding, ...) are ignored */
}

/* The header block of a part, from *POS through its empty line; *POS ends
 * at the part's first data byte. */
static int part_headers(struct parser *ps, size_t *pos, struct srv_part *part)
{
    const char *b = ps->body;
    size_t start = *pos, room = ps->len - start;
    /* Lines are looked for below STOP only: running into it is the header
     * limit when the body goes on past it, else the end of the body. */
    bool limited = room > ps->max_header;
    size_t stop = start + (limited ? ps->max_header : room);
    size_t p = start;
    for (;;) {
        size_t ls = p;
        while (p < stop && b[p] != '\r' && b[p] != '\n')
            p++;
        if (p + 1 >= stop) {
            if (!limited)
                return bad(ps, "missing final boundary");
            ps->why = "part header block over the limit";
            return -E2BIG;
        }
        if (b[p] == '\n' || b[p + 1] != '\n')
            return bad(ps, "part header line not ended by CRLF");
        size_t llen = p - ls;
        p += 2;
        if (llen == 0)
            break;
        int r = header_line(ps, b + ls, llen, part);
        if (r < 0)
            return r;
    }
    if (part->name == NULL)
        return bad(ps, "part without Content-Disposition");
    if (part->content_type == NULL)
        part->content_type = "text/plain";
    *pos = p;
    return 0;
}

/* After a dash-boundary at *POS: transport padding, then CRLF (another part
 * follows: 1), or "--", padding and CRLF or the end (the close delimiter: 0). */
static int after_boundary(struct parser *ps, size_t *pos)
{
    const char *b = ps->body;
    size_t p = *pos, len = ps->len;
    bool close = len - p >= 2 && b[p] == '-' && b[p + 1] == '-';
    if (close)
        p += 2;
    while (p < len && (b[p] == ' ' || b[p] == '\t'))
        p++;
    if (close && p == len)
        return 0; /* no epilogue, not even a CRLF */
    if (len - p < 2)
        return bad(ps, "missing final boundary");
    if (b[p] != '\r' || b[p + 1] != '\n')
        return bad(ps, "boundary followed by other text");
    *pos = p + 2;
    return close ? 0 : 1;
}

int srv__multipart_parse(const char *body, size_t len, const char *bnd, size_t blen,
                         unsigned max_parts, size_t max_header, struct srv__arena *a,
                         struct srv_part **out, const char **why)
{
    struct parser ps = {body, len, max_header, a, NULL};
    /* The delimiter: CRLF "--" boundary.  The first one may also start the
     * body, without the CRLF. */
    size_t dlen = blen + 4;
    char *delim = srv__arena_alloc(a, dlen);
    memcpy(delim, "\r\n--", 4);
    memcpy(delim + 4, bnd, blen);
    size_t pos;
    if (len >= dlen - 2 && memcmp(body, delim + 2, dlen - 2) == 0) {
        pos = dlen - 2;
    } else {
        const char *f = len ? memmem(body, len, delim, dlen) : NULL;
        if (f == NULL) {
            *why = "no boundary in the body";
            return -EBADMSG;
        }
        pos = (size_t)(f - body) + dlen;
    }

    struct srv_part *parts = NULL;
    size_t n = 0, cap = 0;
    int r;
    while ((r = after_boundary(&ps, &pos)) > 0) {
        if (n == max_parts) {
            *why = "more parts than the limit";
            return -E2BIG;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            struct srv_part *grown = srv__arena_alloc(a, cap * sizeof *grown);
            if (n)
                memcpy(grown, parts, n * sizeof *grown);
            parts = grown;
        }
        struct srv_part *part = &parts[n];
        memset(part, 0, sizeof *part);
        if ((r = part_headers(&ps, &pos, part)) < 0)
            break;
        /* A part may end with its headers: then the CRLF of the empty line
         * was the delimiter's, and the next line is the boundary. */
        const char *f = len - pos >= dlen - 2 && memcmp(body + pos, delim + 2, dlen - 2) == 0
                            ? body + pos - 2
                            : memmem(body + pos, len - pos, delim, dlen);
        if (f == NULL) {
            r = bad(&ps, "missing final boundary");
            break;
        }
        part->data = body + pos;
        part->len = f > body + pos ? (size_t)(f - (body + pos)) : 0;
        pos = (size_t)(f - body) + dlen;
        n++;
    }
    if (r < 0) {
        *why = ps.why;
        return r;
    }
    *out = parts;
    return (int)n;
}

static void parts_parse(struct srv_request *req, struct srv__lazy *lz)
{
    static const struct srv_part none[1];
    lz->parts_done = true;
    lz->parts = none;
    struct srv__media m;
    char boundary[71];
    int r;
    if (!srv__content_type(req, &m)) {
        r = -EMEDIUMTYPE;
        lz->parts_why = "no valid Content-Type";
    } else if ((r = srv__multipart_boundary(&m, boundary)) < 0) {
        lz->parts_why = r == -EMEDIUMTYPE ? "not multipart/form-data"
                                          : "missing or invalid boundary";
    } else {
        struct srv_limits lim;
        srv__limits_resolve(&lim, req->app ? &req->app->limits : NULL);
        struct srv_part *parts = NULL;
        r = srv__multipart_parse(req->body, req->body_len, boundary, (size_t)r,
                                 lim.multipart_parts, lim.multipart_header, req->arena,
                                 &parts, &lz->parts_why);
        if (r > 0)
            lz->parts = parts;
    }
    lz->parts_rc = r;
}

int srv_request_parts(struct srv_request *req, struct srv_response *res,
                      const struct srv_part **parts)
{
    struct srv__lazy *lz = srv__request_lazy(req);
    if (!lz->parts_done)
        parts_parse(req, lz);
    if (parts != NULL)
        *parts = lz->parts;
    if (lz->parts_rc < 0 && res != NULL) {
        int status = lz->parts_rc == -EMEDIUMTYPE ? 415 : lz->parts_rc == -E2BIG ? 413 : 400;
        srv__respond_error(req, res, status, 0);
        res->answered = true;
    }
    return lz->parts_rc;
}

const struct srv_part *srv_request_part(struct srv_request *req, const char *name)
{
    const struct srv_part *parts;
    int n = srv_request_parts(req, NULL, &parts);
    if (name == NULL)
        return NULL;
    for (int i = 0; i < n; i++)
        if (strcmp(parts[i].name, name) == 0)
            return &parts[i];
    return NULL;
}
