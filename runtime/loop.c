/*
 * loop.c - a small level-triggered epoll loop (the shape of redis's ae).
 * Owners embed a struct srv__io and receive its ready events through the
 * callback.  The loop refreshes the clock and the Date cache once per
 * iteration, right after epoll_wait returns, so callbacks never read the
 * clock themselves.
 */
#include "internal.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#define MAX_EVENTS 256

int srv__loop_init(struct srv__loop *l)
{
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0)
        return -errno;
    srv__time_update();
    return 0;
}

void srv__loop_close(struct srv__loop *l)
{
    if (l->epfd >= 0)
        close(l->epfd);
    l->epfd = -1;
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

int srv__loop_run_once(struct srv__loop *l, int timeout_ms)
{
    struct epoll_event evs[MAX_EVENTS];
    int n = epoll_wait(l->epfd, evs, MAX_EVENTS, timeout_ms);
    int err = errno;
    srv__time_update();
    if (n < 0)
        return -err;
    for (int i = 0; i < n; i++) {
        struct srv__io *io = evs[i].data.ptr;
        io->fn(io, evs[i].events);
    }
    return n;
}
