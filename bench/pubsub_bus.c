/*
 * pubsub_bus.c - the real bus (runtime/bus.c, through srv_publish and
 * srv_subscribe on two event loops in two processes, as two workers have
 * them): one-way latency of a 1 KiB message (half a ping-pong round trip)
 * and how many 1 KiB messages per second one worker's subscribers receive
 * from the other.  For the throughput run the publisher publishes as fast
 * as it can and, when the ring is full (the bus would drop), lets its loop
 * run and tries again: that measures what the bus carries, not what it
 * drops.  Built and run by bench/pubsub.sh against libsrv's internal
 * library.
 */
#include "internal.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MSG 1024
#define PINGS 20000

static struct srv__loop loop;
static bool got;
static long count, target;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void echo(struct srv_subscription *s, const char *ch, const void *m, size_t n, void *a)
{
    (void)s, (void)ch, (void)a;
    srv_publish("pong", m, n);
}

static void flood(struct srv_subscription *s, const char *ch, const void *m, size_t n, void *a)
{
    (void)s, (void)ch, (void)m, (void)n, (void)a;
    if (++count == target)
        srv_publish("done", "", 0);
}

static void flag(struct srv_subscription *s, const char *ch, const void *m, size_t n, void *a)
{
    (void)s, (void)ch, (void)m, (void)n, (void)a;
    got = true;
}

static void run_until_got(void)
{
    while (!got)
        srv__loop_run_once(&loop, 100);
    got = false;
}

static int cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    if (srv__bus_create(2) < 0) {
        perror("bus");
        return 1;
    }
    pid_t b = fork();
    int me = b == 0 ? 1 : 0;
    srv__worker_id_value = me;
    srv__worker_count_value = 2;
    srv__bus_attach(me);
    srv__loop_init(&loop);
    srv__bus_start(&loop);
    if (me == 1) {
        target = n;
        srv_subscribe("ping", echo, NULL);
        srv_subscribe("flood", flood, NULL);
        srv_subscribe("bye", flag, NULL);
        run_until_got();
        srv__bus_stop();
        srv__pubsub_close();
        srv__loop_close(&loop);
        _exit(0);
    }
    char msg[MSG];
    memset(msg, 'x', sizeof msg);
    srv_subscribe("pong", flag, NULL);
    srv_subscribe("done", flag, NULL);
    /* Until worker 1 has subscribed, pings reach nobody. */
    while (!got) {
        srv_publish("ping", msg, sizeof msg);
        srv__loop_run_once(&loop, 10);
    }
    while (srv__loop_run_once(&loop, 50) > 0)
        got = false; /* late pongs of the warm-up */
    got = false;

    uint64_t *rtt = malloc(PINGS * sizeof *rtt);
    for (int i = 0; i < PINGS; i++) {
        uint64_t t0 = now_ns();
        srv_publish("ping", msg, sizeof msg);
        run_until_got();
        rtt[i] = now_ns() - t0;
    }
    qsort(rtt, PINGS, sizeof *rtt, cmp);

    uint64_t retries = 0, t0 = now_ns();
    for (long i = 0; i < n; i++) {
        uint64_t before = srv__bus_dropped();
        srv_publish("flood", msg, sizeof msg);
        while (srv__bus_dropped() != before) { /* the ring was full: again */
            retries++;
            sched_yield();
            before = srv__bus_dropped();
            srv_publish("flood", msg, sizeof msg);
        }
    }
    run_until_got(); /* "done": worker 1 received all N */
    double secs = (double)(now_ns() - t0) / 1e9;
    printf("bus     latency p50 %6.1f us  p99 %6.1f us   %8.0f msg/s  %6.0f MB/s  (%llu full-ring retries)\n",
           (double)rtt[PINGS / 2] / 2000.0, (double)rtt[PINGS * 99 / 100] / 2000.0,
           (double)n / secs, (double)n * MSG / secs / 1e6, (unsigned long long)retries);
    srv_publish("bye", "", 0);
    waitpid(b, NULL, 0);
    free(rtt);
    srv__bus_stop();
    srv__pubsub_close();
    srv__loop_close(&loop);
    srv__bus_destroy();
    return 0;
}
