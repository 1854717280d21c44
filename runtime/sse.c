/*
 * sse.c - Server-Sent Events (the WHATWG HTML "server-sent events" format)
 * above the connection: the handler that starts a stream, the encoding of
 * events, the ticks of each SSE route, and subscriptions to channels.
 * conn.c owns the stream's connection: it writes what this file encodes
 * (srv__stream_write), notices the client going away, and closes.
 *
 * Encoding: a value is never allowed to start another field.  An event's
 * data is split at every CR, LF or CRLF and each line sent as its own
 * "data:" line (the client joins them with LF again); an event name or id
 * with a line break or a NUL is refused.  Every event ends with an empty
 * line.
 *
 * Ticks: each route with `every` has one repeating loop timer, shared by its
 * streams, which run the route's `tick` block in turn; a stream that sent
 * nothing during its tick gets a ":" comment, the keep-alive proxies need.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- Starting ---------------------------------------------------------------- */

void srv_sse_start(struct srv_request *req, struct srv_response *res,
                   const struct srv_sse_route *route)
{
    if (req->head.method != SRV_METHOD_GET) {
        /* A GET route answers HEAD; a stream does not. */
        srv__respond_error(req, res, 405, SRV_METHOD_GET);
        return;
    }
    srv_response_set_content_type(res, "text/event-stream; charset=utf-8");
    srv_response_add_header(res, "Cache-Control", "no-cache");
    /* Proxies such as nginx would otherwise hold events back in a buffer. */
    srv_response_add_header(res, "X-Accel-Buffering", "no");
    res->answered = true;
    res->stream = route;
    res->outlives = true;
}

struct srv_sse *srv__sse_new(const struct srv_sse_route *route, size_t limit)
{
    struct srv_sse *s = srv__xcalloc(1, sizeof *s);
    s->route = route;
    s->limit = limit;
    return s;
}

/* ---- Encoding ---------------------------------------------------------------- */

/* Whether a field value (an event name, an id) may be sent: no line break,
 * no NUL. */
static bool field_ok(const char *v)
{
    return v == NULL || strpbrk(v, "\r\n") == NULL;
}

/* Appends "NAME: " + V[0..N) + "\n" at P. */
static char *put_field(char *p, const char *name, size_t nlen, const char *v, size_t n)
{
    memcpy(p, name, nlen);
    p += nlen;
    memcpy(p, v, n);
    p += n;
    *p++ = '\n';
    return p;
}

int srv_sse_send_n(struct srv_sse *sse, const char *event, const char *id, const void *data,
                   size_t len)
{
    if (!field_ok(event) || !field_ok(id) || (data == NULL && len != 0))
        return -EINVAL;
    if (sse->closing)
        return -EPIPE;
    const char *d = data ? data : "";
    /* Lines of DATA: at most one per byte, plus the last one. */
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += d[i] == '\n' || d[i] == '\r';
    size_t elen = event ? strlen(event) : 0, ilen = id ? strlen(id) : 0;
    size_t need = len + 7 * lines + (event ? elen + 8 : 0) + (id ? ilen + 5 : 0) + 1;
    char stack[2048];
    char *buf = need <= sizeof stack ? stack : srv__xmalloc(need);
    char *p = buf;
    if (event)
        p = put_field(p, "event: ", 7, event, elen);
    if (id)
        p = put_field(p, "id: ", 4, id, ilen);
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && d[i] != '\n' && d[i] != '\r')
            continue;
        p = put_field(p, "data: ", 6, d + start, i - start);
        if (i < len && d[i] == '\r' && i + 1 < len && d[i + 1] == '\n')
            i++; /* CRLF is one line break */
        start = i + 1;
    }
    *p++ = '\n';
    int r = srv__stream_write(sse, buf, (size_t)(p - buf));
    if (buf != stack)
        free(buf);
    return r;
}

int srv_sse_send(struct srv_sse *sse, const char *event, const char *id, const char *data)
{
    return srv_sse_send_n(sse, event, id, data, data ? strlen(data) : 0);
}

int srv_sse_comment(struct srv_sse *sse, const char *text)
{
    if (sse->closing)
        return -EPIPE;
    size_t len = text ? strlen(text) : 0, lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n' || text[i] == '\r';
    char stack[512];
    size_t need = len + 3 * lines + 1;
    char *buf = need <= sizeof stack ? stack : srv__xmalloc(need);
    char *p = buf;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && text[i] != '\n' && text[i] != '\r')
            continue;
        *p++ = ':';
        if (i > start) {
            *p++ = ' ';
            memcpy(p, text + start, i - start);
            p += i - start;
        }
        *p++ = '\n';
        if (i < len && text[i] == '\r' && i + 1 < len && text[i + 1] == '\n')
            i++;
        start = i + 1;
    }
    *p++ = '\n';
    int r = srv__stream_write(sse, buf, (size_t)(p - buf));
    if (buf != stack)
        free(buf);
    return r;
}

