/*
 * accesslog.c - the access log (`log combined;`, `log json;`, `log "FILE"
 * FORMAT;`).  One line per response, formatted by hand into a per-worker
 * buffer and written in whole lines: when the buffer fills, at least once a
 * second (the worker's loop calls srv__access_log_tick), and at shutdown.  A
 * busy server therefore pays no syscall per request, and lines from several
 * workers never interleave: a regular file is opened O_APPEND (each write
 * lands whole at the end), and on a pipe or socket (stderr under systemd or a
 * container runtime) every write is cut at a line boundary to at most
 * PIPE_BUF bytes, the size the kernel writes atomically.
 *
 * What is logged is what the request looked like to the handler: the decoded
 * path and the raw query.  Bytes a terminal or a log parser could choke on
 * are escaped: in the combined format as \xHH (as nginx does), in JSON by the
 * JSON rules, with invalid UTF-8 as \ufffd so each line stays valid JSON.
 * Each field is cut at FIELD_MAX bytes, so a line is bounded.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE (64u * 1024)
#define FIELD_MAX 1024       /* bytes of one field (path, agent, ...) before escaping */
#define FLUSH_EVERY_MS 1000

struct srv__access_log srv__access_log_main = {.fd = -1};

/* ---- Opening ---------------------------------------------------------------- */

static int open_target(const char *path, bool *pipe_like)
{
    int fd;
    if (path == NULL) {
        fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    } else {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0644);
    }
    if (fd < 0)
        return -errno;
    struct stat st;
    *pipe_like = fstat(fd, &st) == 0 && !S_ISREG(st.st_mode);
    return fd;
}

int srv__access_log_open(struct srv__access_log *l, enum srv_access_log format,
                         const char *path)
{
    memset(l, 0, sizeof *l);
    l->fd = -1;
    l->format = format;
    l->path = path;
    l->stamp_sec = -1;
    if (format == SRV_ACCESS_LOG_OFF)
        return 0;
    int fd = open_target(path, &l->pipe_like);
    if (fd < 0)
        return fd;
    l->fd = fd;
    l->buf = srv__xmalloc(BUF_SIZE);
    l->cap = BUF_SIZE;
    l->flushed_ms = srv__now_ms();
    return 0;
}

int srv__access_log_reopen(struct srv__access_log *l)
{
    if (l->fd < 0 || l->path == NULL)
        return 0; /* stderr is not rotated by us */
    srv__access_log_flush(l);
    bool pipe_like;
    int fd = open_target(l->path, &pipe_like);
    if (fd < 0)
        return fd;
    /* dup2 keeps the descriptor number: nothing else needs to know. */
    if (dup3(fd, l->fd, O_CLOEXEC) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    close(fd);
    l->pipe_like = pipe_like;
    return 0;
}

void srv__access_log_close(struct srv__access_log *l)
{
    if (l->fd < 0)
        return;
    srv__access_log_flush(l);
    close(l->fd);
    free(l->buf);
    l->fd = -1;
    l->buf = NULL;
}

/* ---- Writing ---------------------------------------------------------------- */

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* a full disk or a closed pipe must not stop serving */
        p += w;
        n -= (size_t)w;
    }
}

void srv__access_log_flush(struct srv__access_log *l)
{
    l->flushed_ms = srv__now_ms();
    if (l->len == 0 || l->fd < 0)
        return;
    const char *p = l->buf;
    size_t left = l->len;
    while (left > 0) {
        size_t n = left;
        if (l->pipe_like && n > PIPE_BUF) {
            /* The last whole line within PIPE_BUF; a single longer line
             * (kilobytes of user agent) goes alone. */
            const char *nl = memrchr(p, '\n', PIPE_BUF);
            n = nl ? (size_t)(nl - p) + 1 : (size_t)((const char *)memchr(p, '\n', left) - p) + 1;
        }
        write_all(l->fd, p, n);
        p += n;
        left -= n;
    }
    l->len = 0;
}

void srv__access_log_tick(struct srv__access_log *l, uint64_t now_ms)
{
    if (l->len > 0 && now_ms - l->flushed_ms >= FLUSH_EVERY_MS)
        srv__access_log_flush(l);
}

