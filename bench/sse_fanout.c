/*
 * sse_fanout.c - the load client of bench/sse.sh: N event streams on one
 * server, then events published through POST /publish, and what the
 * subscribers see:
 *
 *   latency: one event at a time, the time from sending the publish to the
 *            moment the last of the N streams has read it (median, p99, max
 *            over EVENTS events);
 *   rate:    BURST events published back to back, then the events delivered
 *            per second until every stream has read all of them.
 *
 *   sse_fanout PORT N [EVENTS=200] [BURST=200] [PATH=/events]
 *
 * Counts events by their terminating blank line, so the server's events
 * must be one "data:" line each (bench/sse.srv).  One thread, epoll,
 * loopback only; every wait is bounded (10 s without progress fails).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct stream {
    int fd;
    long events;   /* complete events read */
    int nl;        /* newlines just seen in a row (2 ends an event) */
    int head_done; /* the response head was read */
    char last4[4];
};

static int port;
static struct stream *streams;
static int nstreams, ep;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("sse_fanout: connect");
        exit(2);
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) {
            perror("sse_fanout: write");
            exit(2);
        }
        p += w;
        n -= (size_t)w;
    }
}

/* Reads what S has; counts events (an empty line after a field line). */
static void drain(struct stream *s)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(s->fd, buf, sizeof buf);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            fprintf(stderr, "sse_fanout: a stream closed\n");
            exit(2);
        }
        for (ssize_t i = 0; i < n; i++) {
            char c = buf[i];
            if (c == '\r')
                continue;
            if (!s->head_done) {
                /* The head ends with CRLF CRLF: two LFs with CRs skipped. */
                s->nl = c == '\n' ? s->nl + 1 : 0;
                if (s->nl == 2) {
                    s->head_done = 1;
                    s->nl = 0;
                }
                continue;
            }
            if (c == '\n') {
                if (++s->nl == 2)
                    s->events++;
            } else {
                s->nl = 0;
            }
        }
    }
}

/* Waits until every stream has read at least WANT events. */
static void wait_all(long want)
{
    struct epoll_event evs[512];
    int behind = 0;
    for (int i = 0; i < nstreams; i++)
        behind += streams[i].events < want;
    double last = now();
    while (behind > 0) {
        int n = epoll_wait(ep, evs, 512, 1000);
        if (n < 0 && errno == EINTR)
            continue;
        for (int k = 0; k < n; k++) {
            struct stream *s = evs[k].data.ptr;
            long before = s->events;
            drain(s);
            if (before < want && s->events >= want)
                behind--;
            last = now();
        }
        if (now() - last > 10) {
            fprintf(stderr, "sse_fanout: %d stream(s) stuck below %ld events\n", behind, want);
            exit(2);
        }
    }
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: sse_fanout PORT N [EVENTS] [BURST] [PATH]\n");
        return 2;
    }
    port = atoi(argv[1]);
    nstreams = atoi(argv[2]);
    int events = argc > 3 ? atoi(argv[3]) : 200, burst = argc > 4 ? atoi(argv[4]) : 200;
    const char *path = argc > 5 ? argv[5] : "/events";
    streams = calloc((size_t)nstreams, sizeof *streams);
    ep = epoll_create1(0);
    char req[256];
    int rl = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: b\r\nAccept: text/event-stream\r\n\r\n", path);
    for (int i = 0; i < nstreams; i++) {
        struct stream *s = &streams[i];
        s->fd = dial();
        send_all(s->fd, req, (size_t)rl);
        fcntl(s->fd, F_SETFL, fcntl(s->fd, F_GETFL) | O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
        epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev);
    }
    wait_all(1); /* the "ready" event each stream gets in `open` */
    int pub = dial();
    char preq[256];
    int pl = snprintf(preq, sizeof preq,
                      "POST /publish HTTP/1.1\r\nHost: b\r\nContent-Length: 1\r\n\r\nx");
    char rbuf[4096];
    /* Latency: one at a time. */
    double *lat = calloc((size_t)events, sizeof *lat);
    for (int e = 0; e < events; e++) {
        double t0 = now();
        send_all(pub, preq, (size_t)pl);
        wait_all(2 + e);
        lat[e] = now() - t0;
        if (read(pub, rbuf, sizeof rbuf) <= 0) { /* the publish's own answer */
            fprintf(stderr, "sse_fanout: the publisher's connection closed\n");
            return 2;
        }
    }
    qsort(lat, (size_t)events, sizeof *lat, cmp);
    /* Rate: a burst. */
    long base = 1 + events;
    double t0 = now();
    for (int b = 0; b < burst; b++)
        send_all(pub, preq, (size_t)pl);
    wait_all(base + burst);
    double dt = now() - t0;
    printf("streams=%d latency_ms_p50=%.3f p99=%.3f max=%.3f burst=%d events_per_s=%.0f\n",
           nstreams, lat[events / 2] * 1e3, lat[(int)(events * 0.99)] * 1e3, lat[events - 1] * 1e3,
           burst, (double)nstreams * burst / dt);
    return 0;
}
