/*
 * loop.c - a small level-triggered epoll loop (the shape of redis's ae),
 * with the users' timers and fd watches on it.  Owners inside libsrv embed
 * a struct srv__io and receive its ready events through the callback; users
 * get struct srv_timer and struct srv_watch (srv.h), which live here too.
 * The loop refreshes the clock and the Date cache once per iteration, right
 * after epoll_wait returns, so callbacks never read the clock themselves.
 *
 * One iteration: epoll_wait (until the caller's deadline or the earliest
 * timer, whichever comes first), the callbacks of the ready descriptors,
 * then the timers that are due.  conn.c's deadlines are its own (sorted
 * lists, swept after this returns); users' timers are a binary min-heap
 * keyed by (deadline, start order), so starting or stopping one costs
 * O(log n) and thousands cost nothing while they wait.  Timers read
 * CLOCK_MONOTONIC itself, and only when there are timers: the coarse clock
 * behind srv__now_ms() moves in steps of a few milliseconds, too coarse for
 * a timer API that promises milliseconds.
 *
 * Lifetimes inside callbacks.  epoll_wait hands back a batch of pointers;
 * a callback early in the batch may stop a watch whose event comes later in
 * it.  A watch stopped during a batch is therefore only unregistered and
 * marked, and freed once the batch is over; a marked watch gets no call.
 * A timer is out of the heap while its callback runs, so stopping it there
 * only marks it, and it is freed when the callback returns.
 */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 256

struct srv_timer {
    uint64_t deadline; /* CLOCK_MONOTONIC milliseconds */
    uint64_t repeat;   /* 0: one-shot */
    uint64_t seq;      /* start order, for FIFO among equal deadlines */
    srv_timer_fn fn;
    void *arg;
    struct srv__loop *loop;
    unsigned index;    /* in loop->heap, while queued */
    bool queued;
    bool running;      /* its callback is on the stack */
    bool stopped;      /* stopped while running: freed after the call */
};

struct srv_watch {
    struct srv__io io; /* first: the loop hands back &io */
    struct srv__loop *loop;
    struct srv_watch *prev, *next; /* loop->watches, or loop->stopped */
    srv_watch_fn fn;
    void *arg;
    unsigned events;   /* SRV_READABLE | SRV_WRITABLE wanted */
    bool stopped;
};

static struct srv__loop *current;

uint64_t srv__clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int srv__loop_init(struct srv__loop *l)
{
    memset(l, 0, sizeof *l);
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0)
        return -errno;
    srv__time_update();
    current = l;
    return 0;
}

struct srv__loop *srv__loop_current(void)
{
    return current;
}

static void free_watches(struct srv_watch *w)
{
    while (w != NULL) {
        struct srv_watch *next = w->next;
        free(w);
        w = next;
    }
}

void srv__loop_close(struct srv__loop *l)
{
    for (unsigned i = 0; i < l->ntimers; i++)
        free(l->heap[i]);
    free(l->heap);
    l->heap = NULL;
    l->ntimers = l->heap_cap = 0;
    free_watches(l->watches);
    free_watches(l->stopped);
    l->watches = l->stopped = NULL;
    if (l->epfd >= 0)
        close(l->epfd);
    l->epfd = -1;
    if (current == l)
        current = NULL;
}

static int ctl(struct srv__loop *l, int op, struct srv__io *io, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = io};
    if (epoll_ctl(l->epfd, op, io->fd, &ev) < 0)
        return -errno;
    io->events = events;
    return 0;
}

int srv__loop_add(struct srv__loop *l, struct srv__io *io, uint32_t events)
{
    return ctl(l, EPOLL_CTL_ADD, io, events);
}

int srv__loop_mod(struct srv__loop *l, struct srv__io *io, uint32_t events)
{
    return ctl(l, EPOLL_CTL_MOD, io, events);
}

int srv__loop_del(struct srv__loop *l, struct srv__io *io)
{
    struct epoll_event ev = {0};
    if (epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, &ev) < 0)
        return -errno;
    io->events = 0;
    return 0;
}

/* ---- Timers: a binary min-heap ------------------------------------------ */

