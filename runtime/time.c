/*
 * time.c - the loop's notion of "now" and the cached Date header value.
 * srv__time_update() runs once per event-loop iteration.  It reads the
 * coarse clocks, which the vDSO answers without a syscall, and reformats the
 * IMF-fixdate only when the second has changed, so building a response never
 * touches the clock or calls gmtime/strftime.  The value is also kept as a
 * whole "Date: ...\r\n" line, which responses copy as one block.  With
 * metrics or the JSON access log on, the iteration also reads the precise
 * clock once (ticks): the start of every request read in that iteration
 * (srv__loop_ticks).
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ms;
uint64_t srv__loop_ticks;
bool srv__loop_ticks_on;
bool srv__ticks_tsc;
double srv__ns_per_tick = 1.0;
static int64_t date_sec = -1;
static char date_buf[SRV__DATE_LEN + 1];
char srv__date_line[SRV__DATE_LINE_LEN] = "Date: ";

static void put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

void srv__date_format(char *out, int64_t t)
{
    static const char days[] = "ThuFriSatSunMonTueWed"; /* 1970-01-01 was a Thursday */
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    int64_t d = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    int64_t secs = t - d * 86400;
    unsigned wday = (unsigned)(((d % 7) + 7) % 7);

    /* Civil date from a day count (H. Hinnant's days_from_civil inverse). */
    int64_t z = d + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned mday = doy - (153 * mp + 2) / 5 + 1;
    unsigned mon = mp < 10 ? mp + 3 : mp - 9; /* 1..12 */
    if (mon <= 2)
        y++;

    memcpy(out, days + wday * 3, 3);
    out[3] = ',';
    out[4] = ' ';
    put2(out + 5, mday);
    out[7] = ' ';
    memcpy(out + 8, months + (mon - 1) * 3, 3);
    out[11] = ' ';
    unsigned yy = (unsigned)(y < 0 ? 0 : y > 9999 ? 9999 : y);
    put2(out + 12, yy / 100);
    put2(out + 14, yy % 100);
    out[16] = ' ';
    put2(out + 17, (unsigned)(secs / 3600));
    out[19] = ':';
    put2(out + 20, (unsigned)(secs / 60 % 60));
    out[22] = ':';
    put2(out + 23, (unsigned)(secs % 60));
    memcpy(out + 25, " GMT", 5); /* with the NUL */
}

void srv__time_update(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    now_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    if (SRV__UNLIKELY(srv__loop_ticks_on))
        srv__loop_ticks = srv__ticks();
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (SRV__UNLIKELY((int64_t)ts.tv_sec != date_sec)) {
        date_sec = (int64_t)ts.tv_sec;
        srv__date_format(date_buf, date_sec);
        memcpy(srv__date_line + 6, date_buf, SRV__DATE_LEN);
        memcpy(srv__date_line + 6 + SRV__DATE_LEN, "\r\n", 2);
    }
}

uint64_t srv__now_ms(void)
{
    return now_ms;
}

int64_t srv__wall_sec(void)
{
    return date_sec;
}

/* ---- Ticks ------------------------------------------------------------------ */

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Whether the kernel keeps CLOCK_MONOTONIC by the time-stamp counter: then
 * the counter is invariant and synchronised across CPUs, as the kernel
 * checked before choosing it. */
static bool kernel_uses_tsc(void)
{
    int fd = open("/sys/devices/system/clocksource/clocksource0/current_clocksource",
                  O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char name[16];
    ssize_t n = read(fd, name, sizeof name);
    close(fd);
    return n == 4 && memcmp(name, "tsc\n", 4) == 0;
}

/* The counter's ticks over 5 ms of CLOCK_MONOTONIC, each end read back to
 * back (the error is that of two readings, well under a thousandth). */
void srv__ticks_calibrate(bool clock_only)
{
    srv__ticks_tsc = false;
    srv__ns_per_tick = 1.0;
#if defined(__x86_64__)
    if (!clock_only && kernel_uses_tsc()) {
        uint64_t t0 = monotonic_ns(), c0 = __builtin_ia32_rdtsc();
        struct timespec pause = {0, 5000000};
        while (nanosleep(&pause, &pause) != 0 && errno == EINTR)
            ;
        uint64_t t1 = monotonic_ns(), c1 = __builtin_ia32_rdtsc();
        if (c1 > c0 && t1 > t0) {
            srv__ticks_tsc = true;
            srv__ns_per_tick = (double)(t1 - t0) / (double)(c1 - c0);
        }
    }
#else
    (void)clock_only;
#endif
}

const char *srv__date(void)
{
    if (SRV__UNLIKELY(date_sec < 0))
        srv__time_update();
    return date_buf;
}

/* srv__date_line is read without a check: fill it before anything runs. */
__attribute__((constructor)) static void date_init(void)
{
    srv__time_update();
}
