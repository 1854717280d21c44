/*
 * redis.c - hiredis on the worker's event loop.  Two things live here:
 *
 *   srv_redis_attach(), the adapter that puts any hiredis asynchronous
 *   context on the loop through srv_watch_fd() (what hiredis's adapters
 *   for libevent or libuv do for those loops): handlers can then issue
 *   commands and answer from the reply callbacks;
 *
 *   the Redis transport of publish/subscribe (`pubsub redis "HOST" PORT;`):
 *   each worker has a connection that PUBLISHes and one that SUBSCRIBEs to
 *   the channels this worker has subscribers for (SUBSCRIBE on the first
 *   local subscriber, UNSUBSCRIBE after the last), so every worker of every
 *   server using that Redis shares the channels.  With Redis the master's
 *   bus is not made: Redis reaches the other workers of this server too,
 *   and one transport keeps one ordering rule.
 *
 * What is published carries a 12-byte header, "\0srv" and the publishing
 * worker's random 8-byte origin id, so the publisher skips its own
 * messages when Redis sends them back (its subscribers had them at once).
 * A message without that header (redis-cli PUBLISH) is delivered as it is.
 *
 * Failures never reach the server: a connection that fails or drops takes
 * both down, and both are made again after a backoff (100 ms doubling to
 * 5 s) that a success resets; the channels are subscribed again then.  A
 * connection attempt that has not succeeded within 2 s is abandoned and
 * retried (hiredis 0.14 has no connect timeout of its own).  While the
 * publishing connection is not up, or holds PUB_PENDING_MAX unanswered
 * publishes, a publish reaches only this worker's subscribers: the
 * message is dropped for everyone else, counted, and a log line at most
 * once a second says how many.  Messages published elsewhere while this
 * worker was disconnected are lost to it (Redis keeps no history).
 */
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONNECT_TIMEOUT_MS 2000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define PUB_PENDING_MAX 10000       /* publishes sent, not yet answered */
#define PUB_BYTES_MAX (16u << 20)   /* and their bytes */
#define ORIGIN_LEN 12               /* "\0srv" + 8 random bytes */

/* ---- The adapter --------------------------------------------------------- */

struct attach {
    redisAsyncContext *ac;
    struct srv_watch *watch;
    unsigned events;
    bool busy;   /* on_io is on the stack */
    bool freed;  /* hiredis freed the context meanwhile: on_io frees A */
};

static void on_io(struct srv_watch *w, int fd, unsigned events, void *arg)
{
    SRV__UNUSED(w);
    SRV__UNUSED(fd);
    struct attach *a = arg;
    /* Either call may end in redisAsyncFree() (an error, a reply callback
     * that frees), which runs cleanup(): A must outlive it. */
    a->busy = true;
    if (events & SRV_READABLE)
        redisAsyncHandleRead(a->ac);
    if (!a->freed && (events & SRV_WRITABLE))
        redisAsyncHandleWrite(a->ac);
    a->busy = false;
    if (a->freed)
        free(a);
}

static void set_events(struct attach *a, unsigned events)
{
    if (events == a->events)
        return;
    a->events = events;
    if (a->watch != NULL) {
        int rc = srv_watch_set(a->watch, events);
        if (rc < 0)
            srv_log(SRV_LOG_ERROR, "redis: watch fd %d: %s", a->ac->c.fd, strerror(-rc));
        return;
    }
    a->watch = srv_watch_fd(a->ac->c.fd, events, on_io, a);
    if (a->watch == NULL)
        srv_log(SRV_LOG_ERROR, "redis: watch fd %d: %s", a->ac->c.fd, strerror(errno));
}

static void add_read(void *p)
{
    struct attach *a = p;
    set_events(a, a->events | SRV_READABLE);
}

static void del_read(void *p)
{
    struct attach *a = p;
    set_events(a, a->events & ~SRV_READABLE);
}

static void add_write(void *p)
{
    struct attach *a = p;
    set_events(a, a->events | SRV_WRITABLE);
}

static void del_write(void *p)
{
    struct attach *a = p;
    set_events(a, a->events & ~SRV_WRITABLE);
}

