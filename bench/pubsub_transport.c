/*
 * pubsub_transport.c - the measurement behind the cross-worker bus's
 * transport (runtime/bus.c): two "workers" (processes) exchange 1 KiB
 * messages over each candidate, and the program prints one-way latency
 * (half a ping-pong round trip, median and 99th percentile) and the rate
 * at which one worker's messages reach the other.
 *
 *   relay   a SOCK_SEQPACKET socketpair per worker; a third process (the
 *           master) reads each message and writes it to the other worker
 *   dgram   one SOCK_DGRAM socketpair per receiving worker; the publisher
 *           send()s straight to the receiver's socket (no third process);
 *           on EAGAIN (the receiver's queue, net.unix.max_dgram_qlen, is
 *           full) it waits for POLLOUT, as the runtime's sender queue does
 *   shm     a single-producer ring in shared memory per ordered pair of
 *           workers and an eventfd per receiver, written only when the
 *           ring was empty (the receiver is asleep or about to be)
 *
 * Usage: pubsub_transport MODE [MESSAGES]  (bench/pubsub.sh runs all three)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MSG 1024
#define PINGS 20000

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

/* ---- one channel: send to the peer, receive from it ---------------------- */

struct ring {
    _Atomic uint64_t head, tail; /* bytes written / read, ever */
    char pad[48];
    char data[1 << 20];
};

struct chan {
    int tx, rx;          /* relay, dgram */
    struct ring *out, *in; /* shm */
    int wake_peer, wake_me;
};

static char mode;

static void sendmsg_blocking(struct chan *c, const char *buf, size_t len)
{
    if (mode == 's') {
        struct ring *r = c->out;
        uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
        for (;;) {
            uint64_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
            if (h + 4 + len - t <= sizeof r->data)
                break;
        }
        uint32_t l = (uint32_t)len;
        for (size_t i = 0; i < 4; i++)
            r->data[(h + i) % sizeof r->data] = ((char *)&l)[i];
        for (size_t i = 0; i < len; i++)
            r->data[(h + 4 + i) % sizeof r->data] = buf[i];
        atomic_store_explicit(&r->head, h + 4 + len, memory_order_release);
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load_explicit(&r->tail, memory_order_relaxed) == h) {
            uint64_t one = 1;
            if (write(c->wake_peer, &one, 8) != 8)
                die("eventfd write");
        }
        return;
    }
    for (;;) {
        ssize_t n = send(c->tx, buf, len, MSG_DONTWAIT);
        if (n == (ssize_t)len)
            return;
        if (n < 0 && errno == EAGAIN) {
            struct pollfd p = {.fd = c->tx, .events = POLLOUT};
            poll(&p, 1, -1);
            continue;
        }
        die("send");
    }
}

/* Receives one message into BUF; returns its length. */
static size_t recvmsg_blocking(struct chan *c, char *buf)
{
    if (mode == 's') {
        struct ring *r = c->in;
        for (;;) {
            uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
            uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);
            if (h != t) {
                uint32_t l;
                for (size_t i = 0; i < 4; i++)
                    ((char *)&l)[i] = r->data[(t + i) % sizeof r->data];
                for (size_t i = 0; i < l; i++)
                    buf[i] = r->data[(t + 4 + i) % sizeof r->data];
                atomic_store_explicit(&r->tail, t + 4 + l, memory_order_release);
                return l;
            }
            /* Empty: sleep on the eventfd, then look again (the sender
             * writes it only when it saw the ring empty). */
            atomic_thread_fence(memory_order_seq_cst);
            if (atomic_load_explicit(&r->head, memory_order_acquire) != t)
                continue;
            uint64_t v;
            if (read(c->wake_me, &v, 8) != 8)
                die("eventfd read");
        }
    }
    ssize_t n = recv(c->rx, buf, MSG + 64, 0);
    if (n < 0)
        die("recv");
    return (size_t)n;
}

/* ---- the relay process (mode relay) ------------------------------------- */

