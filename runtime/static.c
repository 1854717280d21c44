/*
 * static.c - static files: what `static "/prefix/" "dir";` serves (L2).
 * The compiler makes each mount a route GET PREFIX* whose handler calls
 * srv_static_serve(); the route's trailing parameter is the path under the
 * directory, already percent-decoded with dot-segments resolved.  From it:
 *
 *   1. the path is checked and normalised (empty segments dropped; a
 *      segment starting with '.' - dotfiles, and "." and ".." in depth - is
 *      a 404, except a first segment ".well-known"; NUL is a 404);
 *   2. the worker's file cache (filecache.c) says what is there: a file,
 *      a directory (index.html when asked with a trailing slash, else a 301
 *      to the path with one), or why not (404, 403);
 *   3. for a file: Accept-Encoding picks a precompressed sibling, then the
 *      preconditions are evaluated in RFC 9110 13.2.2's order (If-Match,
 *      If-Unmodified-Since: 412; If-None-Match, If-Modified-Since: 304),
 *      then Range and If-Range (206, multipart/byteranges, 416);
 *   4. the response gets the cached header lines and a file body: parts
 *      in memory (small files) or ranges of the file's descriptor, which
 *      conn.c writes with sendfile.  The cached file is pinned (a reference
 *      released by the request arena's reset), so the bytes and the
 *      descriptor outlive any eviction until the response is written.
 *
 * The mounts' directories are opened once at start-up (srv__static_open,
 * from srv_main) and inherited by the workers; every open beneath them goes
 * through beneath.c, which never resolves outside the directory.  Every
 * error response goes through srv__respond_error(), so `error` blocks apply.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static int *mount_fds;
static unsigned nmount_fds;

int srv__static_open(const struct srv_app *app)
{
    if (app->mounts == NULL || app->nmounts == 0)
        return 0;
    int *fds = srv__xcalloc(app->nmounts, sizeof *fds);
    for (unsigned i = 0; i < app->nmounts; i++) {
        const struct srv_static_mount *m = &app->mounts[i];
        fds[i] = open(m->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fds[i] < 0) {
            int err = errno;
            srv__boot_error("static \"%s\" (%s): cannot open directory \"%s\": %s", m->prefix,
                            m->where ? m->where : "?", m->dir, strerror(err));
            while (i > 0)
                close(fds[--i]);
            free(fds);
            return -err;
        }
    }
    srv__beneath_probe(fds[0]);
    srv__static_close();
    mount_fds = fds;
    nmount_fds = app->nmounts;
    return 0;
}

void srv__static_close(void)
{
    for (unsigned i = 0; i < nmount_fds; i++)
        close(mount_fds[i]);
    free(mount_fds);
    mount_fds = NULL;
    nmount_fds = 0;
    srv__filecache_clear();
}

/* ---- The path ------------------------------------------------------------- */

#define INDEX "index.html"

/* Normalises the path under the mount, TAIL[0..LEN), into KEY (at least
 * SRV__STATIC_KEY_MAX + sizeof "/" INDEX bytes): segments joined by one '/',
 * no leading or trailing one, and INDEX appended when the path names a
 * directory (empty, or ending in '/'), which *DIR_PATH says.  Returns the
 * key's length, or 0 when the path is not served (404). */
static size_t normalise(const char *tail, size_t len, char *key, bool *dir_path)
{
    size_t k = 0;
    bool start = true;
    for (size_t i = 0; i < len; i++) {
        char ch = tail[i];
        if (ch == '/') {
            start = true;
            continue;
        }
        if (start) {
            /* A dotfile (and ".", "..", which the parser already resolved:
             * defence in depth), except RFC 8615's /.well-known/ at the top. */
            if (ch == '.' && !(k == 0 && len - i >= 11 && memcmp(tail + i, ".well-known", 11) == 0 &&
                               (len - i == 11 || tail[i + 11] == '/')))
                return 0;
            if (k > 0)
                key[k++] = '/';
            start = false;
        }
        if (ch == '\0' || k >= SRV__STATIC_KEY_MAX)
            return 0;
        key[k++] = ch;
    }
    *dir_path = len == 0 || tail[len - 1] == '/';
    if (*dir_path) {
        if (k > 0)
            key[k++] = '/';
        memcpy(key + k, INDEX, sizeof INDEX);
        return k + sizeof INDEX - 1;
    }
    key[k] = '\0';
    return k;
}

