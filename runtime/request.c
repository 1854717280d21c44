/*
 * request.c - what a handler can ask about its request.  The parsed head is
 * a set of views into the connection's input buffer (http_parse.c wrote NULs
 * in place), so most accessors just return a field.  Anything that needs new
 * text (decoded query values, NUL-terminated path parameters, the peer
 * address) is made on demand in the request arena.  Query values are
 * decoded by form.c's decoder, the one form bodies use.  The results of the
 * body accessors (form.c, multipart.c, json.c) hang off req->lazy, made
 * here on first use.
 */
#include "internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

enum srv_method srv_request_method(const struct srv_request *req)
{
    return (enum srv_method)req->head.method;
}

const char *srv_request_method_name(const struct srv_request *req)
{
    return req->head.method_name;
}

const char *srv_request_path(const struct srv_request *req)
{
    return req->head.path;
}

const char *srv_request_query(const struct srv_request *req)
{
    return req->head.query;
}

const char *srv_request_query_param(struct srv_request *req, const char *name)
{
    const char *q = req->head.query;
    if (q == NULL)
        return NULL;
    const char *qend = q + req->head.query_len;
    while (q < qend) {
        const char *amp = memchr(q, '&', (size_t)(qend - q));
        const char *pend = amp ? amp : qend;
        const char *eq = memchr(q, '=', (size_t)(pend - q));
        const char *kend = eq ? eq : pend;
        if (srv__form_key_equals(q, (size_t)(kend - q), name)) {
            const char *v = eq ? eq + 1 : pend;
            char *out = srv__arena_alloc(req->arena, (size_t)(pend - v) + 1);
            out[srv__form_decode(out, v, (size_t)(pend - v))] = '\0';
            return out;
        }
        q = pend + 1;
    }
    return NULL;
}

const char *srv_request_header(const struct srv_request *req, const char *name)
{
    size_t len = strlen(name);
    const struct srv__header *h = req->head.headers;
    for (uint32_t i = 0; i < req->head.nheaders; i++) {
        if (h[i].name_len == len && strncasecmp(h[i].name, name, len) == 0)
            return h[i].value;
    }
    return NULL;
}

const char *srv_request_param_at(struct srv_request *req, unsigned index)
{
    if (index >= req->match.nparams || index >= SRV_MAX_PARAMS)
        return NULL;
    /* The matcher's slices are already decoded (they point into the decoded
     * path) but not NUL-terminated; copy once and remember. */
    if (req->param_cache[index] == NULL) {
        size_t len = req->match.params[index].len;
        char *s = srv__arena_alloc(req->arena, len + 1);
        memcpy(s, req->match.params[index].ptr, len);
        s[len] = '\0';
        req->param_cache[index] = s;
    }
    return req->param_cache[index];
}

const char *srv_request_param(struct srv_request *req, const char *name)
{
    const struct srv_route *r = req->route;
    if (r == NULL || name == NULL)
        return NULL;
    for (unsigned i = 0; i < r->nparams; i++) {
        if (strcmp(r->param_names[i], name) == 0)
            return srv_request_param_at(req, i);
    }
    return NULL;
}

const char *srv_request_body(const struct srv_request *req, size_t *len)
{
    if (len != NULL)
        *len = req->body_len;
    return req->body != NULL ? req->body : "";
}

