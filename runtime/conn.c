/*
 * conn.c - the per-connection state machine and the per-process serving
 * state (struct srv__server).  A request's whole life is in serve() and
 * process(): read once, parse every complete request in the buffer, dispatch
 * each, append each response to the output buffer, then write them all with
 * one syscall.
 *
 * Costs are per connection, not per request: connection objects come from a
 * free list and keep their input/output buffers and the first arena chunk
 * across requests; the parsed head is a set of views into the input buffer.
 * The loop is level-triggered and a connection does one read() per readable
 * event (never a second read just to see EAGAIN), so keep-alive costs a read
 * and a write per request plus a share of one epoll_wait.  A new connection
 * is read right after accept4(): the listener uses TCP_DEFER_ACCEPT, so the
 * request is usually there and epoll is only involved when we must wait.
 *
 * Timeouts cost no syscall: there is one intrusive list per kind (idle
 * keep-alive, header, body, stalled write).  Every connection waiting for
 * something sits in exactly one list; as each kind has a fixed duration,
 * appending at the tail keeps the list sorted by deadline, so moving a
 * connection is O(1) and the sweep after each loop iteration looks only at
 * the heads.  epoll_wait sleeps until the earliest deadline.
 *
 * Backpressure: a response body larger than BIG_BODY is not copied; it is
 * written from where it lives (the request arena or static data) with
 * sendmsg(head, body) across writable events.  A file body (static files)
 * is copied only when it is in memory and fits in the output buffer as it
 * is; otherwise flush_file() writes it: memory parts with sendmsg, file
 * parts with sendfile(2), a bounded amount per writable event.  While any
 * output is pending the connection neither reads nor handles further
 * pipelined requests.  Whatever a body lives in stays valid until the
 * request arena is reset (arena hooks release cached files), and the arena
 * is reset only once the body has been written.
 */
#include "internal.h"

#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define IN_DEFAULT (16u * 1024)  /* input buffer kept across requests */
#define OUT_DEFAULT (16u * 1024) /* output buffer kept across requests */
#define ARENA_FIRST (8u * 1024)  /* request arena chunk kept across requests */
#define BIG_BODY (64u * 1024)    /* larger bodies are written in place */
/* File bytes written per writable event: a fast reader of a large file
 * cannot hold the worker (nginx's sendfile_max_chunk is 2m too). */
#define FILE_BURST (2u * 1024 * 1024)
#define FILE_IOV 16              /* memory parts per sendmsg of a file body */
#define POOL_KEEP 256            /* closed connections kept for reuse */
#define WORKS_KEEP 64            /* idle works kept for reuse */
#define ACCEPT_BATCH 64          /* accepts per listener event */
#define ACCEPT_PAUSE_MS 100      /* after EMFILE/ENFILE */
#define MAX_SLEEP_MS 60000
#define IDLE_SLACK_MS 1000       /* idle deadlines are this precise (timer_set) */
/* A drain leaves idle keep-alive connections open this long: a client in
 * the middle of a series of requests sends its next one meanwhile and gets
 * it answered (with Connection: close) instead of racing our close.  The
 * race stays for a request sent just as the grace ends: HTTP clients retry
 * those (RFC 9112, 9.3.1), and a connection idle that long rarely has one. */
#define DRAIN_IDLE_GRACE_MS 500
/* A WebSocket that sent its close frame waits this long for the client's
 * (RFC 6455 7.1.1: the server closes the TCP connection once both went). */
#define WS_CLOSE_WAIT_MS 5000
#define WS_READ_BUF 65536        /* the worker's one buffer for WebSocket reads */
#define WS_READS_PER_EVENT 4     /* then the others get their turn */
/* Corked frames (a read's batch of echoes) go out together once they pass
 * this many bytes, rather than growing the queue by copying it again. */
#define WS_CORK_MAX 65536

/* The lists a connection can wait in: the timed ones, each of a fixed
 * duration, then the untimed ones, kept so a drain or a shutdown finds
 * every connection (a deferred response keeps its deadline on a loop
 * timer, whose duration depends on its route). */
enum timer_kind {
    T_IDLE, T_HEAD, T_BODY, T_WRITE,
    T_WS,       /* a WebSocket: its ping tick (limits.ws_ping_ms) */
    T_WS_CLOSE, /* a WebSocket closing: waiting for the client's close frame */
    T_COUNT,
    T_DEFERRED = T_COUNT, /* a deferred response, until finished or cancelled */
    T_STREAM,             /* an event stream (SSE), exempt from the HTTP timeouts */
    T_ALL,
    T_NONE = T_ALL,
};

enum conn_state {
    ST_IDLE,         /* no byte of the next request yet */
    ST_HEAD,         /* part of a request head */
    ST_BODY,         /* head parsed, Content-Length body incomplete */
    ST_BODY_CHUNKED, /* head parsed, chunked body incomplete */
    ST_DEFERRED,     /* its handler deferred the response (srv_response_defer) */
    ST_STREAM,       /* an event stream: no more requests, events out (c->stream) */
    ST_WS,           /* a WebSocket (c->ws): frames both ways */
};

/* What a connection needs only while it has work: buffers, the request
 * arena, the request and its response.  A connection waiting for its next
 * request need not hold any of it (CONN.w is NULL): works come from a
 * per-worker pool when a read begins and go back to it when the connection
 * is idle again, so an idle keep-alive connection costs its struct
 * srv__conn alone and the memory in use follows the connections at work, not
 * the ones open.  While a worker has at most WORKS_KEEP connections they
 * keep their works between requests: a bounded amount of memory, and no pool
 * traffic for the common case of a few busy keep-alive connections. */
struct work {
    struct work *next_free;
    /* A deferred response: where the NUL after its body went (the byte is
     * put back when it is finished), the input it consumed, its deadline,
     * and its place in the list of finished ones (priv.ready). */
    char *defer_nul;
    char defer_saved;
    bool finished;
    size_t defer_consumed;
    struct srv_timer *deadline;
    struct work *ready_next;
    char *in;
    size_t in_cap, in_len, in_off; /* the current request starts at in + in_off */
    char *out;
    size_t out_cap, out_len, out_off; /* out[out_off..out_len) still to send */
    const char *big;                  /* a large body written in place */
    size_t big_len;
    size_t queued; /* bytes of the last response emit() queued, head and body (metrics) */
    /* A file body being written (BIG is then non-NULL too, so every "output
     * pending" test covers it): its parts, the part under way and how much
     * of it is out, and the file the parts without memory come from. */
    const struct srv__seg *segs;
    unsigned nsegs, seg_i;
    uint64_t seg_done;
    int file_fd;
    size_t head_len; /* of the parsed head waiting for its body */
    /* An incomplete head: how many of its bytes the parser has seen, and the
     * length at which a limit would end the wait (see process()). */
    size_t head_seen, head_limit;
    struct srv__chunked chunk;

    struct srv__arena arena;
    char *arena_start; /* the arena's cur when nothing is allocated */
    char hdr_buf[512]; /* the response's header block, unless it outgrows it */
    struct srv_request req;
    struct srv_response res;
    struct srv__header headers[]; /* limits.header_count slots */
};

struct srv__conn {
    struct srv__io io; /* first: the loop hands back &io */
    struct srv__server *srv;
    struct srv__conn *tprev, *tnext; /* timer list; tnext links the free list */
    uint64_t deadline;
    uint8_t tkind;
    uint8_t state;
    bool close_after;   /* close once the output is written */
    bool progressed;    /* a request head completed since the last settle() */
    bool continue_sent; /* "100 Continue" already queued for this request */
    struct work *w;     /* NULL while idle (see struct work) */
    union {
        struct srv_sse *stream; /* ST_STREAM: the stream it carries */
        struct srv_ws *ws;      /* ST_WS: the WebSocket it carries */
    };
    struct srv__peer peer;
};

struct tlist {
    struct srv__conn *head, *tail;
    uint64_t ms;    /* the fixed duration of this kind */
    uint64_t slack; /* how much earlier a re-armed deadline may stay (T_IDLE) */
};

struct priv {
    struct tlist timers[T_ALL];
    struct work *ready;     /* deferred responses finished, to be sent (works' ready_next) */
    struct srv_sse *ending; /* streams to end, from the loop (end_next) */
    struct srv_ws *ws_ending; /* WebSockets to end, from the loop (end_next) */
    char *ws_buf;           /* WebSocket reads land here (WS_READ_BUF + 1 bytes) */
    struct srv__conn *free_list;
    unsigned nfree;
    uint64_t trimmed_ms;    /* when trim_works() last ran */
    size_t work_size;
    size_t head_max;        /* largest input buffer a head may need */
    uint64_t accept_resume; /* != 0: accepting paused until then */
    uint64_t drain_idle_at; /* != 0: a drain closes the idle connections then */
    bool accept_error_logged;
};

static char empty_body[1];

unsigned long srv__incomplete_parses;

static void conn_close(struct srv__conn *c);
static void serve(struct srv__conn *c);

static struct priv *priv_of(const struct srv__server *s)
{
    return s->priv;
}

/* ---- Works ---------------------------------------------------------------- */

static struct work *work_new(struct srv__server *s)
{
    struct work *w = srv__xmalloc(priv_of(s)->work_size);
    memset(w, 0, sizeof *w);
    w->in = srv__xmalloc(IN_DEFAULT);
    w->in_cap = IN_DEFAULT;
    w->out = srv__xmalloc(OUT_DEFAULT);
    w->out_cap = OUT_DEFAULT;
    w->file_fd = -1;
    srv__arena_init(&w->arena, ARENA_FIRST);
    w->arena_start = w->arena.cur;
    w->req.arena = &w->arena;
    w->req.app = s->app;
    w->res.req = &w->req;
    w->req.head.headers = w->headers;
    w->req.body = empty_body;
    return w;
}

static void work_free(struct work *w)
{
    free(w->in);
    free(w->out);
    srv__arena_free(&w->arena);
    free(w);
}

/* Gives C a work to read into: the pool's last one back, usually still in
 * the cache. */
static inline struct work *work_take(struct srv__conn *c)
{
    struct srv__server *s = c->srv;
    struct work *w = s->works;
    if (SRV__LIKELY(w != NULL))
        s->works = w->next_free;
    else
        w = work_new(s);
    w->req.conn = c;
    c->w = w;
    return w;
}

/* C has nothing in its buffers or its arena: its work goes back to the pool
 * (which trim_works() keeps to WORKS_KEEP, so a burst of busy connections
 * does not stay resident once it is over). */
static inline void work_give_back(struct srv__conn *c)
{
    struct srv__server *s = c->srv;
    struct work *w = c->w;
    c->w = NULL;
    w->next_free = s->works;
    s->works = w;
}

/* Frees the pool's works past WORKS_KEEP; once a second from the sweep, not
 * on every give-back, which is the hot path. */
