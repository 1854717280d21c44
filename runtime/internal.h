/*
 * internal.h - declarations shared between libsrv's own files (srv__ names).
 * Never included by generated code or users.  One section per layer, lower
 * layers first; a lower layer never calls into a higher one.
 *
 *   L0  arena  log  time  loop  pubsub  (libc only; loop: epoll, timers, fd
 *                                       watches; pubsub: the channel registry)
 *   L1  http_parse (+ generated http.re scanner)  request  response  dispatch
 *       media  form  multipart  json  json_write  cookie   (request bodies,
 *       JSON out, cookies; json.c links jansson, cookie.c nettle)
 *       forwarded  proxy_protocol  metrics   (behind a load balancer: pure
 *       parsers; the shared counters)
 *       ws  ws_deflate          (WebSocket frames and handshake, nettle;
 *                               permessage-deflate, zlib)
 *   L2  static  filecache  static_headers  mime  beneath   (static files)
 *   L3  conn                            (the per-connection state machine)
 *   L4  listen  worker  master  server  (processes, sockets, signals)
 *       privileges                      (the `user` directive: dropping root)
 *       bus  redis                      (pubsub transports: between workers,
 *                                       between servers; redis.c links hiredis)
 *
 * Runtime int functions return >= 0 on success and -errno on failure.
 */
#ifndef SRV_INTERNAL_H
#define SRV_INTERNAL_H

#include "srv.h"

#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#define SRV__UNUSED(x) ((void)(x))
/* For the few globals the request path reads: the library is built as
 * position-independent code, and a hidden symbol is reached directly, not
 * through the GOT (one load instead of two). */
#define SRV__HIDDEN __attribute__((visibility("hidden")))
#define SRV__LIKELY(x) __builtin_expect(!!(x), 1)
#define SRV__UNLIKELY(x) __builtin_expect(!!(x), 0)

/* memcpy for the short copies of the hot path (header values, small
 * bodies): up to 32 bytes in two overlapping fixed-size moves, no call.
 * Reads and writes only [0, N), like memcpy. */
static inline void srv__copy(void *dst, const void *src, size_t n)
{
    char *d = dst;
    const char *s = src;
    if (n >= 16) {
        if (SRV__UNLIKELY(n > 32)) {
            memcpy(d, s, n);
            return;
        }
        memcpy(d, s, 16);
        memcpy(d + n - 16, s + n - 16, 16);
    } else if (n >= 8) {
        memcpy(d, s, 8);
        memcpy(d + n - 8, s + n - 8, 8);
    } else if (n >= 4) {
        memcpy(d, s, 4);
        memcpy(d + n - 4, s + n - 4, 4);
    } else if (n) {
        d[0] = s[0];
        d[n / 2] = s[n / 2];
        d[n - 1] = s[n - 1];
    }
}

/* Writes V in decimal at P; returns the end.  For serialising on the hot
 * path: two digits at a time from a table, no division below 100. */