/* Whether byte C may stand for itself in a Location path: unreserved,
 * sub-delims, ':', '@' and '/' (RFC 3986 pchar); '%', '?', '#' and
 * everything else is percent-encoded. */
static bool path_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("-._~!$&'()*+,;=:@/", c) != NULL);
}

static char *encode(char *p, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (path_char(c)) {
            *p++ = (char)c;
        } else {
            *p++ = '%';
            *p++ = "0123456789ABCDEF"[c >> 4];
            *p++ = "0123456789ABCDEF"[c & 15];
        }
    }
    return p;
}

/* A directory asked for without its trailing slash: 301 to the same path
 * with one, the query kept.  Built from the part of the request path before
 * the mount's tail and the normalised KEY, so an empty segment can never
 * make it a scheme-relative "//host" URL. */
static void redirect(struct srv_request *req, struct srv_response *res, const char *tail,
                     size_t tail_len, const char *key, size_t klen)
{
    const char *path = req->head.path;
    size_t plen = req->head.path_len, prefix;
    if (tail >= path && tail <= path + plen)
        prefix = (size_t)(tail - path);
    else
        prefix = plen >= tail_len ? plen - tail_len : 0;
    size_t qlen = req->head.query ? req->head.query_len : 0;
    char *loc = srv__arena_alloc(res->arena, 3 * (prefix + klen) + qlen + 3);
    char *p = encode(loc, path, prefix);
    p = encode(p, key, klen);
    *p++ = '/';
    if (req->head.query) {
        *p++ = '?';
        memcpy(p, req->head.query, qlen);
        p += qlen;
    }
    *p = '\0';
    srv__respond_error(req, res, 301, 0);
    srv_response_add_header(res, "Location", loc);
}

void srv_static_redirect_slash(struct srv_request *req, struct srv_response *res)
{
    size_t plen = req->head.path_len, qlen = req->head.query ? req->head.query_len : 0;
    char *loc = srv__arena_alloc(res->arena, 3 * plen + qlen + 3);
    char *p = encode(loc, req->head.path, plen);
    *p++ = '/';
    if (req->head.query) {
        *p++ = '?';
        memcpy(p, req->head.query, qlen);
        p += qlen;
    }
    *p = '\0';
    srv__respond_error(req, res, 301, 0);
    srv_response_add_header(res, "Location", loc);
}

/* ---- Request headers ------------------------------------------------------ */

struct field {
    const char *v;
    size_t len;
    unsigned n; /* how many lines had this name */
};

struct conditions {
    struct field if_match, if_none_match, if_modified_since, if_unmodified_since;
    struct field range, if_range, accept_encoding;
};

static bool name_is(const struct srv__header *h, const char *lower_name)
{
    return strncasecmp(h->name, lower_name, h->name_len) == 0;
}

static void take(struct field *f, const struct srv__header *h)
{
    if (f->n++ == 0) {
        f->v = h->value;
        f->len = h->value_len;
    }
}

/* One pass over the request's header lines, looking at a name only when
 * its length is one of ours. */