static void trim_works(struct srv__server *s)
{
    struct work **link = (struct work **)&s->works;
    for (unsigned n = 0; *link != NULL && n < WORKS_KEEP; n++)
        link = &(*link)->next_free;
    while (*link != NULL) {
        struct work *w = *link;
        *link = w->next_free;
        work_free(w);
    }
}

struct srv__peer *srv__conn_peer(struct srv__conn *c)
{
    return &c->peer;
}

/* ---- Timer lists ---------------------------------------------------------- */

static void timer_unlink(struct priv *p, struct srv__conn *c)
{
    if (c->tkind == T_NONE)
        return;
    struct tlist *l = &p->timers[c->tkind];
    if (c->tprev)
        c->tprev->tnext = c->tnext;
    else
        l->head = c->tnext;
    if (c->tnext)
        c->tnext->tprev = c->tprev;
    else
        l->tail = c->tprev;
    c->tprev = c->tnext = NULL;
    c->tkind = T_NONE;
}

/* Puts C at the tail of list KIND with a deadline of now + its duration.
 * A keep-alive connection re-arms its idle timer after every request; one
 * already in the idle list keeps its place when the new deadline would be
 * less than a sixteenth of the timeout (at most IDLE_SLACK_MS) later: it may
 * then close up to that much early, and a busy connection is spared the move
 * to the tail each time. */
static void timer_set(struct priv *p, struct srv__conn *c, unsigned kind)
{
    struct tlist *l = &p->timers[kind];
    uint64_t deadline = srv__now_ms() + l->ms;
    if (c->tkind == kind) {
        if (c->tnext == NULL) {
            c->deadline = deadline; /* already last: later than everyone else */
            return;
        }
        if (kind == T_IDLE && deadline - c->deadline < l->slack)
            return;
    }
    timer_unlink(p, c);
    c->tkind = (uint8_t)kind;
    c->deadline = deadline;
    c->tprev = l->tail;
    c->tnext = NULL;
    if (l->tail)
        l->tail->tnext = c;
    else
        l->head = c;
    l->tail = c;
}

/* ---- Buffers -------------------------------------------------------------- */

static bool in_range(const void *p, uintptr_t lo, uintptr_t hi)
{
    return p != NULL && (uintptr_t)p >= lo && (uintptr_t)p < hi;
}

#define REBASE(field)                                                          \
    do {                                                                       \
        if (in_range((field), lo, hi))                                         \
            (field) = (void *)((uintptr_t)(field) + delta);                    \
    } while (0)

/* The parsed head points into the input buffer; after the buffer moved from
 * OLD_START (the head's old address) to the head's new address, move every
 * view with it. */
static void rebase_head(struct srv__conn *c, uintptr_t old_start, size_t old_len)
{
    struct srv__head *h = &c->w->req.head;
    uintptr_t lo = old_start, hi = old_start + old_len;
    uintptr_t delta = (uintptr_t)(c->w->in + c->w->in_off) - old_start;
    REBASE(h->method_name);
    REBASE(h->path);
    REBASE(h->query);
    REBASE(h->host);
    for (uint32_t i = 0; i < h->nheaders; i++) {
        REBASE(h->headers[i].name);
        REBASE(h->headers[i].value);
    }
}

/* Makes room for NEED bytes from the start of the current request, moving it
 * to the front of the buffer and growing the buffer as needed.  HAS_HEAD:
 * the head has been parsed and its views must follow the bytes. */
static void in_reserve(struct srv__conn *c, size_t need, bool has_head)
{
    if (c->w->in_off + need <= c->w->in_cap)
        return;
    uintptr_t old_start = (uintptr_t)(c->w->in + c->w->in_off);
    size_t pending = c->w->in_len - c->w->in_off;
    if (c->w->in_off > 0) {
        memmove(c->w->in, c->w->in + c->w->in_off, pending);
        c->w->in_off = 0;
        c->w->in_len = pending;
    }
    if (need > c->w->in_cap) {
        size_t cap = c->w->in_cap * 2;
        if (cap < need)
            cap = need;
        c->w->in = srv__xrealloc(c->w->in, cap);
        c->w->in_cap = cap;
    }
    if (has_head)
        rebase_head(c, old_start, pending);
}

/* Makes room for NEED more bytes of output. */
static void out_reserve(struct srv__conn *c, size_t need)
{
    if (SRV__LIKELY(c->w->out_cap - c->w->out_len >= need))
        return;
    size_t cap = c->w->out_cap * 2;
    if (cap < c->w->out_len + need)
        cap = c->w->out_len + need;
    c->w->out = srv__xrealloc(c->w->out, cap);
    c->w->out_cap = cap;
}

/* ---- Responses ------------------------------------------------------------ */

/* Resets the request arena, skipping the call when nothing was allocated. */
static void arena_reset(struct srv__conn *c)
{
    if (c->w->arena.cur != c->w->arena_start || c->w->arena.extra != NULL)
        srv__arena_reset(&c->w->arena);
}

/* The rest of emit(), for a body that is not simply copied: a large memory
 * body is left where it is, for flush() to send with the head in one
 * sendmsg.  A file body is copied when its parts are in memory and fit in
 * the output buffer as it is (a small cached file: head and body leave in
 * one send, and pipelined ones batch); otherwise flush_file() writes it. */
static __attribute__((noinline)) void emit_in_place(struct srv__conn *c, unsigned flags,
                                                    size_t blen)
{
    struct work *w = c->w;
    struct srv_response *res = &w->res;
    out_reserve(c, srv__response_head_max(res));
    size_t head = srv__response_head(res, flags, w->out + w->out_len);
    w->out_len += head;
    w->queued = head + blen;
    if (blen == 0)
        return; /* HEAD, 304, an empty file: nothing of the file is sent */
    if (res->body != NULL) {
        w->big = res->body;
        w->big_len = blen;
        return;
    }
    bool in_memory = blen <= w->out_cap - w->out_len;
    for (unsigned i = 0; in_memory && i < res->nsegs; i++)
        in_memory = res->segs[i].mem != NULL;
    if (in_memory) {
        for (unsigned i = 0; i < res->nsegs; i++) {
            memcpy(w->out + w->out_len, res->segs[i].mem, res->segs[i].len);
            w->out_len += res->segs[i].len;
        }
        return;
    }
    w->segs = res->segs;
    w->nsegs = res->nsegs;
    w->seg_i = 0;
    w->seg_done = 0;
    w->file_fd = res->file_fd;
    w->big = (const char *)res->segs;
    w->big_len = blen;
}

/* Serialises the response into the output buffer (or, for a large body or a
 * file, leaves the body where it is for flush()).  w->queued says how many
 * bytes of response that is, head and body: a store rather than a return
 * value, which would have to live across the calls that follow. */
static inline __attribute__((always_inline)) void emit(struct srv__conn *c, unsigned flags)
{
    struct work *w = c->w;
    struct srv_response *res = &w->res;
    size_t blen = srv__response_has_body(res, flags) ? res->body_len : 0;
    if (SRV__UNLIKELY(blen > BIG_BODY || res->body == NULL)) {
        emit_in_place(c, flags, blen);
        return;
    }
    out_reserve(c, srv__response_head_max(res) + blen);
    size_t head = srv__response_head(res, flags, w->out + w->out_len);
    w->out_len += head;
    w->queued = head + blen;
    if (blen) {
        srv__copy(w->out + w->out_len, res->body, blen);
        w->out_len += blen;
    }
}

/* One access-log line for the response just queued.  KNOWN: the request
 * line was read (else the line says "-"). */
static __attribute__((noinline)) void log_response(struct srv__conn *c, unsigned flags,
                                                   bool known)
{
    struct srv_request *req = &c->w->req;
    const struct srv_response *res = &c->w->res;
    /* The client as the handler saw it (trust_proxy); before a request
     * line, the connection's peer. */
    struct srv__peer *peer = known ? srv__request_peer(req) : &c->peer;
    const char *text = srv__peer_text(peer);
    struct srv__access_entry e = {
        .peer = text,
        .peer_len = peer->text_len,
        .method = "-", .method_len = 1,
        .path = "-", .path_len = 1,
        .version_minor = 1,
        .status = res->status,
        .bytes = srv__response_has_body(res, flags) ? res->body_len : 0,
    };
    /* Only the JSON format has the duration: the combined one reads no
     * clock. */
    if (c->srv->log->format == SRV_ACCESS_LOG_JSON)
        e.duration_us = srv__ticks_to_us(srv__ticks() - req->start_ticks);
    if (known) {
        const struct srv__head *h = &req->head;
        e.method = h->method_name;
        e.method_len = h->method_len;
        e.path = h->path;
        e.path_len = h->path_len;
        e.query = h->query;
        e.query_len = h->query_len;
        e.version_minor = h->version_minor;
        for (uint32_t i = 0; i < h->nheaders; i++) {
            const struct srv__header *f = &h->headers[i];
            if (f->name_len == 10 && !e.user_agent && strncasecmp(f->name, "user-agent", 10) == 0) {
                e.user_agent = f->value;
                e.user_agent_len = f->value_len;
            } else if (f->name_len == 7 && !e.referer && strncasecmp(f->name, "referer", 7) == 0) {
                e.referer = f->value;
                e.referer_len = f->value_len;
            }
        }
    }
    srv__access_log_add(c->srv->log, &e);
}

/* Counts the response of W just queued into M (`metrics`): IN bytes of
 * input it consumed, and what emit() queued. */
static inline void count_response(struct work *w, struct srv__metrics_slot *m, size_t in)
{
    srv__metrics_count(m, w->res.status, srv__metrics_now(m) - w->req.start_ticks, in,
                       w->queued);
}

/* Answers STATUS through the error-response pipeline, then closes: the rest
 * of the input cannot be trusted to be framed correctly.  PARSED: the
 * request's head was parsed (and NUL-terminated in place). */
static void respond_error(struct srv__conn *c, int status, bool parsed)
{
    struct srv_request *req = &c->w->req;
    srv__response_init(&c->w->res, &c->w->arena);
    req->route = NULL;
    /* The app's error block sees the request when its head was parsed
     * (its body was refused) or at least its request line can be read;
     * bytes that never made one (garbage, a TLS handshake) get the
     * built-in page.  The input is dropped next, so the request line may
     * be decoded in place. */
    bool known = parsed;
    if (!parsed && c->srv->app->error != NULL) {
        req->head.headers = c->w->headers;
        known = srv__http_parse_request_line(c->w->in + c->w->in_off, c->w->in_len - c->w->in_off,
                                             &c->srv->limits, &req->head) > 0;
        if (!known && (status == 414 || status == 431)) {
            /* Too long to be read, yet a request: the page is the server's,
             * with an empty method and path. */
            static char none[1];
            struct srv__head *h = &req->head;
            h->method = 0;
            h->method_name = none;
            h->method_len = 0;
            h->path = none;
            h->path_len = 0;
            h->query = NULL;
            h->query_len = 0;
            h->host = NULL;
            h->version_minor = 1;
            h->nheaders = 0;
            known = true;
        }
    }
    if (known)
        srv__respond_error(req, &c->w->res, status, 0);
    else
        srv__response_error(&c->w->res, status, 0);
    unsigned flags = SRV__RESP_CLOSE | (known && req->head.method == SRV_METHOD_HEAD ? SRV__RESP_HEAD : 0);
    emit(c, flags);
    if (SRV__UNLIKELY(c->srv->log != NULL))
        log_response(c, flags, known);
    if (SRV__UNLIKELY(c->srv->metrics != NULL))
        count_response(c->w, c->srv->metrics, c->w->in_len - c->w->in_off);
    c->close_after = true;
    c->w->in_off = c->w->in_len;
    c->state = ST_IDLE;
    c->w->head_seen = 0;
}