int srv__access_log_wait_ms(const struct srv__access_log *l, uint64_t now_ms)
{
    if (l->len == 0)
        return -1;
    uint64_t due = l->flushed_ms + FLUSH_EVERY_MS;
    return due <= now_ms ? 0 : (int)(due - now_ms);
}

/* ---- Formatting ------------------------------------------------------------- */

static const char hexd[] = "0123456789abcdef";


/* Bytes both formats copy as they are: printable ASCII except '"' and
 * '\\'.  Runs of them are copied 8 at a time (plain8); the table serves the
 * last few bytes of a field. */
static const uint8_t plain[256] = {
    [0x20] = 1, [0x21] = 1, [0x23] = 1, [0x24] = 1, [0x25] = 1, [0x26] = 1, [0x27] = 1,
    [0x28] = 1, [0x29] = 1, [0x2a] = 1, [0x2b] = 1, [0x2c] = 1, [0x2d] = 1, [0x2e] = 1,
    [0x2f] = 1, [0x30] = 1, [0x31] = 1, [0x32] = 1, [0x33] = 1, [0x34] = 1, [0x35] = 1,
    [0x36] = 1, [0x37] = 1, [0x38] = 1, [0x39] = 1, [0x3a] = 1, [0x3b] = 1, [0x3c] = 1,
    [0x3d] = 1, [0x3e] = 1, [0x3f] = 1, [0x40] = 1, [0x41] = 1, [0x42] = 1, [0x43] = 1,
    [0x44] = 1, [0x45] = 1, [0x46] = 1, [0x47] = 1, [0x48] = 1, [0x49] = 1, [0x4a] = 1,
    [0x4b] = 1, [0x4c] = 1, [0x4d] = 1, [0x4e] = 1, [0x4f] = 1, [0x50] = 1, [0x51] = 1,
    [0x52] = 1, [0x53] = 1, [0x54] = 1, [0x55] = 1, [0x56] = 1, [0x57] = 1, [0x58] = 1,
    [0x59] = 1, [0x5a] = 1, [0x5b] = 1, [0x5d] = 1, [0x5e] = 1, [0x5f] = 1, [0x60] = 1,
    [0x61] = 1, [0x62] = 1, [0x63] = 1, [0x64] = 1, [0x65] = 1, [0x66] = 1, [0x67] = 1,
    [0x68] = 1, [0x69] = 1, [0x6a] = 1, [0x6b] = 1, [0x6c] = 1, [0x6d] = 1, [0x6e] = 1,
    [0x6f] = 1, [0x70] = 1, [0x71] = 1, [0x72] = 1, [0x73] = 1, [0x74] = 1, [0x75] = 1,
    [0x76] = 1, [0x77] = 1, [0x78] = 1, [0x79] = 1, [0x7a] = 1, [0x7b] = 1, [0x7c] = 1,
    [0x7d] = 1, [0x7e] = 1,
};

/* How many of the 8 bytes at S are plain before the first that is not,
 * copying them to P (all 8 bytes are stored: the line has room, see
 * LINE_WORST, and the caller writes over the rest).  The arithmetic sets
 * the high bit of each byte below 0x20, above 0x7e, '"' or '\\'; its
 * carries and borrows only ever run from a flagged byte towards higher
 * ones, so the lowest flag, the first in memory on a little-endian
 * machine, is exact. */
static inline size_t plain8(char *p, const unsigned char *s)
{
    uint64_t x;
    memcpy(&x, s, 8);
    memcpy(p, &x, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t quote = x ^ (ones * '"'), backslash = x ^ (ones * '\\');
    uint64_t flags = ((x - ones * 0x20) & ~x) | (x + ones) | x |
                     ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash);
    flags &= highs;
    return flags == 0 ? 8 : (size_t)__builtin_ctzll(flags) >> 3;
#else
    size_t k = 0;
    while (k < 8 && plain[s[k]])
        k++;
    return k;
#endif
}

