/* Tests for runtime/loop.c: the users' timers (order, repeats, stopping
 * inside callbacks, thousands of them) and fd watches (readable, writable,
 * stopping inside callbacks, a watch stopped while its event is pending in
 * the same batch), on a real epoll loop. */
#include "internal.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct srv__loop loop;

static void setup(void)
{
    ck_assert_int_eq(srv__loop_init(&loop), 0);
}

static void teardown(void)
{
    srv__loop_close(&loop); /* frees what a test left running (LeakSanitizer) */
}

/* Runs the loop until *DONE or LIMIT_MS pass. */
static void run_until(const bool *done, uint64_t limit_ms)
{
    uint64_t end = srv__clock_ms() + limit_ms;
    while (!*done && srv__clock_ms() < end)
        srv__loop_run_once(&loop, 10);
}

/* ---- timers ---------------------------------------------------------------- */

static int order[64];
static int norder;
static bool all_done;

static void record(struct srv_timer *t, void *arg)
{
    SRV__UNUSED(t);
    order[norder++] = (int)(intptr_t)arg;
    all_done = norder >= 5;
}

START_TEST(timers_fire_by_deadline_then_start_order)
{
    norder = 0;
    all_done = false;
    srv_timer_start(30, 0, record, (void *)3);
    srv_timer_start(10, 0, record, (void *)1);
    srv_timer_start(20, 0, record, (void *)2);
    srv_timer_start(10, 0, record, (void *)11); /* same deadline: after 1 */
    srv_timer_start(0, 0, record, (void *)0);
    run_until(&all_done, 2000);
    ck_assert_int_eq(norder, 5);
    int want[] = {0, 1, 11, 2, 3};
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(order[i], want[i]);
    ck_assert_uint_eq(loop.ntimers, 0); /* one-shot timers are gone */
}
END_TEST

START_TEST(loop_sleeps_until_the_earliest_timer)
{
    norder = 0;
    all_done = false;
    uint64_t t0 = srv__clock_ms();
    srv_timer_start(40, 0, record, (void *)7);
    /* No descriptor is ready: epoll_wait(-1) must still end for the timer. */
    int n = srv__loop_run_once(&loop, -1);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(norder, 1);
    ck_assert_uint_ge(srv__clock_ms() - t0, 40);
}
END_TEST

static int ticks;
static uint64_t tick_at[16];

static void tick_stop_at_3(struct srv_timer *t, void *arg)
{
    SRV__UNUSED(arg);
    tick_at[ticks++] = srv__clock_ms();
    if (ticks == 3)
        srv_timer_stop(t); /* inside its own callback */
}

START_TEST(repeating_timer_repeats_until_stopped_in_its_callback)
{
    ticks = 0;
    uint64_t t0 = srv__clock_ms();
    srv_timer_start(5, 10, tick_stop_at_3, NULL);
    uint64_t end = t0 + 300;
    while (srv__clock_ms() < end)
        srv__loop_run_once(&loop, 10);
    ck_assert_int_eq(ticks, 3);
    ck_assert_uint_eq(loop.ntimers, 0);
    /* On the grid of the first deadline: 5, 15, 25 ms after the start. */
    ck_assert_uint_ge(tick_at[0] - t0, 5);
    ck_assert_uint_ge(tick_at[1] - t0, 15);
    ck_assert_uint_ge(tick_at[2] - t0, 25);
}
END_TEST

static void tick_slow_first(struct srv_timer *t, void *arg)
{
    SRV__UNUSED(t);
    SRV__UNUSED(arg);
    tick_at[ticks++] = srv__clock_ms();
    if (ticks == 1) {
        struct timespec ts = {0, 55 * 1000 * 1000};
        nanosleep(&ts, NULL); /* a callback that blocks for 5.5 periods */
    }
}

START_TEST(repeating_timer_neither_drifts_nor_bursts_after_a_long_callback)
{
    ticks = 0;
    uint64_t t0 = srv__clock_ms();
    struct srv_timer *t = srv_timer_start(10, 10, tick_slow_first, NULL);
    while (ticks < 4 && srv__clock_ms() < t0 + 2000)
        srv__loop_run_once(&loop, 50);
    srv_timer_stop(t);
    ck_assert_int_eq(ticks, 4);
    /* The first call ran 10..65 ms; the ticks at 20..60 were missed and are
     * skipped, not run in a burst at 65: the next is at 70, then 80, 90 -
     * on the first grid (a loaded machine may run each one later, never
     * sooner). */
    for (int i = 1; i < 4; i++)
        ck_assert_uint_ge(tick_at[i] - t0, (uint64_t)(60 + 10 * i));
}
END_TEST

