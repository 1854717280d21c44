/*
 * bus.c - publish/subscribe between the workers of one server: what
 * srv_publish() sends to the other workers when there is no Redis.  The
 * master maps the bus before it forks; every worker (and every
 * replacement, which inherits it from the master) publishes into it and
 * drains its own part from its event loop.  The master never touches it.
 *
 * Shape: one single-producer, single-consumer ring of bytes in shared
 * memory for each ordered pair of workers (i publishes to j through ring
 * i->j, which nobody else writes or reads), and one eventfd per worker to
 * wake it.  A publish copies the message into the ring of every other
 * worker and writes that worker's eventfd only when its ring was empty
 * before: a busy receiver, which drains until its rings are empty, costs
 * the publisher no syscall at all.  bench/pubsub.sh compares this with a
 * SOCK_SEQPACKET relay through the master and with SOCK_DGRAM sockets
 * written directly (README, "Publish/subscribe").
 *
 * Nothing here blocks and nothing is allocated per message.  A ring that
 * has no room for a message (its receiver is more than RING bytes behind
 * this publisher) loses that message - the newest - and the publisher
 * counts it and says so in a log line at most once a second.  So each
 * receiver sees each publisher's messages in publish order, with gaps only
 * where this rule dropped some; there is no order between publishers.
 *
 * Crashes: head and tail only move after the bytes they cover are written
 * or read, so a worker killed at any point leaves every ring consistent.
 * Its replacement (same id) takes up its rings where they are: messages
 * published while it was down wait there (up to RING bytes) and reach the
 * subscribers its worker_setup made.  A new receiver drains at start, since
 * the wake-up that announced a non-empty ring may have died with the old
 * one.
 */
#include "internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#define RING_MAX (1u << 20)   /* bytes of one ring with few workers */
#define RING_MIN (1u << 17)   /* the least that holds the largest message */
#define BUS_BUDGET (64u << 20) /* shared memory the rings may take together */
#define DRAIN_BATCH 256       /* messages per wake-up before other events get a turn */
#define REC_HEAD 8            /* u32 message length, u16 channel length, u16 0 */

struct ring {
    _Atomic uint64_t head; /* bytes ever written; only the publisher moves it */
    char pad1[56];
    _Atomic uint64_t tail; /* bytes ever read; only the receiver moves it */
    char pad2[56];
    unsigned char data[];
};

static struct {
    unsigned char *map;  /* N * N rings of SLOT bytes; i -> j at i * N + j */
    size_t map_len, slot, ring;
    int n;
    int *efd;            /* the eventfd that wakes worker j */
    int me;              /* -1 until srv__bus_attach() */
    struct srv__io io;   /* efd[me] in this worker's loop */
    struct srv__loop *loop;
    unsigned next_from;  /* where the next drain starts, for fairness */
    /* Loss accounting, this process as publisher. */
    uint64_t dropped, dropped_logged, last_log_ms;
    int last_dropped_for;
} bus = {.me = -1};

static unsigned char rx_channel[SRV__CHANNEL_MAX + 1];
static unsigned char rx_msg[SRV__MESSAGE_MAX + 1];

static struct ring *ring_at(int from, int to)
{
    return (struct ring *)(void *)(bus.map + ((size_t)from * (size_t)bus.n + (size_t)to) * bus.slot);
}

int srv__bus_create(int workers)
{
    if (workers < 2)
        return 0;
    size_t pairs = (size_t)workers * (size_t)(workers - 1);
    size_t ring = RING_MAX;
    while (ring > RING_MIN && pairs * ring > BUS_BUDGET)
        ring /= 2;
    size_t slot = sizeof(struct ring) + ring;
    size_t len = (size_t)workers * (size_t)workers * slot;
    /* Pages are only used once a ring reaches them; the rings i -> i are
     * never touched. */
    void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE,
                     -1, 0);
    if (map == MAP_FAILED)
        return -errno;
    bus.efd = srv__xcalloc((size_t)workers, sizeof *bus.efd);
    for (int i = 0; i < workers; i++) {
        bus.efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (bus.efd[i] < 0) {
            int err = errno;
            while (i-- > 0)
                close(bus.efd[i]);
            free(bus.efd);
            bus.efd = NULL;
            munmap(map, len);
            return -err;
        }
    }
    bus.map = map;
    bus.map_len = len;
    bus.slot = slot;
    bus.ring = ring;
    bus.n = workers;
    return 0;
}

void srv__bus_destroy(void)
{
    if (bus.map == NULL)
        return;
    for (int i = 0; i < bus.n; i++)
        close(bus.efd[i]);
    free(bus.efd);
    munmap(bus.map, bus.map_len);
    bus.map = NULL;
    bus.efd = NULL;
    bus.n = 0;
    bus.me = -1;
}

void srv__bus_attach(int id)
{
    if (bus.map != NULL && id >= 0 && id < bus.n)
        bus.me = id;
}

static void wake(int to)
{
    uint64_t one = 1;
    ssize_t n;
    do
        n = write(bus.efd[to], &one, sizeof one);
    while (n < 0 && errno == EINTR);
}

/* Copies LEN bytes into ring R at byte position POS, wrapping. */
static void ring_put(struct ring *r, uint64_t pos, const void *src, size_t len)
{
    size_t off = (size_t)(pos & (bus.ring - 1));
    size_t first = bus.ring - off < len ? bus.ring - off : len;
    memcpy(r->data + off, src, first);
    memcpy(r->data, (const unsigned char *)src + first, len - first);
}

