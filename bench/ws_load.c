/*
 * ws_load.c - the load client of bench/ws.sh: N WebSocket connections to an
 * echo server, each keeping WINDOW binary messages of SIZE bytes in flight
 * (a new one goes out for every one that comes back), and the echoes
 * counted for DUR seconds after WARMUP seconds:
 *
 *   ws_load PORT [N=100] [WINDOW=1] [SIZE=16] [DUR=5] [WARMUP=1] [PATH=/echo]
 *
 * prints one line: messages/s (echoes received) and MB/s (their payload,
 * one way, 10^6 bytes).  Every echo must be a single unfragmented binary
 * frame of SIZE bytes carrying the sequence number the connection expects
 * next in its first 8 bytes (when SIZE >= 8); every 64th echo is compared
 * whole with what was sent.  Anything else - a failed handshake, a frame
 * of another kind or length, a close frame, the connection closing, 10 s
 * without an echo on any connection - ends the run with a message and
 * exit status 1.
 *
 * With SERVER_PIDS in the environment (the server's process ids, separated
 * by spaces), it also prints the CPU time those processes used in the
 * measured interval, per echo and as a share of one CPU, and its own: when
 * the client is the bottleneck, the server's CPU time per message still
 * compares two servers.
 *
 * Client frames are masked (RFC 6455 5.3), with one key per connection:
 * the server must unmask, and the client precomputes each connection's
 * masked frame once, so per message it re-masks only the sequence number
 * and its own cost stays small beside the server's.  Writes are batched:
 * the frames a read makes due go out in one write.  One thread, epoll,
 * non-blocking sockets, libc only, loopback only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define STALL_S 10.0    /* no echo on any connection for this long fails */
#define CHECK_EVERY 64  /* every 64th echo is compared byte for byte */

struct conn {
    int fd, id;
    unsigned char mask[4];
    unsigned char *frame; /* the masked frame, sequence number 0 */
    unsigned char *tx;    /* frames not yet written: [txoff, txlen) */
    size_t txoff, txlen;
    unsigned char *rx;    /* bytes read, not yet a whole frame: [0, rxlen) */
    size_t rxlen;
    uint64_t sent, recvd; /* messages */
    uint64_t counted;     /* echoes received in the measured interval */
    bool want_out;        /* EPOLLOUT is armed */
};

static int port, ep;
static long nconns, window, size, dur, warmup;
static const char *path = "/echo";
static size_t hlen, flen, rxcap; /* client frame header, whole frame, rx buffer */
static unsigned char *payload;    /* what every message carries after its number */

/* CPU seconds the processes in SERVER_PIDS have used (user + system, all
 * their threads); 0 without SERVER_PIDS. */
static double server_cpu(void)
{
    const char *pids = getenv("SERVER_PIDS");
    double total = 0;
    long tick = sysconf(_SC_CLK_TCK);
    while (pids != NULL && *pids != '\0') {
        char *end;
        long pid = strtol(pids, &end, 10);
        if (end == pids)
            break;
        pids = end;
        char name[64], buf[1024];
        snprintf(name, sizeof name, "/proc/%ld/stat", pid);
        FILE *f = fopen(name, "r");
        if (f == NULL)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        /* After "(comm)": state is field 3; utime and stime are 14 and 15. */
        char *p = strrchr(buf, ')');
        unsigned long long ut, st;
        if (p != NULL && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                                &ut, &st) == 2)
            total += (double)(ut + st) / (double)tick;
    }
    return total;
}

static double own_cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const struct conn *c, const char *what)
{
    if (c != NULL)
        fprintf(stderr, "ws_load: connection %d (%llu echoes in): %s\n", c->id,
                (unsigned long long)c->recvd, what);
    else
        fprintf(stderr, "ws_load: %s\n", what);
    exit(1);
}

static long arg(int argc, char **argv, int i, long dflt, long min)
{
    if (argc <= i)
        return dflt;
    char *end;
    long v = strtol(argv[i], &end, 10);
    if (*end != '\0' || v < min) {
        fprintf(stderr, "ws_load: bad argument '%s'\n", argv[i]);
        exit(2);
    }
    return v;
}

/* The handshake, blocking: request, then the 101 head; bytes after the
 * head stay in C's rx buffer. */