static struct srv_timer *victim;
static int victim_calls;

static void stop_victim(struct srv_timer *t, void *arg)
{
    SRV__UNUSED(t);
    SRV__UNUSED(arg);
    srv_timer_stop(victim);
    all_done = true;
}

static void count_victim(struct srv_timer *t, void *arg)
{
    SRV__UNUSED(t);
    SRV__UNUSED(arg);
    victim_calls++;
}

START_TEST(a_timer_stopped_by_another_due_at_once_never_runs)
{
    all_done = false;
    victim_calls = 0;
    srv_timer_start(5, 0, stop_victim, NULL);
    victim = srv_timer_start(5, 5, count_victim, NULL); /* same deadline, after */
    run_until(&all_done, 1000);
    for (int i = 0; i < 5; i++)
        srv__loop_run_once(&loop, 10);
    ck_assert_int_eq(victim_calls, 0);
    ck_assert_uint_eq(loop.ntimers, 0);
}
END_TEST

static int restarts;

static void restart_at_once(struct srv_timer *t, void *arg)
{
    SRV__UNUSED(t);
    SRV__UNUSED(arg);
    restarts++;
    srv_timer_start(0, 0, restart_at_once, NULL);
}

START_TEST(a_timer_started_at_zero_in_a_callback_waits_for_the_next_iteration)
{
    restarts = 0;
    srv_timer_start(0, 0, restart_at_once, NULL);
    srv__loop_run_once(&loop, 0);
    ck_assert_int_eq(restarts, 1);
    srv__loop_run_once(&loop, 0);
    ck_assert_int_eq(restarts, 2);
    /* The one still queued is freed by srv__loop_close (teardown). */
}
END_TEST

#define MANY 20000
/* Each timer's deadline lies in [due_lo, due_hi]: the clock is read just
 * before and just after srv_timer_start() reads it. */
static uint64_t due_lo[MANY], due_hi[MANY];
static int fired[MANY];              /* which timer each call was, in call order */
static int nfired;
static unsigned char fired_flag[MANY];

static void many_cb(struct srv_timer *t, void *arg)
{
    SRV__UNUSED(t);
    int i = (int)(intptr_t)arg;
    fired_flag[i]++;
    fired[nfired++] = i;
    ck_assert_uint_ge(srv__clock_ms(), due_lo[i]); /* never early */
}

START_TEST(thousands_of_timers_fire_once_each_and_stop_in_any_order)
{
    static struct srv_timer *ts[MANY];
    nfired = 0;
    memset(fired_flag, 0, sizeof fired_flag);
    srand(7);
    for (int i = 0; i < MANY; i++) {
        uint64_t after = (uint64_t)(rand() % 60);
        due_lo[i] = srv__clock_ms() + after;
        ts[i] = srv_timer_start(after, 0, many_cb, (void *)(intptr_t)i);
        due_hi[i] = srv__clock_ms() + after;
    }
    ck_assert_uint_eq(loop.ntimers, MANY);
    /* Stop every third one, in a scattered order: heap removal from the
     * middle. */
    int stopped = 0;
    for (int i = MANY - 1; i >= 0; i -= 3) {
        srv_timer_stop(ts[i]);
        ts[i] = NULL;
        stopped++;
    }
    uint64_t end = srv__clock_ms() + 3000;
    while (loop.ntimers > 0 && srv__clock_ms() < end)
        srv__loop_run_once(&loop, 10);
    ck_assert_int_eq(nfired, MANY - stopped);
    for (int i = 0; i < MANY; i++)
        ck_assert_int_eq(fired_flag[i], ts[i] ? 1 : 0);
    /* In deadline order: a call before another never had a deadline
     * surely later than the other's. */
    for (int k = 1; k < nfired; k++)
        ck_assert_uint_le(due_lo[fired[k - 1]], due_hi[fired[k]]);
}
END_TEST