/* Combined format: bytes that are not printable ASCII, '"' and '\\' as \xHH. */
static inline char *put_clf(char *p, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    if (n > FIELD_MAX)
        n = FIELD_MAX;
    size_t i = 0;
    while (i < n) {
        if (n - i >= 8) {
            size_t k = plain8(p, u + i);
            p += k;
            i += k;
            if (k == 8)
                continue;
        } else if (SRV__LIKELY(plain[u[i]])) {
            *p++ = (char)u[i++];
            continue;
        }
        unsigned char c = u[i++]; /* not plain */
        p[0] = '\\';
        p[1] = 'x';
        p[2] = hexd[c >> 4];
        p[3] = hexd[c & 15];
        p += 4;
    }
    return p;
}

/* The length of the valid UTF-8 sequence at S (N bytes left), or 0 if the
 * bytes there are not one (RFC 3629: no overlongs, no surrogates, <= U+10FFFF). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned lo = 0x80, hi = 0xbf;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

/* A JSON string body: '"', '\\' and control characters escaped, invalid
 * UTF-8 bytes as \ufffd. */
static inline char *put_json(char *p, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    if (n > FIELD_MAX)
        n = FIELD_MAX;
    for (size_t i = 0; i < n;) {
        if (n - i >= 8) {
            size_t k = plain8(p, u + i);
            p += k;
            i += k;
            if (k == 8)
                continue;
        } else if (SRV__LIKELY(plain[u[i]])) {
            *p++ = (char)u[i++];
            continue;
        }
        unsigned char c = u[i]; /* not plain */
        if (c == '"' || c == '\\') {
            p[0] = '\\';
            p[1] = (char)c;
            p += 2;
            i++;
            continue;
        }
        if (c < 0x20 || c == 0x7f) {
            memcpy(p, "\\u00", 4);
            p[4] = hexd[c >> 4];
            p[5] = hexd[c & 15];
            p += 6;
            i++;
            continue;
        }
        size_t k = utf8_len(u + i, n - i);
        if (k == 0) {
            memcpy(p, "\\ufffd", 6);
            p += 6;
            i++;
        } else {
            memcpy(p, u + i, k);
            p += k;
            i += k;
        }
    }
    return p;
}

static void put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
}

/* The per-second timestamps: "[30/Nov/2026:02:00:00 +0000]" and
 * "2026-11-30T02:00:00Z" (no strftime: its month names follow the locale). */
static void stamp(struct srv__access_log *l)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    /* The loop's clock, read once per iteration for the Date header. */
    time_t sec = (time_t)srv__wall_sec();
    if (sec == l->stamp_sec)
        return;
    l->stamp_sec = sec;
    struct tm tm;
    gmtime_r(&sec, &tm);
    int year = tm.tm_year + 1900;
    char *p = l->stamp;
    if (l->format == SRV_ACCESS_LOG_JSON) {
        put2(p, year / 100);
        put2(p + 2, year);
        p[4] = '-';
        put2(p + 5, tm.tm_mon + 1);
        p[7] = '-';
        put2(p + 8, tm.tm_mday);
        p[10] = 'T';
        put2(p + 11, tm.tm_hour);
        p[13] = ':';
        put2(p + 14, tm.tm_min);
        p[16] = ':';
        put2(p + 17, tm.tm_sec);
        p[19] = 'Z';
        l->stamp_len = 20;
    } else {
        p[0] = '[';
        put2(p + 1, tm.tm_mday);
        p[3] = '/';
        memcpy(p + 4, months + 3 * tm.tm_mon, 3);
        p[7] = '/';
        put2(p + 8, year / 100);
        put2(p + 10, year);
        p[12] = ':';
        put2(p + 13, tm.tm_hour);
        p[15] = ':';
        put2(p + 16, tm.tm_min);
        p[18] = ':';
        put2(p + 19, tm.tm_sec);
        memcpy(p + 21, " +0000]", 7);
        l->stamp_len = 28;
    }
}

/* Worst case of one line: every field escaped at 6 bytes a byte. */
#define LINE_WORST (6 * 5 * FIELD_MAX + 512)

