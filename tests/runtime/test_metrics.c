/* Tests for runtime/metrics.c: counting into per-worker slots, summing
 * them (across a fork, as the workers do), the histogram's buckets and
 * bounds (in ticks, measured against the monotonic clock), status classes,
 * the gauge a replacement resets, the master's counters, and the text in
 * the Prometheus format, read back line by line. */
#include "internal.h"

#include "fixture.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The rendered text, NUL-terminated (a copy owned by the test). */
static char *render(void)
{
    fixture_begin();
    ck_assert_int_eq(srv__metrics_render(&fx_res), 0);
    size_t len;
    const char *body = srv_response_get_body(&fx_res, &len);
    char *copy = malloc(len + 1);
    memcpy(copy, body, len);
    copy[len] = '\0';
    ck_assert_str_eq(srv_response_header(&fx_res, "content-type"),
                     "text/plain; version=0.0.4; charset=utf-8");
    fixture_end();
    return copy;
}

/* The value of the sample whose name and labels are exactly SERIES. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; *p; p = strchr(p, '\n') + 1) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        if (strchr(p, '\n') == NULL)
            break;
    }
    ck_abort_msg("no sample %s in:\n%s", series, text);
    return -1;
}

static void teardown(void)
{
    srv__metrics_destroy();
}

/* US microseconds in ticks (the unit srv__metrics_create measured). */
static uint64_t T(uint64_t us)
{
    return srv__metrics_ticks(us);
}

START_TEST(counts_by_class_and_sums_the_slots)
{
    ck_assert_int_eq(srv__metrics_create(3), 0);
    struct srv__metrics_slot *a = srv__metrics_attach(0), *b = srv__metrics_attach(2);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_ne(a, b);
    ck_assert_ptr_null(srv__metrics_attach(3));
    srv__metrics_count(a, 200, T(10), 100, 1000);
    srv__metrics_count(a, 204, T(10), 1, 2);
    srv__metrics_count(b, 299, T(10), 1, 2);
    srv__metrics_count(b, 404, T(10), 1, 2);
    srv__metrics_count(a, 101, T(10), 1, 2);
    srv__metrics_count(b, 301, T(10), 1, 2);
    srv__metrics_count(b, 503, T(10), 1, 2);
    srv__metrics_count(b, 599, T(10), 1, 2);
    char *t = render();
    ck_assert_int_eq(sample(t, "srv_http_requests_total{class=\"1xx\"}"), 1);
    ck_assert_int_eq(sample(t, "srv_http_requests_total{class=\"2xx\"}"), 3);
    ck_assert_int_eq(sample(t, "srv_http_requests_total{class=\"3xx\"}"), 1);
    ck_assert_int_eq(sample(t, "srv_http_requests_total{class=\"4xx\"}"), 1);
    ck_assert_int_eq(sample(t, "srv_http_requests_total{class=\"5xx\"}"), 2);
    ck_assert_int_eq(sample(t, "srv_received_bytes_total"), 107);
    ck_assert_int_eq(sample(t, "srv_sent_bytes_total"), 1014);
    ck_assert_int_eq(sample(t, "srv_workers"), 3);
    ck_assert_int_eq(sample(t, "srv_info{version=\"" SRV_VERSION "\"}"), 1);
    free(t);
}
END_TEST

START_TEST(every_status_counts_in_its_class)
{
    ck_assert_int_eq(srv__metrics_create(1), 0);
    struct srv__metrics_slot *m = srv__metrics_attach(0);
    for (int status = 100; status <= 599; status++)
        srv__metrics_count(m, status, T(1), 0, 0);
    char *t = render();
    for (unsigned c = 0; c < 5; c++) {
        char series[64];
        snprintf(series, sizeof series, "srv_http_requests_total{class=\"%uxx\"}", c + 1);
        ck_assert_int_eq(sample(t, series), 100);
    }
    free(t);
}
END_TEST

/* The bucket of every latency around every bound, by the tables, is the
 * one the bounds say: the number of bounds below it. */