static void handshake(struct conn *c)
{
    static const char key[] = "dGhlIHNhbXBsZSBub25jZQ==";  /* RFC 6455 1.3 */
    static const char accept[] = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     path, port, key);
    if (write(c->fd, req, (size_t)n) != n)
        die(c, "handshake: write failed");
    char head[4096];
    size_t len = 0;
    char *end = NULL;
    while (end == NULL) {
        if (len == sizeof head - 1)
            die(c, "handshake: response head too long");
        ssize_t r = read(c->fd, head + len, sizeof head - 1 - len);
        if (r <= 0)
            die(c, "handshake: connection closed before the response");
        len += (size_t)r;
        head[len] = '\0';
        end = strstr(head, "\r\n\r\n");
    }
    *end = '\0';
    if (strncmp(head, "HTTP/1.1 101", 12) != 0) {
        fprintf(stderr, "ws_load: handshake answered: %.*s\n", (int)strcspn(head, "\r"), head);
        exit(1);
    }
    if (strcasestr(head, accept) == NULL)
        die(c, "handshake: no or wrong Sec-WebSocket-Accept");
    size_t rest = len - (size_t)(end + 4 - head);
    memcpy(c->rx, end + 4, rest);
    c->rxlen = rest;
}

static void dial(struct conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("ws_load: connect");
        exit(1);
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    handshake(c);
    if (fcntl(c->fd, F_SETFL, O_NONBLOCK) < 0)
        die(c, "fcntl failed");
}

/* Appends frame number SEQ to C's write buffer (room was reserved). */
static void queue_frame(struct conn *c, uint64_t seq)
{
    if (c->txoff > 0 && c->txoff == c->txlen)
        c->txoff = c->txlen = 0;
    if (c->txlen + flen > (size_t)window * flen) {
        memmove(c->tx, c->tx + c->txoff, c->txlen - c->txoff);
        c->txlen -= c->txoff;
        c->txoff = 0;
    }
    unsigned char *f = c->tx + c->txlen;
    memcpy(f, c->frame, flen);
    for (long i = 0; i < size && i < 8; i++)
        f[hlen + (size_t)i] = (unsigned char)((seq >> (8 * i)) ^ c->mask[i & 3]);
    c->txlen += flen;
    c->sent++;
}

static void arm(struct conn *c, bool out)
{
    if (out == c->want_out)
        return;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (out ? EPOLLOUT : 0),
                             .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = out;
}

static void flush(struct conn *c)
{
    while (c->txoff < c->txlen) {
        ssize_t w = write(c->fd, c->tx + c->txoff, c->txlen - c->txoff);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN)
            break;
        if (w <= 0)
            die(c, "write failed (connection closed by the server?)");
        c->txoff += (size_t)w;
    }
    arm(c, c->txoff < c->txlen);
}

/* One echo, its payload at P: checks it and sends the next message. */
static void echoed(struct conn *c, const unsigned char *p, bool counting)
{
    uint64_t seq = 0;
    for (long i = 0; i < size && i < 8; i++)
        seq |= (uint64_t)p[i] << (8 * i);
    uint64_t want = size >= 8 ? c->recvd : c->recvd & ((1ull << (8 * size)) - 1);
    if (seq != want)
        die(c, "an echo out of order or corrupted (wrong sequence number)");
    if (c->recvd % CHECK_EVERY == 0 && size > 8 && memcmp(p + 8, payload + 8, (size_t)size - 8) != 0)
        die(c, "an echo's payload differs from what was sent");
    c->recvd++;
    if (counting)
        c->counted++;
    queue_frame(c, c->sent);
}