void srv__access_log_add(struct srv__access_log *l, const struct srv__access_entry *e)
{
    if (l->fd < 0)
        return;
    if (l->cap - l->len < LINE_WORST) {
        srv__access_log_flush(l);
        if (l->cap < LINE_WORST) {
            l->buf = srv__xrealloc(l->buf, LINE_WORST);
            l->cap = LINE_WORST;
        }
    }
    stamp(l);
    char *line = l->buf + l->len, *p = line;
    const char *peer = e->peer_len ? e->peer : "-";
    size_t peer_len = e->peer_len ? e->peer_len : 1;
    if (l->format == SRV_ACCESS_LOG_JSON) {
        memcpy(p, "{\"time\":\"", 9);
        p += 9;
        memcpy(p, l->stamp, l->stamp_len);
        p += l->stamp_len;
        /* The address and the method (a token) need no escaping. */
        memcpy(p, "\",\"peer\":\"", 10);
        srv__copy(p + 10, peer, peer_len);
        p += 10 + peer_len;
        memcpy(p, "\",\"method\":\"", 12);
        srv__copy(p + 12, e->method, e->method_len);
        p += 12 + e->method_len;
        memcpy(p, "\",\"path\":\"", 10);
        p = put_json(p + 10, e->path, e->path_len);
        *p++ = '"';
        if (e->query) {
            memcpy(p, ",\"query\":\"", 10);
            p = put_json(p + 10, e->query, e->query_len);
            *p++ = '"';
        }
        memcpy(p, ",\"status\":", 10);
        p = srv__put_uint(p + 10, (uint64_t)e->status);
        memcpy(p, ",\"bytes\":", 9);
        p = srv__put_uint(p + 9, e->bytes);
        memcpy(p, ",\"duration_us\":", 15);
        p = srv__put_uint(p + 15, e->duration_us);
        if (e->user_agent) {
            memcpy(p, ",\"user_agent\":\"", 15);
            p = put_json(p + 15, e->user_agent, e->user_agent_len);
            *p++ = '"';
        }
        if (e->referer) {
            memcpy(p, ",\"referer\":\"", 12);
            p = put_json(p + 12, e->referer, e->referer_len);
            *p++ = '"';
        }
        memcpy(p, ",\"worker\":", 10);
        p = srv__put_uint(p + 10, (uint64_t)(srv__worker_id_value < 0 ? 0 : srv__worker_id_value));
        *p++ = '}';
    } else {
        /* %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i".  The
         * address and the method (a token) need no escaping; the line has
         * LINE_WORST bytes of room, so short copies may overshoot. */
        srv__copy(p, peer, peer_len);
        p += peer_len;
        memcpy(p, " - - ", 5);
        p += 5;
        memcpy(p, l->stamp, 28);
        p += l->stamp_len;
        *p++ = ' ';
        *p++ = '"';
        srv__copy(p, e->method, e->method_len);
        p += e->method_len;
        *p++ = ' ';
        p = put_clf(p, e->path, e->path_len);
        if (e->query) {
            *p++ = '?';
            p = put_clf(p, e->query, e->query_len);
        }
        memcpy(p, e->version_minor ? " HTTP/1.1\" " : " HTTP/1.0\" ", 11);
        p += 11;
        unsigned st = (unsigned)e->status % 1000;
        p[0] = (char)('0' + st / 100);
        p[1] = (char)('0' + st / 10 % 10);
        p[2] = (char)('0' + st % 10);
        p[3] = ' ';
        p += 4;
        if (e->bytes)
            p = srv__put_uint(p, e->bytes);
        else
            *p++ = '-';
        memcpy(p, " \"", 2);
        p += 2;
        if (e->referer)
            p = put_clf(p, e->referer, e->referer_len);
        else
            *p++ = '-';
        memcpy(p, "\" \"", 3);
        p += 3;
        if (e->user_agent)
            p = put_clf(p, e->user_agent, e->user_agent_len);
        else
            *p++ = '-';
        *p++ = '"';
    }
    *p++ = '\n';
    l->len += (size_t)(p - line);
}