static void scan(const struct srv_request *req, struct conditions *c)
{
    memset(c, 0, sizeof *c);
    const struct srv__header *h = req->head.headers;
    for (uint32_t i = 0; i < req->head.nheaders; i++, h++) {
        switch (h->name_len) {
        case 5:
            if (name_is(h, "range"))
                take(&c->range, h);
            break;
        case 8:
            if (name_is(h, "if-match"))
                take(&c->if_match, h);
            else if (name_is(h, "if-range"))
                take(&c->if_range, h);
            break;
        case 13:
            if (name_is(h, "if-none-match"))
                take(&c->if_none_match, h);
            break;
        case 15:
            if (name_is(h, "accept-encoding"))
                take(&c->accept_encoding, h);
            break;
        case 17:
            if (name_is(h, "if-modified-since"))
                take(&c->if_modified_since, h);
            break;
        case 19:
            if (name_is(h, "if-unmodified-since"))
                take(&c->if_unmodified_since, h);
            break;
        default:
            break;
        }
    }
}

/* A list-valued field sent on several lines is one list (RFC 9110 5.3):
 * the lines joined with ", " in the arena. */
static void join(const struct srv_request *req, struct field *f, const char *lower_name)
{
    if (f->n < 2)
        return;
    size_t total = 0;
    const struct srv__header *h = req->head.headers;
    for (uint32_t i = 0; i < req->head.nheaders; i++) {
        if (h[i].name_len == strlen(lower_name) && name_is(&h[i], lower_name))
            total += h[i].value_len + 2;
    }
    char *v = srv__arena_alloc(req->arena, total + 1), *p = v;
    for (uint32_t i = 0; i < req->head.nheaders; i++) {
        if (h[i].name_len == strlen(lower_name) && name_is(&h[i], lower_name)) {
            if (p != v) {
                *p++ = ',';
                *p++ = ' ';
            }
            memcpy(p, h[i].value, h[i].value_len);
            p += h[i].value_len;
        }
    }
    *p = '\0';
    f->v = v;
    f->len = (size_t)(p - v);
}

/* A singleton date field: its value as seconds, or false when absent,
 * repeated or not a valid HTTP-date (all three: ignore the field). */
static bool date_field(const struct field *f, int64_t *t)
{
    return f->n == 1 && srv__http_date_parse(f->v, f->len, (int64_t)time(NULL), t);
}

/* ---- Responses ------------------------------------------------------------ */

static void unpin(void *file)
{
    srv__file_unref(file);
}

/* The parts of a file body, in the arena, with F pinned until the arena's
 * reset: a reference taken now and dropped by an arena cleanup. */
static struct srv__seg *pin(struct srv_response *res, struct srv__file *f, unsigned nsegs)
{
    f->refs++;
    srv__arena_defer(res->arena, unpin, f);
    return srv__arena_alloc(res->arena, nsegs * sizeof(struct srv__seg));
}

static char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* "bytes FIRST-LAST/SIZE" */
static char *put_range(char *p, const struct srv__range *r, uint64_t size)
{
    memcpy(p, "bytes ", 6);
    p = put_u64(p + 6, r->first);
    *p++ = '-';
    p = put_u64(p, r->last);
    *p++ = '/';
    return put_u64(p, size);
}

static void file_part(struct srv__seg *s, const struct srv__file *f, uint64_t first, uint64_t len)
{
    s->mem = f->data ? f->data + first : NULL;
    s->off = first;
    s->len = len;
}

/* A multipart/byteranges boundary: random per response, so that a file's
 * contents cannot be made to contain it. */