/* hiredis frees the context: the watch goes (before hiredis closes the
 * descriptor, as srv_watch_stop() wants). */
static void cleanup(void *p)
{
    struct attach *a = p;
    srv_watch_stop(a->watch);
    a->watch = NULL;
    a->ac->ev.data = NULL;
    a->freed = true;
    if (!a->busy)
        free(a);
}

int srv_redis_attach(struct redisAsyncContext *ac)
{
    if (ac == NULL || srv__loop_current() == NULL || ac->err)
        return -EINVAL;
    if (ac->ev.data != NULL)
        return -EEXIST;
    struct attach *a = srv__xcalloc(1, sizeof *a);
    a->ac = ac;
    ac->ev.data = a;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    return 0;
}

/* ---- The transport ------------------------------------------------------- */

enum link { LINK_OFF, LINK_DOWN, LINK_CONNECTING, LINK_UP };

/* A channel whose UNSUBSCRIBE is in flight.  hiredis 0.14 drops its
 * callback for a channel when the UNSUBSCRIBE reply arrives, even if a
 * SUBSCRIBE was sent meanwhile; so a channel that gets subscribers again
 * in that window is subscribed again only once the reply is in. */
struct unsub {
    struct unsub *next;
    size_t len;
    char name[];
};

static struct {
    enum link state;
    const char *name;       /* as written in the .srv file */
    char addr[INET6_ADDRSTRLEN];
    int port;
    bool resolved;
    redisAsyncContext *pub, *sub;
    bool pub_up, sub_up;
    struct srv_timer *timer; /* the next attempt, or the connect timeout */
    uint64_t backoff;
    unsigned char origin[ORIGIN_LEN];
    unsigned pending;
    size_t pending_bytes;
    uint64_t dropped, dropped_logged, last_log_ms;
    struct unsub *unsubs;
    bool ever_up;
} rd;

static unsigned char pub_buf[ORIGIN_LEN + SRV__MESSAGE_MAX];

static void connect_now(void);

static void stop_timer(void)
{
    srv_timer_stop(rd.timer);
    rd.timer = NULL;
}

static void on_retry(struct srv_timer *t, void *arg)
{
    SRV__UNUSED(t);
    SRV__UNUSED(arg);
    rd.timer = NULL;
    connect_now();
}

static void forget_unsubs(void)
{
    while (rd.unsubs) {
        struct unsub *u = rd.unsubs;
        rd.unsubs = u->next;
        free(u);
    }
}

/* Frees whichever context is left (hiredis calls back; both pointers are
 * cleared first so the callbacks find nothing to do). */
static void drop_contexts(void)
{
    redisAsyncContext *p = rd.pub, *s = rd.sub;
    rd.pub = rd.sub = NULL;
    rd.pub_up = rd.sub_up = false;
    if (p)
        redisAsyncFree(p);
    if (s)
        redisAsyncFree(s);
    forget_unsubs();
}

/* One of the connections failed: drop both, try again after the backoff. */
static void link_down(const char *what, const char *why)
{
    if (rd.state == LINK_DOWN || rd.state == LINK_OFF)
        return;
    bool was_up = rd.state == LINK_UP;
    rd.state = LINK_DOWN;
    stop_timer();
    drop_contexts();
    if (was_up || !rd.ever_up || rd.backoff >= BACKOFF_MAX_MS)
        srv_log(SRV_LOG_WARN, "pubsub: redis %s:%d: %s%s%s; retrying in %llu ms", rd.name,
                rd.port, what, why ? ": " : "", why ? why : "", (unsigned long long)rd.backoff);
    rd.timer = srv_timer_start(rd.backoff, 0, on_retry, NULL);
    rd.backoff = rd.backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : rd.backoff * 2;
}

static void on_connect_timeout(struct srv_timer *t, void *arg)
{
    SRV__UNUSED(t);
    SRV__UNUSED(arg);
    rd.timer = NULL;
    link_down("connect", "timed out");
}

static void subscribe(const char *channel, size_t len, void *arg);