START_TEST(buckets_by_table_agree_with_the_bounds)
{
    ck_assert_int_eq(srv__metrics_create(1), 0);
    struct srv__metrics_slot *m = srv__metrics_attach(0);
    const uint64_t *t = srv__metrics_bounds_ticks;
    uint64_t probes[6 * SRV__METRICS_BOUNDS + 4];
    unsigned n = 0;
    probes[n++] = 0;
    probes[n++] = 1;
    probes[n++] = UINT64_MAX / 2;
    probes[n++] = UINT64_MAX;
    for (unsigned i = 0; i < SRV__METRICS_BOUNDS; i++) {
        probes[n++] = t[i] - 1;
        probes[n++] = t[i];
        probes[n++] = t[i] + 1;
        probes[n++] = t[i] / 2 + 1;
        probes[n++] = t[i] * 2 - 1;
        probes[n++] = (uint64_t)1 << (63 - __builtin_clzll(t[i]));
    }
    for (unsigned p = 0; p < n; p++) {
        memset(m->counts, 0, sizeof m->counts);
        srv__metrics_count(m, 200, probes[p], 0, 0);
        unsigned want = 0;
        while (want < SRV__METRICS_BOUNDS && t[want] < probes[p])
            want++;
        ck_assert_msg(m->counts[2 * 32 + SRV__METRICS_BUCKET(want)] == 1, "%llu ticks: not in bucket %u",
                      (unsigned long long)probes[p], want);
    }
}
END_TEST

START_TEST(the_histogram_is_cumulative_with_inclusive_bounds)
{
    ck_assert_int_eq(srv__metrics_create(1), 0);
    struct srv__metrics_slot *m = srv__metrics_attach(0);
    srv__metrics_count(m, 200, T(0), 0, 0);        /* le 0.00005 */
    srv__metrics_count(m, 200, T(50), 0, 0);       /* le 0.00005: bounds are inclusive */
    srv__metrics_count(m, 200, T(51), 0, 0);       /* le 0.0001 */
    srv__metrics_count(m, 200, T(1000), 0, 0);     /* le 0.001 */
    srv__metrics_count(m, 200, T(10000000), 0, 0); /* le 10 */
    srv__metrics_count(m, 200, T(10000001), 0, 0); /* +Inf only */
    srv__metrics_count(m, 500, T(2500), 0, 0);
    char *t = render();
    const char *b = "srv_http_request_duration_seconds_bucket{class=\"2xx\",le=";
    char series[128];
    static const struct { const char *le; int want; } rows[] = {
        {"0.00005", 2}, {"0.0001", 3}, {"0.00025", 3}, {"0.0005", 3}, {"0.001", 4},
        {"0.0025", 4},  {"5", 4},      {"10", 5},      {"+Inf", 6},
    };
    for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        snprintf(series, sizeof series, "%s\"%s\"}", b, rows[i].le);
        ck_assert_msg(sample(t, series) == rows[i].want, "%s", series);
    }
    ck_assert_int_eq(sample(t, "srv_http_request_duration_seconds_count{class=\"2xx\"}"), 6);
    /* T() rounds each duration to a whole tick: up to half a tick (a
     * fraction of a nanosecond with the time-stamp counter) off each, so
     * 10 ns of tolerance, far below the microseconds that tell apart. */
    ck_assert_double_eq_tol(sample(t, "srv_http_request_duration_seconds_sum{class=\"2xx\"}"),
                            20.001102, 1e-8);
    ck_assert_double_eq_tol(sample(t, "srv_http_request_duration_seconds_sum{class=\"5xx\"}"),
                            0.0025, 1e-8);
    ck_assert_int_eq(
        sample(t, "srv_http_request_duration_seconds_bucket{class=\"5xx\",le=\"0.001\"}"), 0);
    ck_assert_int_eq(
        sample(t, "srv_http_request_duration_seconds_bucket{class=\"5xx\",le=\"0.0025\"}"), 1);
    free(t);
}
END_TEST

START_TEST(bounds_ascend_and_match_their_labels)
{
    for (unsigned i = 1; i < SRV__METRICS_BOUNDS; i++)
        ck_assert_uint_gt(srv__metrics_bounds_us[i], srv__metrics_bounds_us[i - 1]);
    ck_assert_int_eq(srv__metrics_create(1), 0);
    for (unsigned i = 1; i < SRV__METRICS_BOUNDS; i++)
        ck_assert_uint_gt(srv__metrics_bounds_ticks[i], srv__metrics_bounds_ticks[i - 1]);
    srv__metrics_attach(0);
    char *t = render();
    /* Each le label, read as seconds, is its bound in microseconds. */
    unsigned k = 0;
    const char *key = "{class=\"1xx\",le=\"";
    for (const char *p = strstr(t, key); p != NULL; p = strstr(p + 1, key)) {
        double le = strtod(p + strlen(key), NULL);
        if (k < SRV__METRICS_BOUNDS)
            ck_assert_double_eq_tol(le * 1e6, (double)srv__metrics_bounds_us[k], 1e-6);
        else
            ck_assert(strncmp(p + strlen(key), "+Inf\"", 5) == 0);
        k++;
    }
    ck_assert_uint_eq(k, SRV__METRICS_BOUNDS + 1);
    free(t);
}
END_TEST