void srv__peer_set(struct srv__peer *peer, const void *sa)
{
    const struct sockaddr *a = sa;
    peer->family = 0;
    peer->text_len = 0;
    peer->text[0] = '\0';
    if (a->sa_family == AF_INET) {
        memcpy(peer->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        peer->family = AF_INET;
    } else if (a->sa_family == AF_INET6) {
        memcpy(peer->addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        peer->family = AF_INET6;
    }
}

const char *srv__peer_text(struct srv__peer *peer)
{
    if (peer->text_len != 0 || peer->family == 0)
        return peer->text;
    char *out = peer->text;
    if (peer->family == AF_INET) {
        /* The common case by hand: inet_ntop costs several times more. */
        char *p = out;
        for (int i = 0; i < 4; i++) {
            unsigned v = peer->addr[i];
            if (v >= 100)
                *p++ = (char)('0' + v / 100);
            if (v >= 10)
                *p++ = (char)('0' + v / 10 % 10);
            *p++ = (char)('0' + v % 10);
            *p++ = i < 3 ? '.' : '\0';
        }
    } else {
        inet_ntop(AF_INET6, peer->addr, out, sizeof peer->text);
    }
    peer->text_len = (uint8_t)strlen(out);
    return out;
}

/* The peer of the connection: accept4's address, or the one its PROXY
 * header named. */
static struct srv__peer *socket_peer(struct srv_request *req)
{
    if (req->conn != NULL)
        return srv__conn_peer(req->conn);
    if (req->peer == NULL) {
        /* Not a connection of ours (a test's socketpair, say): ask the kernel. */
        struct srv__peer *peer = srv__arena_alloc(req->arena, sizeof *peer);
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        ss.ss_family = AF_UNSPEC;
        if (getpeername(req->fd, (struct sockaddr *)&ss, &sl) != 0)
            ss.ss_family = AF_UNSPEC;
        srv__peer_set(peer, &ss);
        req->peer = peer;
    }
    return req->peer;
}

/* With trust_proxy: what the forwarding headers say, read once per request
 * (the result is kept with the body accessors' in req->lazy), and only
 * when the peer is a trusted proxy. */
static struct srv__lazy *forwarded(struct srv_request *req)
{
    struct srv__lazy *lz = srv__request_lazy(req);
    if (!lz->forwarded_done) {
        lz->forwarded_done = true;
        const struct srv_app *app = req->app;
        if (srv__ip_trusted(app->trust_proxy, app->ntrust_proxy, socket_peer(req)))
            srv__forwarded_parse(req->head.headers, req->head.nheaders, app->trust_proxy,
                                 app->ntrust_proxy, &lz->forwarded);
    }
    return lz;
}

struct srv__peer *srv__request_peer(struct srv_request *req)
{
    if (SRV__LIKELY(req->app == NULL || req->app->ntrust_proxy == 0))
        return socket_peer(req);
    struct srv__lazy *lz = forwarded(req);
    return lz->forwarded.client.family != 0 ? &lz->forwarded.client : socket_peer(req);
}

const char *srv_request_peer(struct srv_request *req)
{
    return srv__peer_text(srv__request_peer(req));
}

const char *srv_request_scheme(struct srv_request *req)
{
    if (req->app == NULL || req->app->ntrust_proxy == 0)
        return "http";
    return forwarded(req)->forwarded.https ? "https" : "http";
}

/* Runs when the request arena is reset: the lazy results go with it. */
static void lazy_forget(void *arg)
{
    struct srv_request *req = arg;
    req->lazy = NULL;
}

struct srv__lazy *srv__request_lazy(struct srv_request *req)
{
    if (SRV__LIKELY(req->lazy != NULL))
        return req->lazy;
    struct srv__lazy *lz = srv__arena_alloc(req->arena, sizeof *lz);
    memset(lz, 0, sizeof *lz);
    lz->req = req;
    srv__arena_defer(req->arena, lazy_forget, req);
    req->lazy = lz;
    return lz;
}

void srv_request_cleanup(struct srv_request *req, void (*fn)(void *arg), void *arg)
{
    srv__arena_defer(req->arena, fn, arg);
}

void *srv_alloc(struct srv_request *req, size_t size)
{
    return srv__arena_alloc(req->arena, size);
}

char *srv_strdup(struct srv_request *req, const char *s)
{
    size_t len = strlen(s);
    char *d = srv__arena_alloc(req->arena, len + 1);
    memcpy(d, s, len + 1);
    return d;
}

char *srv_sprintf(struct srv_request *req, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = srv__arena_vprintf(req->arena, NULL, fmt, ap);
    va_end(ap);
    return s;
}