static void ring_get(const struct ring *r, uint64_t pos, void *dst, size_t len)
{
    size_t off = (size_t)(pos & (bus.ring - 1));
    size_t first = bus.ring - off < len ? bus.ring - off : len;
    memcpy(dst, r->data + off, first);
    memcpy((unsigned char *)dst + first, r->data, len - first);
}

static void note_drop(int to)
{
    bus.dropped++;
    bus.last_dropped_for = to;
    uint64_t now = srv__now_ms();
    if (bus.last_log_ms != 0 && now - bus.last_log_ms < 1000)
        return;
    srv_log(SRV_LOG_WARN,
            "pubsub: worker %d is more than %zu KiB behind this one; %llu message(s) "
            "dropped since the last report, %llu in all",
            to, bus.ring / 1024, (unsigned long long)(bus.dropped - bus.dropped_logged),
            (unsigned long long)bus.dropped);
    bus.dropped_logged = bus.dropped;
    bus.last_log_ms = now ? now : 1;
}

static void bus_publish(const char *channel, size_t chlen, const void *msg, size_t len)
{
    size_t need = REC_HEAD + chlen + len;
    unsigned char head[REC_HEAD];
    uint32_t l32 = (uint32_t)len;
    uint16_t c16 = (uint16_t)chlen, zero = 0;
    memcpy(head, &l32, 4);
    memcpy(head + 4, &c16, 2);
    memcpy(head + 6, &zero, 2);
    for (int to = 0; to < bus.n; to++) {
        if (to == bus.me)
            continue;
        struct ring *r = ring_at(bus.me, to);
        uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
        uint64_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (bus.ring - (size_t)(h - t) < need) {
            note_drop(to);
            continue;
        }
        ring_put(r, h, head, REC_HEAD);
        ring_put(r, h + REC_HEAD, channel, chlen);
        if (len)
            ring_put(r, h + REC_HEAD + chlen, msg, len);
        atomic_store_explicit(&r->head, h + need, memory_order_release);
        /* Wake the receiver if it had read everything before this message:
         * it may be asleep.  The fence pairs with the receiver's, after it
         * moves the tail and before it looks at the head once more, so one
         * of the two always sees the other (no lost wake-up). */
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load_explicit(&r->tail, memory_order_relaxed) == h)
            wake(to);
    }
}

/* Reads and delivers the messages waiting in ring FROM -> me, at most
 * *BUDGET of them.  False when the budget ran out first. */
static bool drain_ring(int from, unsigned *budget)
{
    struct ring *r = ring_at(from, bus.me);
    for (;;) {
        uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
        uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);
        if (h == t) {
            atomic_thread_fence(memory_order_seq_cst);
            h = atomic_load_explicit(&r->head, memory_order_acquire);
            if (h == t)
                return true;
        }
        if (*budget == 0)
            return false;
        (*budget)--;
        unsigned char head[REC_HEAD];
        uint32_t len;
        uint16_t chlen;
        ring_get(r, t, head, REC_HEAD);
        memcpy(&len, head, 4);
        memcpy(&chlen, head + 4, 2);
        uint64_t need = REC_HEAD + (uint64_t)chlen + len;
        if (len > SRV__MESSAGE_MAX || chlen == 0 || chlen > SRV__CHANNEL_MAX || need > h - t) {
            /* Only a bug (or a foreign writer) gets here: skip what is there. */
            srv_log(SRV_LOG_ERROR, "pubsub: bad record from worker %d; %llu byte(s) skipped",
                    from, (unsigned long long)(h - t));
            atomic_store_explicit(&r->tail, h, memory_order_release);
            continue;
        }
        ring_get(r, t + REC_HEAD, rx_channel, chlen);
        rx_channel[chlen] = '\0';
        ring_get(r, t + REC_HEAD + chlen, rx_msg, len);
        rx_msg[len] = '\0';
        /* The copy is ours: give the room back before the callbacks run. */
        atomic_store_explicit(&r->tail, t + need, memory_order_release);
        srv__pubsub_deliver((const char *)rx_channel, chlen, rx_msg, len);
    }
}

static void drain(void)
{
    unsigned budget = DRAIN_BATCH;
    for (int k = 0; k < bus.n; k++) {
        int from = (int)((bus.next_from + (unsigned)k) % (unsigned)bus.n);
        if (from == bus.me)
            continue;
        if (!drain_ring(from, &budget)) {
            /* Come back after the other events of this iteration. */
            bus.next_from = (unsigned)from;
            wake(bus.me);
            return;
        }
    }
    bus.next_from = (bus.next_from + 1) % (unsigned)bus.n;
}

static void on_wake(struct srv__io *io, uint32_t events)
{
    SRV__UNUSED(events);
    uint64_t v;
    ssize_t n;
    do
        n = read(io->fd, &v, sizeof v); /* reset before looking, so no wake-up is lost */
    while (n < 0 && errno == EINTR);
    drain();
}

static const struct srv__pubsub_backend bus_backend = {.publish = bus_publish};

int srv__bus_start(struct srv__loop *l)
{
    if (bus.me < 0)
        return 0;
    bus.io.fd = bus.efd[bus.me];
    bus.io.fn = on_wake;
    int rc = srv__loop_add(l, &bus.io, EPOLLIN);
    if (rc < 0)
        return rc;
    bus.loop = l;
    srv__pubsub_set_backend(&bus_backend);
    wake(bus.me); /* drain what waited for this worker (see above) */
    return 1;
}

void srv__bus_stop(void)
{
    if (bus.loop == NULL)
        return;
    srv__loop_del(bus.loop, &bus.io);
    bus.loop = NULL;
    srv__pubsub_set_backend(NULL);
}

uint64_t srv__bus_dropped(void)
{
    return bus.dropped;
}
