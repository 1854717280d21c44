/* Tests for runtime/bus.c: the rings between workers, in one process that
 * publishes as worker 0 and then drains as worker 1 (srv__bus_attach() is
 * called again in between): message sizes from 0 bytes to 64 KiB crossing
 * the ring's end, order, the drop rule; and a forked worker 1 that sleeps
 * in epoll_wait with no timeout while a live worker 0 publishes 4,000
 * messages (a lost wake-up would leave it asleep). */
#include "internal.h"

#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static struct srv__loop loop;

static void setup(void)
{
    ck_assert_int_eq(srv__bus_create(2), 0);
    srv__bus_attach(0);
    ck_assert_int_eq(srv__loop_init(&loop), 0);
    ck_assert_int_eq(srv__bus_start(&loop), 1);
}

static void teardown(void)
{
    srv__bus_stop();
    srv__pubsub_close();
    srv__loop_close(&loop);
    srv__bus_destroy();
}

/* From here on this process is worker 1: it drains ring 0 -> 1. */
static void become_worker_1(void)
{
    srv__bus_stop();
    srv__bus_attach(1);
    ck_assert_int_eq(srv__bus_start(&loop), 1);
}

static unsigned long got;
static size_t got_len[4096];
static bool bad_bytes;

static void on_msg(struct srv_subscription *sub, const char *channel, const void *msg,
                   size_t len, void *arg)
{
    SRV__UNUSED(sub);
    SRV__UNUSED(arg);
    ck_assert_str_eq(channel, "c");
    const unsigned char *p = msg;
    for (size_t i = 0; i < len; i++)
        if (p[i] != (unsigned char)(got + i))
            bad_bytes = true;
    got_len[got++ % 4096] = len;
}

static void fill(unsigned char *buf, unsigned long seq, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)(seq + i);
}

/* Runs the loop until nothing more arrives. */
static void drain_all(void)
{
    while (srv__loop_run_once(&loop, 0) > 0)
        ;
}

START_TEST(messages_of_every_size_cross_the_ring_end_in_order)
{
    static unsigned char buf[SRV__MESSAGE_MAX];
    /* 1 MiB ring; each round publishes < 1 MiB, then worker 1 drains it,
     * so the positions walk around the ring many times. */
    static const size_t sizes[] = {0, 1, 7, 8, 9, 1000, 4095, 65536, 65535, 30000, 12345};
    unsigned long sent = 0;
    got = 0;
    bad_bytes = false;
    for (int round = 0; round < 40; round++) {
        srv__bus_stop();
        srv__bus_attach(0);
        ck_assert_int_eq(srv__bus_start(&loop), 1);
        size_t used = 0;
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            size_t len = sizes[(k + (size_t)round) % (sizeof sizes / sizeof sizes[0])];
            fill(buf, sent, len);
            ck_assert_int_eq(srv_publish("c", buf, len), 0); /* no local subscriber */
            sent++;
            used += len;
        }
        ck_assert_uint_lt(used, 1u << 20);
        ck_assert_uint_eq(srv__bus_dropped(), 0);
        become_worker_1();
        struct srv_subscription *s = srv_subscribe("c", on_msg, NULL);
        drain_all();
        srv_unsubscribe(s);
        ck_assert_uint_eq(got, sent);
        ck_assert(!bad_bytes);
    }
}
END_TEST

START_TEST(a_full_ring_drops_the_newest_messages_and_counts_them)
{
    static unsigned char buf[60000];
    for (unsigned long i = 0; i < 40; i++) {
        fill(buf, i, sizeof buf);
        srv_publish("c", buf, sizeof buf);
    }
    /* 1 MiB holds 17 records of 60000 + 10 bytes. */
    ck_assert_uint_eq(srv__bus_dropped(), 40 - 17);
    become_worker_1();
    got = 0;
    bad_bytes = false;
    srv_subscribe("c", on_msg, NULL);
    drain_all();
    ck_assert_uint_eq(got, 17); /* the oldest 17, intact, in order */
    ck_assert(!bad_bytes);
}
END_TEST

static void count_only(struct srv_subscription *sub, const char *channel, const void *msg,
                       size_t len, void *arg)
{
    SRV__UNUSED(sub);
    SRV__UNUSED(channel);
    SRV__UNUSED(msg);
    SRV__UNUSED(len);
    SRV__UNUSED(arg);
    got++;
}

START_TEST(a_forked_worker_receives_what_a_live_one_publishes)
{
    int ready[2];
    ck_assert_int_eq(pipe(ready), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a timed-out test */
        close(ready[0]);
        become_worker_1();
        got = 0;
        srv_subscribe("c", count_only, NULL);
        ck_assert_int_eq(write(ready[1], "r", 1), 1);
        /* No timeout: a lost wake-up would leave this child asleep for
         * good, and the test fails by its time limit. */
        while (got < 4000)
            srv__loop_run_once(&loop, -1);
        _exit(0);
    }
    close(ready[1]);
    char c;
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    close(ready[0]);
    unsigned long sent = 0;
    while (sent < 4000) {
        uint64_t before = srv__bus_dropped();
        srv_publish("c", "0123456789abcdef", 16);
        if (srv__bus_dropped() == before)
            sent++;
        else
            usleep(100); /* the ring is full: let the receiver run */
        /* Pauses let the receiver catch up and fall asleep again and
         * again: each time only the next publish's wake-up brings it back. */
        if (sent % 4 == 0)
            usleep(20);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
END_TEST

START_TEST(one_process_or_one_worker_has_no_bus)
{
    ck_assert_int_eq(srv__bus_create(1), 0);
    srv__bus_stop();
    srv__bus_destroy();
    srv__bus_attach(0); /* nothing to attach to: a no-op */
    ck_assert_int_eq(srv__bus_start(&loop), 0);
    srv__bus_create(2); /* for teardown */
}
END_TEST

static Suite *bus_suite(void)
{
    Suite *s = suite_create("runtime/bus");
    TCase *tc = tcase_create("rings");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, messages_of_every_size_cross_the_ring_end_in_order);
    tcase_add_test(tc, a_full_ring_drops_the_newest_messages_and_counts_them);
    tcase_add_test(tc, a_forked_worker_receives_what_a_live_one_publishes);
    tcase_add_test(tc, one_process_or_one_worker_has_no_bus);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(bus_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