static void defer_begin(struct srv__conn *c, char *nul, char saved, size_t consumed);
static bool stream_begin(struct srv__conn *c);
static bool ws_begin(struct srv__conn *c, size_t consumed);
static void complete_request(struct srv__conn *c, size_t consumed);

/* The handler kept the connection for later (srv_response_defer,
 * srv_sse_start, srv_ws_start): true when that took the connection over,
 * false when an ordinary response is to be queued after all (a refused
 * stream or upgrade).  NUL is where the byte SAVED goes back. */
static bool outlive(struct srv__conn *c, char *nul, char saved, size_t consumed)
{
    const struct srv_response *res = &c->w->res;
    if (res->deferred) {
        defer_begin(c, nul, saved, consumed);
        return true;
    }
    *nul = saved;
    if (res->stream != NULL && stream_begin(c))
        return true;
    return res->upgrade != NULL && ws_begin(c, consumed);
}

/* Runs the handler for the parsed request whose body is BODY[0..LEN), then
 * queues its response and consumes CONSUMED input bytes. */
static void run_request(struct srv__conn *c, char *body, size_t len, size_t consumed)
{
    struct work *w = c->w;
    struct srv__server *s = c->srv;
    struct srv_request *req = &w->req;
    /* The body is NUL-terminated for the handler; the byte may belong to the
     * next pipelined request, so it is put back afterwards. */
    char saved = body[len];
    body[len] = '\0';
    req->body = body;
    req->body_len = len;
    srv__response_init(&w->res, &w->arena);
    w->res.headers = w->hdr_buf; /* no arena allocation for the usual few headers */
    w->res.headers_cap = sizeof w->hdr_buf;
    srv__dispatch(s->app, req, &w->res);
    if (SRV__UNLIKELY(w->res.outlives) && outlive(c, body + len, saved, consumed))
        return;
    body[len] = saved;
    complete_request(c, consumed);
}

/* Queues the response of the request just run and consumes its CONSUMED
 * input bytes. */
static void complete_request(struct srv__conn *c, size_t consumed)
{
    struct work *w = c->w;
    struct srv__server *s = c->srv;
    struct srv_request *req = &w->req;
    bool keep = req->head.keep_alive && !s->draining;
    unsigned flags = req->head.method == SRV_METHOD_HEAD ? SRV__RESP_HEAD : 0;
    if (!keep)
        flags |= SRV__RESP_CLOSE;
    else if (req->head.version_minor == 0)
        flags |= SRV__RESP_KEEPALIVE;
    emit(c, flags);
    if (SRV__UNLIKELY(s->log != NULL))
        log_response(c, flags, true);
    /* Not marked unlikely: with metrics on it is taken every time, and laid
     * out in line it costs no jump back. */
    if (s->metrics != NULL)
        count_response(w, s->metrics, consumed);

    w->in_off += consumed;
    c->state = ST_IDLE;
    c->continue_sent = false;
    if (!keep)
        c->close_after = true;
    if (SRV__LIKELY(w->big == NULL))
        arena_reset(c);
}

static void queue_continue(struct srv__conn *c)
{
    static const char msg[] = "HTTP/1.1 100 Continue\r\n\r\n";
    if (c->continue_sent || !c->w->req.head.expect_continue || c->w->req.head.version_minor == 0)
        return;
    c->continue_sent = true;
    out_reserve(c, sizeof msg - 1);
    memcpy(c->w->out + c->w->out_len, msg, sizeof msg - 1);
    c->w->out_len += sizeof msg - 1;
}

/* ---- The request pipeline ------------------------------------------------- */

/* Starts the body of the request whose head was just parsed.  Returns true
 * when the request can go on (possibly waiting for body bytes), false when
 * it was answered with an error. */
static bool start_body(struct srv__conn *c)
{
    struct work *w = c->w;
    const struct srv__head *h = &w->req.head;
    if (h->chunked) {
        memset(&w->chunk, 0, sizeof w->chunk);
        c->state = ST_BODY_CHUNKED;
        return true;
    }
    if (h->has_content_length && h->content_length > 0) {
        if (h->content_length > c->srv->limits.body) {
            respond_error(c, 413, true);
            return false;
        }
        c->state = ST_BODY;
        return true;
    }
    return true; /* no body: state stays ST_HEAD and the request runs now */
}

/* A chunked body has been decoded to LEN bytes: the handler sees it framed
 * as it now is, by "Content-Length: LEN" in place of Transfer-Encoding. */
static void reframe_decoded(struct srv__conn *c, size_t len)
{
    struct srv__head *h = &c->w->req.head;
    char digits[24], *v;
    size_t n = 0;
    uint32_t w = 0;
    do {
        digits[n++] = (char)('0' + len % 10);
        len /= 10;
    } while (len);
    v = srv__arena_alloc(&c->w->arena, n + 1);
    for (size_t i = 0; i < n; i++)
        v[i] = digits[n - 1 - i];
    v[n] = '\0';
    for (uint32_t i = 0; i < h->nheaders; i++) {
        const struct srv__header *f = &h->headers[i];
        if (!(f->name_len == 17 && strncasecmp(f->name, "Transfer-Encoding", 17) == 0))
            h->headers[w++] = *f;
    }
    /* At least one Transfer-Encoding line was dropped: there is a slot. */
    h->headers[w++] = (struct srv__header){"Content-Length", v, 14, (uint32_t)n};
    h->nheaders = w;
    h->has_content_length = true;
    h->content_length = c->w->chunk.out;
}

/* For a request in a body state: 1 when the body is complete (and the
 * request has run), 0 when more bytes are needed, -1 when it was answered
 * with an error. */
static int finish_body(struct srv__conn *c)
{
    struct work *w = c->w;
    char *body = w->in + w->in_off + w->head_len;
    size_t have = w->in_len - w->in_off - w->head_len;
    if (c->state == ST_BODY) {
        size_t len = (size_t)w->req.head.content_length;
        if (have >= len) {
            if (SRV__UNLIKELY(w->in_off + w->head_len + len == w->in_cap)) {
                in_reserve(c, w->head_len + len + 1, true); /* room for the NUL */
                body = w->in + w->in_off + w->head_len;
            }
            run_request(c, body, len, w->head_len + len);
            return 1;
        }
        /* Room for the whole body (and its NUL) now, so later reads need no
         * further growth. */
        in_reserve(c, w->head_len + len + 1, true);
        return 0;
    }
    int r = srv__http_parse_chunked(&w->chunk, body, have, c->srv->limits.body);
    if (r < 0) {
        respond_error(c, -r, true);
        return -1;
    }
    if (r > 0) {
        /* Decoded data ends before the raw bytes consumed, so the NUL
         * run_request() writes stays inside this request. */
        reframe_decoded(c, w->chunk.out);
        run_request(c, body, w->chunk.out, w->head_len + w->chunk.raw);
        return 1;
    }
    if (w->in_len == w->in_cap) {
        /* Chunk framing can outweigh the data; bound the raw bytes kept. */
        size_t raw_max = 2 * c->srv->limits.body + 64 * 1024;
        if (have >= raw_max) {
            respond_error(c, 413, true);
            return -1;
        }
        in_reserve(c, w->head_len + have + (have < IN_DEFAULT ? IN_DEFAULT : have), true);
    }
    return 0;
}

/* Handles every complete request in the input buffer, in order, appending
 * their responses to the output.  Stops at an incomplete request, after a
 * response that closes the connection, and while a large body is pending. */
static void process(struct srv__conn *c)
{
    struct work *w = c->w;
    struct srv__server *s = c->srv;
    while (!c->close_after && w->big == NULL && c->state < ST_DEFERRED) {
        if (c->state == ST_BODY || c->state == ST_BODY_CHUNKED) {
            int r = finish_body(c);
            if (r == 0)
                queue_continue(c);
            if (r <= 0)
                break;
            continue;
        }
        size_t avail = w->in_len - w->in_off;
        if (avail == 0) {
            c->state = ST_IDLE;
            break;
        }
        char *p = w->in + w->in_off;
        if (SRV__UNLIKELY(w->head_seen != 0)) {
            /* The head was incomplete last time.  Its answer can change
             * only when a line ends or the bytes reach a limit, so a client
             * trickling a byte per read costs a memchr of that byte, not a
             * parse of everything it sent before; and a check of that byte
             * alone, so that bytes no request could continue with (binary
             * data, a TLS handshake) are answered at once. */
            if (avail < w->head_limit &&
                memchr(p + w->head_seen, '\n', avail - w->head_seen) == NULL) {
                if (srv__http_prefix(&w->req.head.prefix, p + w->head_seen,
                                     avail - w->head_seen) < 0) {
                    respond_error(c, 400, false);
                    break;
                }
                w->head_seen = avail;
                in_reserve(c, avail + 1024, false);
                break;
            }
            w->head_seen = 0;
        }
        w->req.head.headers = w->headers;
        int r = srv__http_parse_head(p, avail, &s->limits, &w->req.head);
        if (r == SRV__PARSE_INCOMPLETE) {
            c->state = ST_HEAD;
            srv__incomplete_parses++;
            /* Keep room to read the rest; the parser rejects a head past
             * its limits before the buffer grows past head_max. */
            if (avail >= priv_of(s)->head_max) {
                respond_error(c, 431, false);
                break;
            }
            w->head_seen = avail;
            w->head_limit = srv__http_head_limit(p, avail, &s->limits);
            in_reserve(c, avail + 1024, false);
            break;
        }
        if (r < 0) {
            respond_error(c, -r, false);
            break;
        }
        w->head_len = (size_t)r;
        c->progressed = true;
        if (!start_body(c))
            break;
        if (c->state == ST_HEAD || c->state == ST_IDLE)
            run_request(c, empty_body, 0, (size_t)r);
    }
    if (c->state >= ST_STREAM)
        return; /* a stream or a WebSocket took the connection (and gave its work back) */
    if (w->in_off == w->in_len) {
        w->in_off = w->in_len = 0;
        if (SRV__UNLIKELY(w->in_cap > IN_DEFAULT)) {
            free(w->in);
            w->in = srv__xmalloc(IN_DEFAULT);
            w->in_cap = IN_DEFAULT;
        }
    }
}