START_TEST(a_forked_worker_counts_into_the_shared_mapping)
{
    ck_assert_int_eq(srv__metrics_create(2), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct srv__metrics_slot *m = srv__metrics_attach(1);
        for (int i = 0; i < 1000; i++)
            srv__metrics_count(m, 200, T(7), 3, 5);
        m->connections = 4;
        _exit(0);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char *t = render();
    ck_assert_int_eq(sample(t, "srv_http_requests_total{class=\"2xx\"}"), 1000);
    ck_assert_int_eq(sample(t, "srv_received_bytes_total"), 3000);
    ck_assert_int_eq(sample(t, "srv_connections_open"), 4);
    free(t);
    /* A replacement takes the slot over: counts stay, the gauge restarts. */
    struct srv__metrics_slot *again = srv__metrics_attach(1);
    ck_assert_uint_eq(again->connections, 0);
    t = render();
    ck_assert_int_eq(sample(t, "srv_http_requests_total{class=\"2xx\"}"), 1000);
    ck_assert_int_eq(sample(t, "srv_connections_open"), 0);
    free(t);
}
END_TEST

START_TEST(restarts_and_reloads_are_counted)
{
    ck_assert_int_eq(srv__metrics_create(1), 0);
    srv__metrics_restarted();
    srv__metrics_restarted();
    srv__generation = 3; /* the fourth generation: three reloads before it */
    char *t = render();
    srv__generation = 0;
    ck_assert_int_eq(sample(t, "srv_worker_restarts_total"), 2);
    ck_assert_int_eq(sample(t, "srv_reloads_total"), 3);
    free(t);
}
END_TEST

START_TEST(without_metrics_there_is_nothing_to_serve)
{
    srv__metrics_restarted(); /* no mapping: ignored */
    ck_assert_ptr_null(srv__metrics_attach(0));
    fixture_begin();
    ck_assert_int_eq(srv__metrics_render(&fx_res), -ENODEV);
    srv_metrics_serve(&fx_req, &fx_res);
    ck_assert(fx_res.failed); /* a misuse: answered 500 */
    fixture_end();
}
END_TEST

/* Prometheus text format 0.0.4: every line is "# HELP name text",
 * "# TYPE name type" or a sample "name[{l="v",...}] value"; a family's
 * HELP and TYPE come once, before its samples, which are not interleaved
 * with another family's; counters end in _total; histogram samples are
 * NAME_bucket (with le), NAME_sum, NAME_count. */
START_TEST(the_text_follows_the_exposition_format)
{
    ck_assert_int_eq(srv__metrics_create(2), 0);
    srv__metrics_count(srv__metrics_attach(0), 200, T(300), 1, 1);
    char *t = render();
    char family[128] = "", type[32] = "";
    unsigned families = 0;
    bool saw_help = false;
    char *save, *line;
    for (line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[128], rest[256];
        if (sscanf(line, "# HELP %127s %255[^\n]", name, rest) == 2) {
            ck_assert_msg(strcmp(name, family) != 0, "HELP twice for %s", name);
            snprintf(family, sizeof family, "%s", name);
            saw_help = true;
            type[0] = '\0';
            families++;
            continue;
        }
        if (sscanf(line, "# TYPE %127s %31s", name, type) == 2) {
            ck_assert(saw_help);
            ck_assert_str_eq(name, family);
            ck_assert(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
                      strcmp(type, "histogram") == 0);
            if (strcmp(type, "counter") == 0)
                ck_assert(strlen(name) > 6 && strcmp(name + strlen(name) - 6, "_total") == 0);
            saw_help = false;
            continue;
        }
        ck_assert_msg(line[0] != '#', "%s", line);
        ck_assert_msg(type[0] != '\0', "sample before its TYPE: %s", line);
        size_t n = strcspn(line, "{ ");
        ck_assert_uint_lt(n, sizeof name);
        memcpy(name, line, n);
        name[n] = '\0';
        if (strcmp(type, "histogram") == 0) {
            size_t fl = strlen(family);
            ck_assert_msg(strncmp(name, family, fl) == 0, "%s", line);
            const char *suffix = name + fl;
            ck_assert_msg(strcmp(suffix, "_bucket") == 0 || strcmp(suffix, "_sum") == 0 ||
                          strcmp(suffix, "_count") == 0, "%s", line);
            if (strcmp(suffix, "_bucket") == 0)
                ck_assert_ptr_nonnull(strstr(line, ",le=\""));
        } else {
            ck_assert_str_eq(name, family);
        }
        const char *p = line + n;
        if (*p == '{') {
            const char *close = strchr(p, '}');
            ck_assert_ptr_nonnull(close);
            p = close + 1;
        }
        ck_assert_msg(*p == ' ', "%s", line);
        char *end;
        strtod(p + 1, &end);
        ck_assert_msg(end != p + 1 && *end == '\0', "value of %s", line);
    }
    ck_assert_uint_eq(families, 9);
    free(t);
}
END_TEST

/* A tick, measured against CLOCK_MONOTONIC, is within a few percent of
 * what the clock says over a short pause. */
START_TEST(ticks_agree_with_the_monotonic_clock)
{
    ck_assert_int_eq(srv__metrics_create(1), 0);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    uint64_t t0 = srv__ticks();
    struct timespec pause = {0, 20000000};
    nanosleep(&pause, NULL);
    uint64_t t1 = srv__ticks();
    clock_gettime(CLOCK_MONOTONIC, &b);
    /* Signed: tv_nsec goes down when the second changes in between. */
    int64_t ns = ((int64_t)b.tv_sec - (int64_t)a.tv_sec) * 1000000000 +
                 ((int64_t)b.tv_nsec - (int64_t)a.tv_nsec);
    uint64_t us = (uint64_t)(ns / 1000);
    uint64_t want = srv__metrics_ticks(us);
    ck_assert_msg(t1 - t0 <= want + want / 100 && t1 - t0 >= want - want / 20,
                  "%llu ticks for %llu us (%llu)",
                  (unsigned long long)(t1 - t0), (unsigned long long)us,
                  (unsigned long long)want);
}
END_TEST

/* Where the time-stamp counter cannot be used, a tick is a nanosecond of
 * CLOCK_MONOTONIC, and everything above holds the same. */
START_TEST(without_the_time_stamp_counter_ticks_are_nanoseconds)
{
    srv__metrics_use_clock(true);
    ck_assert_int_eq(srv__metrics_create(1), 0);
    ck_assert(!srv__ticks_tsc);
    ck_assert_uint_eq(srv__metrics_ticks(50), 50000);
    ck_assert_uint_eq(srv__metrics_bounds_ticks[0], 50000);
    struct srv__metrics_slot *m = srv__metrics_attach(0);
    ck_assert(!m->tsc);
    uint64_t t0 = srv__metrics_now(m);
    struct timespec pause = {0, 2000000};
    nanosleep(&pause, NULL);
    uint64_t t = srv__metrics_now(m) - t0;
    ck_assert_uint_ge(t, 2000000);
    srv__metrics_count(m, 200, t, 0, 0);
    srv__metrics_count(m, 503, 1000, 0, 0);
    char *text = render();
    /* 2 ms: in le=0.0025, not in le=0.001. */
    ck_assert_int_eq(
        sample(text, "srv_http_request_duration_seconds_bucket{class=\"2xx\",le=\"0.001\"}"), 0);
    ck_assert_int_eq(
        sample(text, "srv_http_request_duration_seconds_bucket{class=\"2xx\",le=\"0.0025\"}") +
            (t > 2500000), 1);
    ck_assert_int_eq(
        sample(text, "srv_http_request_duration_seconds_bucket{class=\"5xx\",le=\"0.00005\"}"), 1);
    ck_assert_double_eq_tol(sample(text, "srv_http_request_duration_seconds_sum{class=\"5xx\"}"),
                            0.000001, 1e-12);
    free(text);
    srv__metrics_use_clock(false);
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("runtime/metrics");
    TCase *tc = tcase_create("metrics");
    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, counts_by_class_and_sums_the_slots);
    tcase_add_test(tc, every_status_counts_in_its_class);
    tcase_add_test(tc, buckets_by_table_agree_with_the_bounds);
    tcase_add_test(tc, the_histogram_is_cumulative_with_inclusive_bounds);
    tcase_add_test(tc, bounds_ascend_and_match_their_labels);
    tcase_add_test(tc, ticks_agree_with_the_monotonic_clock);
    tcase_add_test(tc, without_the_time_stamp_counter_ticks_are_nanoseconds);
    tcase_add_test(tc, a_forked_worker_counts_into_the_shared_mapping);
    tcase_add_test(tc, restarts_and_reloads_are_counted);
    tcase_add_test(tc, without_metrics_there_is_nothing_to_serve);
    tcase_add_test(tc, the_text_follows_the_exposition_format);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(metrics_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