static void relay(int a, int b)
{
    char buf[MSG + 64];
    struct pollfd p[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};
    for (;;) {
        if (poll(p, 2, -1) < 0)
            die("poll");
        for (int i = 0; i < 2; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP)))
                continue;
            ssize_t n = recv(p[i].fd, buf, sizeof buf, 0);
            if (n <= 0)
                _exit(0);
            if (send(p[1 - i].fd, buf, (size_t)n, 0) != n)
                die("relay send");
        }
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "relay") && strcmp(argv[1], "dgram") &&
                     strcmp(argv[1], "shm"))) {
        fprintf(stderr, "usage: %s relay|dgram|shm [MESSAGES]\n", argv[0]);
        return 2;
    }
    mode = argv[1][0] == 'r' ? 'r' : argv[1][0] == 'd' ? 'd' : 's';
    long count = argc > 2 ? atol(argv[2]) : 200000;

    struct chan ca = {0}, cb = {0}; /* worker A's and worker B's view */
    pid_t relay_pid = 0;
    if (mode == 'r') {
        int pa[2], pb[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, pa) || socketpair(AF_UNIX, SOCK_SEQPACKET, 0, pb))
            die("socketpair");
        relay_pid = fork();
        if (relay_pid == 0) {
            close(pa[0]);
            close(pb[0]);
            relay(pa[1], pb[1]);
        }
        close(pa[1]);
        close(pb[1]);
        ca.tx = ca.rx = pa[0];
        cb.tx = cb.rx = pb[0];
    } else if (mode == 'd') {
        int ra[2], rb[2]; /* [0] read by the owner, [1] written by the others */
        if (socketpair(AF_UNIX, SOCK_DGRAM, 0, ra) || socketpair(AF_UNIX, SOCK_DGRAM, 0, rb))
            die("socketpair");
        ca.rx = ra[0];
        ca.tx = rb[1];
        cb.rx = rb[0];
        cb.tx = ra[1];
    } else {
        struct ring *r = mmap(NULL, 2 * sizeof(struct ring), PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (r == MAP_FAILED)
            die("mmap");
        int ea = eventfd(0, 0), eb = eventfd(0, 0);
        ca.out = &r[0];
        cb.in = &r[0];
        cb.out = &r[1];
        ca.in = &r[1];
        ca.wake_me = ea;
        ca.wake_peer = eb;
        cb.wake_me = eb;
        cb.wake_peer = ea;
    }

    pid_t b = fork();
    if (b == 0) {
        /* Worker B: echo the pings, then count the flood. */
        char buf[MSG + 64];
        for (int i = 0; i < PINGS; i++) {
            size_t n = recvmsg_blocking(&cb, buf);
            sendmsg_blocking(&cb, buf, n);
        }
        for (long i = 0; i < count; i++)
            recvmsg_blocking(&cb, buf);
        sendmsg_blocking(&cb, "done", 4);
        _exit(0);
    }

    char msg[MSG], buf[MSG + 64];
    memset(msg, 'x', sizeof msg);
    uint64_t *rtt = malloc(PINGS * sizeof *rtt);
    for (int i = 0; i < PINGS; i++) {
        uint64_t t0 = now_ns();
        sendmsg_blocking(&ca, msg, sizeof msg);
        recvmsg_blocking(&ca, buf);
        rtt[i] = now_ns() - t0;
    }
    qsort(rtt, PINGS, sizeof *rtt, cmp_u64);

    uint64_t t0 = now_ns();
    for (long i = 0; i < count; i++)
        sendmsg_blocking(&ca, msg, sizeof msg);
    recvmsg_blocking(&ca, buf); /* "done" */
    double secs = (double)(now_ns() - t0) / 1e9;

    printf("%-6s  latency p50 %6.1f us  p99 %6.1f us   %8.0f msg/s  %6.0f MB/s\n", argv[1],
           (double)rtt[PINGS / 2] / 2000.0, (double)rtt[PINGS * 99 / 100] / 2000.0,
           (double)count / secs, (double)count * MSG / secs / 1e6);
    free(rtt);
    waitpid(b, NULL, 0);
    if (relay_pid) {
        close(ca.tx);
        close(cb.tx);
        waitpid(relay_pid, NULL, 0);
    }
    return 0;
}