/* Everything pending has been written: the output buffer returns to its
 * usual size, and a connection that was to close closes.  Returns false
 * when it did. */
static inline bool written(struct srv__conn *c)
{
    struct work *w = c->w;
    w->out_off = w->out_len = 0;
    if (SRV__UNLIKELY(w->out_cap > OUT_DEFAULT)) {
        free(w->out);
        w->out = srv__xmalloc(OUT_DEFAULT);
        w->out_cap = OUT_DEFAULT;
    }
    if (c->close_after) {
        conn_close(c);
        return false;
    }
    return true;
}

/* A body written in place is out: release what it lived in (the arena, and
 * through the arena's hooks a pinned cached file). */
static bool body_done(struct srv__conn *c)
{
    struct work *w = c->w;
    w->big = NULL;
    w->segs = NULL;
    srv__arena_reset(&w->arena);
    return written(c);
}

/* flush() for a file body: the output buffer (heads, earlier pipelined
 * responses), then the body's parts.  Memory parts leave with the pending
 * output in one sendmsg; before a part of the file, the pending output goes
 * with MSG_MORE so it shares packets with the first file bytes, then
 * sendfile(2) writes the part from the page cache.  Goes on until EAGAIN
 * (the caller waits for EPOLLOUT), the end of the body, or FILE_BURST bytes
 * (level-triggered epoll brings the connection straight back, after the
 * others had their turn).  A file that ends before its part does (it shrank
 * since it was opened: sendfile returns 0) cannot honour the Content-Length
 * already sent, so the connection is closed.  Returns false when the
 * connection was closed. */
static __attribute__((noinline)) bool flush_file(struct srv__conn *c)
{
    uint64_t budget = FILE_BURST;
    for (;;) {
        size_t pend = c->w->out_len - c->w->out_off;
        const struct srv__seg *sg = &c->w->segs[c->w->seg_i];
        ssize_t n;
        if (sg->mem != NULL) {
            struct iovec iov[1 + FILE_IOV];
            size_t k = 0;
            if (pend)
                iov[k++] = (struct iovec){c->w->out + c->w->out_off, pend};
            unsigned i = c->w->seg_i;
            uint64_t skip = c->w->seg_done;
            for (; i < c->w->nsegs && k < 1 + FILE_IOV && c->w->segs[i].mem != NULL; i++) {
                iov[k++] = (struct iovec){(void *)(c->w->segs[i].mem + skip),
                                          (size_t)(c->w->segs[i].len - skip)};
                skip = 0;
            }
            struct msghdr mh = {.msg_iov = iov, .msg_iovlen = k};
            n = sendmsg(c->io.fd, &mh, MSG_NOSIGNAL | (i < c->w->nsegs ? MSG_MORE : 0));
        } else if (pend) {
            n = send(c->io.fd, c->w->out + c->w->out_off, pend, MSG_NOSIGNAL | MSG_MORE);
        } else {
            off_t off = (off_t)(sg->off + c->w->seg_done);
            uint64_t left = sg->len - c->w->seg_done;
            n = sendfile(c->io.fd, c->w->file_fd, &off, (size_t)(left < budget ? left : budget));
            if (n == 0) {
                srv_log(SRV_LOG_WARN, "a file being sent became shorter; closing the connection");
                conn_close(c);
                return false;
            }
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return true;
            conn_close(c);
            return false;
        }
        size_t sent = (size_t)n;
        size_t from_out = sent < pend ? sent : pend;
        c->w->out_off += from_out;
        if (c->w->out_off == c->w->out_len)
            c->w->out_off = c->w->out_len = 0;
        sent -= from_out;
        budget = sent < budget ? budget - sent : 0;
        while (sent > 0) {
            uint64_t left = c->w->segs[c->w->seg_i].len - c->w->seg_done;
            if (sent < left) {
                c->w->seg_done += sent;
                break;
            }
            sent -= (size_t)left;
            c->w->seg_i++;
            c->w->seg_done = 0;
        }
        if (c->w->seg_i == c->w->nsegs && c->w->out_len == 0)
            return body_done(c);
        if (budget == 0)
            return true;
    }
}

/* flush() for a large memory body: the pending output and the body in one
 * sendmsg, across as many writable events as it takes. */