static inline char *srv__put_uint(char *p, uint64_t v)
{
    static const char two[] = "00010203040506070809101112131415161718192021222324"
                              "25262728293031323334353637383940414243444546474849"
                              "50515253545556575859606162636465666768697071727374"
                              "75767778798081828384858687888990919293949596979899";
    if (SRV__LIKELY(v < 100)) {
        if (v < 10) {
            *p = (char)('0' + v);
            return p + 1;
        }
        memcpy(p, two + 2 * v, 2);
        return p + 2;
    }
    char tmp[20];
    size_t n = 20;
    while (v >= 100) {
        n -= 2;
        memcpy(tmp + n, two + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v >= 10) {
        n -= 2;
        memcpy(tmp + n, two + 2 * v, 2);
    } else {
        tmp[--n] = (char)('0' + v);
    }
    memcpy(p, tmp + n, 20 - n);
    return p + (20 - n);
}

/* ===========================================================================
 * L0: arena.c - bump allocator.  The first chunk is kept across resets, so a
 * request that fits in it costs no malloc.
 */
struct srv__arena_chunk;
struct srv__arena_cleanup;
struct srv__arena {
    char *cur, *end;                /* free space in the current chunk */
    struct srv__arena_chunk *first; /* kept across resets */
    struct srv__arena_chunk *extra; /* overflow chunks, freed on reset */
    struct srv__arena_cleanup *cleanups; /* run by reset and free, newest first */
};
void srv__arena_init(struct srv__arena *a, size_t first_size);
void *srv__arena_alloc(struct srv__arena *a, size_t size); /* 16-aligned, never NULL */
/* Runs the cleanups, frees the overflow chunks, rewinds the first one. */
void srv__arena_reset(struct srv__arena *a);
/* Calls FN(ARG) at the next srv__arena_reset() or srv__arena_free() of A,
 * before its memory goes; the cleanup registered last runs first.  The
 * record lives in A itself, so registering moves A->cur (conn.c's "nothing
 * was allocated" shortcut stays right).  FN must not allocate from A. */
void srv__arena_defer(struct srv__arena *a, void (*fn)(void *), void *arg);
/* printf into the arena; the result is NUL-terminated, its length in *LEN
 * (LEN may be NULL).  Most results fit a stack buffer: one formatting pass. */
char *srv__arena_vprintf(struct srv__arena *a, size_t *len, const char *fmt, va_list ap);
void srv__arena_free(struct srv__arena *a);

/* Allocation that cannot fail: logs and aborts on OOM. */
void *srv__xmalloc(size_t size);
void *srv__xcalloc(size_t n, size_t size);
void *srv__xrealloc(void *p, size_t size);

/* ===========================================================================
 * L0: log.c - stderr logging with a "[worker 2 pid 1234]" style prefix.
 */
extern int srv__worker_id_value;    /* srv_worker_id() */
extern int srv__worker_count_value; /* srv_worker_count() */
extern const char *srv__progname;   /* basename of argv[0], for boot errors */
void srv__vlog(enum srv_log_level level, const char *fmt, va_list ap);
/* Boot-time failure: "PROG: MESSAGE" on stderr, no prefix.  Does not exit. */
void srv__boot_error(const char *fmt, ...) SRV_PRINTF(1, 2);

/* ===========================================================================
 * L0: time.c - per-loop-iteration clock and the cached Date header value.
 * srv__time_update() is called once per event-loop iteration; it reads the
 * vDSO clocks (no syscall) and reformats the date only when the second
 * changes.
 */
void srv__time_update(void);
uint64_t srv__now_ms(void);     /* CLOCK_MONOTONIC, as of the last update */
int64_t srv__wall_sec(void);    /* CLOCK_REALTIME seconds, as of the last update */
const char *srv__date(void);    /* "Sun, 06 Nov 1994 08:49:37 GMT" (29 bytes) */
#define SRV__DATE_LEN 29
/* The same as a whole header line, "Date: ...\r\n" (SRV__DATE_LINE_LEN
 * bytes, not NUL-terminated), so responses copy one fixed-size block.  Set
 * before main() runs and by every srv__time_update(); read directly, so
 * serialising a response calls nothing. */
#define SRV__DATE_LINE_LEN (6 + SRV__DATE_LEN + 2)
extern char srv__date_line[SRV__DATE_LINE_LEN];
/* Formats T (seconds since the epoch, UTC) as an IMF-fixdate into OUT
 * (SRV__DATE_LEN bytes + NUL).  What srv__date() caches; exposed for tests. */
void srv__date_format(char *out, int64_t t);
/* Ticks, the unit request latencies are measured in (metrics, the JSON
 * access log's duration_us): the CPU's time-stamp counter where the kernel
 * keeps its own time by it (x86-64 with clocksource "tsc": invariant and
 * synchronised across CPUs), read in one instruction; otherwise nanoseconds
 * of CLOCK_MONOTONIC.  srv__ticks_calibrate() decides which, before the
 * workers fork, and measures how many nanoseconds a tick is. */
extern SRV__HIDDEN bool srv__ticks_tsc;
extern SRV__HIDDEN double srv__ns_per_tick;
/* Chooses the tick (nanoseconds when CLOCK_ONLY, as tests ask) and measures
 * it: 5 ms of sleep. */
void srv__ticks_calibrate(bool clock_only);
static inline uint64_t srv__ticks_to_us(uint64_t ticks)
{
    return (uint64_t)((double)ticks * srv__ns_per_tick / 1000.0);
}
static inline uint64_t srv__ticks(void)
{
#if defined(__x86_64__)
    if (SRV__LIKELY(srv__ticks_tsc))
        return __builtin_ia32_rdtsc();
#endif
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
/* srv__ticks() as of the loop iteration under way (the moment epoll_wait
 * returned), kept while SRV__LOOP_TICKS_ON is set: a request's latency
 * starts there, so a request costs one reading of the clock, at its end.
 * Read directly, like srv__date_line. */
extern SRV__HIDDEN uint64_t srv__loop_ticks;
extern SRV__HIDDEN bool srv__loop_ticks_on;

/* ===========================================================================
 * L0: accesslog.c - the access log: lines formatted into a per-worker
 * buffer, written in whole lines when it fills, at least once a second
 * (srv__access_log_tick) and at close.
 */
struct srv__access_log {
    int fd;                    /* -1: logging off */
    enum srv_access_log format;
    const char *path;          /* NULL: standard error */
    bool pipe_like;            /* not a regular file: writes cut at PIPE_BUF */
    char *buf;
    size_t len, cap;
    uint64_t flushed_ms;       /* srv__now_ms() of the last flush */
    int64_t stamp_sec;         /* the second STAMP was made for */
    char stamp[32];
    size_t stamp_len;
};
/* What one line says about a request and its response. */
struct srv__access_entry {
    const char *peer;                   /* "127.0.0.1", or NULL */
    size_t peer_len;
    const char *method;
    size_t method_len;
    const char *path;                   /* decoded */
    size_t path_len;
    const char *query;                  /* raw, NULL when none */
    size_t query_len;
    unsigned version_minor;
    int status;
    uint64_t bytes;                     /* body bytes of the response */
    const char *referer, *user_agent;   /* NULL when not sent */
    size_t referer_len, user_agent_len;
    uint64_t duration_us;
};
/* Opens the log (PATH NULL: a duplicate of stderr); nothing for
 * SRV_ACCESS_LOG_OFF.  Returns 0 or -errno. */
int srv__access_log_open(struct srv__access_log *l, enum srv_access_log format,
                         const char *path);
/* Flushes, then opens PATH again onto the same descriptor (logrotate's
 * rename-then-signal).  Returns 0 or -errno (the old file stays in use). */
int srv__access_log_reopen(struct srv__access_log *l);
void srv__access_log_add(struct srv__access_log *l, const struct srv__access_entry *e);
void srv__access_log_flush(struct srv__access_log *l);
/* Flushes when the buffer has waited a second; NOW_MS is srv__now_ms(). */
void srv__access_log_tick(struct srv__access_log *l, uint64_t now_ms);
/* Milliseconds until the next tick is due, -1 when nothing is buffered. */
int srv__access_log_wait_ms(const struct srv__access_log *l, uint64_t now_ms);
void srv__access_log_close(struct srv__access_log *l);
/* The process's access log: server.c opens it before forking, so a bad
 * path stops the start-up and every worker inherits the descriptor. */
extern struct srv__access_log srv__access_log_main;

/* ===========================================================================
 * L0: loop.c - a small epoll loop.  Level-triggered.  An owner embeds a
 * struct srv__io and gets its callback with the ready events.  The loop
 * also keeps the users' timers (a binary min-heap on the monotonic clock)
 * and fd watches (srv_timer_*, srv_watch_*), and is "the worker's loop"
 * those public calls use from the moment srv__loop_init() made it until
 * srv__loop_close().
 */
struct srv__loop;
struct srv__io;
typedef void (*srv__io_fn)(struct srv__io *io, uint32_t events);
struct srv__io {
    int fd;
    uint32_t events; /* currently registered EPOLL* mask */
    srv__io_fn fn;
};
struct srv__loop {
    int epfd;
    struct srv_timer **heap;   /* users' timers, earliest deadline first */
    unsigned ntimers, heap_cap;
    uint64_t timer_seq;        /* start order: equal deadlines run FIFO */
    struct srv_watch *watches; /* every live watch (freed at close) */
    struct srv_watch *stopped; /* stopped during a batch: freed after it */
    bool in_batch;             /* running the callbacks of one epoll_wait */
};
/* Makes L the process's current loop (the one srv_timer_start() and the
 * others use).  Returns 0 or -errno. */
int srv__loop_init(struct srv__loop *l);
/* Frees every timer and watch still running (not the watched descriptors),
 * closes the epoll descriptor; L is no longer current. */
void srv__loop_close(struct srv__loop *l);
/* The current loop, NULL outside a worker (in the master, in `setup`). */
struct srv__loop *srv__loop_current(void);
int srv__loop_add(struct srv__loop *l, struct srv__io *io, uint32_t events);
int srv__loop_mod(struct srv__loop *l, struct srv__io *io, uint32_t events);
int srv__loop_del(struct srv__loop *l, struct srv__io *io);
/* Waits up to TIMEOUT_MS (-1: forever), or less when a timer is due
 * sooner, runs the ready callbacks, then the timers that are due; returns
 * the number of events handled or -errno (-EINTR is not an error for
 * callers). */
int srv__loop_run_once(struct srv__loop *l, int timeout_ms);
/* Milliseconds on CLOCK_MONOTONIC, read now (timers use it: the coarse
 * clock of srv__now_ms() ticks every few milliseconds). */
uint64_t srv__clock_ms(void);

/* ===========================================================================
 * L0: pubsub.c - the worker's channel registry: channel name ->
 * subscriptions, delivery to this worker's subscribers, and the hook
 * through which a transport (bus.c between workers, redis.c between
 * servers) sends what is published here and hands in what was published
 * elsewhere.  Usable while a loop is current (srv__loop_current()).
 */
#define SRV__CHANNEL_MAX 255       /* bytes in a channel name */
#define SRV__MESSAGE_MAX 65536     /* bytes in a message */
#define SRV__NESTED_PUBLISH_MAX 4096 /* publishes from callbacks per delivery */
struct srv__pubsub_backend {
    /* A message published on this worker, for everyone else.  Never blocks. */
    void (*publish)(const char *channel, size_t chlen, const void *msg, size_t len);
    /* CHANNEL (NUL-terminated) got its first local subscriber / lost its
     * last one.  NULL when the transport delivers every channel anyway. */
    void (*channel_on)(const char *channel, size_t chlen);
    void (*channel_off)(const char *channel, size_t chlen);
};
/* Sets (or, with NULL, removes) the transport. */
void srv__pubsub_set_backend(const struct srv__pubsub_backend *b);
/* Delivers a message that was published elsewhere to this worker's
 * subscribers of CHANNEL; returns how many were called. */
int srv__pubsub_deliver(const char *channel, size_t chlen, const void *msg, size_t len);
/* The number of this worker's live subscriptions to CHANNEL. */
unsigned srv__pubsub_count(const char *channel, size_t chlen);
/* Calls FN for every channel with a live local subscription (a transport
 * subscribing again after a reconnect).  FN must not subscribe or
 * unsubscribe. */
void srv__pubsub_each(void (*fn)(const char *channel, size_t chlen, void *arg), void *arg);
/* Frees every subscription and channel and forgets the transport (worker
 * shutdown, after the connections are closed); the transport is not told. */
void srv__pubsub_close(void);

/* ===========================================================================
 * L1: http_parse.c + grammar/http.re - RFC 9112 request heads and chunked
 * bodies, parsed in place.  Never logs, never allocates.
 */

/* Resolved limits (no zeros): srv__limits_resolve() fills in defaults. */
void srv__limits_resolve(struct srv_limits *out, const struct srv_limits *in);

struct srv__header {
    const char *name;  /* as sent (case preserved), NUL-terminated in place */
    const char *value; /* OWS trimmed, NUL-terminated in place */
    uint32_t name_len, value_len;
};

/* The prefix check of an incomplete head (srv__http_prefix): where in the
 * head's grammar the bytes checked so far end.  Zeroed, it stands before
 * the head's first byte. */
struct srv__prefix {
    uint8_t state, k, ret; /* see http.re */
};

struct srv__head {
    unsigned method;         /* SRV_METHOD_* bit */
    const char *method_name; /* NUL-terminated in place */
    uint32_t method_len;
    char *path;              /* decoded, dot-segments removed, NUL-terminated */
    char *query;             /* raw, after '?', NUL-terminated; NULL if none */
    uint32_t path_len, query_len;
    const char *host;        /* from Host, or from an absolute-form target */
    uint32_t host_len;
    uint8_t version_minor;   /* 0 or 1 (HTTP/1.2 to 1.9 are read as 1.1) */
    bool keep_alive;         /* version default adjusted by Connection */
    bool expect_continue;    /* Expect: 100-continue */
    bool chunked;            /* Transfer-Encoding: chunked */
    bool has_content_length;
    uint64_t content_length;
    struct srv__header *headers; /* caller's array, capacity header_count */
    uint32_t nheaders;
    /* After SRV__PARSE_INCOMPLETE: the prefix check's state at the end of
     * the bytes parsed, for srv__http_prefix() on the bytes that follow. */
    struct srv__prefix prefix;
};

#define SRV__PARSE_INCOMPLETE 0

/* Parses the request head at BUF[0..LEN).  Returns the head's length in
 * bytes (> 0) when it is complete and valid, SRV__PARSE_INCOMPLETE when more
 * bytes are needed, or -STATUS (-400, -414, -431, -501, -505, -417, -413)
 * naming the error response to send.  Limits are enforced even while
 * incomplete (a request line longer than lim->request_line is -414 before its
 * end arrives), and so is the syntax: an unfinished line that no further
 * bytes could make valid (binary data, a TLS handshake) is -400 at once.
 * When incomplete, H->prefix holds what srv__http_prefix() needs to check
 * the bytes that arrive next without parsing again.  Only on success is BUF
 * modified (NULs written after the method, path, query, names and values;
 * the path decoded in place).  H->headers must point to lim->header_count
 * slots. */
int srv__http_parse_head(char *buf, size_t len, const struct srv_limits *lim,
                         struct srv__head *h);

/* Checks the N bytes at P, which continue a head whose bytes so far left
 * the check in state ST (zeroed for a head's first byte; after
 * srv__http_parse_head() returned SRV__PARSE_INCOMPLETE, &h->prefix).
 * Returns 0 when the head can still become valid, updating ST, or -400 when
 * no further bytes could make it so; then ST is unspecified.  Each byte is
 * read once, so a head checked a byte at a time costs what it costs whole.
 * The grammar is the parser's, byte for byte: request line, field lines,
 * the empty line (the rest is the body); not the limits, nor what the
 * pieces mean (Host, Content-Length, ...). */
int srv__http_prefix(struct srv__prefix *st, const char *p, size_t n);

/* For error responses: the request line of a head srv__http_parse_head()
 * rejected or that timed out incomplete.  When BUF[0..LEN) starts (after
 * any empty lines) with a complete, syntactically valid request line,
 * fills H's method, method_name, path and path_len, query and query_len,
 * and version_minor exactly as srv__http_parse_head() would (the method bit
 * is 0 for an unknown method; version_minor is 1 for a version other than
 * HTTP/1.x, which the 505 answers in HTTP/1.1), sets H->nheaders to 0 and
 * H->host to NULL, and returns the line's length (> 0).  Otherwise returns
 * 0 (its LF has not arrived), -414 (it would end past lim->request_line) or
 * -400 (malformed, or a path that climbs above the root), and H's fields are
 * unspecified.  May write into BUF: call it only once the head will not be
 * parsed again. */
int srv__http_parse_request_line(char *buf, size_t len, const struct srv_limits *lim,
                                 struct srv__head *h);

/* For a head srv__http_parse_head() found incomplete at BUF[0..LEN): the
 * length at which it would be rejected by a limit (414 or 431) if no
 * further LF arrived.  Below it, bytes without an LF cannot change the
 * answer, so a caller need not parse again until an LF arrives or the
 * buffer reaches that length. */
size_t srv__http_head_limit(const char *buf, size_t len, const struct srv_limits *lim);

/* Incremental in-place chunked decoder.  BUF is the start of the body in the
 * connection buffer; LEN is how many bytes of it have arrived.  Decoded data
 * is moved down to BUF[0..c->out).  Returns 1 when the last chunk and the
 * trailers have been read (c->raw = raw bytes consumed, so a pipelined
 * request starts at BUF + c->raw), 0 when more bytes are needed, or -STATUS
 * (-400 malformed or overflowing size, -413 decoded size over LIMIT, -431
 * trailer fields over 32 KiB). */
struct srv__chunked {
    int state;
    uint64_t remaining; /* bytes left in the current chunk */
    size_t raw;         /* raw bytes parsed so far */
    size_t out;         /* decoded bytes so far */
};
int srv__http_parse_chunked(struct srv__chunked *c, char *buf, size_t len,
                            uint64_t limit);

/* ===========================================================================
 * L1: request.c, response.c, dispatch.c
 */
struct srv__conn;

struct srv__lazy;

/* A connection's peer, kept from accept4 so asking costs no syscall. */
struct srv__peer {
    uint8_t family;    /* AF_INET or AF_INET6 (0: unknown) */
    uint8_t text_len;  /* of TEXT, 0 until it is made */
    uint8_t addr[16];
    char text[46];     /* INET6_ADDRSTRLEN */
};

struct srv_request {
    struct srv__conn *conn;
    const struct srv_app *app;
    struct srv__peer *peer;        /* made on demand when CONN is NULL (tests) */
    uint64_t start_ticks;          /* srv__loop_ticks of the read that began it (metrics, log json) */
    int fd;                        /* the connection's socket (for the peer) */
    struct srv__head head;
    struct srv_match match;
    const struct srv_route *route; /* NULL before dispatch */
    char *body;                    /* NUL-terminated; "" when none */
    size_t body_len;
    struct srv__arena *arena;
    char *param_cache[SRV_MAX_PARAMS]; /* decoded params, made on demand */
    struct srv__lazy *lazy;        /* body accessors' results; NULL until one runs */
};

/* One part of a file body: LEN bytes at MEM, or (MEM NULL) the bytes
 * [OFF, OFF + LEN) of the response's file. */
struct srv__seg {
    const char *mem;
    uint64_t off;
    uint64_t len;
};
/* What the forwarding headers of a request from a trusted peer say
 * (forwarded.c, srv__forwarded_parse). */
struct srv__forwarded {
    struct srv__peer client; /* family 0: no address to use, the peer stays */
    bool https;              /* the client's scheme was https */
    const char *source;      /* "forwarded", "x-forwarded-for" or NULL: what named CLIENT (tests) */
};

/* What the body accessors make on first use (form.c, multipart.c, json.c),
 * kept for the rest of the request.  It lives in the request arena, and
 * srv__request_lazy() registers an arena cleanup that sets req->lazy back
 * to NULL, so nothing is reset per request and a request that never reads
 * its body as a form, parts or JSON pays nothing. */
struct srv__lazy {
    struct srv_request *req;
    bool form_done, parts_done, json_done;
    /* form.c */
    const struct srv_form_field *form;
    size_t nform;
    /* multipart.c: the count or -errno, and why it failed (for tests, logs) */
    const struct srv_part *parts;
    int parts_rc;
    const char *parts_why;
    /* json.c: the document, or the status and body of the error answer */
    struct json_t *json;
    int json_status;
    const char *json_error;
    size_t json_error_len;
    /* request.c: the forwarding headers of a trusted proxy (trust_proxy) */
    bool forwarded_done;
    struct srv__forwarded forwarded;
};
/* REQ's lazy results, made (zeroed) on first use. */
struct srv__lazy *srv__request_lazy(struct srv_request *req);

struct srv_response {
    int status;
    bool failed;            /* a handler misused the API: answer 500 */
    bool answered;          /* a status or a body was set (srv_response_answered) */
    bool deferred;          /* srv_response_defer(): answered later, by finish */
    /* Set with DEFERRED, STREAM or UPGRADE: the connection outlives the
     * handler, and conn.c looks at which (one test for the usual case). */
    bool outlives;
    const struct srv_sse_route *stream; /* srv_sse_start(): the connection becomes a stream */
    const struct srv__ws_upgrade *upgrade; /* srv_ws_start(): it switches to WebSocket */
    struct srv_request *req; /* the request it answers (set once, with the work) */
    srv_cancel_fn cancel;   /* of a deferred response */
    void *cancel_arg;
    /* The body: BODY_LEN bytes at BODY.  BODY is NULL for a file body (set
     * by srv__response_file): the bytes are then SEGS[0..NSEGS), which
     * whoever set them keeps valid until the request's arena is reset.  Every
     * body setter stores a non-NULL BODY, so replacing a file body costs
     * nothing and srv_response_get_body() returns NULL for one as it must. */
    const char *body;
    size_t body_len;
    char *headers;          /* "Name: value\r\n"..., in the request arena */
    size_t headers_len, headers_cap;
    struct srv__arena *arena;
    const char *failure;    /* why FAILED was set, for the log */
    const struct srv__seg *segs; /* a file body's parts (only when BODY is NULL) */
    unsigned nsegs;
    int file_fd;            /* the file the parts without MEM come from, or -1 */
};

/* Marks RES failed (a handler misused the API), keeping the first reason,
 * WHAT "TEXT", for the log line; dispatch.c then answers 500.  Every
 * misuse check in the runtime ends here. */
void srv__response_fail(struct srv_response *res, const char *what, const char *text);

/* request.c: the peer's address, kept from accept4's SA (a struct sockaddr
 * of AF_INET or AF_INET6), and its text, made once (srv__peer_text). */
void srv__peer_set(struct srv__peer *peer, const void *sa);
const char *srv__peer_text(struct srv__peer *peer);
/* conn.c: the peer of the connection C. */
struct srv__peer *srv__conn_peer(struct srv__conn *c);
/* The client of REQ, what srv_request_peer() names: the connection's peer,
 * or with trust_proxy what a trusted proxy forwarded. */
struct srv__peer *srv__request_peer(struct srv_request *req);

/* The reason phrase for STATUS ("Not Found"); "Unknown" if none. */
const char *srv__status_reason(int status);
/* The built-in error page for STATUS, "404 Not Found\n", and its length. */
const char *srv__status_page(int status, size_t *len);

/* Resets RES to 200, empty, using ARENA for its allocations. */
static inline void srv__response_init(struct srv_response *res, struct srv__arena *arena)
{
    res->status = 200;
    res->failed = false;
    res->answered = false;
    res->deferred = false;
    res->outlives = false;
    res->stream = NULL;
    res->upgrade = NULL;
    res->body = "";
    res->body_len = 0;
    res->headers = NULL;
    res->headers_len = 0;
    res->headers_cap = 0;
    res->arena = arena;
    res->failure = NULL;
}

/* Makes RES's body the LEN bytes of SEGS[0..NSEGS) (parts in memory or in
 * FD), and marks RES answered.  The caller keeps SEGS, their memory and FD
 * valid until RES's arena is reset (srv__arena_defer). */
static inline void srv__response_file(struct srv_response *res, const struct srv__seg *segs,
                                      unsigned nsegs, int fd, uint64_t len)
{
    res->body = NULL;
    res->body_len = (size_t)len;
    res->segs = segs;
    res->nsegs = nsegs;
    res->file_fd = fd;
    res->answered = true;
}

/* Appends LEN bytes of complete, already valid header lines ("Name:
 * value\r\n"...) to RES's header block: for headers the server builds
 * itself (static files), which need no checking. */
void srv__response_add_lines(struct srv_response *res, const char *lines, size_t len);

/* The built-in error response (400, 404, 405, 408, 413, 414, 417, 431, 500,
 * 501, 505, ...): "404 Not Found\n" as text/plain, and for a 405 the Allow
 * header of the method set ALLOW.  Everything set on RES before is dropped.
 * Callers with a request use srv__respond_error(), which adds the app's
 * `error` blocks. */
void srv__response_error(struct srv_response *res, int status, unsigned allow);

/* Writes "Allow: GET, HEAD, ..." for the method set into BUF (>= 64 bytes);
 * returns the length. */
size_t srv__allow_format(char *buf, unsigned methods);

/* Serialising a response (conn.c calls these once the handler is done).
 * Flags say how the request asked to be answered. */
#define SRV__RESP_HEAD 1u       /* HEAD request: framing of the GET, no body */
#define SRV__RESP_CLOSE 2u      /* write "Connection: close" */
#define SRV__RESP_KEEPALIVE 4u  /* write "Connection: keep-alive" (HTTP/1.0) */
#define SRV__RESP_STREAM 8u     /* no Content-Length: the body runs until the close */
/* An upper bound of the bytes srv__response_head() writes for RES: status
 * line (<= 48), Date (37), Content-Length (38), Connection (24), blank line,
 * with room to spare. */
static inline size_t srv__response_head_max(const struct srv_response *res)
{
    return 192 + res->headers_len;
}
/* Writes the status line and every header, through the blank line, into
 * BUF; returns the length. */
size_t srv__response_head(const struct srv_response *res, unsigned flags, char *buf);
/* Whether STATUS allows Content-Length and a body (not 1xx, 204, 304). */
static inline bool srv__status_has_body(int status)
{
    return status >= 200 && status != 204 && status != 304;
}
/* Whether a body follows the head (false for HEAD, 1xx, 204, 304). */
static inline bool srv__response_has_body(const struct srv_response *res, unsigned flags)
{
    return !(flags & SRV__RESP_HEAD) && srv__status_has_body(res->status) && res->body_len > 0;
}

/* Runs routing and the handler (or the 404/405 answer) for REQ.  The
 * usual path (a route matched, its handler did nothing wrong) is inline, so
 * a request costs no call besides the matcher and the handler; dispatch.c
 * has the rest. */
void srv__dispatch_miss(struct srv_request *req, struct srv_response *res, int idx);
/* Every error response the server makes for a request whose request line
 * was read goes through here: the built-in response, then the app's `error`
 * block (whose status and, for 405, Allow header it cannot change). */
void srv__respond_error(struct srv_request *req, struct srv_response *res, int status,
                        unsigned allow);
void srv__dispatch_failed(struct srv_request *req, struct srv_response *res);
/* What srv__dispatch does once the handler's response is built, for a
 * deferred one at srv_response_finish: the route's end (CORS headers, after
 * blocks), then a misused API becomes a logged 500. */
void srv__dispatch_end(struct srv_request *req, struct srv_response *res);
/* cors.c: answers a CORS preflight (OPTIONS with Origin and
 * Access-Control-Request-Method) for a route with a policy that allows the
 * origin; false when REQ is to be routed as usual. */
bool srv__cors_preflight(const struct srv_app *app, struct srv_request *req,
                         struct srv_response *res);
/* Whether policy P allows ORIGIN (compared byte for byte). */
bool srv__cors_origin_allowed(const struct srv_cors *p, const char *origin);

static inline void srv__dispatch(const struct srv_app *app, struct srv_request *req,
                                 struct srv_response *res)
{
    if (SRV__UNLIKELY(req->head.method == SRV_METHOD_OPTIONS) && app->has_cors &&
        srv__cors_preflight(app, req, res))
        return;
    int idx = app->match(req->head.method, req->head.path, req->head.path_len,
                         &req->match);
    if (SRV__UNLIKELY(idx < 0 || (unsigned)idx >= app->nroutes)) {
        srv__dispatch_miss(req, res, idx);
        return;
    }
    const struct srv_route *route = &app->routes[idx];
    req->route = route;
    /* Only the slots this match can use need clearing: no per-request memset
     * of the whole cache. */
    unsigned np = req->match.nparams < SRV_MAX_PARAMS ? req->match.nparams : SRV_MAX_PARAMS;
    for (unsigned i = 0; i < np; i++)
        req->param_cache[i] = NULL;

    route->handler(req, res);
    /* A deferred response is finished later (srv__dispatch_end then). */
    if (SRV__UNLIKELY(res->deferred))
        return;
    if (route->end != NULL)
        route->end(req, res);
    if (SRV__UNLIKELY(res->failed))
        srv__dispatch_failed(req, res);
}

/* ===========================================================================
 * L1: media.c - media types and parameter lists (RFC 9110 8.3.1, 5.6.6):
 * Content-Type for form.c, multipart.c and json.c, Content-Disposition for
 * multipart.c.  Reads only; views into the text given.
 */
struct srv__media {
    const char *type, *subtype; /* tokens, as sent */
    size_t type_len, subtype_len;
    const char *params, *end;   /* the parameter list, [params, end) */
};

/* Parses "type/subtype" followed by a parameter list (not checked yet: see
 * srv__param_next()) from S[0..LEN), surrounding whitespace allowed.
 * Returns 0 or -EINVAL. */
int srv__media_parse(const char *s, size_t len, struct srv__media *m);

/* Whether M is TYPE/SUBTYPE, compared case-insensitively. */
bool srv__media_is(const struct srv__media *m, const char *type, const char *subtype);

/* The request's Content-Type, parsed into M, when the header is there, is
 * all visible ASCII (and SP/HTAB) and has a valid media type and parameter
 * list; otherwise false. */
bool srv__content_type(const struct srv_request *req, struct srv__media *m);

struct srv__param {
    const char *name, *value; /* VALUE is raw: a token, or a quoted-string with its quotes */
    size_t name_len, value_len;
};

/* The next parameter of the list at *P (END excluded): *( OWS ";" OWS
 * [ name "=" ( token / quoted-string ) ] ), empty ones skipped.  Returns 1
 * with PRM filled in and *P moved past it, 0 at the end of the list, or
 * -EINVAL when the list is malformed. */
int srv__param_next(const char **p, const char *end, struct srv__param *prm);

/* Whether PRM is named NAME (case-insensitive). */
bool srv__param_is(const struct srv__param *prm, const char *name);

/* PRM's value without quotes, quoted-pairs resolved, NUL-terminated, into
 * DST (room for prm->value_len + 1 bytes); returns its length. */
size_t srv__param_copy(const struct srv__param *prm, char *dst);

/* ===========================================================================
 * L1: form.c - application/x-www-form-urlencoded, the decoder request.c's
 * query parameters share.
 */

/* Decodes IN[0..LEN) ("%XX" a byte, '+' a space, a malformed escape kept
 * as it is) into OUT (room for LEN bytes); returns the decoded length. */
size_t srv__form_decode(char *out, const char *in, size_t len);

/* Whether encoded K[0..LEN) decodes to the NUL-terminated NAME exactly. */
bool srv__form_key_equals(const char *k, size_t len, const char *name);

/* ===========================================================================
 * L1: multipart.c - multipart/form-data.
 */

/* The boundary parameter of the multipart/form-data media type M into OUT
 * (room for 71 bytes, NUL-terminated): its length (1..70), -EMEDIUMTYPE
 * when M is another type, or -EBADMSG when the boundary is missing,
 * repeated or invalid (RFC 2046 bchars, not ending in a space). */
int srv__multipart_boundary(const struct srv__media *m, char *out);

/* Parses BODY[0..LEN) (never reading BODY[LEN]) with boundary B[0..BLEN):
 * returns the number of parts with *PARTS an array of them in A (strings
 * copied there, data views into BODY), -EBADMSG when malformed or -E2BIG
 * past MAX_PARTS parts or MAX_HEADER bytes of one part's header block; *WHY
 * then says what was wrong ("missing final boundary"). */
int srv__multipart_parse(const char *body, size_t len, const char *b, size_t blen,
                         unsigned max_parts, size_t max_header, struct srv__arena *a,
                         struct srv_part **parts, const char **why);

/* ===========================================================================
 * L1: json_write.c - the JSON writer's string escaping, for json.c's error
 * bodies and for tests.
 */

/* Appends S[0..LEN) to OUT as a JSON string literal, quotes included (the
 * rules of srv_json_string_n()); OUT has room for srv__json_quoted_max(LEN)
 * bytes.  Returns the end. */
char *srv__json_quote(char *out, const char *s, size_t len);
static inline size_t srv__json_quoted_max(size_t len)
{
    return 6 * len + 2;
}

/* ===========================================================================
 * L1: cookie.c - cookie secrets, kept per process, read at start-up.
 */

/* Reads APP's secret_env variables (server.c, before anything starts).
 * Returns 0, or -1 after printing the one boot error line: a required
 * secret unset, or any secret shorter than SRV__SECRET_MIN bytes. */
#define SRV__SECRET_MIN 32
#define SRV__SECRETS_MAX 8
int srv__secrets_load(const struct srv_app *app);
/* Sets the secrets directly (tests, fuzzing): N of them, at most
 * SRV__SECRETS_MAX; N 0 forgets them. */
void srv__secrets_set(const char *const *secrets, const size_t *lens, unsigned n);

/* ===========================================================================
 * L1: metrics.c - `metrics`: per-worker counters in memory shared by every
 * process of the server, summed by srv_metrics_serve() in the Prometheus
 * text format.  The master maps it before forking (srv__metrics_create);
 * each worker counts into its own slot only (srv__metrics_attach), with
 * plain stores: a slot has one writer, and the reader (whichever worker
 * answers a scrape) loads each 8-byte field atomically.  A replacement
 * worker takes over its predecessor's slot, counters and all.
 */

/* Latency bucket bounds, in microseconds (the last bucket is +Inf), and in
 * ticks (set by srv__metrics_create). */
#define SRV__METRICS_BOUNDS 17
extern const uint64_t srv__metrics_bounds_us[SRV__METRICS_BOUNDS];
extern uint64_t srv__metrics_bounds_ticks[SRV__METRICS_BOUNDS];
/* Where a status's row starts in COUNTS (row status / 100, 32 wide): the
 * row's latencies summed, then its buckets. */
#define SRV__METRICS_ROW(status) ((unsigned)(status) / 100u * 32u)
#define SRV__METRICS_SUM 0
#define SRV__METRICS_BUCKET(b) (1u + (b))

/* One worker's counters, on cache lines of its own, and read-only copies
 * of the tables that index them (next to them: no other line is touched).
 * Counting a request is straight-line code whatever it was: its row by a
 * table (the status's / 100: rows 1..5 are 1xx..5xx, which is all
 * srv_response_set_status allows; the others are never rendered), its
 * bucket by the highest bit K set in its latency T - the bounds below 2^K
 * (LO[K]), plus one if T is past the bound between 2^K and 2^(K+1) (MID[K];
 * there is at most one, each bound being at least twice the one before) -
 * then two increments.  So counting costs the same, however long the
 * request took. */
struct srv__metrics_slot {
    /* [row * 32]: the latencies of the row's requests summed, in ticks;
     * [row * 32 + 1 + bucket]: its requests whose latency is at most the
     * bucket's bound and above the one before (buckets
     * 0..SRV__METRICS_BOUNDS, the last +Inf; cumulated when rendered). */
    uint64_t counts[8 * 32];
    uint64_t bytes_in;        /* request bytes read (heads and bodies as sent) */
    uint64_t connections;     /* open now (between the two byte counters, which
                                 GCC would otherwise add as one vector) */
    uint64_t bytes_out;       /* response bytes queued (heads, bodies, events) */
    /* Set by srv__metrics_attach, read-only after. */
    bool tsc;                 /* ticks are the time-stamp counter (srv__ticks_tsc) */
    uint8_t lo[64];
    uint64_t mid[64];
    uint8_t row[1024];        /* status & 1023 -> SRV__METRICS_ROW(status) */
} __attribute__((aligned(64)));

/* The time now, in ticks, for counting into M: srv__ticks() with the test
 * it needs read from the slot. */
static inline uint64_t srv__metrics_now(const struct srv__metrics_slot *m)
{
#if defined(__x86_64__)
    if (SRV__LIKELY(m->tsc))
        return __builtin_ia32_rdtsc();
#endif
    return srv__ticks();
}

/* Maps the shared counters for WORKERS slots (>= 1), zeroed: in the master
 * before the first fork, or in a single process.  0 or -errno. */
int srv__metrics_create(int workers);
/* This process is worker ID: its slot, whose connection gauge starts again
 * at 0 (a dead predecessor's connections are gone).  NULL when there are no
 * metrics. */
struct srv__metrics_slot *srv__metrics_attach(int id);
/* The master: a worker was started again after dying. */
void srv__metrics_restarted(void);
/* Unmaps (the master at exit; tests). */
void srv__metrics_destroy(void);

/* microseconds in ticks, for tests. */
uint64_t srv__metrics_ticks(uint64_t us);
/* Tests: ON makes srv__metrics_create count in nanoseconds of
 * CLOCK_MONOTONIC, as where the time-stamp counter cannot be used. */
void srv__metrics_use_clock(bool on);

/* A response was queued: one request of STATUS that took TICKS, IN bytes
 * read for it and OUT bytes of response.  Plain increments: the slot is
 * this worker's alone. */
static inline void srv__metrics_count(struct srv__metrics_slot *m, int status, uint64_t ticks,
                                      size_t in, size_t out)
{
    size_t k = 63u - (unsigned)__builtin_clzll(ticks | 1);
    size_t row = m->row[(unsigned)status & 1023u];
    m->counts[row + SRV__METRICS_BUCKET((size_t)m->lo[k] + (ticks > m->mid[k]))]++;
    m->counts[row + SRV__METRICS_SUM] += ticks;
    m->bytes_in += in;
    m->bytes_out += out;
}

/* The text of every counter, summed over the slots, into RES (for tests:
 * srv_metrics_serve without a request).  Returns 0, or -ENODEV without
 * metrics. */
int srv__metrics_render(struct srv_response *res);

/* ===========================================================================
 * L1: forwarded.c - trust_proxy: addresses, ranges, and what Forwarded,
 * X-Forwarded-For and X-Forwarded-Proto say about the client (pure: never
 * allocates, never logs; fuzzed).
 */

/* Parses S[0..LEN), exactly, as an IPv4 address (dotted decimal, no
 * leading zeros) or an IPv6 address (RFC 4291 text: "::" once, an IPv4
 * tail, no zone) into OUT (family AF_INET or AF_INET6; its text is made
 * later by srv__peer_text).  False when it is neither; OUT is then
 * unspecified. */
bool srv__ip_parse(const char *s, size_t len, struct srv__peer *out);

/* Whether P (AF_INET or AF_INET6) lies in one of LIST[0..N); an
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d) is also its IPv4 address. */
bool srv__ip_trusted(const struct srv_cidr *list, unsigned n, const struct srv__peer *p);

/* Reads the forwarding headers among H[0..N) of a request whose peer is
 * trusted, with TRUST[0..NTRUST) the trusted ranges, into OUT (always
 * filled in).  The rules (README, "Behind a load balancer"):
 *   - Forwarded (RFC 7239), when present, is the only source of the
 *     address: its lines as one list, which must parse as a whole (else it
 *     is ignored); from the right, elements whose for= is a trusted
 *     address are skipped; the first other one (the leftmost when all are
 *     trusted) is the client's hop: its for= when it is an address (an
 *     `unknown`, obfuscated or missing for= names none), its proto= the
 *     scheme;
 *   - otherwise X-Forwarded-For, read from the right in the same way, each
 *     item an address (IPv6 possibly in brackets, either with a port); an
 *     item that is not one, where the walk reaches it, makes the header
 *     ignored;
 *   - the scheme, unless the chosen Forwarded element has proto=:
 *     X-Forwarded-Proto's entry at the client's hop counted from the right
 *     (its leftmost when it has fewer); "https" in any case is https,
 *     anything else http. */
void srv__forwarded_parse(const struct srv__header *h, uint32_t n, const struct srv_cidr *trust,
                          unsigned ntrust, struct srv__forwarded *out);

/* ===========================================================================
 * L1: proxy_protocol.c - the PROXY protocol header, versions 1 and 2
 * (HAProxy's proxy-protocol.txt).  Pure: never allocates, never logs;
 * fuzzed.
 */

/* The longest header accepted: a v1 line is at most 107 bytes by the
 * specification; a v2 header's length field could say 65535 more, but
 * nothing real sends more than a few hundred bytes of TLVs, and the bytes
 * wait in the connection's input buffer, so past 4 KiB it is refused. */
#define SRV__PROXY_V1_MAX 107
#define SRV__PROXY_V2_MAX 4096
#define SRV__PROXY_INCOMPLETE 0

struct srv__proxy_header {
    uint8_t version;         /* 1 or 2 */
    bool local;              /* v2 LOCAL, or v1 UNKNOWN: the connection's own peer stands */
    struct srv__peer source; /* the client (family 0 when LOCAL, UNKNOWN or AF_UNSPEC/AF_UNIX) */
    uint16_t source_port;
};

/* Parses the PROXY header at the start of BUF[0..LEN).  Returns its
 * length (> 0) when it is complete and valid, SRV__PROXY_INCOMPLETE when
 * the bytes so far are a valid beginning of one, or -1 when they can
 * never be (no signature, a malformed v1 line, a bad v2 version or
 * command, an address block too short for its family, a header past
 * SRV__PROXY_V2_MAX).  H is filled in only on success. */
int srv__proxy_parse(const char *buf, size_t len, struct srv__proxy_header *h);

/* ===========================================================================
 * L1: WebSocket - the protocol of RFC 6455 and permessage-deflate (RFC
 * 7692), with no sockets in it: ws.c decides the handshake, decodes client
 * frames and encodes server frames; ws_deflate.c compresses and inflates
 * messages (zlib).  conn.c owns the connection and calls these.
 *
 * How conn.c uses it:
 *   1. A request reaches a WebSocket route: srv__ws_handshake(&req->head,
 *      &opts, &hs), OPTS made from the route (`protocols "a" "b"` in its
 *      order; deflate on or off).  hs.status 101: send "HTTP/1.1 101
 *      Switching Protocols\r\n", any Date/Server lines, hs.headers, "\r\n"
 *      - no Content-Length, Transfer-Encoding or Connection line of its
 *      own (RFC 9110 8.6: none in a 1xx).  400/405/426: an ordinary error
 *      response with hs.headers among its header lines.
 *   2. After a 101: pmd = hs.deflate ? srv__ws_deflate_new(&hs.pmd, &opts)
 *      : NULL; srv__ws_decoder_init(&dec, &lim, pmd), LIM from `limits {
 *      ws_message ...; ws_frame ...; }` (zeros: 1 MiB, and the message
 *      limit).  Bytes the client sent after the request head are already
 *      WebSocket bytes: decode them first.
 *   3. On every read, the bytes in the buffer from OFF to LEN:
 *          for (;;) {
 *              ssize_t n = srv__ws_decode(&dec, buf + off, len - off, &ev);
 *              if (n < 0) { fail with -n; break; }
 *              off += n;
 *              if (!ev.opcode) break;      // all consumed, nothing complete
 *              handle ev;                  // before the next call
 *          }
 *      All of BUF is consumed by then: the buffer can be reused for the
 *      next read (the decoder keeps what it needs of a cut frame).  TEXT and
 *      BINARY go to the route's `message` block (TEXT is valid UTF-8, not
 *      NUL-terminated); PING is answered with a PONG of the same payload;
 *      PONG is ignored; CLOSE is answered with srv__ws_close_frame(out,
 *      ev.code, NULL, 0) (echoing the code; an empty close frame when
 *      ev.code is 0) unless we sent a close first, then the connection is
 *      closed once that is written (the decoder ignores whatever follows).
 *      An error -CODE (1002, 1007, 1009, 1011): send srv__ws_close_frame(
 *      out, CODE, NULL, 0), stop reading, close once written (RFC 6455
 *      7.1.7).
 *   4. Sending a message: for TEXT/BINARY with PMD, c =
 *      srv__ws_deflate_message(pmd, p, n, &zp, &zn) first (c 1: send zp[0..
 *      zn) with RSV1; 0: send p[0..n) as it is; < 0: fail with 1011); then
 *      srv__ws_frame_header(hdr, opcode, c == 1, len) and the payload.
 *      Control frames (PING, PONG, CLOSE) are never compressed, at most 125
 *      bytes.  Closing from the server: srv__ws_close_frame(out, 1000 or
 *      1001 on shutdown, reason, len), then wait (with a timeout) for the
 *      client's close before closing the socket.
 *   5. conn_close(): srv__ws_decoder_free(&dec), srv__ws_deflate_free(pmd).
 *      A connection gone idle may call srv__ws_decoder_trim(&dec).  At
 *      worker exit: srv__ws_deflate_shutdown().
 *
 * Memory per connection (x86-64, zlib 1.2.13): the decoder is a struct of
 * ~230 bytes and allocates nothing while each message arrives in one frame
 * within one read (it is delivered in place); otherwise its message buffer
 * grows to the largest message seen (at most the message limit), reused,
 * and srv__ws_decoder_trim() gives it back.  permessage-deflate adds a
 * struct srv__ws_deflate (~140 bytes) when negotiated, an inflate state at
 * the first compressed message received (about 7 KiB + 2^client_window_bits:
 * 39 KiB at 15 bits, 8 KiB at 9), and a compressor at the first compressed
 * message sent: with server context takeover its own (2^(w+2) +
 * 2^(mem_level+9) + ~6 KiB: 262 KiB at 15 bits and level 8, 18 KiB at 10
 * bits and level 4), without it (the default) none: the worker shares one
 * compressor per window size among its connections.
 */

enum {
    SRV__WS_CONT = 0x0,
    SRV__WS_TEXT = 0x1,
    SRV__WS_BINARY = 0x2,
    SRV__WS_CLOSE = 0x8,
    SRV__WS_PING = 0x9,
    SRV__WS_PONG = 0xA,
};

/* Close codes (RFC 6455 7.4.1) the runtime sends itself. */
enum {
    SRV__WS_NORMAL = 1000,       /* orderly close */
    SRV__WS_GOING_AWAY = 1001,   /* server shutting down */
    SRV__WS_PROTOCOL = 1002,     /* a frame breaking RFC 6455 */
    SRV__WS_INVALID_DATA = 1007, /* invalid UTF-8 text or close reason, bad deflate data */
    SRV__WS_POLICY = 1008,
    SRV__WS_TOO_BIG = 1009,      /* over a frame or message limit */
    SRV__WS_INTERNAL = 1011,     /* the server failed (zlib out of memory) */
};

#define SRV__WS_HEADER_MAX 10      /* bytes in a server frame's header */
#define SRV__WS_CONTROL_MAX 125    /* payload of a control frame */
#define SRV__WS_CLOSE_FRAME_MAX (2 + SRV__WS_CONTROL_MAX)
#define SRV__WS_PROTOCOL_NAME_MAX 128 /* bytes in one of the server's subprotocol names */

/* Whether CODE may be sent in a close frame by an endpoint (RFC 6455
 * 7.4.1-2 and the IANA registry): 1000-1003, 1007-1014, 3000-4999. */
bool srv__ws_close_code_valid(unsigned code);

/* UTF-8, checked a chunk at a time: *STATE starts at 0 and carries an
 * unfinished sequence from one chunk to the next.  Returns false when
 * P[0..N) cannot continue valid UTF-8 (an overlong form, a surrogate,
 * above U+10FFFF, a stray or missing continuation byte); *STATE is then
 * unspecified.  The text ends valid when *STATE is 0 at its end. */
bool srv__utf8_check(uint32_t *state, const char *p, size_t n);

/* ---- Handshake (ws.c) ----------------------------------------------------- */

/* What a WebSocket route accepts.  Zero is the default everywhere. */
struct srv__ws_options {
    const char *const *protocols; /* the server's subprotocols, most wanted first */
    unsigned nprotocols;          /* each a token of at most SRV__WS_PROTOCOL_NAME_MAX bytes */
    bool deflate;                 /* accept permessage-deflate offers */
    /* permessage-deflate, when accepted: */
    bool server_takeover;         /* keep the compressor's context between messages
                                     (better ratio, a compressor per connection);
                                     false: server_no_context_takeover, a shared one */
    bool client_no_takeover;      /* ask the client not to keep its context */
    uint8_t server_window_bits;   /* 9..15 [15]: the compressor's window */
    uint8_t client_window_bits;   /* 9..15 [15]: asked of clients that allow it (the
                                     inflate window: 2^N bytes per connection).
                                     Below 15, a client that breaks the limit
                                     may have a message accepted or refused
                                     (1007) depending on how reads cut it */
    uint8_t mem_level;            /* 1..9 [8]: zlib memLevel of an own compressor */
    uint32_t compress_min;        /* [64] messages shorter than this go uncompressed */
};

/* The permessage-deflate parameters agreed (RFC 7692 7.1). */
struct srv__ws_pmd {
    bool server_no_takeover;  /* server_no_context_takeover: reset ours per message */
    bool client_no_takeover;  /* client_no_context_takeover: the client resets its */
    uint8_t server_bits;      /* window of our compressor, 8..15 (8: never compress) */
    uint8_t client_bits;      /* the window we inflate with (the client's at most): 8..15 */
};

#define SRV__WS_HEADERS_MAX 512
struct srv__ws_handshake {
    int status;               /* 101, or the error to answer: 400, 405, 426 */
    const char *protocol;     /* 101: the subprotocol chosen (one of OPTS's), or NULL */
    bool deflate;             /* 101: permessage-deflate accepted, with PMD */
    struct srv__ws_pmd pmd;
    /* Header lines for the response, each ending in CRLF, not
     * NUL-terminated:
     *   101: Upgrade, Connection, Sec-WebSocket-Accept, and
     *        Sec-WebSocket-Protocol / Sec-WebSocket-Extensions when agreed;
     *   426: "Upgrade: websocket" and "Sec-WebSocket-Version: 13" (RFC 9110
     *        7.8 wants "upgrade" in the response's Connection field too:
     *        "Connection: upgrade" or "Connection: upgrade, close");
     *   405: "Allow: GET"; 400: none. */
    char headers[SRV__WS_HEADERS_MAX];
    size_t headers_len;
};

/* Decides what to answer to the request H on a WebSocket route (RFC 6455
 * 4.2), given OPTS; fills OUT and returns OUT->status.  Never allocates.
 *   405  the method is not GET;
 *   426  not an upgrade to WebSocket version 13: HTTP/1.0, no "websocket"
 *        token in Upgrade or no "upgrade" token in Connection (tokens in
 *        comma lists, any case, over any number of lines), a
 *        Sec-WebSocket-Version other than exactly one line "13";
 *   400  Sec-WebSocket-Key missing, repeated, or not the base64 encoding
 *        (canonical, padded) of 16 bytes; a Sec-WebSocket-Protocol that is
 *        not a list of tokens;
 *   101  otherwise.  The subprotocol is the first of OPTS->protocols that
 *        the client offered (none offered or none in common: no protocol,
 *        as RFC 6455 4.2.2 says); permessage-deflate is the client's first
 *        offer that is well-formed and acceptable (unknown, repeated or
 *        invalid parameters decline an offer, a malformed header declines
 *        them all), when OPTS->deflate. */
int srv__ws_handshake(const struct srv__head *h, const struct srv__ws_options *opts,
                      struct srv__ws_handshake *out);

/* Sec-WebSocket-Accept for KEY[0..LEN) (RFC 6455 4.2.2: base64 of the SHA-1
 * of the key and the GUID): 28 characters written at OUT, no NUL. */
#define SRV__WS_ACCEPT_LEN 28
void srv__ws_accept_key(const char *key, size_t len, char out[SRV__WS_ACCEPT_LEN]);
/* Whether KEY[0..LEN) is a valid Sec-WebSocket-Key: 24 characters of
 * canonical base64 encoding 16 bytes. */
bool srv__ws_key_valid(const char *key, size_t len);

/* ---- Client frames in (ws.c) ---------------------------------------------- */

struct srv__ws_deflate;

struct srv__ws_limits {
    uint64_t message;  /* [1 MiB] bytes of a message (decompressed): 1009 past it */
    uint64_t frame;    /* [the message limit] payload bytes of one frame, as sent */
};

/* One complete thing the client sent. */
struct srv__ws_event {
    unsigned opcode;   /* 0: nothing (more bytes needed); TEXT, BINARY, PING, PONG, CLOSE */
    const char *data;  /* the message (TEXT: valid UTF-8), the ping/pong
                          payload, or the close reason (valid UTF-8) */
    size_t len;
    uint16_t code;     /* CLOSE: its status code, 0 when the frame had none */
};

/* The decoder of one connection's client-to-server byte stream: a state
 * machine fed with the bytes as they arrive, cut anywhere.  It owns the
 * message buffer (malloc'd, grown to fit the largest message that did not
 * arrive whole in one read, never past the limit, reused) and the small
 * buffers for a header and a control payload cut by a read; the caller
 * owns the bytes it passes in.  Fields are private to ws.c. */
struct srv__ws_decoder {
    uint64_t frame_max, message_max;
    struct srv__ws_deflate *pmd;  /* NULL: no extension, RSV1 is an error */
    uint64_t remaining;           /* payload bytes of the current frame still to come */
    uint64_t wire;                /* payload bytes of the current message, as sent */
    char *msg;                    /* the message being reassembled */
    size_t msg_len, msg_cap;
    uint32_t utf8;                /* UTF-8 state across the text's chunks */
    uint32_t ctl_utf8;            /* the same for a close frame's reason */
    int error;                    /* once failed: the -CODE every call returns */
    uint8_t state;                /* header, payload, closed, failed */
    uint8_t hlen, hneed;          /* header bytes gathered / needed */
    uint8_t op;                   /* the current frame's opcode */
    uint8_t msg_op;               /* TEXT or BINARY while a message is open, else 0 */
    bool fin, compressed;         /* the current frame's FIN; the message's RSV1 */
    uint8_t mask_off;             /* bytes of the current payload unmasked so far, mod 4 */
    uint8_t ctl_len;
    unsigned char mask[4];
    unsigned char hdr[14];
    char ctl[SRV__WS_CONTROL_MAX];
};

/* Sets up D for a connection whose handshake has just completed.  LIM's
 * zeros take the defaults; PMD is the connection's permessage-deflate
 * state (srv__ws_deflate_new) or NULL.  Allocates nothing. */
void srv__ws_decoder_init(struct srv__ws_decoder *d, const struct srv__ws_limits *lim,
                          struct srv__ws_deflate *pmd);

/* Decodes the client's bytes at BUF[0..LEN).  Returns the number of bytes
 * consumed (>= 0), with EV->opcode 0 when all LEN were consumed and no
 * event is complete, or the opcode of the event that completed with the
 * byte before the returned count; the caller handles the event and calls
 * again with the rest.  Returns -1002 (a protocol error), -1007 (invalid
 * UTF-8, invalid compressed data), -1009 (over a limit) or -1011 (zlib out
 * of memory) with the connection failed: every later call returns the
 * same.  Each error is reported by the call that is given the byte that
 * decides it: a header's fields at their last byte (the bits and opcode at
 * byte 2, a length at its last byte, before the mask arrives), a size over
 * a limit at the header that announces it (a compressed message's
 * decompressed size at the byte whose output passes it), an invalid UTF-8
 * byte at that byte (in a compressed message: as soon as it comes out of
 * the inflater), a text ending mid-character at its last byte, a close
 * code at its second byte.  So BUF cut anywhere gives the same events and
 * the same error as BUF whole.
 *
 * EV->data points into BUF (a whole unfragmented uncompressed message, or
 * a control frame, within these LEN bytes: unmasked in place) or into D's
 * own buffers; either way it is valid until the next call on D or until
 * the caller changes BUF, whichever comes first.  BUF is written: payloads
 * are unmasked in place.  After a CLOSE event every byte is consumed and
 * ignored (RFC 6455 5.5.1: nothing follows a close). */
ssize_t srv__ws_decode(struct srv__ws_decoder *d, char *buf, size_t len,
                       struct srv__ws_event *ev);

/* Whether a message is partly received (a fragmented or cut one). */
bool srv__ws_decoder_busy(const struct srv__ws_decoder *d);
/* Frees the message buffer when no message is being received (a
 * connection gone quiet after a large message); the next message that
 * needs one allocates it again. */
void srv__ws_decoder_trim(struct srv__ws_decoder *d);
/* Frees what D owns (not its PMD). */
void srv__ws_decoder_free(struct srv__ws_decoder *d);

/* ---- Server frames out (ws.c) --------------------------------------------- */

/* Writes the header of a server frame (FIN set, unmasked) of OPCODE with a
 * payload of LEN bytes at OUT (SRV__WS_HEADER_MAX bytes of room), in the
 * shortest of the three length forms; RSV1 when COMPRESSED.  Returns its
 * length: 2, 4 or 10. */
size_t srv__ws_frame_header(char *out, unsigned opcode, bool compressed, uint64_t len);
/* A whole close frame for CODE (0: an empty close frame) and the reason
 * REASON[0..LEN), cut at a UTF-8 character boundary to the 123 bytes that
 * fit, at OUT (SRV__WS_CLOSE_FRAME_MAX bytes of room).  Returns its
 * length. */
size_t srv__ws_close_frame(char *out, unsigned code, const char *reason, size_t len);

/* ---- permessage-deflate (ws_deflate.c) ------------------------------------ */

/* One connection's compression state: the agreed parameters, then zlib's
 * inflate state (made at the first compressed message received) and, with
 * server context takeover, its own compressor (made at the first message
 * compressed).  Both are kept until srv__ws_deflate_free(). */
struct srv__ws_deflate *srv__ws_deflate_new(const struct srv__ws_pmd *pmd,
                                            const struct srv__ws_options *opts);
void srv__ws_deflate_free(struct srv__ws_deflate *z);

/* Compresses the message P[0..LEN) for sending.  Returns the payload to
 * send in a frame with RSV1 set, in *OUT[0..*OUT_LEN) (memory owned by Z or
 * by the worker's shared compressor: valid until the next call for any
 * connection), or 0 when the message should go as it is, uncompressed
 * (shorter than compress_min, or, without context takeover, not made
 * smaller; always when the client allows no window zlib can make).
 * Returns 1 when compressed, -1011 when zlib failed (out of memory). */
int srv__ws_deflate_message(struct srv__ws_deflate *z, const char *p, size_t len,
                            const char **out, size_t *out_len);

/* Inflate, for the decoder: decompresses IN[0..N), the next bytes of a
 * compressed message, appending to D's message buffer (grown as needed,
 * never past d->message_max + 1 bytes); END: these are the message's last
 * bytes (the 00 00 ff ff tail is added).  Returns 0, -1009 when the output
 * passes the message limit (inflating stops there), -1007 for invalid data,
 * -1011 when zlib is out of memory.  The output is not checked as UTF-8. */
int srv__ws_inflate(struct srv__ws_decoder *d, const char *in, size_t n, bool end);

/* Frees the worker's shared compressors (worker exit; tests). */
void srv__ws_deflate_shutdown(void);

/* ===========================================================================
 * L2: static files.  static.c serves a mount (srv_static_serve) and opens
 * the mounts' directories at start-up; filecache.c keeps each worker's open
 * files; static_headers.c parses the request headers they depend on; mime.c
 * names their types; beneath.c is the Linux-specific safe open.
 */

/* beneath.c - opens PATH (relative; the caller has rejected empty, "." and
 * ".." segments) under DIRFD without resolving outside it: openat2 with
 * RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS, or where the kernel lacks it a
 * walk with O_NOFOLLOW that refuses every symlink.  FLAGS as for openat.
 * Returns the descriptor or -errno (EXDEV or ELOOP for an escape). */
int srv__open_beneath(int dirfd, const char *path, int flags);
/* Decides once which of the two is used, with a probe on DIRFD: 1 for
 * openat2, 0 for the walk. */
int srv__beneath_probe(int dirfd);
/* Tests: WALK forces the walk; false makes the next call probe again. */
void srv__beneath_force_walk(bool walk);

/* mime.c - the Content-Type for the extension of PATH[0..LEN) (its last
 * segment), case-insensitive; "application/octet-stream" when unknown.
 * Static strings. */
const char *srv__mime_type(const char *path, size_t len);
bool srv__mime_table_sorted(void); /* tests: the table is ready for bsearch */

/* static_headers.c - pure parsers of the headers a file response depends on
 * (RFC 9110).  Never allocate, never log; fuzzed. */

/* Content codings a file may be stored in beside itself (FILE.br, ...). */
enum { SRV__CODING_IDENTITY, SRV__CODING_BR, SRV__CODING_ZSTD, SRV__CODING_GZIP, SRV__CODINGS };

/* An HTTP-date in any of its three forms (IMF-fixdate, RFC 850, asctime)
 * to seconds since the epoch in *OUT; false when S[0..LEN) is not one.  NOW
 * (seconds) resolves RFC 850's two-digit years. */
bool srv__http_date_parse(const char *s, size_t len, int64_t now, int64_t *out);
/* Whether the If-Match / If-None-Match value LIST[0..LEN) ("*" or a list of
 * entity-tags) matches ETAG[0..ELEN) (quotes included, strong), by strong
 * comparison if STRONG else weak; a malformed list matches nothing. */
bool srv__etag_match(const char *list, size_t len, const char *etag, size_t elen, bool strong);
/* Whether the If-Range value VAL[0..LEN) lets a Range apply: an entity-tag
 * equal to ETAG by strong comparison, or a date equal to MTIME when MTIME is
 * a strong validator (older than NOW by a second at least). */
bool srv__if_range_ok(const char *val, size_t len, const char *etag, size_t elen,
                      int64_t mtime, int64_t now);

/* Range: at most this many range-specs; more and the header is ignored. */
#define SRV__RANGE_SPECS_MAX 64
struct srv__range {
    uint64_t first, last; /* inclusive byte positions */
};
/* Parses the Range value S[0..LEN) for a representation of SIZE bytes into
 * OUT (SRV__RANGE_SPECS_MAX slots).  Returns the number of ranges to send
 * (in the order asked, or sorted and merged when some overlap or lie within
 * 80 bytes of each other), 0 when the field must be ignored (not "bytes=",
 * malformed, more than SRV__RANGE_SPECS_MAX specs, SIZE 0), or -1 when no
 * range is satisfiable (416). */
int srv__range_parse(const char *s, size_t len, uint64_t size, struct srv__range *out);
/* The coding to send, given the Accept-Encoding value S[0..LEN) (S NULL: no
 * such header) and the codings AVAILABLE (bits 1u << SRV__CODING_*;
 * identity always is): the acceptable one with the highest q-value, ties
 * going to br, zstd, gzip, then identity (which, unless named, is the last
 * resort).  -1 when nothing available is acceptable (identity excluded). */
int srv__accept_encoding(const char *s, size_t len, unsigned available);

/* filecache.c - the per-worker open-file cache. */

/* Files up to this size are read into memory when cached (and copied into
 * the output buffer: head and body in one send); larger ones are sent from
 * their descriptor with sendfile.  Measured on loopback (README, "Static
 * files"): copying costs the server less at any size, but from 8 KiB up the
 * receiving side pays more for copied bytes than for sendfile'd pages; at
 * 4 KiB the two cost the client the same. */
#ifndef SRV__FILE_INLINE_MAX
#define SRV__FILE_INLINE_MAX (4u * 1024)
#endif
/* The longest path under a mount that is served (longer: 404); a key
 * may have "/index.html" on top. */
#define SRV__STATIC_KEY_MAX 2048

/* One variant of a cached file, counted: the cache holds a reference, each
 * response in flight that sends from it another. */
struct srv__file {
    unsigned refs;
    int fd;                 /* -1 when DATA holds the file */
    const char *data;       /* the whole file, or NULL */
    uint64_t size;          /* bytes to send */
    int64_t mtime;          /* seconds: Last-Modified */
    const char *hdr;        /* the 200 header lines; the first HDR_304_LEN bytes are a 304's */
    uint16_t hdr_len, hdr_304_len;
    const char *etag;       /* within HDR, quotes included */
    uint8_t etag_len;
    const char *type;       /* Content-Type value, within HDR */
    uint8_t type_len;
    /* What the file was made from, compared by the freshness check. */
    dev_t dev;
    ino_t ino;
    off_t stat_size;
    struct timespec mtim, ctim;
};
void srv__file_unref(struct srv__file *f);

enum { SRV__CACHED_FILE, SRV__CACHED_DIR, SRV__CACHED_ERROR };
struct srv__cached {
    uint8_t kind;    /* SRV__CACHED_* */
    uint8_t codings; /* FILE: bit 1u << SRV__CODING_* for each sibling that exists */
    uint16_t status; /* ERROR: 403, 404, or 503 (out of descriptors, not cached) */
    struct srv__file *file[SRV__CODINGS]; /* FILE: [IDENTITY], and the siblings */
};
/* The entry for KEY[0..LEN) (normalised: no empty, "." or ".." segments,
 * no leading or trailing '/'; at most SRV__STATIC_KEY_MAX bytes plus
 * "/index.html", longer is a 404) under mount MOUNT, whose directory is
 * DIRFD; never NULL.  Valid until the next call. */
const struct srv__cached *srv__filecache_get(unsigned mount, int dirfd, const char *key,
                                             size_t len);
/* Drops every entry (responses in flight keep their files). */
void srv__filecache_clear(void);
struct srv__filecache_stats {
    unsigned entries, negative, fds;
    size_t bytes;
    unsigned entries_max, negative_max, fds_max;
    size_t bytes_max;
};
void srv__filecache_stats(struct srv__filecache_stats *st);
/* Tests: makes every entry MS older, as if time had passed. */
void srv__filecache_age(uint64_t ms);

/* static.c - opens every mount's directory (O_PATH) for the whole process,
 * before setup and before workers fork; a relative directory is relative to
 * the working directory now.  On failure prints "PROG: static "/prefix/"
 * (app.srv:7:5): cannot open directory "dir": REASON" and returns -errno. */
int srv__static_open(const struct srv_app *app);
/* Closes them (tests). */
void srv__static_close(void);

/* ===========================================================================
 * L2: sse.c - Server-Sent Events streams: encoding, ticks, subscriptions.
 * The stream's connection is conn.c's (srv__stream_*).
 */
struct srv__sse_sub;
struct srv_sse {
    struct srv__conn *conn;     /* its connection (conn.c) */
    const struct srv_sse_route *route;
    void *data;                 /* srv_sse_set_data */
    char *queue;                /* bytes the client has not taken yet */
    size_t qoff, qlen, qcap;    /* queue[qoff..qlen) waits */
    size_t limit;               /* limits.sse_queue */
    bool corked;                /* during `open`: everything waits in the queue */
    bool closing;               /* ending: nothing more may be sent */
    bool close_ran;             /* its `close` block has run */
    bool sent;                  /* something was sent since its last tick */
    bool ticking;               /* in its route's tick list */
    int reason;                 /* enum srv_sse_reason, once closing */
    struct srv_sse *tick_prev, *tick_next;
    struct srv_sse *end_next;   /* in conn.c's list of streams to end */
    struct srv__sse_sub *subs;
};
struct srv_sse *srv__sse_new(const struct srv_sse_route *route, size_t limit);
/* Joins its route's ticks (once `open` has run). */
void srv__sse_opened(struct srv_sse *s);
/* Leaves the ticks and drops every subscription (the stream is ending). */
void srv__sse_forget(struct srv_sse *s);
/* conn.c: sends N bytes of S (queued when the client is behind: past
 * s->limit the stream ends, too slow).  0, or -EPIPE once it is ending. */
int srv__stream_write(struct srv_sse *s, const char *p, size_t n);
/* conn.c: ends S for REASON from the loop, after the current callback: its
 * `close` block runs, what is queued is sent when the reason allows, then
 * the connection closes. */
void srv__stream_end(struct srv_sse *s, int reason);

/* ===========================================================================
 * L2: websocket.c - WebSocket connections (the srv_ws_* API): the route's
 * handler and its handshake, frames out (compressed when agreed),
 * subscriptions.  conn.c owns the connection: it reads and decodes, runs
 * the blocks, sends (srv__ws_write), pings and closes.
 */
struct srv__ws_sub;
struct srv_ws {
    struct srv__conn *conn;     /* its connection (conn.c) */
    const struct srv_ws_route *route;
    void *data;                 /* srv_ws_set_data */
    const char *protocol;       /* agreed subprotocol (one of the route's), or NULL */
    char *queue;                /* bytes the client has not taken yet */
    size_t qoff, qlen, qcap;    /* queue[qoff..qlen) waits */
    size_t limit;               /* limits.ws_queue */
    struct srv__ws_decoder dec;
    struct srv__ws_deflate *pmd; /* permessage-deflate, or NULL */
    struct srv__ws_sub *subs;
    struct srv_ws *end_next;    /* in conn.c's list of connections to end */
    bool corked;                /* everything waits in the queue (open, a read's batch) */
    bool full;                  /* the socket took less than it was given: wait for EPOLLOUT */
    bool close_sent;            /* our close frame is queued: no frame may follow */
    bool close_received;        /* the client's close frame arrived */
    bool ending;                /* in the end list, or its `close` has run */
    bool close_ran;             /* its `close` block has run */
    bool heard;                 /* a byte arrived since the last ping tick */
    bool dead;                  /* the socket failed or the peer is gone: no more I/O */
    bool ping_out;              /* a ping went out and nothing was heard since */
    uint16_t code;              /* for `close`: the code of the close that ended it */
    uint8_t reason_len;
    char reason[SRV__WS_CONTROL_MAX - 1]; /* for `close`, NUL-terminated */
};
/* The route's handshake, kept in the request's arena from the handler
 * (srv_ws_start) to the moment conn.c switches protocols. */
struct srv__ws_upgrade {
    const struct srv_ws_route *route;
    struct srv__ws_handshake hs;
    struct srv__ws_options opts;
};
/* websocket.c: a connection for an upgrade that was sent; frees with
 * srv__ws_free. */
struct srv_ws *srv__ws_new(const struct srv__ws_upgrade *up, const struct srv_limits *lim);
void srv__ws_free(struct srv_ws *ws);
/* Drops every subscription (the connection is ending). */
void srv__ws_forget(struct srv_ws *ws);
/* Queues or sends the control frame OPCODE with PAYLOAD[0..LEN) (<= 125). */
int srv__ws_control(struct srv_ws *ws, unsigned opcode, const void *payload, size_t len);
/* Starts closing WS from our side with CODE and REASON: our close frame
 * goes out, `close` runs from the loop with them; then conn.c waits for
 * the client's close frame (briefly) and closes the socket.  Nothing when
 * it is already closing. */
void srv__ws_begin_close(struct srv_ws *ws, unsigned code, const char *reason, size_t len);
/* conn.c: writes N bytes of frames for WS: queued while corked or behind,
 * sent at once otherwise; past ws->limit the connection is closed with
 * 1008 (the client does not take what it is sent).  0 or -EPIPE. */
int srv__ws_write(struct srv_ws *ws, const struct iovec *iov, int iovcnt);
/* conn.c: WS is ending with CODE and REASON (already set in WS): `close`
 * runs from the loop, after the current callback. */
void srv__ws_end(struct srv_ws *ws);

/* ===========================================================================
 * L3: conn.c - connections and the per-process serving state.
 */
/* One listening socket a server accepts from. */
struct srv__listener {
    struct srv__io io;         /* fd -1 once closed */
    struct srv__server *srv;
    bool shared;               /* other processes accept from it too (EPOLLEXCLUSIVE) */
};

struct srv__server {
    const struct srv_app *app;
    struct srv_limits limits;  /* resolved */
    struct srv__loop loop;
    struct srv__listener *listeners;
    unsigned nlisteners;
    bool draining;             /* graceful shutdown under way */
    struct srv__access_log *log; /* NULL: no access log */
    void *works;               /* conn.c's pool of idle works */
    unsigned nconns;           /* open connections */
    struct srv__metrics_slot *metrics; /* this worker's counters; NULL: no metrics */
    void *priv;                /* conn.c's pools and timer lists */
};

/* Sets up the loop and starts accepting on LISTEN_FD (non-blocking, already
 * listening; -1: none yet).  Returns 0 or -errno. */
int srv__server_init(struct srv__server *s, const struct srv_app *app, int listen_fd);
/* Accepts from one more listening socket FD too; SHARED: other processes
 * accept from it at the same time (a socket systemd passed to every worker),
 * so each connection wakes only one of them.  Returns 0 or -errno. */
int srv__server_listen(struct srv__server *s, int fd, bool shared);

/* One loop iteration: waits for events (at most MAX_WAIT_MS, -1 = until the
 * next timer), handles them and the timers that expired. */
int srv__server_run_once(struct srv__server *s, int max_wait_ms);

/* Starts a graceful drain: stop accepting (the listeners are removed from
 * the loop and closed, after accepting what is already queued), let
 * in-flight requests finish, each then closed, answer what idle keep-alive
 * connections send within a short grace (with Connection: close) and close
 * the rest after it.  srv__server_drained() becomes true when no connection
 * is left. */
void srv__server_drain(struct srv__server *s);
bool srv__server_drained(const struct srv__server *s);

/* Closes every connection and the loop at once. */
void srv__server_close(struct srv__server *s);

/* How many times a request head has been parsed and found incomplete, in
 * this process (tests check that a trickling client does not cost a parse
 * per read). */
extern unsigned long srv__incomplete_parses;

/* ===========================================================================
 * L4: listen.c, worker.c, master.c, server.c
 */

/* Opens a non-blocking listening TCP socket on HOST:PORT with SO_REUSEADDR
 * and SO_REUSEPORT.  On failure returns -errno and writes a message such as
 * "bind 127.0.0.1:8080: Address already in use" into ERR. */
int srv__listen_open(const char *host, int port, char *err, size_t errlen);
/* srv__listen_open fails with EADDRINUSE when anything already listens on
 * HOST:PORT, even a SO_REUSEPORT group of the same user (another copy of the
 * same server); srv__listen_join opens another listener in the group the
 * first one started, without that check. */
int srv__listen_join(const char *host, int port, char *err, size_t errlen);
/* The port a socket is bound to (for --port 0). */
int srv__listen_port(int fd);
/* A socket bound to the address LIKE is bound to, in its SO_REUSEPORT
 * group, not listening yet (a new generation adding workers).  Returns the
 * fd or -errno. */
int srv__listen_bind_like(int like);
/* listen() on a socket from srv__listen_bind_like.  Returns 0 or -errno. */
int srv__listen_start(int fd);
/* "http://127.0.0.1:8080", "http://[::1]:8080" or "unix:/run/app.sock"
 * for the socket FD. */
void srv__listen_describe(int fd, char *buf, size_t size);

/* The CPUs this process may use: affinity mask, capped by the cgroup v2
 * cpu.max quota (or v1 cfs quota) rounded up; at least 1. */
int srv__cpu_count(void);
/* The same from files, for tests: PROC_CGROUP in the format of
 * /proc/self/cgroup, CGROUP_ROOT standing for /sys/fs/cgroup, AFFINITY the
 * number of CPUs in the affinity mask. */
int srv__cpu_count_at(const char *proc_cgroup, const char *cgroup_root, int affinity);

/* The signals the master waits for on its signalfd (SIGTERM, SIGINT, SIGQUIT,
 * SIGCHLD, SIGUSR1 and SIGHUP). */
void srv__managed_signals(sigset_t *set);

struct srv__sockets;
/* Runs worker ID of WORKERS (or the single process) until shutdown:
 * worker_setup, serve the sockets of SOCKS it owns (srv__sockets_owns),
 * drain on SIGTERM/SIGINT, exit at once on SIGQUIT (or a second signal in
 * single-process mode); a single process also reloads on SIGHUP.  Returns
 * the exit status. */
int srv__worker_run(const struct srv_app *app, const struct srv_limits *lim,
                    struct srv__sockets *socks, int id, int workers,
                    bool single_process);
/* worker.c: in a forked worker, the pipe to the master on which the worker
 * writes its pid (a pid_t) once worker_setup has run and it is about to accept (the
 * master's crash-loop guard tells "died during start-up" from "died while
 * serving" by it); -1 in a single process. */
extern int srv__worker_ready_fd;
/* "SIGTERM" for the signals the process layer manages, for its log lines. */
const char *srv__signal_name(int sig);

/* bus.c: publish/subscribe between the workers of one server (shared
 * memory rings and an eventfd per worker; see bus.c).  The master creates
 * it for WORKERS (>= 2) before forking; each forked worker attaches as ID;
 * srv__bus_start() then puts it on the worker's loop and makes it the
 * transport of pubsub.c (returns 1, or 0 when this process has no bus,
 * or -errno). */
int srv__bus_create(int workers);
void srv__bus_destroy(void);
void srv__bus_attach(int id);
int srv__bus_start(struct srv__loop *l);
void srv__bus_stop(void);
/* Messages this process could not hand to a worker that was too far behind. */
uint64_t srv__bus_dropped(void);

/* redis.c: the Redis transport (`pubsub redis "HOST" PORT;`): two hiredis
 * connections per worker on its loop, reconnected with backoff.  Start
 * never blocks for long (an address is resolved once, at start) and never
 * fails: a Redis that is down is retried. */
void srv__redis_start(const char *host, int port);
void srv__redis_stop(void);

/* The listening sockets of one generation of the server: opened by
 * server.c, adopted from the previous generation after a reload, or passed
 * by systemd. */
struct srv__sockets {
    int *fds;          /* -1 once closed */
    char **names;      /* LISTEN_FDNAMES (NULL entries when not from systemd) */
    int n;
    /* fds[first_pending..n) were bound by this generation to grow the
     * SO_REUSEPORT group but do not listen yet: the worker that owns one
     * calls srv__listen_start() once its worker_setup is done, so a
     * generation that fails before that never had connections queued on
     * sockets that die with it. */
    int first_pending;
    /* Fewer sockets than workers (systemd passed one): every worker accepts
     * from all of them, each connection waking one (EPOLLEXCLUSIVE). */
    bool shared;
    const char *from;  /* NULL (opened here), "systemd", "the previous generation" */
};
/* Whether worker ID of WORKERS accepts from socket I: socket i belongs to
 * worker i mod WORKERS, so with more sockets than workers (after a reload
 * that lowered the count) every socket still has a worker. */
static inline bool srv__sockets_owns(const struct srv__sockets *s, int i, int id,
                                     int workers)
{
    return s->shared || workers <= 1 || i % workers == id;
}
void srv__sockets_free(struct srv__sockets *s);

/* reload.c: generations (see reload.c for the protocol). */
extern unsigned srv__generation;      /* reloads before this process: 0 at first */
/* At start-up: remembers the binary's path and ARGV for the next generation. */
void srv__reload_init(char **argv);
/* The sockets a previous generation handed over, else those systemd passed
 * (systemd.c), made non-blocking and close-on-exec, with the protocol's
 * variables removed from the environment.  Returns how many (0: none, bind
 * as usual) or -1 after a boot error (not a listening socket, bad list). */
int srv__sockets_inherit(struct srv__sockets *out);
/* This generation serves: tells the previous one (which then drains) and
 * systemd (MAINPID, READY=1). */
void srv__generation_ready(void);
/* Forked workers must not hold the previous generation's pipe. */
void srv__generation_close_ready_fd(void);
/* The previous generation has not finished draining (it is our parent):
 * a reload now would make three generations. */
bool srv__previous_generation_alive(void);

/* A next generation being started (on the serving side). */
struct srv__next {
    pid_t pid;          /* 0: none */
    int ready_fd;       /* the pipe's read end */
    int pidfd;          /* readable when the child exits (-1 if unsupported) */
    uint64_t deadline;  /* srv__clock_ms() by which it must be ready */
    bool reported;      /* its failure was logged */
};
/* Forks and executes the next generation with SOCKS, to be ready within
 * TIMEOUT_MS.  Logs and returns -1 when it cannot even start; 0 with G
 * filled in. */
int srv__next_start(struct srv__next *g, const struct srv__sockets *socks,
                    unsigned timeout_ms);
/* Reads G's pipe when readable: 1 it is ready, 0 nothing yet, -1 it
 * failed (the caller still reaps it and calls srv__next_failed). */
int srv__next_read(struct srv__next *g);
/* Logs, once, that G failed for CAUSE ("exited with status 1"). */
void srv__next_failed(struct srv__next *g, const char *cause);
void srv__next_close(struct srv__next *g);

/* systemd.c: socket activation: the sockets passed for this process
 * (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES), variables removed.  Returns
 * their number, 0 when none, -1 after a boot error. */
int srv__systemd_listen_fds(struct srv__sockets *out);
/* sd_notify(3): sends STATE ("READY=1", ...) to NOTIFY_SOCKET if set. */
int srv__systemd_notify(const char *state);

/* privileges.c: the `user` directive.  srv__privileges_resolve() looks up
 * APP's user and group, first thing at start-up (before anything is bound):
 * unknown names, or a process that is neither root nor already that user,
 * give one boot line and -errno.  srv__privileges_drop() then switches for
 * good, once the listeners, the `static` directories and the access log
 * are open and before `setup` and any fork: hands the access log file to
 * the user, sets the supplementary groups, the gid and the uid, checks that
 * root is out of reach, sets no_new_privs.  Root without `user`: it says so
 * instead, in one line (not in a generation re-executed by a reload,
 * SRV_RELOADS > 0).  0 when there is nothing to do or it worked; -errno
 * after a boot line.  Each does its work once per resolve. */
int srv__privileges_resolve(const struct srv_app *app);
int srv__privileges_drop(void);

/* Forks and supervises WORKERS workers on SOCKS.  Returns the exit status. */
int srv__master_run(const struct srv_app *app, const struct srv_limits *lim,
                    struct srv__sockets *socks, int workers);

#endif /* SRV_INTERNAL_H */
