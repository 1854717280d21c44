/* Tests for runtime/time.c: the clock and the cached Date header value. */
#include "internal.h"

#include <check.h>
#include <string.h>
#include <time.h>

/* The reference: strftime over gmtime_r, which the fast formatter replaces. */
static void reference(char *out, size_t cap, time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

START_TEST(formats_the_rfc_example_instant)
{
    char buf[SRV__DATE_LEN + 1];
    srv__date_format(buf, 784111777); /* RFC 9110's example */
    ck_assert_str_eq(buf, "Sun, 06 Nov 1994 08:49:37 GMT");
}
END_TEST

START_TEST(matches_gmtime_for_fixed_instants)
{
    static const int64_t instants[] = {
        0,          86399,      86400,      951782400 /* 2000-02-29 */,
        951868799,  1078099199, 1234567890, 1700000000,
        1709164800 /* 2024-02-29 */,         2147483647, 4102444800 /* 2100-01-01 */,
        4107542399 /* 2100-02-28 23:59:59 */, 253402300799 /* 9999-12-31 */,
    };
    for (size_t i = 0; i < sizeof instants / sizeof instants[0]; i++) {
        char got[SRV__DATE_LEN + 1], want[64];
        srv__date_format(got, instants[i]);
        reference(want, sizeof want, (time_t)instants[i]);
        ck_assert_msg(strcmp(got, want) == 0, "t=%lld: got '%s' want '%s'",
                      (long long)instants[i], got, want);
        ck_assert_uint_eq(strlen(got), SRV__DATE_LEN);
    }
}
END_TEST

START_TEST(matches_gmtime_every_few_hours_for_decades)
{
    for (int64_t t = 0; t < 4000000000LL; t += 9973 * 7) {
        char got[SRV__DATE_LEN + 1], want[64];
        srv__date_format(got, t);
        reference(want, sizeof want, (time_t)t);
        ck_assert_msg(strcmp(got, want) == 0, "t=%lld: got '%s' want '%s'",
                      (long long)t, got, want);
    }
}
END_TEST

START_TEST(cached_date_is_the_current_second)
{
    srv__time_update();
    time_t before = time(NULL);
    char want[64], want2[64];
    reference(want, sizeof want, before - 1);
    reference(want2, sizeof want2, before);
    char want3[64];
    reference(want3, sizeof want3, before + 1);
    const char *d = srv__date();
    ck_assert_uint_eq(strlen(d), SRV__DATE_LEN);
    ck_assert_msg(strcmp(d, want) == 0 || strcmp(d, want2) == 0 || strcmp(d, want3) == 0,
                  "date '%s' is not near '%s'", d, want2);
}
END_TEST

START_TEST(now_is_monotonic_and_in_milliseconds)
{
    srv__time_update();
    uint64_t a = srv__now_ms();
    struct timespec ts = {0, 30 * 1000 * 1000};
    nanosleep(&ts, NULL); /* measuring elapsed time, not synchronising */
    srv__time_update();
    uint64_t b = srv__now_ms();
    ck_assert_uint_ge(b, a + 20);
    ck_assert_uint_le(b, a + 5000);
}
END_TEST

static Suite *time_suite(void)
{
    Suite *s = suite_create("runtime/time");
    TCase *tc = tcase_create("date_format");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, formats_the_rfc_example_instant);
    tcase_add_test(tc, matches_gmtime_for_fixed_instants);
    tcase_add_test(tc, matches_gmtime_every_few_hours_for_decades);
    suite_add_tcase(s, tc);
    tc = tcase_create("clock");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, cached_date_is_the_current_second);
    tcase_add_test(tc, now_is_monotonic_and_in_milliseconds);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(time_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