static __attribute__((noinline)) bool flush_big(struct srv__conn *c)
{
    size_t pend = c->w->out_len - c->w->out_off;
    ssize_t n;
    do {
        struct iovec iov[2] = {
            {.iov_base = c->w->out + c->w->out_off, .iov_len = pend},
            {.iov_base = (void *)c->w->big, .iov_len = c->w->big_len},
        };
        struct msghdr mh = {.msg_iov = pend ? iov : iov + 1, .msg_iovlen = pend ? 2 : 1};
        n = sendmsg(c->io.fd, &mh, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return true;
        conn_close(c);
        return false;
    }
    size_t sent = (size_t)n;
    if (sent < pend) {
        c->w->out_off += sent;
        return true;
    }
    c->w->out_off = c->w->out_len = 0;
    sent -= pend;
    c->w->big += sent;
    c->w->big_len -= sent;
    if (c->w->big_len > 0)
        return true;
    return body_done(c); /* the body may have lived in the arena */
}

/* Writes pending output: one send (a body written in place: flush_big or
 * flush_file).  Returns false when the connection was closed (error, or
 * done and closing). */
static bool flush(struct srv__conn *c)
{
    struct work *w = c->w;
    if (SRV__UNLIKELY(w->big != NULL))
        return w->segs != NULL ? flush_file(c) : flush_big(c);
    size_t pend = w->out_len - w->out_off;
    if (pend == 0) {
        if (c->close_after) {
            conn_close(c);
            return false;
        }
        return true;
    }
    ssize_t n;
    do
        n = send(c->io.fd, w->out + w->out_off, pend, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return true;
        conn_close(c);
        return false;
    }
    if ((size_t)n < pend) {
        w->out_off += (size_t)n;
        return true;
    }
    return written(c);
}

/* Registers interest in EVENTS (no syscall when unchanged).  False: the
 * connection was closed. */
static bool want(struct srv__conn *c, uint32_t events)
{
    if (c->io.events == events)
        return true;
    int r = c->io.events == 0 ? srv__loop_add(&c->srv->loop, &c->io, events)
                              : srv__loop_mod(&c->srv->loop, &c->io, events);
    if (r < 0) {
        srv_log(SRV_LOG_WARN, "epoll_ctl: %s", strerror(-r));
        conn_close(c);
        return false;
    }
    return true;
}

/* After a round of work: wait for the right event, under the right timer. */
static void settle(struct srv__conn *c)
{
    struct srv__server *s = c->srv;
    struct priv *p = priv_of(s);
    struct work *w = c->w;
    if (SRV__UNLIKELY(c->state == ST_DEFERRED)) {
        /* Only the responses before it to write, and the client's going
         * away to notice: no further request is read meanwhile. */
        bool out = w->out_off < w->out_len || w->big != NULL;
        want(c, EPOLLRDHUP | (out ? EPOLLOUT : 0));
        return;
    }
    if (w != NULL && (w->out_off < w->out_len || w->big != NULL)) {
        if (want(c, EPOLLOUT))
            timer_set(p, c, T_WRITE);
        return;
    }
    switch (c->state) {
    case ST_IDLE:
        if (s->draining) {
            conn_close(c);
            return;
        }
        /* Nothing read, nothing to write, the arena reset: the work can
         * serve another connection until this one has a request again.  A
         * worker with few connections lets them keep theirs (at most
         * WORKS_KEEP idle works that way), which spares keep-alive traffic
         * the round trip through the pool. */
        if (w != NULL && s->nconns > WORKS_KEEP && w->in_len == 0)
            work_give_back(c);
        if (want(c, EPOLLIN))
            timer_set(p, c, T_IDLE);
        break;
    case ST_HEAD:
        /* From the first byte: more bytes of the same head do not extend it. */
        if (want(c, EPOLLIN) && (c->tkind != T_HEAD || c->progressed))
            timer_set(p, c, T_HEAD);
        break;
    default:
        if (want(c, EPOLLIN) && (c->tkind != T_BODY || c->progressed))
            timer_set(p, c, T_BODY);
        break;
    }
    c->progressed = false;
}

/* Whether requests are waiting in the input behind output that has now
 * been written (process() stops at a large body). */
static bool resume_input(const struct srv__conn *c)
{
    struct work *w = c->w;
    return w->in_off < w->in_len && c->state == ST_IDLE && w->out_off == w->out_len &&
           w->big == NULL;
}

/* Input arrived: answer everything complete, write once, wait again. */
static void serve(struct srv__conn *c)
{
    do {
        process(c);
        if (SRV__UNLIKELY(c->state >= ST_STREAM))
            return;
        if (!flush(c))
            return;
    } while (SRV__UNLIKELY(resume_input(c)));
    settle(c);
}

/* The first bytes of a request have been read: its clock starts, at the
 * loop iteration's reading (the metrics' latency, the JSON access log's
 * duration_us), stored whether either is on or not: cheaper than asking. */
static inline void request_begins(struct srv__conn *c)
{
    c->state = ST_HEAD;
    c->w->req.start_ticks = srv__loop_ticks;
}

static void on_readable(struct srv__conn *c)
{
    struct work *w = c->w;
    if (w == NULL)
        w = work_take(c);
    ssize_t n = read(c->io.fd, w->in + w->in_len, w->in_cap - w->in_len);
    if (n > 0) {
        if (c->state == ST_IDLE)
            request_begins(c);
        w->in_len += (size_t)n;
        serve(c);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        settle(c);
        return;
    }
    conn_close(c); /* EOF or error: nothing more can be answered */
}

static void on_writable(struct srv__conn *c)
{
    if (!flush(c))
        return;
    if (resume_input(c))
        serve(c);
    else
        settle(c);
}

static void stream_event(struct srv__conn *c, uint32_t events);
static void ws_event(struct srv__conn *c, uint32_t events);

static void conn_on_event(struct srv__io *io, uint32_t events)
{
    struct srv__conn *c = (struct srv__conn *)io;
    if (c->io.fd < 0)
        return; /* closed earlier in this batch */
    if (SRV__UNLIKELY(c->state >= ST_DEFERRED)) {
        if (c->state == ST_STREAM)
            stream_event(c, events);
        else if (c->state == ST_WS)
            ws_event(c, events);
        else if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            conn_close(c); /* the client went away: conn_close cancels */
        else if (flush(c))
            settle(c);
        return;
    }
    if (c->io.events & EPOLLOUT)
        on_writable(c);
    else if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        on_readable(c);
}

/* ---- Deferred responses --------------------------------------------------- */

static void defer_expired(struct srv_timer *t, void *arg);

/* The handler deferred its response: the request stays as it is (its input
 * bytes, its arena) until srv_response_finish() or a cancel. */
static void defer_begin(struct srv__conn *c, char *nul, char saved, size_t consumed)
{
    struct work *w = c->w;
    struct priv *p = priv_of(c->srv);
    const struct srv_route *route = w->req.route;
    w->defer_nul = nul;
    w->defer_saved = saved;
    w->defer_consumed = consumed;
    w->finished = false;
    c->state = ST_DEFERRED;
    timer_set(p, c, T_DEFERRED);
    unsigned ms = route && route->response_timeout_ms ? route->response_timeout_ms
                                                      : c->srv->limits.response_timeout_ms;
    w->deadline = srv_timer_start(ms, 0, defer_expired, c);
}

/* Sends the finished response of C and goes on with what the client
 * pipelined behind it. */
static void defer_complete(struct srv__conn *c)
{
    struct work *w = c->w;
    struct priv *p = priv_of(c->srv);
    srv_timer_stop(w->deadline);
    w->deadline = NULL;
    timer_unlink(p, c);
    *w->defer_nul = w->defer_saved;
    c->state = ST_HEAD;
    complete_request(c, w->defer_consumed);
    serve(c);
}

void srv_response_finish(struct srv_response *res)
{
    struct srv_request *req = res->req;
    struct srv__conn *c = req ? req->conn : NULL;
    if (!res->deferred || c == NULL) {
        srv_log(SRV_LOG_ERROR, "srv_response_finish on a response that is not deferred; ignored");
        return;
    }
    res->deferred = false;
    if (c->state != ST_DEFERRED)
        return; /* finished before its handler returned: answered as usual */
    srv__dispatch_end(req, res);
    /* Sent from the loop, after the current callback: a finish called from
     * inside another request's handler must not run this one's pipelined
     * requests there. */
    struct priv *p = priv_of(c->srv);
    struct work *w = c->w;
    if (!w->finished) {
        w->finished = true;
        w->ready_next = p->ready;
        p->ready = w;
    }
}

/* The finished deferred responses, in the order they were finished. */
static void send_finished(struct srv__server *s)
{
    struct priv *p = priv_of(s);
    while (p->ready != NULL) {
        /* Reverse the list taken, so responses leave in finish order. */
        struct work *list = p->ready, *rev = NULL;
        p->ready = NULL;
        while (list != NULL) {
            struct work *next = list->ready_next;
            list->ready_next = rev;
            rev = list;
            list = next;
        }
        while (rev != NULL) {
            struct work *w = rev;
            rev = w->ready_next;
            w->finished = false;
            defer_complete(w->req.conn);
        }
    }
}

/* The request of C ends before its response: its owner is told, once; the
 * response and the request must not be touched after that. */
static void defer_cancel(struct srv__conn *c)
{
    struct work *w = c->w;
    srv_timer_stop(w->deadline);
    w->deadline = NULL;
    if (w->finished) {
        /* Finished, but not sent yet: take it off the ready list. */
        struct priv *p = priv_of(c->srv);
        for (struct work **link = &p->ready; *link != NULL; link = &(*link)->ready_next) {
            if (*link == w) {
                *link = w->ready_next;
                break;
            }
        }
        w->finished = false;
        return;
    }
    struct srv_response *res = &w->res;
    if (res->deferred) {
        res->deferred = false;
        if (res->cancel != NULL)
            res->cancel(res->cancel_arg);
    }
}

/* The response deadline passed: the owner is cancelled and the client gets
 * a 503 (the request was whole, so the connection goes on). */
static void defer_expired(struct srv_timer *t, void *arg)
{
    SRV__UNUSED(t);
    struct srv__conn *c = arg;
    struct work *w = c->w;
    w->deadline = NULL; /* a one-shot timer is gone after its call */
    if (w->finished)
        return; /* finished in time; about to be sent */
    defer_cancel(c);
    srv__respond_error(&w->req, &w->res, 503, 0);
    srv_log(SRV_LOG_WARN, "%s %s: no response within the deadline; answered 503",
            w->req.head.method_name, w->req.head.path);
    defer_complete(c);
}

/* ---- Event streams ---------------------------------------------------------- */

/* Appends N bytes to S's queue; false when that would pass its limit. */
static bool queue_append(struct srv_sse *s, const char *p, size_t n)
{
    if (s->qoff == s->qlen)
        s->qoff = s->qlen = 0;
    if (s->qlen - s->qoff + n > s->limit)
        return false;
    if (s->qlen + n > s->qcap) {
        if (s->qoff > 0) {
            memmove(s->queue, s->queue + s->qoff, s->qlen - s->qoff);
            s->qlen -= s->qoff;
            s->qoff = 0;
        }
        if (s->qlen + n > s->qcap) {
            size_t cap = s->qcap ? s->qcap * 2 : 4096;
            while (cap < s->qlen + n)
                cap *= 2;
            s->queue = srv__xrealloc(s->queue, cap);
            s->qcap = cap;
        }
    }
    memcpy(s->queue + s->qlen, p, n);
    s->qlen += n;
    return true;
}

/* Sends what S's queue holds, as far as the socket takes it.  False when
 * the client is gone. */
static bool queue_flush(struct srv_sse *s)
{
    struct srv__conn *c = s->conn;
    while (s->qoff < s->qlen) {
        ssize_t n = send(c->io.fd, s->queue + s->qoff, s->qlen - s->qoff, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK;
        s->qoff += (size_t)n;
    }
    /* Empty: an idle stream keeps no buffer. */
    free(s->queue);
    s->queue = NULL;
    s->qoff = s->qlen = s->qcap = 0;
    return true;
}

/* What the stream waits for: the client going away, and room to write. */
static void stream_settle(struct srv__conn *c)
{
    struct srv_sse *s = c->stream;
    bool pending = s->qoff < s->qlen;
    if (s->closing && !pending && s->close_ran) {
        conn_close(c); /* ended, all sent */
        return;
    }
    want(c, EPOLLRDHUP | (pending ? EPOLLOUT : 0));
}

int srv__stream_write(struct srv_sse *s, const char *p, size_t n)
{
    if (s->closing)
        return -EPIPE;
    s->sent = true;
    if (SRV__UNLIKELY(s->conn->srv->metrics != NULL))
        s->conn->srv->metrics->bytes_out += n;
    if (s->corked || s->qoff < s->qlen) {
        if (!queue_append(s, p, n)) {
            srv__stream_end(s, SRV_SSE_TOO_SLOW);
            return -EPIPE;
        }
        return 0;
    }
    ssize_t w;
    do
        w = send(s->conn->io.fd, p, n, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        srv__stream_end(s, SRV_SSE_CLIENT_GONE);
        return -EPIPE;
    }
    size_t done = w > 0 ? (size_t)w : 0;
    if (done == n)
        return 0;
    if (!queue_append(s, p + done, n - done)) {
        srv__stream_end(s, SRV_SSE_TOO_SLOW);
        return -EPIPE;
    }
    want(s->conn, EPOLLRDHUP | EPOLLOUT);
    return 0;
}

void srv__stream_end(struct srv_sse *s, int reason)
{
    if (s->closing)
        return;
    s->closing = true;
    s->reason = reason;
    struct priv *p = priv_of(s->conn->srv);
    s->end_next = p->ending;
    p->ending = s;
}

/* Runs the `close` block of S, once. */
static void stream_closed(struct srv_sse *s)
{
    if (s->close_ran)
        return;
    s->close_ran = true;
    srv__sse_forget(s);
    if (s->route->close)
        s->route->close(s, s->reason);
}

/* The streams srv__stream_end marked: `close` runs here, from the loop; a
 * stream ended by its program or a drain sends what it queued first. */
static void end_streams(struct srv__server *srv)
{
    struct priv *p = priv_of(srv);
    while (p->ending != NULL) {
        struct srv_sse *s = p->ending;
        p->ending = s->end_next;
        struct srv__conn *c = s->conn;
        stream_closed(s);
        if (s->reason == SRV_SSE_CLIENT_GONE || s->reason == SRV_SSE_TOO_SLOW ||
            !queue_flush(s)) {
            conn_close(c);
            continue;
        }
        /* The last bytes go out under the write timeout. */
        timer_set(p, c, T_WRITE);
        stream_settle(c);
    }
}

static void stream_free(struct srv__conn *c)
{
    struct srv_sse *s = c->stream;
    struct priv *p = priv_of(c->srv);
    if (!s->closing) {
        s->closing = true;
        s->reason = c->srv->draining ? SRV_SSE_DRAINING : SRV_SSE_CLIENT_GONE;
    } else {
        for (struct srv_sse **link = &p->ending; *link != NULL; link = &(*link)->end_next) {
            if (*link == s) {
                *link = s->end_next;
                break;
            }
        }
    }
    stream_closed(s);
    free(s->queue);
    free(s);
    c->stream = NULL;
}

static void stream_event(struct srv__conn *c, uint32_t events)
{
    struct srv_sse *s = c->stream;
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        if (!s->closing)
            s->reason = SRV_SSE_CLIENT_GONE;
        s->closing = true;
        conn_close(c); /* runs `close` */
        return;
    }
    if (!queue_flush(s)) {
        s->reason = SRV_SSE_CLIENT_GONE;
        s->closing = true;
        conn_close(c);
        return;
    }
    stream_settle(c);
}

/* The request just run answers with an event stream: the head (and what
 * the client pipelined before it) goes first, then `open` runs with the
 * request, which ends with it; its work goes back to the pool.  False when
 * the response is not a stream after all (a before or after block, or an
 * error, made it something else). */
static bool stream_begin(struct srv__conn *c)
{
    struct work *w = c->w;
    struct srv_request *req = &w->req;
    struct srv_response *res = &w->res;
    const struct srv_sse_route *route = res->stream;
    res->stream = NULL;
    if (res->status != 200 || res->failed || res->body_len != 0)
        return false;
    struct srv_sse *s = srv__sse_new(route, c->srv->limits.sse_queue);
    s->conn = c;
    s->corked = true;
    c->stream = s;
    c->state = ST_STREAM;
    /* Responses already queued for earlier pipelined requests go first. */
    if (w->out_off < w->out_len)
        queue_append(s, w->out + w->out_off, w->out_len - w->out_off);
    w->out_off = w->out_len = 0;
    char head[1024];
    size_t hmax = srv__response_head_max(res);
    char *hb = hmax <= sizeof head ? head : srv__xmalloc(hmax);
    unsigned flags = SRV__RESP_STREAM;
    size_t hlen = srv__response_head(res, flags, hb);
    /* The limit is for events: the head always fits. */
    size_t limit = s->limit;
    s->limit = SIZE_MAX;
    queue_append(s, hb, hlen);
    s->limit = limit;
    if (hb != head)
        free(hb);
    if (SRV__UNLIKELY(c->srv->log != NULL))
        log_response(c, flags, true);
    if (SRV__UNLIKELY(c->srv->metrics != NULL))
        srv__metrics_count(c->srv->metrics, res->status,
                           srv__metrics_now(c->srv->metrics) - req->start_ticks,
                           w->in_len - w->in_off, hlen);
    struct priv *p = priv_of(c->srv);
    timer_set(p, c, T_STREAM);
    if (route->open)
        route->open(s, req, srv_request_header(req, "last-event-id"));
    /* The request is over: whatever the client sent after it is dropped (a
     * stream takes no more requests). */
    arena_reset(c);
    w->in_off = w->in_len = 0;
    w->head_seen = 0;
    work_give_back(c);
    s->corked = false;
    if (!s->closing)
        srv__sse_opened(s);
    /* Closing here would pull the connection from under process():
     * a client already gone is ended from the loop. */
    if (!queue_flush(s))
        srv__stream_end(s, SRV_SSE_CLIENT_GONE);
    else
        stream_settle(c);
    return true;
}

/* ---- WebSockets --------------------------------------------------------------- */

static void ws_free(struct srv__conn *c);
static void ws_tick(struct srv__conn *c);
static void end_ws(struct srv__server *srv);

/* Appends the bytes of IOV[0..N) after the first SKIP to WS's queue; false
 * when the queue would pass its limit. */
static bool ws_queue_append(struct srv_ws *ws, const struct iovec *iov, int n, size_t skip)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    total -= skip;
    if (ws->qoff == ws->qlen)
        ws->qoff = ws->qlen = 0;
    if (ws->qlen - ws->qoff + total > ws->limit)
        return false;
    if (ws->qlen + total > ws->qcap) {
        if (ws->qoff > 0) {
            memmove(ws->queue, ws->queue + ws->qoff, ws->qlen - ws->qoff);
            ws->qlen -= ws->qoff;
            ws->qoff = 0;
        }
        if (ws->qlen + total > ws->qcap) {
            size_t cap = ws->qcap ? ws->qcap * 2 : 4096;
            while (cap < ws->qlen + total)
                cap *= 2;
            ws->queue = srv__xrealloc(ws->queue, cap);
            ws->qcap = cap;
        }
    }
    for (int i = 0; i < n; i++) {
        size_t len = iov[i].iov_len;
        const char *p = iov[i].iov_base;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        memcpy(ws->queue + ws->qlen, p + skip, len - skip);
        ws->qlen += len - skip;
        skip = 0;
    }
    return true;
}