static bool earlier(const struct srv_timer *a, const struct srv_timer *b)
{
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

static void heap_set(struct srv__loop *l, unsigned i, struct srv_timer *t)
{
    l->heap[i] = t;
    t->index = i;
}

static void sift_up(struct srv__loop *l, unsigned i)
{
    struct srv_timer *t = l->heap[i];
    while (i > 0) {
        unsigned parent = (i - 1) / 2;
        if (!earlier(t, l->heap[parent]))
            break;
        heap_set(l, i, l->heap[parent]);
        i = parent;
    }
    heap_set(l, i, t);
}

static void sift_down(struct srv__loop *l, unsigned i)
{
    struct srv_timer *t = l->heap[i];
    for (;;) {
        unsigned child = 2 * i + 1;
        if (child >= l->ntimers)
            break;
        if (child + 1 < l->ntimers && earlier(l->heap[child + 1], l->heap[child]))
            child++;
        if (!earlier(l->heap[child], t))
            break;
        heap_set(l, i, l->heap[child]);
        i = child;
    }
    heap_set(l, i, t);
}

static void heap_push(struct srv__loop *l, struct srv_timer *t)
{
    if (l->ntimers == l->heap_cap) {
        l->heap_cap = l->heap_cap ? 2 * l->heap_cap : 16;
        l->heap = srv__xrealloc(l->heap, l->heap_cap * sizeof *l->heap);
    }
    t->seq = l->timer_seq++;
    t->queued = true;
    heap_set(l, l->ntimers++, t);
    sift_up(l, l->ntimers - 1);
}

static void heap_remove(struct srv__loop *l, struct srv_timer *t)
{
    unsigned i = t->index;
    t->queued = false;
    struct srv_timer *last = l->heap[--l->ntimers];
    if (i == l->ntimers)
        return;
    heap_set(l, i, last);
    if (i > 0 && earlier(last, l->heap[(i - 1) / 2]))
        sift_up(l, i);
    else
        sift_down(l, i);
}

struct srv_timer *srv_timer_start(uint64_t after_ms, uint64_t repeat_ms, srv_timer_fn fn,
                                  void *arg)
{
    if (current == NULL || fn == NULL) {
        errno = EINVAL;
        return NULL;
    }
    struct srv_timer *t = srv__xcalloc(1, sizeof *t);
    uint64_t now = srv__clock_ms();
    t->deadline = after_ms > UINT64_MAX - now ? UINT64_MAX : now + after_ms;
    t->repeat = repeat_ms;
    t->fn = fn;
    t->arg = arg;
    t->loop = current;
    heap_push(current, t);
    return t;
}

void srv_timer_stop(struct srv_timer *t)
{
    if (t == NULL)
        return;
    if (t->running) {
        t->stopped = true;
        return;
    }
    if (t->queued)
        heap_remove(t->loop, t);
    free(t);
}

/* Milliseconds until the earliest timer is due (0: now), -1 when none. */
static int timer_wait(const struct srv__loop *l)
{
    if (l->ntimers == 0)
        return -1;
    uint64_t due = l->heap[0]->deadline, now = srv__clock_ms();
    if (due <= now)
        return 0;
    return due - now > INT_MAX ? INT_MAX : (int)(due - now);
}

/* Runs the timers that are due.  A timer started by one of these callbacks
 * waits for the next iteration even when it is due at once (its start
 * order is past LIMIT), so a callback that restarts itself with 0 ms cannot
 * keep the loop here. */
static void run_timers(struct srv__loop *l)
{
    if (l->ntimers == 0)
        return;
    uint64_t now = srv__clock_ms();
    uint64_t limit = l->timer_seq;
    while (l->ntimers > 0) {
        struct srv_timer *t = l->heap[0];
        if (t->deadline > now || t->seq >= limit)
            break;
        heap_remove(l, t);
        t->running = true;
        t->fn(t, t->arg);
        t->running = false;
        if (t->stopped || t->repeat == 0) {
            free(t);
            continue;
        }
        /* The next tick is on the grid the first deadline set, never
         * measured from when the callback ran (no drift); ticks a long
         * callback (or a stalled loop) made us miss are skipped, not run
         * in a burst. */
        uint64_t next = t->deadline + t->repeat, cur = srv__clock_ms();
        if (next <= cur)
            next += ((cur - next) / t->repeat + 1) * t->repeat;
        t->deadline = next;
        heap_push(l, t);
    }
}

/* ---- Watches ------------------------------------------------------------- */

static uint32_t epoll_events(unsigned events)
{
    return ((events & SRV_READABLE) ? EPOLLIN : 0u) | ((events & SRV_WRITABLE) ? EPOLLOUT : 0u);
}

static void watch_on_event(struct srv__io *io, uint32_t ev)
{
    struct srv_watch *w = (struct srv_watch *)io;
    if (w->stopped)
        return; /* stopped earlier in this batch */
    /* An error or a hang-up is news for whichever side is watched: the
     * owner's read or write then reports it. */
    unsigned ready = 0;
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
        ready |= SRV_READABLE;
    if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        ready |= SRV_WRITABLE;
    ready &= w->events; /* changed earlier in this batch */
    if (ready)
        w->fn(w, w->io.fd, ready, w->arg);
}

static void list_remove(struct srv_watch **head, struct srv_watch *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        *head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
}

static void list_push(struct srv_watch **head, struct srv_watch *w)
{
    w->prev = NULL;
    w->next = *head;
    if (*head)
        (*head)->prev = w;
    *head = w;
}

struct srv_watch *srv_watch_fd(int fd, unsigned events, srv_watch_fn fn, void *arg)
{
    if (current == NULL || fn == NULL || (events & ~(SRV_READABLE | SRV_WRITABLE))) {
        errno = EINVAL;
        return NULL;
    }
    if (fd < 0) {
        errno = EBADF;
        return NULL;
    }
    struct srv_watch *w = srv__xcalloc(1, sizeof *w);
    w->io.fd = fd;
    w->io.fn = watch_on_event;
    w->loop = current;
    w->fn = fn;
    w->arg = arg;
    w->events = events;
    /* A paused watch is not in the epoll set at all: epoll reports errors
     * and hang-ups whatever the mask, and a paused watch must not spin. */
    if (events != 0) {
        int rc = srv__loop_add(current, &w->io, epoll_events(events));
        if (rc < 0) {
            free(w);
            errno = -rc;
            return NULL;
        }
    }
    list_push(&current->watches, w);
    return w;
}

int srv_watch_set(struct srv_watch *w, unsigned events)
{
    if (w == NULL || w->stopped || (events & ~(SRV_READABLE | SRV_WRITABLE)))
        return -EINVAL;
    if (events == w->events)
        return 0;
    struct srv__loop *l = w->loop;
    int rc;
    if (events == 0)
        rc = srv__loop_del(l, &w->io);
    else if (w->events == 0)
        rc = srv__loop_add(l, &w->io, epoll_events(events));
    else
        rc = srv__loop_mod(l, &w->io, epoll_events(events));
    if (rc < 0)
        return rc;
    w->events = events;
    return 0;
}

void srv_watch_stop(struct srv_watch *w)
{
    if (w == NULL || w->stopped)
        return;
    struct srv__loop *l = w->loop;
    if (w->events != 0)
        srv__loop_del(l, &w->io); /* fails only if the fd was closed first */
    w->stopped = true;
    list_remove(&l->watches, w);
    if (l->in_batch)
        list_push(&l->stopped, w); /* an event of this batch may still name it */
    else
        free(w);
}

/* ---- One iteration ------------------------------------------------------- */

int srv__loop_run_once(struct srv__loop *l, int timeout_ms)
{
    int tw = timer_wait(l);
    if (tw >= 0 && (timeout_ms < 0 || tw < timeout_ms))
        timeout_ms = tw;
    struct epoll_event evs[MAX_EVENTS];
    int n = epoll_wait(l->epfd, evs, MAX_EVENTS, timeout_ms);
    int err = errno;
    srv__time_update();
    if (n > 0) {
        l->in_batch = true;
        for (int i = 0; i < n; i++) {
            struct srv__io *io = evs[i].data.ptr;
            io->fn(io, evs[i].events);
        }
        l->in_batch = false;
        if (SRV__UNLIKELY(l->stopped != NULL)) {
            free_watches(l->stopped);
            l->stopped = NULL;
        }
    }
    run_timers(l);
    return n < 0 ? -err : n;
}