static void make_boundary(char *out)
{
    static uint64_t state;
    if (state == 0) {
        if (getrandom(&state, sizeof state, GRND_NONBLOCK) != sizeof state)
            state = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
        state |= 1;
    }
    /* splitmix64 */
    uint64_t z = (state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    z ^= z >> 31;
    memcpy(out, "srv-", 4);
    for (int i = 0; i < 16; i++)
        out[4 + i] = "0123456789abcdef"[(z >> (60 - 4 * i)) & 15];
}
#define BOUNDARY_LEN 20

/* 206 with N > 1 ranges: a multipart/byteranges body (RFC 9110 14.6) whose
 * parts are each a header block in the arena and a range of the file. */
static void multipart(struct srv_response *res, struct srv__file *f, const struct srv__range *r,
                      unsigned n)
{
    char boundary[BOUNDARY_LEN];
    make_boundary(boundary);
    /* ETag, Last-Modified, Vary; the multipart Content-Type; then what
     * follows the file's own Content-Type (Content-Encoding, Accept-Ranges). */
    size_t rest = f->hdr_304_len + 14 + f->type_len + 2;
    char ct[96], *p = ct;
    memcpy(p, "Content-Type: multipart/byteranges; boundary=", 45);
    p += 45;
    memcpy(p, boundary, BOUNDARY_LEN);
    p += BOUNDARY_LEN;
    memcpy(p, "\r\n", 2);
    p += 2;
    srv__response_add_lines(res, f->hdr, f->hdr_304_len);
    srv__response_add_lines(res, ct, (size_t)(p - ct));
    srv__response_add_lines(res, f->hdr + rest, f->hdr_len - rest);

    struct srv__seg *segs = pin(res, f, 2 * n + 1);
    uint64_t total = 0;
    for (unsigned i = 0; i < n; i++) {
        char *h = srv__arena_alloc(res->arena, 4 + BOUNDARY_LEN + 16 + f->type_len + 17 + 70 + 4);
        p = h;
        memcpy(p, "\r\n--", 4);
        p += 4;
        memcpy(p, boundary, BOUNDARY_LEN);
        p += BOUNDARY_LEN;
        memcpy(p, "\r\nContent-Type: ", 16);
        p += 16;
        memcpy(p, f->type, f->type_len);
        p += f->type_len;
        memcpy(p, "\r\nContent-Range: ", 17);
        p = put_range(p + 17, &r[i], f->size);
        memcpy(p, "\r\n\r\n", 4);
        p += 4;
        segs[2 * i] = (struct srv__seg){h, 0, (uint64_t)(p - h)};
        file_part(&segs[2 * i + 1], f, r[i].first, r[i].last - r[i].first + 1);
        total += segs[2 * i].len + segs[2 * i + 1].len;
    }
    char *end = srv__arena_alloc(res->arena, 4 + BOUNDARY_LEN + 4);
    memcpy(end, "\r\n--", 4);
    memcpy(end + 4, boundary, BOUNDARY_LEN);
    memcpy(end + 4 + BOUNDARY_LEN, "--\r\n", 4);
    segs[2 * n] = (struct srv__seg){end, 0, 4 + BOUNDARY_LEN + 4};
    total += segs[2 * n].len;
    res->status = 206;
    srv__response_file(res, segs, 2 * n + 1, f->fd, total);
}

static void not_modified(struct srv_response *res, const struct srv__file *f)
{
    res->status = 304;
    res->answered = true;
    srv__response_add_lines(res, f->hdr, f->hdr_304_len);
}

static void serve_file(struct srv_request *req, struct srv_response *res,
                       const struct srv__cached *e)
{
    struct conditions c;
    scan(req, &c);

    /* Which representation: the file or a precompressed sibling. */
    int coding = SRV__CODING_IDENTITY;
    if (e->codings != 0) {
        join(req, &c.accept_encoding, "accept-encoding");
        coding = srv__accept_encoding(c.accept_encoding.n ? c.accept_encoding.v : NULL,
                                      c.accept_encoding.len, e->codings);
        if (coding < 0) {
            srv__respond_error(req, res, 406, 0);
            srv_response_add_header(res, "Vary", "Accept-Encoding");
            return;
        }
    }
    struct srv__file *f = e->file[coding];

    /* Preconditions, in the order of RFC 9110 13.2.2. */
    int64_t t;
    if (c.if_match.n) {
        join(req, &c.if_match, "if-match");
        if (!srv__etag_match(c.if_match.v, c.if_match.len, f->etag, f->etag_len, true)) {
            srv__respond_error(req, res, 412, 0);
            return;
        }
    } else if (c.if_unmodified_since.n && date_field(&c.if_unmodified_since, &t) && f->mtime > t) {
        srv__respond_error(req, res, 412, 0);
        return;
    }
    if (c.if_none_match.n) {
        join(req, &c.if_none_match, "if-none-match");
        if (srv__etag_match(c.if_none_match.v, c.if_none_match.len, f->etag, f->etag_len, false)) {
            not_modified(res, f);
            return;
        }
    } else if (c.if_modified_since.n && date_field(&c.if_modified_since, &t) && f->mtime <= t) {
        not_modified(res, f);
        return;
    }

    /* HEAD: the GET's headers and length, nothing to send or pin (Range is
     * defined for GET only, RFC 9110 14.2). */
    if (req->head.method != SRV_METHOD_GET) {
        srv__response_add_lines(res, f->hdr, f->hdr_len);
        srv__response_file(res, NULL, 0, -1, f->size);
        return;
    }
    if (SRV__UNLIKELY(c.range.n)) {
        struct srv__range r[SRV__RANGE_SPECS_MAX];
        int n = 0;
        if (c.range.n == 1 &&
            (c.if_range.n == 0 ||
             (c.if_range.n == 1 && srv__if_range_ok(c.if_range.v, c.if_range.len, f->etag,
                                                    f->etag_len, f->mtime, (int64_t)time(NULL)))))
            n = srv__range_parse(c.range.v, c.range.len, f->size, r);
        if (n < 0) {
            srv__respond_error(req, res, 416, 0);
            char v[40], *p = v;
            memcpy(p, "bytes */", 8);
            p = put_u64(p + 8, f->size);
            *p = '\0';
            srv_response_add_header(res, "Content-Range", v);
            return;
        }
        if (n > 1) {
            multipart(res, f, r, (unsigned)n);
            return;
        }
        if (n == 1) {
            char line[80], *p = line;
            memcpy(p, "Content-Range: ", 15);
            p = put_range(p + 15, &r[0], f->size);
            memcpy(p, "\r\n", 2);
            p += 2;
            srv__response_add_lines(res, f->hdr, f->hdr_len);
            srv__response_add_lines(res, line, (size_t)(p - line));
            uint64_t len = r[0].last - r[0].first + 1;
            struct srv__seg *s = pin(res, f, 1);
            file_part(s, f, r[0].first, len);
            res->status = 206;
            srv__response_file(res, s, 1, f->fd, len);
            return;
        }
    }
    srv__response_add_lines(res, f->hdr, f->hdr_len);
    if (f->size == 0) {
        srv__response_file(res, NULL, 0, -1, 0);
        return;
    }
    struct srv__seg *s = pin(res, f, 1);
    file_part(s, f, 0, f->size);
    srv__response_file(res, s, 1, f->fd, f->size);
}

void srv_static_serve(struct srv_request *req, struct srv_response *res, unsigned mount)
{
    if (SRV__UNLIKELY(mount >= nmount_fds || req->match.nparams == 0)) {
        srv_log(SRV_LOG_ERROR, "static mount %u is not open (srv_main opens the mounts)", mount);
        srv__respond_error(req, res, 500, 0);
        return;
    }
    const char *tail = req->match.params[req->match.nparams - 1].ptr;
    size_t tail_len = req->match.params[req->match.nparams - 1].len;
    char key[SRV__STATIC_KEY_MAX + sizeof "/" INDEX];
    bool dir_path;
    size_t klen = normalise(tail, tail_len, key, &dir_path);
    if (klen == 0) {
        srv__respond_error(req, res, 404, 0);
        return;
    }
    const struct srv__cached *e = srv__filecache_get(mount, mount_fds[mount], key, klen);
    switch (e->kind) {
    case SRV__CACHED_FILE:
        serve_file(req, res, e);
        return;
    case SRV__CACHED_DIR:
        if (dir_path) /* ".../index.html" is itself a directory */
            srv__respond_error(req, res, 404, 0);
        else
            redirect(req, res, tail, tail_len, key, klen);
        return;
    default:
        srv__respond_error(req, res, e->status, 0);
        return;
    }
}