/* Sends what WS's queue holds, as far as the socket takes it; an emptied
 * queue is freed (an idle WebSocket keeps no buffer).  False when the
 * socket failed. */
static bool ws_flush(struct srv_ws *ws)
{
    int fd = ws->conn->io.fd;
    while (ws->qoff < ws->qlen) {
        ssize_t n = send(fd, ws->queue + ws->qoff, ws->qlen - ws->qoff, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            ws->full = true;
            return true;
        }
        if (n < 0)
            return false;
        ws->qoff += (size_t)n;
    }
    free(ws->queue);
    ws->queue = NULL;
    ws->qoff = ws->qlen = ws->qcap = 0;
    ws->full = false;
    return true;
}

/* The socket failed or the client vanished: `close` runs with 1006 (or
 * the code of a close already under way) and the socket closes, from the
 * loop. */
static void ws_gone(struct srv_ws *ws)
{
    if (!ws->close_sent && !ws->close_received) {
        ws->code = 1006;
        ws->reason_len = 0;
        ws->reason[0] = '\0';
    }
    ws->dead = true;
    ws->close_sent = true; /* nothing more can go out */
    srv__ws_end(ws);
}

/* What the WebSocket waits for: frames in, room to write; or nothing any
 * more, when it is over. */
static void ws_settle(struct srv__conn *c)
{
    struct srv_ws *ws = c->ws;
    bool pending = ws->qoff < ws->qlen;
    if (ws->close_ran && (ws->dead || (ws->close_received && !pending))) {
        conn_close(c);
        return;
    }
    want(c, EPOLLIN | EPOLLRDHUP | (pending ? EPOLLOUT : 0));
}

/* Writes the unsent part of WS's queue and then IOV[0..N) with one writev.
 * Returns how many bytes of IOV went out (those of the queue are taken off
 * it), or -1 when the socket failed. */
