/* fixload.c - fixed-count HTTP/1.1 load client for bench/static_ipr.sh (a
 * copy of the one beside the team's shared ipr.sh, so bench/ stands on its
 * own).
 *
 * Sends exactly N GET requests to 127.0.0.1:PORT over C connections, each
 * connection keeping up to D requests in flight (pipelined in one write),
 * parses every response (status line, Content-Length; bodies are counted,
 * not kept, so they may be any size) and exits when N 200
 * responses have arrived or after a 300 s deadline. With "close" every
 * request carries "Connection: close" and uses a new connection.
 *
 * Usage: fixload PORT N [C=16] [D=1] [PATH=/plaintext] [close]
 * With FIXLOAD_BROWSER=1 in the environment each request carries the headers
 * a desktop browser sends (about 520 bytes, 12 fields) instead of Host alone.
 * Prints: "ok=<200s> bad=<others> reconnects=<n> secs=<t>"; exit 1 unless ok==N.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* A body is counted as it arrives, not kept: responses may be any size. */
typedef struct { int fd; int inflight; size_t len; int in_body, body_ok; size_t body_left;
                 char buf[65536]; } conn;
static int port, depth, closemode;
static long total, sent, ok, bad, reconn;
static char req[2048]; static size_t reqlen;

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

static int dial(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (connect(fd, (void *)&a, sizeof a)) { perror("connect"); exit(2); }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void send_batch(conn *c) {
    int k = closemode ? 1 : depth;
    if (k > total - sent) k = (int)(total - sent);
    if (k <= 0) return;
    char b[512 * 64]; size_t n = 0;
    for (int i = 0; i < k; i++) { memcpy(b + n, req, reqlen); n += reqlen; }
    for (size_t off = 0; off < n;) {
        ssize_t w = write(c->fd, b + off, n - off);
        if (w < 0) { if (errno == EINTR) continue; perror("write"); exit(2); }
        off += (size_t)w;
    }
    c->inflight += k; sent += k;
}

/* consume complete responses from c->buf; returns count consumed */
static int parse(conn *c) {
    int got = 0;
    for (;;) {
        if (!c->in_body) {
            char *e = memmem(c->buf, c->len, "\r\n\r\n", 4);
            if (!e) break;
            size_t hl = (size_t)(e - c->buf) + 4, cl = 0;
            for (char *p = c->buf; p < e; p++)
                if ((*p == '\n') && !strncasecmp(p + 1, "content-length:", 15)) { cl = strtoul(p + 16, NULL, 10); break; }
            c->body_ok = !strncmp(c->buf + 9, "200", 3);
            c->in_body = 1; c->body_left = cl;
            memmove(c->buf, c->buf + hl, c->len - hl); c->len -= hl;
        }
        size_t n = c->len < c->body_left ? c->len : c->body_left;
        memmove(c->buf, c->buf + n, c->len - n); c->len -= n; c->body_left -= n;
        if (c->body_left) break;
        c->in_body = 0;
        if (c->body_ok) ok++; else bad++;
        c->inflight--; got++;
    }
    return got;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: fixload PORT N [C] [D] [PATH] [close]\n"); return 2; }
    port = atoi(argv[1]); total = atol(argv[2]);
    int nc = argc > 3 ? atoi(argv[3]) : 16; depth = argc > 4 ? atoi(argv[4]) : 1;
    const char *path = argc > 5 ? argv[5] : "/plaintext";
    closemode = argc > 6 && !strcmp(argv[6], "close");
    if (depth < 1) depth = 1;
    if (depth > 64) depth = 64;
    const char *browser = getenv("FIXLOAD_BROWSER") && *getenv("FIXLOAD_BROWSER") == '1' ?
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n"
        "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n"
        "Accept-Language: en-US,en;q=0.9,de;q=0.8\r\n"
        "Accept-Encoding: gzip, deflate, br, zstd\r\n"
        "Referer: http://127.0.0.1/index.html\r\n"
        "Cookie: session=8f14e45fceea167a5a36dedd4bea2543; theme=dark; _ga=GA1.1.1234567890.1700000000\r\n"
        "Sec-Fetch-Dest: document\r\nSec-Fetch-Mode: navigate\r\nSec-Fetch-Site: same-origin\r\n"
        "Upgrade-Insecure-Requests: 1\r\nCache-Control: max-age=0\r\n" : "";
    reqlen = (size_t)snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s\r\n",
                              path, browser, closemode ? "Connection: close\r\n" : "");
    conn *cs = calloc((size_t)nc, sizeof *cs); struct pollfd *pf = calloc((size_t)nc, sizeof *pf);
    double t0 = now(), deadline = t0 + 300, last = t0;
    for (int i = 0; i < nc; i++) { cs[i].fd = dial(); send_batch(&cs[i]); }
    while (ok + bad < total && now() < deadline && now() - last < 20) {
        int m = 0;
        for (int i = 0; i < nc; i++) if (cs[i].fd >= 0) { pf[i].fd = cs[i].fd; pf[i].events = POLLIN; m++; } else pf[i].fd = -1;
        if (!m) break;
        if (poll(pf, (nfds_t)nc, 1000) < 0) { if (errno == EINTR) continue; perror("poll"); return 2; }
        for (int i = 0; i < nc; i++) {
            conn *c = &cs[i];
            if (c->fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
            if (r > 0) { c->len += (size_t)r; parse(c); last = now(); }
            if (r <= 0 || (closemode && c->inflight == 0)) {   /* closed (or done): reconnect */
                if (r <= 0 && c->inflight) { sent -= c->inflight; } /* resend lost ones */
                if (r <= 0 && !closemode) reconn++;
                close(c->fd); c->fd = -1; c->inflight = 0; c->len = 0; c->in_body = 0;
                if (sent < total) { c->fd = dial(); send_batch(c); }
                continue;
            }
            if (c->inflight == 0) { if (sent < total) send_batch(c); else { close(c->fd); c->fd = -1; } }
        }
    }
    double t = now() - t0;
    printf("ok=%ld bad=%ld reconnects=%ld secs=%.3f%s\n", ok, bad, reconn, t,
           ok + bad < total ? " (stalled: gave up)" : "");
    return ok == total ? 0 : 1;
}