int srv_sse_retry(struct srv_sse *sse, unsigned ms)
{
    if (sse->closing)
        return -EPIPE;
    char buf[32];
    char *p = buf;
    memcpy(p, "retry: ", 7);
    p = srv__put_uint(p + 7, ms);
    *p++ = '\n';
    *p++ = '\n';
    return srv__stream_write(sse, buf, (size_t)(p - buf));
}

void srv_sse_set_data(struct srv_sse *sse, void *data)
{
    sse->data = data;
}

void *srv_sse_data(const struct srv_sse *sse)
{
    return sse->data;
}

void srv_sse_close(struct srv_sse *sse)
{
    srv__stream_end(sse, SRV_SSE_CLOSED);
}

/* ---- Subscriptions ------------------------------------------------------------ */

struct srv__sse_sub {
    struct srv__sse_sub *next;
    struct srv_sse *sse;
    struct srv_subscription *sub;
    char event[]; /* "" for the default */
};

static void deliver(struct srv_subscription *sub, const char *channel, const void *msg,
                    size_t len, void *arg)
{
    SRV__UNUSED(sub);
    SRV__UNUSED(channel);
    struct srv__sse_sub *s = arg;
    srv_sse_send_n(s->sse, s->event[0] ? s->event : NULL, NULL, msg, len);
}

int srv_sse_subscribe(struct srv_sse *sse, const char *channel, const char *event)
{
    if (!field_ok(event))
        return -EINVAL;
    if (sse->closing)
        return -EPIPE;
    size_t elen = event ? strlen(event) : 0;
    struct srv__sse_sub *s = srv__xmalloc(sizeof *s + elen + 1);
    s->sse = sse;
    memcpy(s->event, event ? event : "", elen + 1);
    s->sub = srv_subscribe(channel, deliver, s);
    if (s->sub == NULL) {
        int err = errno ? -errno : -EINVAL;
        free(s);
        return err;
    }
    s->next = sse->subs;
    sse->subs = s;
    return 0;
}

/* ---- Ticks ----------------------------------------------------------------------- */

/* The streams of one SSE route with `every`, and their shared timer. */
struct ticker {
    const struct srv_sse_route *route;
    struct srv_timer *timer;
    struct srv_sse *head;
};

static struct ticker *tickers;
static unsigned ntickers, captickers;

static struct ticker *ticker_of(const struct srv_sse_route *route)
{
    for (unsigned i = 0; i < ntickers; i++)
        if (tickers[i].route == route)
            return &tickers[i];
    if (ntickers == captickers) {
        captickers = captickers ? captickers * 2 : 4;
        tickers = srv__xrealloc(tickers, captickers * sizeof *tickers);
    }
    struct ticker *t = &tickers[ntickers++];
    memset(t, 0, sizeof *t);
    t->route = route;
    return t;
}

static void tick(struct srv_timer *timer, void *arg)
{
    SRV__UNUSED(timer);
    const struct srv_sse_route *route = arg;
    struct ticker *t = ticker_of(route);
    /* Streams only leave the list from the loop (srv__sse_forget), never
     * inside a tick: closing one here just marks it. */
    for (struct srv_sse *s = t->head; s != NULL; s = s->tick_next) {
        if (s->closing)
            continue;
        s->sent = false;
        if (route->tick)
            route->tick(s);
        if (!s->sent && !s->closing)
            srv_sse_comment(s, NULL);
    }
}

void srv__sse_opened(struct srv_sse *s)
{
    if (s->route->every_ms == 0)
        return;
    struct ticker *t = ticker_of(s->route);
    s->tick_prev = NULL;
    s->tick_next = t->head;
    if (t->head)
        t->head->tick_prev = s;
    t->head = s;
    s->ticking = true;
    if (t->timer == NULL)
        t->timer = srv_timer_start(s->route->every_ms, s->route->every_ms, tick,
                                   (void *)s->route);
}

void srv__sse_forget(struct srv_sse *s)
{
    while (s->subs != NULL) {
        struct srv__sse_sub *sub = s->subs;
        s->subs = sub->next;
        srv_unsubscribe(sub->sub);
        free(sub);
    }
    if (!s->ticking)
        return;
    s->ticking = false;
    struct ticker *t = ticker_of(s->route);
    if (s->tick_prev)
        s->tick_prev->tick_next = s->tick_next;
    else
        t->head = s->tick_next;
    if (s->tick_next)
        s->tick_next->tick_prev = s->tick_prev;
    if (t->head == NULL && t->timer != NULL) {
        srv_timer_stop(t->timer);
        t->timer = NULL;
    }
}