static ssize_t ws_write_through(struct srv_ws *ws, const struct iovec *iov, int n)
{
    struct iovec v[4];
    int k = 0;
    assert(n <= 3); /* a header, a payload; the queue goes first */
    size_t queued = ws->qlen - ws->qoff;
    if (queued > 0)
        v[k++] = (struct iovec){ws->queue + ws->qoff, queued};
    for (int i = 0; i < n; i++)
        v[k++] = iov[i];
    ssize_t w;
    do
        w = writev(ws->conn->io.fd, v, k);
    while (w < 0 && errno == EINTR);
    if (w < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    size_t from_queue = (size_t)w < queued ? (size_t)w : queued;
    ws->qoff += from_queue;
    if (ws->qoff == ws->qlen)
        ws->qoff = ws->qlen = 0;
    return (ssize_t)((size_t)w - from_queue);
}

int srv__ws_write(struct srv_ws *ws, const struct iovec *iov, int iovcnt)
{
    if (ws->dead)
        return -EPIPE;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    size_t queued = ws->qlen - ws->qoff, done = 0;
    /* Uncorked with nothing waiting, the frame goes out at once.  Corked,
     * frames wait to go out together, one send per read; but a batch that
     * has grown past WS_CORK_MAX, or would pass the ws_queue limit, goes
     * out with this frame unless the socket is known to be full.  Frames
     * the socket was never offered say nothing about the client: without
     * this, a block sending more than ws_queue bytes at once (an echo of a
     * message of ws_message bytes, with the defaults of 1 MiB each) was
     * closed with 1008 whatever the client's speed. */
    if ((!ws->corked && queued == 0) ||
        (ws->corked && !ws->full &&
         (queued + total > WS_CORK_MAX || queued + total > ws->limit))) {
        ssize_t n = ws_write_through(ws, iov, iovcnt);
        if (n < 0) {
            ws_gone(ws);
            return -EPIPE;
        }
        done = (size_t)n;
        if (done == total)
            return 0;
        ws->full = true;
    }
    if (!ws_queue_append(ws, iov, iovcnt, done)) {
        /* The client does not take what it is sent (policy: 1008). */
        srv__ws_begin_close(ws, SRV__WS_POLICY, "too slow", 8);
        return -EPIPE;
    }
    if (!ws->corked)
        want(ws->conn, EPOLLIN | EPOLLRDHUP | EPOLLOUT);
    return 0;
}

void srv__ws_end(struct srv_ws *ws)
{
    if (ws->ending)
        return;
    ws->ending = true;
    struct priv *p = priv_of(ws->conn->srv);
    ws->end_next = p->ws_ending;
    p->ws_ending = ws;
}

/* Runs the `close` block of WS, once; nothing is delivered to it after. */
static void ws_closed(struct srv_ws *ws)
{
    if (ws->close_ran)
        return;
    ws->close_ran = true;
    ws->close_sent = true;
    srv__ws_forget(ws);
    if (ws->route->close)
        ws->route->close(ws, ws->code, ws->reason);
}

/* The WebSockets srv__ws_end marked: `close` runs here, from the loop;
 * then the socket closes at once (failed, or both close frames went) or
 * after our close frame is out and the client's is in (at most
 * WS_CLOSE_WAIT_MS). */
static void end_ws(struct srv__server *srv)
{
    struct priv *p = priv_of(srv);
    while (p->ws_ending != NULL) {
        struct srv_ws *ws = p->ws_ending;
        p->ws_ending = ws->end_next;
        struct srv__conn *c = ws->conn;
        ws_closed(ws);
        if (ws->dead || !ws_flush(ws)) {
            conn_close(c);
            continue;
        }
        timer_set(p, c, T_WS_CLOSE);
        ws_settle(c);
    }
}

/* Our side fails the connection (RFC 6455 7.1.7): a close frame with
 * CODE, then the socket closes without waiting for the client's. */
static void ws_fail(struct srv_ws *ws, unsigned code)
{
    srv__ws_begin_close(ws, code, NULL, 0);
    ws->close_received = true; /* not waited for */
}

/* A whole message for the `message` block, NUL-terminated for it (the
 * byte after it is put back: it may be the next frame's). */
static void ws_message(struct srv_ws *ws, const struct srv__ws_event *ev)
{
    if (ws->close_sent || ws->route->message == NULL)
        return;
    char *data = (char *)(uintptr_t)(ev->data != NULL ? ev->data : "");
    if (ev->len == 0) {
        ws->route->message(ws, "", 0, ev->opcode == SRV__WS_BINARY);
        return;
    }
    char saved = data[ev->len];
    data[ev->len] = '\0';
    ws->route->message(ws, data, ev->len, ev->opcode == SRV__WS_BINARY);
    data[ev->len] = saved;
}

/* The client's close frame: echo its code (RFC 6455 5.5.1) unless ours
 * went first, which this one answers. */
static void ws_close_received(struct srv_ws *ws, const struct srv__ws_event *ev)
{
    ws->close_received = true;
    if (ws->close_sent)
        return;
    size_t len = ev->len < sizeof ws->reason - 1 ? ev->len : sizeof ws->reason - 1;
    char frame[SRV__WS_CLOSE_FRAME_MAX];
    size_t flen = srv__ws_close_frame(frame, ev->code, NULL, 0);
    struct iovec iov = {frame, flen};
    size_t limit = ws->limit;
    ws->limit = SIZE_MAX;
    srv__ws_write(ws, &iov, 1);
    ws->limit = limit;
    ws->close_sent = true;
    ws->code = ev->code != 0 ? ev->code : 1005; /* 1005: no code in the frame */
    memcpy(ws->reason, ev->data, len);
    ws->reason[len] = '\0';
    ws->reason_len = (uint8_t)len;
    srv__ws_end(ws);
}

/* Decodes BUF[0..LEN) (the worker's read buffer, one byte longer) and
 * runs what it completes.  Frames the blocks send meanwhile wait in the
 * queue and go out together afterwards. */
static void ws_input(struct srv_ws *ws, char *buf, size_t len)
{
    ws->heard = true;
    ws->ping_out = false;
    bool corked = ws->corked;
    ws->corked = true;
    size_t off = 0;
    while (off < len) {
        struct srv__ws_event ev;
        ssize_t n = srv__ws_decode(&ws->dec, buf + off, len - off, &ev);
        if (n < 0) {
            ws_fail(ws, (unsigned)-n);
            break;
        }
        off += (size_t)n;
        if (ev.opcode == 0)
            break;
        switch (ev.opcode) {
        case SRV__WS_TEXT:
        case SRV__WS_BINARY:
            ws_message(ws, &ev);
            break;
        case SRV__WS_PING:
            if (!ws->close_sent)
                srv__ws_control(ws, SRV__WS_PONG, ev.data, ev.len);
            break;
        case SRV__WS_CLOSE:
            ws_close_received(ws, &ev);
            break;
        default: /* PONG: hearing from the client is all it is for */
            break;
        }
    }
    ws->corked = corked;
    if (!corked && !ws->dead && !ws_flush(ws))
        ws_gone(ws);
}

static void ws_event(struct srv__conn *c, uint32_t events)
{
    struct srv_ws *ws = c->ws;
    struct priv *p = priv_of(c->srv);
    if ((events & EPOLLOUT) && !ws->dead && !ws_flush(ws))
        ws_gone(ws);
    if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && !ws->dead) {
        if (p->ws_buf == NULL)
            p->ws_buf = srv__xmalloc(WS_READ_BUF + 1);
        for (int i = 0; i < WS_READS_PER_EVENT && !ws->dead; i++) {
            ssize_t n = read(c->io.fd, p->ws_buf, WS_READ_BUF);
            if (n > 0) {
                /* After the client's close frame, nothing it sends counts. */
                if (!ws->close_received)
                    ws_input(ws, p->ws_buf, (size_t)n);
                if ((size_t)n < WS_READ_BUF)
                    break;
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                break;
            ws_gone(ws); /* end of file or an error */
        }
    }
    if (ws->dead && !ws->close_ran)
        return; /* end_ws runs `close` and closes, later in this iteration */
    ws_settle(c);
}

/* T_WS: a WebSocket heard from since the last tick is alive; one that was
 * not gets a ping; one that did not answer the last ping is dead.  A quiet
 * one also gives back its message buffer. */
static void ws_tick(struct srv__conn *c)
{
    struct srv_ws *ws = c->ws;
    struct priv *p = priv_of(c->srv);
    if (ws->ending)
        return;
    if (ws->heard) {
        ws->heard = false;
    } else if (ws->ping_out) {
        ws->dead = true;
        ws->close_sent = true;
        ws->code = 1006;
        static const char why[] = "no answer to ping";
        memcpy(ws->reason, why, sizeof why);
        ws->reason_len = sizeof why - 1;
        srv__ws_end(ws);
        return;
    } else {
        srv__ws_decoder_trim(&ws->dec);
        ws->ping_out = true;
        srv__ws_control(ws, SRV__WS_PING, NULL, 0);
    }
    if (!ws->ending)
        timer_set(p, c, T_WS);
}

static void ws_free(struct srv__conn *c)
{
    struct srv_ws *ws = c->ws;
    struct priv *p = priv_of(c->srv);
    if (ws->ending && !ws->close_ran) {
        for (struct srv_ws **link = &p->ws_ending; *link != NULL; link = &(*link)->end_next) {
            if (*link == ws) {
                *link = ws->end_next;
                break;
            }
        }
    }
    if (!ws->close_ran && !ws->ending && !ws->close_sent) {
        ws->code = 1006;
        ws->reason[0] = '\0';
    }
    ws_closed(ws);
    srv__ws_free(ws);
    c->ws = NULL;
}

/* The request just run was answered 101: the head (after what the client
 * pipelined before it) goes out, `open` runs with the request, which ends
 * with it, and the bytes that followed the request are the first frames.
 * False when the response is not an upgrade after all (a hook changed it). */
static bool ws_begin(struct srv__conn *c, size_t consumed)
{
    struct work *w = c->w;
    struct srv_request *req = &w->req;
    struct srv_response *res = &w->res;
    const struct srv__ws_upgrade *up = res->upgrade;
    res->upgrade = NULL;
    if (res->status != 101 || res->failed)
        return false;
    struct priv *p = priv_of(c->srv);
    struct srv_ws *ws = srv__ws_new(up, &c->srv->limits);
    ws->conn = c;
    ws->corked = true;
    c->ws = ws;
    c->state = ST_WS;
    size_t limit = ws->limit;
    ws->limit = SIZE_MAX; /* what precedes the first frame always fits */
    if (w->out_off < w->out_len) {
        struct iovec iov = {w->out + w->out_off, w->out_len - w->out_off};
        ws_queue_append(ws, &iov, 1, 0);
    }
    w->out_off = w->out_len = 0;
    char head[1024];
    size_t hmax = srv__response_head_max(res);
    char *hb = hmax <= sizeof head ? head : srv__xmalloc(hmax);
    size_t hlen = srv__response_head(res, 0, hb);
    struct iovec iov = {hb, hlen};
    ws_queue_append(ws, &iov, 1, 0);
    ws->limit = limit;
    if (hb != head)
        free(hb);
    if (SRV__UNLIKELY(c->srv->log != NULL))
        log_response(c, 0, true);
    timer_set(p, c, T_WS);
    if (ws->route->open)
        ws->route->open(ws, req, ws->protocol);
    /* What the client sent after the request: its first frames. */
    size_t rest = w->in_len - w->in_off - consumed;
    if (rest > 0 && !ws->dead) {
        if (p->ws_buf == NULL)
            p->ws_buf = srv__xmalloc(WS_READ_BUF + 1);
        const char *from = w->in + w->in_off + consumed;
        while (rest > 0 && !ws->dead && !ws->close_received) {
            size_t n = rest < WS_READ_BUF ? rest : WS_READ_BUF;
            memcpy(p->ws_buf, from, n);
            ws_input(ws, p->ws_buf, n);
            from += n;
            rest -= n;
        }
    }
    arena_reset(c);
    w->in_off = w->in_len = 0;
    w->head_seen = 0;
    work_give_back(c);
    ws->corked = false;
    /* Closing here would pull the connection from under process(): a
     * failure is ended from the loop. */
    if (!ws->dead && !ws_flush(ws))
        ws_gone(ws);
    if (!ws->dead)
        want(c, EPOLLIN | EPOLLRDHUP | (ws->qoff < ws->qlen ? EPOLLOUT : 0));
    return true;
}

/* ---- Opening and closing -------------------------------------------------- */

static struct srv__conn *conn_get(struct srv__server *s)
{
    struct priv *p = priv_of(s);
    struct srv__conn *c = p->free_list;
    if (c != NULL) {
        p->free_list = c->tnext;
        p->nfree--;
        c->tnext = NULL;
        return c;
    }
    c = srv__xmalloc(sizeof *c);
    memset(c, 0, sizeof *c);
    c->srv = s;
    c->io.fn = conn_on_event;
    c->tkind = T_NONE;
    return c;
}

/* The one place a connection's resources are released. */
static void conn_close(struct srv__conn *c)
{
    struct srv__server *s = c->srv;
    struct priv *p = priv_of(s);
    /* close() alone removes the fd from the epoll set: no EPOLL_CTL_DEL. */
    if (SRV__UNLIKELY(c->state == ST_DEFERRED))
        defer_cancel(c);
    if (SRV__UNLIKELY(c->state == ST_STREAM))
        stream_free(c);
    else if (SRV__UNLIKELY(c->state == ST_WS))
        ws_free(c);
    close(c->io.fd);
    c->io.fd = -1;
    c->io.events = 0;
    timer_unlink(p, c);
    s->nconns--;
    if (SRV__UNLIKELY(s->metrics != NULL))
        s->metrics->connections = s->nconns;
    c->close_after = c->progressed = c->continue_sent = false;
    c->state = ST_IDLE;
    struct work *w = c->w;
    if (w != NULL) {
        srv__arena_reset(&w->arena); /* runs its hooks: cached files are let go */
        w->in_len = w->in_off = 0;
        w->out_len = w->out_off = 0;
        w->big = NULL;
        w->segs = NULL;
        w->head_seen = 0;
        if (w->in_cap > IN_DEFAULT) {
            free(w->in);
            w->in = srv__xmalloc(IN_DEFAULT);
            w->in_cap = IN_DEFAULT;
        }
        if (w->out_cap > OUT_DEFAULT) {
            free(w->out);
            w->out = srv__xmalloc(OUT_DEFAULT);
            w->out_cap = OUT_DEFAULT;
        }
        work_give_back(c);
    }
    if (p->nfree >= POOL_KEEP) {
        free(c);
        return;
    }
    c->tnext = p->free_list;
    p->free_list = c;
    p->nfree++;
}

static void proxy_begin(struct srv__conn *c);
static void proxy_on_event(struct srv__io *io, uint32_t events);

static void conn_open(struct srv__server *s, int fd, const struct sockaddr *peer)
{
    struct srv__conn *c = conn_get(s);
    c->io.fd = fd;
    c->io.events = 0;
    srv__peer_set(&c->peer, peer);
    s->nconns++;
    if (SRV__UNLIKELY(s->metrics != NULL))
        s->metrics->connections = s->nconns;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (SRV__UNLIKELY(s->app->proxy_protocol)) {
        proxy_begin(c); /* a PROXY header comes first: see "PROXY protocol" below */
        return;
    }
    on_readable(c); /* with TCP_DEFER_ACCEPT the request is usually here */
}

/* ---- PROXY protocol (`proxy_protocol;`) ------------------------------------
 *
 * Every connection starts with a PROXY header (proxy_protocol.c) naming the
 * client, which becomes the connection's peer.  Until the header is whole
 * the connection lives in this section alone - its own event callback, the
 * header timeout's timer list, with an expiry of its own (see expire()) -
 * so nothing of the HTTP machinery sees it.  Bytes are read into the work's input buffer
 * as for a request; what follows the header is the start of the first
 * request, which process() takes from there as if it had just been read.
 * A header that is malformed, or not whole in time, closes the connection
 * without an answer: nothing on the other end expects HTTP yet.
 */

static void proxy_read(struct srv__conn *c)
{
    struct work *w = c->w != NULL ? c->w : work_take(c);
    ssize_t n = read(c->io.fd, w->in + w->in_len, w->in_cap - w->in_len);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        want(c, EPOLLIN);
        return;
    }
    if (n <= 0) {
        conn_close(c);
        return;
    }
    w->in_len += (size_t)n;
    struct srv__proxy_header h;
    int r = srv__proxy_parse(w->in, w->in_len, &h);
    if (r == SRV__PROXY_INCOMPLETE) {
        want(c, EPOLLIN); /* the input buffer holds SRV__PROXY_V2_MAX and more */
        return;
    }
    if (r < 0) {
        conn_close(c);
        return;
    }
    if (h.source.family != 0)
        c->peer = h.source; /* LOCAL, UNKNOWN, AF_UNSPEC, AF_UNIX: the socket's stands */
    timer_unlink(priv_of(c->srv), c);
    c->io.fn = conn_on_event;
    w->in_off = (size_t)r;
    if (w->in_off == w->in_len) {
        w->in_off = w->in_len = 0;
        settle(c);
        return;
    }
    request_begins(c);
    serve(c);
}

static void proxy_on_event(struct srv__io *io, uint32_t events)
{
    SRV__UNUSED(events); /* a hang-up or an error: the read says which */
    struct srv__conn *c = (struct srv__conn *)io;
    if (c->io.fd >= 0)
        proxy_read(c);
}