/* Reads what C has and handles every whole frame in it. */
static bool drain(struct conn *c, bool counting)
{
    bool any = false;
    for (;;) {
        size_t room = rxcap - c->rxlen;
        ssize_t r = read(c->fd, c->rx + c->rxlen, room);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EAGAIN)
            break;
        if (r == 0)
            die(c, "the server closed the connection");
        if (r < 0)
            die(c, "read failed (connection reset?)");
        c->rxlen += (size_t)r;
        size_t off = 0;
        while (c->rxlen - off >= 2) {
            const unsigned char *h = c->rx + off;
            if ((h[0] & 0x0f) == 0x8)
                die(c, "the server sent a close frame");
            if (h[0] != 0x82)
                die(c, "a frame that is not a whole binary message");
            if (h[1] & 0x80)
                die(c, "a masked server frame");
            size_t fh = 2, len = h[1] & 0x7f;
            if (len == 126) {
                if (c->rxlen - off < 4)
                    break;
                fh = 4;
                len = (size_t)h[2] << 8 | h[3];
            } else if (len == 127) {
                if (c->rxlen - off < 10)
                    break;
                fh = 10;
                len = 0;
                for (int i = 2; i < 10; i++)
                    len = len << 8 | h[i];
            }
            if (len != (size_t)size)
                die(c, "an echo of the wrong length");
            if (c->rxlen - off < fh + len)
                break;
            echoed(c, h + fh, counting);
            any = true;
            off += fh + len;
        }
        memmove(c->rx, c->rx + off, c->rxlen - off);
        c->rxlen -= off;
        if ((size_t)r < room)
            break;
    }
    if (c->txoff < c->txlen)
        flush(c);
    return any;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: ws_load PORT [N=100] [WINDOW=1] [SIZE=16] [DUR=5] [WARMUP=1] "
                        "[PATH=/echo]\n");
        return 2;
    }
    port = (int)arg(argc, argv, 1, 0, 1);
    nconns = arg(argc, argv, 2, 100, 1);
    window = arg(argc, argv, 3, 1, 1);
    size = arg(argc, argv, 4, 16, 0);
    dur = arg(argc, argv, 5, 5, 1);
    warmup = arg(argc, argv, 6, 1, 0);
    if (argc > 7)
        path = argv[7];
    hlen = 2 + (size < 126 ? 0 : size <= 0xffff ? 2 : 8) + 4;
    flen = hlen + (size_t)size;
    rxcap = 2 * flen + 65536;

    payload = malloc((size_t)size + 1);
    for (long i = 0; i < size; i++)
        payload[i] = (unsigned char)(i * 31 + 7);
    struct conn *conns = calloc((size_t)nconns, sizeof *conns);
    ep = epoll_create1(0);
    if (payload == NULL || conns == NULL || ep < 0)
        die(NULL, "out of memory or no epoll");
    srand(12345);
    for (long i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        c->id = (int)i;
        for (int k = 0; k < 4; k++)
            c->mask[k] = (unsigned char)(rand() >> 7);
        c->frame = malloc(flen);
        c->tx = malloc((size_t)window * flen);
        c->rx = malloc(rxcap);
        if (c->frame == NULL || c->tx == NULL || c->rx == NULL)
            die(NULL, "out of memory");
        unsigned char *f = c->frame;
        f[0] = 0x82; /* FIN, binary */
        if (size < 126) {
            f[1] = (unsigned char)(0x80 | size);
        } else if (size <= 0xffff) {
            f[1] = 0x80 | 126;
            f[2] = (unsigned char)(size >> 8);
            f[3] = (unsigned char)size;
        } else {
            f[1] = 0x80 | 127;
            for (int k = 0; k < 8; k++)
                f[2 + k] = (unsigned char)((uint64_t)size >> (56 - 8 * k));
        }
        memcpy(f + hlen - 4, c->mask, 4);
        for (long k = 0; k < size; k++)
            f[hlen + (size_t)k] = payload[k] ^ c->mask[k & 3];
        dial(c);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
            die(c, "epoll_ctl failed");
    }
    for (long i = 0; i < nconns; i++) {
        for (long k = 0; k < window; k++)
            queue_frame(&conns[i], conns[i].sent);
        flush(&conns[i]);
    }

    double t0 = now(), start = t0 + (double)warmup, stop = start + (double)dur;
    double last_echo = t0;
    bool counting = false;
    double cpu0 = 0, own0 = 0;
    struct epoll_event evs[256];
    for (;;) {
        double t = now();
        if (!counting && t >= start) {
            counting = true;
            cpu0 = server_cpu();
            own0 = own_cpu();
        }
        if (t >= stop)
            break;
        if (t - last_echo > STALL_S)
            die(NULL, "no echo for 10 s: the server stalled");
        int n = epoll_wait(ep, evs, 256, 100);
        if (n < 0 && errno != EINTR)
            die(NULL, "epoll_wait failed");
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (evs[i].events & EPOLLOUT)
                flush(c);
            if ((evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && drain(c, counting))
                last_echo = t;
        }
    }
    double elapsed = now() - start;
    double cpu = server_cpu() - cpu0, own = own_cpu() - own0;
    uint64_t total = 0, lo = UINT64_MAX, hi = 0;
    for (long i = 0; i < nconns; i++) {
        uint64_t k = conns[i].counted;
        total += k;
        lo = k < lo ? k : lo;
        hi = k > hi ? k : hi;
    }
    if (total == 0)
        die(NULL, "no echo in the measured interval");
    printf("ws_load: %ld connections, window %ld, %ld B: %.0f messages/s, %.2f MB/s, "
           "%llu echoes in %.2f s (per connection %llu-%llu)\n",
           nconns, window, size, (double)total / elapsed,
           (double)total * (double)size / elapsed / 1e6, (unsigned long long)total, elapsed,
           (unsigned long long)lo, (unsigned long long)hi);
    if (getenv("SERVER_PIDS") != NULL)
        printf("ws_load: server CPU %.0f%% = %.2f us/message, client CPU %.0f%%\n",
               100 * cpu / elapsed, cpu * 1e6 / (double)total, 100 * own / elapsed);
    for (long i = 0; i < nconns; i++)
        close(conns[i].fd);
    return 0;
}