START_TEST(timers_and_watches_fail_outside_a_loop)
{
    srv__loop_close(&loop);
    ck_assert_ptr_null(srv__loop_current());
    errno = 0;
    ck_assert_ptr_null(srv_timer_start(1, 0, record, NULL));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(srv_watch_fd(0, SRV_READABLE, NULL, NULL));
    ck_assert_int_eq(errno, EINVAL);
    srv_timer_stop(NULL);
    srv_watch_stop(NULL);
    ck_assert_int_eq(srv__loop_init(&loop), 0); /* for teardown */
}
END_TEST

/* ---- watches ----------------------------------------------------------- */

static int calls_a, calls_b;
static unsigned last_events;
static struct srv_watch *wa, *wb;

static void on_a(struct srv_watch *w, int fd, unsigned events, void *arg)
{
    SRV__UNUSED(w);
    SRV__UNUSED(fd);
    SRV__UNUSED(arg);
    calls_a++;
    last_events = events;
}

static void pipe_nb(int p[2])
{
    ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
}

START_TEST(a_readable_pipe_calls_the_watch_until_drained)
{
    int p[2];
    pipe_nb(p);
    calls_a = 0;
    wa = srv_watch_fd(p[0], SRV_READABLE, on_a, NULL);
    ck_assert_ptr_nonnull(wa);
    srv__loop_run_once(&loop, 0);
    ck_assert_int_eq(calls_a, 0);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    srv__loop_run_once(&loop, 1000);
    ck_assert_int_eq(calls_a, 1);
    ck_assert_uint_eq(last_events, SRV_READABLE);
    srv__loop_run_once(&loop, 0); /* level-triggered: still readable */
    ck_assert_int_eq(calls_a, 2);
    char c;
    ck_assert_int_eq(read(p[0], &c, 1), 1);
    srv__loop_run_once(&loop, 0);
    ck_assert_int_eq(calls_a, 2);
    /* Paused: no call although readable. */
    ck_assert_int_eq(write(p[1], "y", 1), 1);
    ck_assert_int_eq(srv_watch_set(wa, 0), 0);
    srv__loop_run_once(&loop, 0);
    ck_assert_int_eq(calls_a, 2);
    ck_assert_int_eq(srv_watch_set(wa, SRV_READABLE), 0);
    srv__loop_run_once(&loop, 0);
    ck_assert_int_eq(calls_a, 3);
    ck_assert_int_eq(srv_watch_set(wa, 4), -EINVAL);
    srv_watch_stop(wa);
    close(p[0]);
    close(p[1]);
}
END_TEST

START_TEST(a_pipe_with_room_is_writable_and_a_hang_up_is_reported)
{
    int p[2];
    pipe_nb(p);
    calls_a = 0;
    wa = srv_watch_fd(p[1], SRV_WRITABLE, on_a, NULL);
    ck_assert_ptr_nonnull(wa);
    srv__loop_run_once(&loop, 1000);
    ck_assert_int_eq(calls_a, 1);
    ck_assert_uint_eq(last_events, SRV_WRITABLE);
    srv_watch_stop(wa);

    /* The reader sees the writer's close as readable (read() then says 0). */
    calls_a = 0;
    wa = srv_watch_fd(p[0], SRV_READABLE | SRV_WRITABLE, on_a, NULL);
    ck_assert_ptr_nonnull(wa);
    close(p[1]);
    srv__loop_run_once(&loop, 1000);
    ck_assert_int_eq(calls_a, 1);
    ck_assert(last_events & SRV_READABLE);
    srv_watch_stop(wa);
    close(p[0]);
}
END_TEST

static void stop_self(struct srv_watch *w, int fd, unsigned events, void *arg)
{
    SRV__UNUSED(fd);
    SRV__UNUSED(events);
    SRV__UNUSED(arg);
    calls_a++;
    srv_watch_stop(w);
}

START_TEST(a_watch_may_stop_itself_in_its_callback)
{
    int p[2];
    pipe_nb(p);
    calls_a = 0;
    ck_assert_ptr_nonnull(srv_watch_fd(p[0], SRV_READABLE, stop_self, NULL));
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    srv__loop_run_once(&loop, 1000);
    srv__loop_run_once(&loop, 0);
    ck_assert_int_eq(calls_a, 1);
    ck_assert_ptr_null(loop.watches);
    close(p[0]);
    close(p[1]);
}
END_TEST

static int pa[2], pb[2];

/* Whichever of the two runs first stops the other, closes its pipe and
 * opens a new one that may reuse the descriptor numbers. */