static void on_sub_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    SRV__UNUSED(priv);
    redisReply *r = reply;
    if (r == NULL || ac != rd.sub || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = r->element[0]->str;
    const redisReply *ch = r->element[1];
    if (strcmp(kind, "message") == 0 && r->element[2]->type == REDIS_REPLY_STRING) {
        const redisReply *m = r->element[2];
        const char *msg = m->str;
        size_t len = m->len;
        if (len >= ORIGIN_LEN && memcmp(msg, "\0srv", 4) == 0) {
            if (memcmp(msg, rd.origin, ORIGIN_LEN) == 0)
                return; /* ours: delivered here when it was published */
            msg += ORIGIN_LEN;
            len -= ORIGIN_LEN;
        }
        if (ch->len >= 1 && ch->len <= SRV__CHANNEL_MAX)
            srv__pubsub_deliver(ch->str, ch->len, msg, len);
    } else if (strcmp(kind, "unsubscribe") == 0) {
        for (struct unsub **p = &rd.unsubs; *p; p = &(*p)->next) {
            struct unsub *u = *p;
            if (u->len == ch->len && memcmp(u->name, ch->str, ch->len) == 0) {
                *p = u->next;
                free(u);
                if (srv__pubsub_count(ch->str, ch->len) > 0)
                    subscribe(ch->str, ch->len, NULL);
                break;
            }
        }
    }
}

static void subscribe(const char *channel, size_t len, void *arg)
{
    SRV__UNUSED(arg);
    redisAsyncCommand(rd.sub, on_sub_reply, NULL, "SUBSCRIBE %b", channel, len);
}

static void maybe_up(void)
{
    if (!rd.pub_up || !rd.sub_up)
        return;
    stop_timer();
    rd.state = LINK_UP;
    rd.backoff = BACKOFF_MIN_MS;
    if (rd.ever_up)
        srv_log(SRV_LOG_INFO, "pubsub: redis %s:%d: connected again", rd.name, rd.port);
    rd.ever_up = true;
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    if (ac != rd.pub && ac != rd.sub)
        return; /* dropped already */
    if (status != REDIS_OK) {
        /* hiredis frees AC after this call. */
        if (ac == rd.pub)
            rd.pub = NULL;
        else
            rd.sub = NULL;
        link_down("connect", ac->errstr);
        return;
    }
    if (ac == rd.pub) {
        rd.pub_up = true;
    } else {
        rd.sub_up = true;
        srv__pubsub_each(subscribe, NULL);
    }
    maybe_up();
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    SRV__UNUSED(status);
    if (ac != rd.pub && ac != rd.sub)
        return; /* we freed it ourselves */
    if (ac == rd.pub)
        rd.pub = NULL;
    else
        rd.sub = NULL;
    link_down("connection lost", ac->errstr[0] ? ac->errstr : NULL);
}

static bool resolve(void)
{
    if (rd.resolved)
        return true;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    int rc = getaddrinfo(rd.name, NULL, &hints, &res);
    if (rc != 0) {
        srv_log(SRV_LOG_WARN, "pubsub: redis host %s: %s", rd.name, gai_strerror(rc));
        return false;
    }
    const void *a = res->ai_family == AF_INET6
                        ? (const void *)&((struct sockaddr_in6 *)(void *)res->ai_addr)->sin6_addr
                        : (const void *)&((struct sockaddr_in *)(void *)res->ai_addr)->sin_addr;
    bool ok = inet_ntop(res->ai_family, a, rd.addr, sizeof rd.addr) != NULL;
    freeaddrinfo(res);
    rd.resolved = ok;
    return ok;
}

