/*
 * log.c - one-line logging to stderr.  Each line carries "[w<id> <pid>]" so
 * the output of several workers can be told apart, and goes out in a single
 * write() so lines from different processes do not interleave.  Also holds
 * the process-model globals behind srv_worker_id()/srv_worker_count(), which
 * the process layer (worker.c, master.c) sets.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int srv__worker_id_value = 0;
int srv__worker_count_value = 1;
const char *srv__progname = "srv";

int srv_worker_id(void)
{
    return srv__worker_id_value;
}

int srv_worker_count(void)
{
    return srv__worker_count_value;
}

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

/* Writes LEN bytes of BUF to stderr, retrying short writes; a log line is
 * best effort, so errors are ignored. */
static void write_all(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

/* Appends "\n" to a formatted line, truncating it to fit BUF. */
static size_t finish_line(char *buf, size_t cap, int n)
{
    size_t len = n < 0 ? 0 : (size_t)n;
    if (len > cap - 2)
        len = cap - 2;
    buf[len++] = '\n';
    return len;
}

void srv__vlog(enum srv_log_level level, const char *fmt, va_list ap)
{
    char buf[2048];
    unsigned lv = (unsigned)level <= SRV_LOG_DEBUG ? (unsigned)level : SRV_LOG_DEBUG;
    int n = snprintf(buf, sizeof buf, "[w%d %ld] %s: ", srv__worker_id_value,
                     (long)getpid(), level_names[lv]);
    if (n < 0)
        n = 0;
    int m = vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
    write_all(buf, finish_line(buf, sizeof buf, m < 0 ? n : n + m));
}

void srv_log(enum srv_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    srv__vlog(level, fmt, ap);
    va_end(ap);
}

void srv__boot_error(const char *fmt, ...)
{
    char buf[2048];
    int n = snprintf(buf, sizeof buf, "%s: ", srv__progname);
    if (n < 0)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
    va_end(ap);
    write_all(buf, finish_line(buf, sizeof buf, m < 0 ? n : n + m));
}