static void stop_other(struct srv_watch *w, int fd, unsigned events, void *arg)
{
    SRV__UNUSED(fd);
    SRV__UNUSED(events);
    SRV__UNUSED(arg);
    if (w == wa) {
        calls_a++;
        if (wb == NULL)
            return;
        srv_watch_stop(wb);
        wb = NULL;
        close(pb[0]);
        close(pb[1]);
        pipe_nb(pb);
    } else {
        calls_b++;
        if (wa == NULL)
            return;
        srv_watch_stop(wa);
        wa = NULL;
        close(pa[0]);
        close(pa[1]);
        pipe_nb(pa);
    }
}

START_TEST(a_watch_stopped_while_its_event_is_pending_is_not_called)
{
    pipe_nb(pa);
    pipe_nb(pb);
    calls_a = calls_b = 0;
    wa = srv_watch_fd(pa[0], SRV_READABLE, stop_other, NULL);
    wb = srv_watch_fd(pb[0], SRV_READABLE, stop_other, NULL);
    ck_assert_ptr_nonnull(wa);
    ck_assert_ptr_nonnull(wb);
    /* Both readable before the wait: one epoll batch holds both events. */
    ck_assert_int_eq(write(pa[1], "x", 1), 1);
    ck_assert_int_eq(write(pb[1], "x", 1), 1);
    int n = srv__loop_run_once(&loop, 1000);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(calls_a + calls_b, 1);
    /* The survivor goes on working. */
    srv__loop_run_once(&loop, 0);
    ck_assert_int_eq(calls_a + calls_b, 2);
    ck_assert_ptr_null(loop.stopped);
    srv_watch_stop(wa ? wa : wb);
    close(pa[0]);
    close(pa[1]);
    close(pb[0]);
    close(pb[1]);
}
END_TEST

START_TEST(descriptors_that_cannot_be_watched_are_refused)
{
    errno = 0;
    ck_assert_ptr_null(srv_watch_fd(-1, SRV_READABLE, on_a, NULL));
    ck_assert_int_eq(errno, EBADF);
    char path[] = "/tmp/srv-test-loop-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    errno = 0;
    ck_assert_ptr_null(srv_watch_fd(fd, SRV_READABLE, on_a, NULL));
    ck_assert_int_eq(errno, EPERM); /* epoll refuses regular files */
    close(fd);
    int p[2];
    pipe_nb(p);
    struct srv_watch *w = srv_watch_fd(p[0], SRV_READABLE, on_a, NULL);
    ck_assert_ptr_nonnull(w);
    errno = 0;
    ck_assert_ptr_null(srv_watch_fd(p[0], SRV_READABLE, on_a, NULL));
    ck_assert_int_eq(errno, EEXIST);
    ck_assert_ptr_null(srv_watch_fd(p[0], 8, on_a, NULL));
    /* Left running: srv__loop_close frees it (LeakSanitizer checks). */
    close(p[1]);
}
END_TEST

static Suite *loop_suite(void)
{
    Suite *s = suite_create("runtime/loop");
    TCase *tc = tcase_create("timers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, timers_fire_by_deadline_then_start_order);
    tcase_add_test(tc, loop_sleeps_until_the_earliest_timer);
    tcase_add_test(tc, repeating_timer_repeats_until_stopped_in_its_callback);
    tcase_add_test(tc, repeating_timer_neither_drifts_nor_bursts_after_a_long_callback);
    tcase_add_test(tc, a_timer_stopped_by_another_due_at_once_never_runs);
    tcase_add_test(tc, a_timer_started_at_zero_in_a_callback_waits_for_the_next_iteration);
    tcase_add_test(tc, thousands_of_timers_fire_once_each_and_stop_in_any_order);
    tcase_add_test(tc, timers_and_watches_fail_outside_a_loop);
    suite_add_tcase(s, tc);
    tc = tcase_create("watches");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, a_readable_pipe_calls_the_watch_until_drained);
    tcase_add_test(tc, a_pipe_with_room_is_writable_and_a_hang_up_is_reported);
    tcase_add_test(tc, a_watch_may_stop_itself_in_its_callback);
    tcase_add_test(tc, a_watch_stopped_while_its_event_is_pending_is_not_called);
    tcase_add_test(tc, descriptors_that_cannot_be_watched_are_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(loop_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