static redisAsyncContext *open_context(void)
{
    redisAsyncContext *ac = redisAsyncConnect(rd.addr, rd.port);
    if (ac == NULL)
        return NULL;
    if (ac->err || srv_redis_attach(ac) < 0) {
        srv_log(SRV_LOG_WARN, "pubsub: redis %s:%d: %s", rd.name, rd.port,
                ac->err ? ac->errstr : "cannot watch the connection");
        redisAsyncFree(ac);
        return NULL;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    return ac;
}

static void connect_now(void)
{
    rd.state = LINK_CONNECTING;
    if (!resolve() || (rd.pub = open_context()) == NULL || (rd.sub = open_context()) == NULL) {
        link_down("connect", NULL);
        return;
    }
    rd.timer = srv_timer_start(CONNECT_TIMEOUT_MS, 0, on_connect_timeout, NULL);
}

static void note_drop(void)
{
    rd.dropped++;
    uint64_t now = srv__now_ms();
    if (rd.last_log_ms != 0 && now - rd.last_log_ms < 1000)
        return;
    srv_log(SRV_LOG_WARN,
            "pubsub: redis %s:%d is %s; %llu message(s) reached only this worker since "
            "the last report, %llu in all",
            rd.name, rd.port, rd.state == LINK_UP ? "not keeping up" : "not connected",
            (unsigned long long)(rd.dropped - rd.dropped_logged),
            (unsigned long long)rd.dropped);
    rd.dropped_logged = rd.dropped;
    rd.last_log_ms = now ? now : 1;
}

static void on_published(redisAsyncContext *ac, void *reply, void *priv)
{
    SRV__UNUSED(ac);
    SRV__UNUSED(reply);
    rd.pending--;
    rd.pending_bytes -= (size_t)(uintptr_t)priv;
}

static void redis_publish(const char *channel, size_t chlen, const void *msg, size_t len)
{
    if (!rd.pub_up || rd.pending >= PUB_PENDING_MAX || rd.pending_bytes + len > PUB_BYTES_MAX) {
        note_drop();
        return;
    }
    memcpy(pub_buf, rd.origin, ORIGIN_LEN);
    if (len)
        memcpy(pub_buf + ORIGIN_LEN, msg, len);
    const char *argv[3] = {"PUBLISH", channel, (const char *)pub_buf};
    size_t argl[3] = {7, chlen, ORIGIN_LEN + len};
    if (redisAsyncCommandArgv(rd.pub, on_published, (void *)(uintptr_t)len, 3, argv, argl) !=
        REDIS_OK) {
        note_drop();
        return;
    }
    rd.pending++;
    rd.pending_bytes += len;
}

static void redis_channel_on(const char *channel, size_t len)
{
    if (!rd.sub_up)
        return; /* subscribed with the others once connected */
    for (struct unsub *u = rd.unsubs; u; u = u->next)
        if (u->len == len && memcmp(u->name, channel, len) == 0)
            return; /* subscribed again when its UNSUBSCRIBE reply is in */
    subscribe(channel, len, NULL);
}

static void redis_channel_off(const char *channel, size_t len)
{
    if (!rd.sub_up)
        return;
    if (redisAsyncCommand(rd.sub, NULL, NULL, "UNSUBSCRIBE %b", channel, len) != REDIS_OK)
        return;
    struct unsub *u = srv__xmalloc(sizeof *u + len);
    u->len = len;
    memcpy(u->name, channel, len);
    u->next = rd.unsubs;
    rd.unsubs = u;
}

static const struct srv__pubsub_backend redis_backend = {
    .publish = redis_publish,
    .channel_on = redis_channel_on,
    .channel_off = redis_channel_off,
};

void srv__redis_start(const char *host, int port)
{
    memset(&rd, 0, sizeof rd);
    rd.name = host;
    rd.port = port;
    rd.backoff = BACKOFF_MIN_MS;
    memcpy(rd.origin, "\0srv", 4);
    if (getrandom(rd.origin + 4, ORIGIN_LEN - 4, 0) != ORIGIN_LEN - 4) {
        /* No entropy yet: the pid and the clock still tell workers apart. */
        uint64_t x = ((uint64_t)getpid() << 32) ^ srv__clock_ms();
        memcpy(rd.origin + 4, &x, 8);
    }
    srv__pubsub_set_backend(&redis_backend);
    connect_now();
}

void srv__redis_stop(void)
{
    if (rd.state == LINK_OFF)
        return;
    rd.state = LINK_OFF;
    srv__pubsub_set_backend(NULL);
    stop_timer();
    drop_contexts();
}