static void proxy_begin(struct srv__conn *c)
{
    c->io.fn = proxy_on_event;
    timer_set(priv_of(c->srv), c, T_HEAD);
    proxy_read(c);
}

/* Watches listener L (again): EPOLLEXCLUSIVE on a socket other processes
 * accept from too, so a connection wakes one of them, not all. */
static int listener_watch(struct srv__listener *l)
{
    return srv__loop_add(&l->srv->loop, &l->io, EPOLLIN | (l->shared ? EPOLLEXCLUSIVE : 0));
}

static void pause_accepting(struct srv__server *s, int err)
{
    struct priv *p = priv_of(s);
    if (!p->accept_error_logged) {
        srv_log(SRV_LOG_ERROR, "accept: %s; pausing accepts for %d ms", strerror(err),
                ACCEPT_PAUSE_MS);
        p->accept_error_logged = true;
    }
    for (unsigned i = 0; i < s->nlisteners; i++)
        if (s->listeners[i].io.events != 0)
            srv__loop_del(&s->loop, &s->listeners[i].io);
    p->accept_resume = srv__now_ms() + ACCEPT_PAUSE_MS;
}

/* Accepts up to MAX connections queued on L (the loop comes back for the
 * rest, so a flood cannot starve connections already open). */
static void accept_queued(struct srv__listener *l, unsigned max)
{
    struct srv__server *s = l->srv;
    for (unsigned i = 0; i < max && l->io.fd >= 0 && priv_of(s)->accept_resume == 0; i++) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        int fd = accept4(l->io.fd, (struct sockaddr *)&peer, &plen,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            conn_open(s, fd, (const struct sockaddr *)&peer);
            continue;
        }
        switch (errno) {
        case EINTR:
        case ECONNABORTED:
        case EPROTO:
            continue;
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
            pause_accepting(s, errno);
            return;
        default:
            return; /* EAGAIN: the queue is empty */
        }
    }
}

static void on_listen(struct srv__io *io, uint32_t events)
{
    SRV__UNUSED(events);
    struct srv__listener *l = (struct srv__listener *)io; /* io is its first member */
    if (io->fd >= 0)
        accept_queued(l, ACCEPT_BATCH);
}

/* ---- Timers --------------------------------------------------------------- */

static void expire(struct srv__conn *c, unsigned kind)
{
    if (kind == T_WS) {
        ws_tick(c);
        return;
    }
    /* Before its PROXY header, nobody on the other end expects HTTP. */
    if (kind == T_IDLE || kind == T_WRITE || kind == T_WS_CLOSE || c->io.fn == proxy_on_event) {
        conn_close(c); /* nothing in flight worth answering */
        return;
    }
    respond_error(c, 408, kind == T_BODY);
    if (flush(c))
        settle(c);
}

static void sweep(struct srv__server *s)
{
    struct priv *p = priv_of(s);
    uint64_t now = srv__now_ms();
    for (unsigned k = 0; k < T_COUNT; k++) {
        struct srv__conn *c;
        while ((c = p->timers[k].head) != NULL && c->deadline <= now) {
            timer_unlink(p, c);
            expire(c, k);
        }
    }
    if (now - p->trimmed_ms >= 1000) {
        p->trimmed_ms = now;
        trim_works(s);
    }
    if (p->drain_idle_at != 0 && now >= p->drain_idle_at) {
        p->drain_idle_at = 0;
        struct srv__conn *c;
        while ((c = p->timers[T_IDLE].head) != NULL)
            conn_close(c);
    }
    if (p->accept_resume != 0 && now >= p->accept_resume) {
        p->accept_resume = 0;
        p->accept_error_logged = false;
        for (unsigned i = 0; i < s->nlisteners; i++)
            if (s->listeners[i].io.fd >= 0 && listener_watch(&s->listeners[i]) < 0)
                p->accept_resume = now + ACCEPT_PAUSE_MS;
    }
}

/* Milliseconds until the earliest deadline, -1 when there is none. */
static int next_wait(const struct srv__server *s)
{
    const struct priv *p = priv_of(s);
    uint64_t earliest = p->accept_resume ? p->accept_resume : UINT64_MAX;
    if (p->drain_idle_at != 0 && p->drain_idle_at < earliest)
        earliest = p->drain_idle_at;
    for (unsigned k = 0; k < T_COUNT; k++) {
        const struct srv__conn *c = p->timers[k].head;
        if (c != NULL && c->deadline < earliest)
            earliest = c->deadline;
    }
    uint64_t now = srv__now_ms();
    if (s->log != NULL) {
        int w = srv__access_log_wait_ms(s->log, now);
        if (w >= 0 && now + (uint64_t)w < earliest)
            earliest = now + (uint64_t)w;
    }
    if (earliest == UINT64_MAX)
        return -1;
    if (earliest <= now)
        return 0;
    uint64_t d = earliest - now;
    return d > MAX_SLEEP_MS ? MAX_SLEEP_MS : (int)d;
}

/* ---- The server ----------------------------------------------------------- */

int srv__server_init(struct srv__server *s, const struct srv_app *app, int listen_fd)
{
    memset(s, 0, sizeof *s);
    s->app = app;
    srv__limits_resolve(&s->limits, &app->limits);
    int r = srv__loop_init(&s->loop);
    if (r < 0)
        return r;
    struct priv *p = srv__xcalloc(1, sizeof *p);
    s->priv = p;
    p->timers[T_IDLE].ms = s->limits.idle_timeout_ms;
    p->timers[T_IDLE].slack = s->limits.idle_timeout_ms / 16 < IDLE_SLACK_MS
                                  ? s->limits.idle_timeout_ms / 16 : IDLE_SLACK_MS;
    p->timers[T_HEAD].ms = s->limits.header_timeout_ms;
    p->timers[T_BODY].ms = s->limits.body_timeout_ms;
    p->timers[T_WRITE].ms = s->limits.idle_timeout_ms;
    p->timers[T_WS].ms = s->limits.ws_ping_ms;
    p->timers[T_WS_CLOSE].ms = WS_CLOSE_WAIT_MS;
    p->work_size = sizeof(struct work) + s->limits.header_count * sizeof(struct srv__header);
    p->head_max = s->limits.request_line + s->limits.header_bytes + 4;
    s->log = srv__access_log_main.fd >= 0 ? &srv__access_log_main : NULL;
    if (listen_fd >= 0) {
        r = srv__server_listen(s, listen_fd, false);
        if (r < 0) {
            free(p);
            s->priv = NULL;
            srv__loop_close(&s->loop);
            return r;
        }
    }
    return 0;
}

int srv__server_listen(struct srv__server *s, int fd, bool shared)
{
    s->listeners = srv__xrealloc(s->listeners, (s->nlisteners + 1) * sizeof *s->listeners);
    /* The loop holds pointers to the listeners' io: re-register them all
     * after the array moved. */
    for (unsigned i = 0; i < s->nlisteners; i++)
        if (s->listeners[i].io.events != 0) {
            srv__loop_del(&s->loop, &s->listeners[i].io);
            listener_watch(&s->listeners[i]);
        }
    struct srv__listener *l = &s->listeners[s->nlisteners];
    memset(l, 0, sizeof *l);
    l->io.fd = fd;
    l->io.fn = on_listen;
    l->srv = s;
    l->shared = shared;
    int r = listener_watch(l);
    if (r < 0)
        return r;
    s->nlisteners++;
    return 0;
}

int srv__server_run_once(struct srv__server *s, int max_wait_ms)
{
    int wait = next_wait(s);
    if (max_wait_ms >= 0 && (wait < 0 || max_wait_ms < wait))
        wait = max_wait_ms;
    int n = srv__loop_run_once(&s->loop, wait);
    send_finished(s);
    end_streams(s);
    struct priv *p = priv_of(s);
    if (SRV__UNLIKELY(p->ws_ending != NULL))
        end_ws(s);
    sweep(s);
    if (SRV__UNLIKELY(p->ws_ending != NULL))
        end_ws(s); /* a ping tick may have found a dead peer */
    if (s->log != NULL)
        srv__access_log_tick(s->log, srv__now_ms());
    return n;
}

void srv__server_drain(struct srv__server *s)
{
    if (s->draining)
        return;
    s->draining = true;
    for (unsigned i = 0; i < s->nlisteners; i++) {
        struct srv__listener *l = &s->listeners[i];
        if (l->io.fd < 0)
            continue;
        priv_of(s)->accept_resume = 0;
        accept_queued(l, UINT32_MAX); /* what the kernel already queued */
        if (l->io.events != 0)
            srv__loop_del(&s->loop, &l->io);
        close(l->io.fd);
        l->io.fd = -1;
    }
    struct priv *p = priv_of(s);
    p->accept_resume = 0;
    struct srv__conn *c;
    if (p->timers[T_IDLE].head != NULL)
        p->drain_idle_at = srv__now_ms() + DRAIN_IDLE_GRACE_MS;
    /* Event streams end gracefully: `close` runs, what they queued is sent. */
    for (c = p->timers[T_STREAM].head; c != NULL; c = c->tnext)
        srv__stream_end(c->stream, SRV_SSE_DRAINING);
    /* WebSockets get a close frame, 1001, and a moment to answer it. */
    for (c = p->timers[T_WS].head; c != NULL; c = c->tnext)
        srv__ws_begin_close(c->ws, SRV__WS_GOING_AWAY, "server shutting down", 20);
}

bool srv__server_drained(const struct srv__server *s)
{
    return s->draining && s->nconns == 0;
}

void srv__server_close(struct srv__server *s)
{
    struct priv *p = priv_of(s);
    if (s->log != NULL)
        srv__access_log_flush(s->log);
    if (p != NULL) {
        /* Responses still deferred get their 503, as far as the socket
         * takes it without waiting, before everything is closed. */
        struct srv__conn *c;
        while ((c = p->timers[T_DEFERRED].head) != NULL) {
            struct work *w = c->w;
            defer_cancel(c);
            timer_unlink(p, c);
            *w->defer_nul = w->defer_saved;
            srv__respond_error(&w->req, &w->res, 503, 0);
            c->state = ST_HEAD;
            c->close_after = true;
            complete_request(c, w->defer_consumed);
            if (flush(c))
                conn_close(c);
        }
        for (unsigned k = 0; k < T_ALL; k++)
            while ((c = p->timers[k].head) != NULL)
                conn_close(c);
        while (s->works != NULL) {
            struct work *w = s->works;
            s->works = w->next_free;
            work_free(w);
        }
        while (p->free_list != NULL) {
            struct srv__conn *c = p->free_list;
            p->free_list = c->tnext;
            free(c);
        }
        free(p->ws_buf);
        free(p);
        s->priv = NULL;
    }
    for (unsigned i = 0; i < s->nlisteners; i++)
        if (s->listeners[i].io.fd >= 0)
            close(s->listeners[i].io.fd);
    free(s->listeners);
    s->listeners = NULL;
    s->nlisteners = 0;
    srv__loop_close(&s->loop);
}
