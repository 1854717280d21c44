/* Tests for runtime/static_headers.c: HTTP-dates in their three forms,
 * entity-tag lists, If-Range, Range and Accept-Encoding. */
#include "internal.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

/* 2026-11-30, the "now" RFC 850's two-digit years are read against. */
#define NOW 1795996800

static bool date(const char *s, int64_t *t)
{
    return srv__http_date_parse(s, strlen(s), NOW, t);
}

/* ---- Dates ---------------------------------------------------------------- */

START_TEST(reads_the_three_forms_of_the_rfc_example)
{
    /* RFC 9110 5.6.7: the same instant three ways. */
    int64_t t;
    ck_assert(date("Sun, 06 Nov 1994 08:49:37 GMT", &t));
    ck_assert_int_eq(t, 784111777);
    ck_assert(date("Sunday, 06-Nov-94 08:49:37 GMT", &t));
    ck_assert_int_eq(t, 784111777);
    ck_assert(date("Sun Nov  6 08:49:37 1994", &t));
    ck_assert_int_eq(t, 784111777);
    ck_assert(date("Sun Nov 06 08:49:37 1994", &t));
    ck_assert_int_eq(t, 784111777);
}
END_TEST

START_TEST(round_trips_what_the_server_formats)
{
    static const int64_t ts[] = {0, 951782400 /* 2000-02-29 */, 1700000000, 4102444799,
                                 253402300799 /* 9999-12-31 23:59:59 */};
    for (unsigned i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        char buf[SRV__DATE_LEN + 1];
        srv__date_format(buf, ts[i]);
        int64_t t;
        ck_assert_msg(date(buf, &t), "%s", buf);
        ck_assert_int_eq(t, ts[i]);
    }
}
END_TEST

START_TEST(rfc850_two_digit_years_are_at_most_50_years_ahead)
{
    int64_t t;
    ck_assert(date("Thursday, 01-Jan-70 00:00:00 GMT", &t)); /* 2070: within 50 years */
    ck_assert_int_eq(t, 3155760000);
    ck_assert(date("Friday, 01-Jan-99 00:00:00 GMT", &t)); /* 2099 would be too far: 1999 */
    ck_assert_int_eq(t, 915148800);
    ck_assert(date("Saturday, 01-Jan-00 00:00:00 GMT", &t));
    ck_assert_int_eq(t, 946684800);
}
END_TEST

START_TEST(rejects_malformed_dates)
{
    static const char *const bad[] = {
        "",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37 gmt",
        "sun, 06 Nov 1994 08:49:37 GMT",  /* names are case-sensitive */
        "Sun, 06 nov 1994 08:49:37 GMT",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 31 Nov 1994 08:49:37 GMT",
        "Sun, 29 Feb 1900 08:49:37 GMT", /* not a leap year */
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Xyz, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT ",
        " Sun, 06 Nov 1994 08:49:37 GMT",
        "Sun,  06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 19a4 08:49:37 GMT",
        "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sunday, 06 Nov 94 08:49:37 GMT",
        "Sonday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov 6 08:49:37 1994",
        "Sun Nov  6 08:49:37 94",
        "Sun Nov  6 08:49:37 1994 GMT",
        "1994-11-06T08:49:37Z",
        "784111777",
    };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t t;
        ck_assert_msg(!date(bad[i], &t), "accepted \"%s\"", bad[i]);
    }
}
END_TEST

START_TEST(leap_days_and_leap_seconds)
{
    int64_t t;
    ck_assert(date("Tue, 29 Feb 2000 00:00:00 GMT", &t));
    ck_assert_int_eq(t, 951782400);
    ck_assert(date("Wed, 31 Dec 2008 23:59:60 GMT", &t)); /* read as :59 */
    ck_assert_int_eq(t, 1230767999);
}
END_TEST

/* ---- Entity tags ---------------------------------------------------------- */

#define ETAG "\"65f1-d-0\""

static bool inm(const char *list, bool strong)
{
    return srv__etag_match(list, strlen(list), ETAG, strlen(ETAG), strong);
}

START_TEST(etag_lists_match_by_weak_or_strong_comparison)
{
    ck_assert(inm(ETAG, true));
    ck_assert(inm(ETAG, false));
    ck_assert(inm("W/" ETAG, false));
    ck_assert(!inm("W/" ETAG, true)); /* strong comparison: a weak tag never matches */
    ck_assert(inm("\"a\", " ETAG ", \"b\"", true));
    ck_assert(inm("\"a\",W/\"b\" ,\t" ETAG, true));
    ck_assert(inm(" , " ETAG " ,", true)); /* empty list elements are allowed */
    ck_assert(!inm("\"a\", \"b\"", false));
    ck_assert(!inm("\"65f1-d-0\"x", false));
    ck_assert(!inm("\"65F1-d-0\"", false)); /* opaque tags compare octet by octet */
}
END_TEST

START_TEST(star_matches_any_representation)
{
    ck_assert(inm("*", true));
    ck_assert(inm(" * ", false));
    ck_assert(!inm("*, " ETAG, false)); /* "*" is the whole value or malformed */
}
END_TEST

START_TEST(malformed_lists_match_nothing)
{
    static const char *const bad[] = {
        "", ",", "65f1-d-0", "\"65f1-d-0", ETAG " " ETAG, "w/" ETAG, "W/ " ETAG,
        ETAG ", x", "\"a\"b\", " ETAG, "\"\x01\"",
    };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!inm(bad[i], false), "matched \"%s\"", bad[i]);
}
END_TEST

START_TEST(if_range_needs_a_strong_exact_validator)
{
    const char *e = ETAG;
    size_t el = strlen(e);
    int64_t mtime = 784111777;
    ck_assert(srv__if_range_ok(e, el, e, el, mtime, NOW));
    ck_assert(!srv__if_range_ok("W/" ETAG, el + 2, e, el, mtime, NOW));
    ck_assert(!srv__if_range_ok("\"other\"", 7, e, el, mtime, NOW));
    ck_assert(!srv__if_range_ok(ETAG ", " ETAG, 2 * el + 2, e, el, mtime, NOW));
    const char *d = "Sun, 06 Nov 1994 08:49:37 GMT";
    ck_assert(srv__if_range_ok(d, strlen(d), e, el, mtime, NOW));
    ck_assert(!srv__if_range_ok(d, strlen(d), e, el, mtime + 1, NOW)); /* not exact */
    ck_assert(!srv__if_range_ok(d, strlen(d), e, el, mtime - 1, NOW));
    /* Modified this very second: Last-Modified is weak, the date cannot
     * validate (RFC 9110 8.8.2.2). */
    ck_assert(!srv__if_range_ok(d, strlen(d), e, el, mtime, mtime));
    ck_assert(!srv__if_range_ok("yesterday", 9, e, el, mtime, NOW));
    ck_assert(!srv__if_range_ok("", 0, e, el, mtime, NOW));
}
END_TEST

/* ---- Range ---------------------------------------------------------------- */

static struct srv__range r[SRV__RANGE_SPECS_MAX];

static int range(const char *s, uint64_t size)
{
    memset(r, 0xee, sizeof r);
    return srv__range_parse(s, strlen(s), size, r);
}

#define RANGE_IS(i, a, b)                                                      \
    do {                                                                       \
        ck_assert_uint_eq(r[i].first, (a));                                    \
        ck_assert_uint_eq(r[i].last, (b));                                     \
    } while (0)

START_TEST(single_ranges_of_the_three_forms)
{
    ck_assert_int_eq(range("bytes=0-99", 1000), 1);
    RANGE_IS(0, 0, 99);
    ck_assert_int_eq(range("bytes=500-", 1000), 1);
    RANGE_IS(0, 500, 999);
    ck_assert_int_eq(range("bytes=-200", 1000), 1);
    RANGE_IS(0, 800, 999);
    ck_assert_int_eq(range("bytes=990-2000", 1000), 1); /* last clamped */
    RANGE_IS(0, 990, 999);
    ck_assert_int_eq(range("bytes=-5000", 1000), 1); /* suffix longer than the file */
    RANGE_IS(0, 0, 999);
    ck_assert_int_eq(range("bytes=999-999", 1000), 1);
    RANGE_IS(0, 999, 999);
    ck_assert_int_eq(range("BYTES=0-0", 1000), 1); /* the unit is case-insensitive */
    RANGE_IS(0, 0, 0);
    ck_assert_int_eq(range("bytes=0-18446744073709551615", 10), 1);
    RANGE_IS(0, 0, 9);
    ck_assert_int_eq(range("bytes=0-99999999999999999999999", 10), 1); /* saturates */
    RANGE_IS(0, 0, 9);
}
END_TEST

START_TEST(several_disjoint_ranges_keep_their_order)
{
    ck_assert_int_eq(range("bytes=500-599, 0-99,-100", 10000), 3);
    RANGE_IS(0, 500, 599);
    RANGE_IS(1, 0, 99);
    RANGE_IS(2, 9900, 9999);
    ck_assert_int_eq(range("bytes=0-0,\t200-200 , ,400-400", 1000), 3);
}
END_TEST

START_TEST(overlapping_or_close_ranges_are_merged_in_order)
{
    ck_assert_int_eq(range("bytes=500-700,0-99,600-800", 10000), 2);
    RANGE_IS(0, 0, 99);
    RANGE_IS(1, 500, 800);
    ck_assert_int_eq(range("bytes=0-9,20-29", 1000), 1); /* a 10-byte gap: one part */
    RANGE_IS(0, 0, 29);
    /* The classic amplification attack: many copies of the whole file. */
    char attack[4096] = "bytes=";
    for (int i = 0; i < 60; i++)
        strcat(attack, "0-,");
    ck_assert_int_eq(range(attack, 1000000), 1);
    RANGE_IS(0, 0, 999999);
}
END_TEST

START_TEST(unsatisfiable_ranges_are_dropped_or_416)
{
    ck_assert_int_eq(range("bytes=1000-", 1000), -1);
    ck_assert_int_eq(range("bytes=1000-2000", 1000), -1);
    ck_assert_int_eq(range("bytes=-0", 1000), -1);
    ck_assert_int_eq(range("bytes=5000-,0-1", 1000), 1); /* the satisfiable one stays */
    RANGE_IS(0, 0, 1);
}
END_TEST

START_TEST(invalid_ranges_are_ignored)
{
    static const char *const bad[] = {
        "", "bytes", "bytes=", "bytes=,", "bytes=-", "bytes=a-b", "bytes=5-1", "bytes=1-2-3",
        "bytes=1 -2", "bytes = 0-1", "bytes=0-1;x", "items=0-1", "byte=0-1", "bytes=0x1-2",
        "bytes=+1-2", "bytes=\xc2\xb9-2", "bytes=0-1,\xff", "bytes=--1", "bytes=0-1 2-3",
    };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(range(bad[i], 1000) == 0, "\"%s\" not ignored", bad[i]);
}
END_TEST

START_TEST(too_many_specs_or_an_empty_file_ignore_the_field)
{
    char many[8192] = "bytes=";
    for (int i = 0; i < SRV__RANGE_SPECS_MAX; i++)
        sprintf(many + strlen(many), "%d-%d,", i * 1000, i * 1000);
    ck_assert_int_eq(range(many, 1000000), SRV__RANGE_SPECS_MAX);
    strcat(many, "999999-999999");
    ck_assert_int_eq(range(many, 1000000), 0);
    ck_assert_int_eq(range("bytes=0-10", 0), 0);
    ck_assert_int_eq(range("bytes=-5", 0), 0);
}
END_TEST

/* ---- Accept-Encoding ------------------------------------------------------ */

#define ALL ((1u << SRV__CODING_BR) | (1u << SRV__CODING_ZSTD) | (1u << SRV__CODING_GZIP))
#define GZ (1u << SRV__CODING_GZIP)

static int ae(const char *s, unsigned available)
{
    return srv__accept_encoding(s, s ? strlen(s) : 0, available);
}

START_TEST(picks_the_preferred_available_coding)
{
    ck_assert_int_eq(ae("gzip, deflate, br, zstd", ALL), SRV__CODING_BR);
    ck_assert_int_eq(ae("gzip, zstd", ALL), SRV__CODING_ZSTD);
    ck_assert_int_eq(ae("gzip", ALL), SRV__CODING_GZIP);
    ck_assert_int_eq(ae("br", GZ), SRV__CODING_IDENTITY);
    ck_assert_int_eq(ae("gzip;q=1.0, br;q=0.5", ALL), SRV__CODING_GZIP);
    ck_assert_int_eq(ae("br;q=0.8, zstd;q=0.9, gzip;q=0.7", ALL), SRV__CODING_ZSTD);
    ck_assert_int_eq(ae("GZIP", ALL), SRV__CODING_GZIP);
    ck_assert_int_eq(ae("x-gzip", GZ), SRV__CODING_GZIP);
    ck_assert_int_eq(ae("Br ; Q=0.5", ALL), SRV__CODING_BR);
}
END_TEST

START_TEST(no_header_or_an_empty_one_means_identity)
{
    ck_assert_int_eq(ae(NULL, ALL), SRV__CODING_IDENTITY);
    ck_assert_int_eq(ae("", ALL), SRV__CODING_IDENTITY);
    ck_assert_int_eq(ae("identity", ALL), SRV__CODING_IDENTITY);
    ck_assert_int_eq(ae("deflate, compress", ALL), SRV__CODING_IDENTITY);
}
END_TEST

START_TEST(q_zero_excludes_and_star_covers_the_rest)
{
    ck_assert_int_eq(ae("br;q=0, gzip", ALL), SRV__CODING_GZIP);
    ck_assert_int_eq(ae("gzip;q=0", GZ), SRV__CODING_IDENTITY);
    ck_assert_int_eq(ae("*", ALL), SRV__CODING_BR);
    ck_assert_int_eq(ae("*;q=0.5, br;q=0", ALL), SRV__CODING_ZSTD);
    ck_assert_int_eq(ae("identity;q=0, gzip", GZ), SRV__CODING_GZIP);
    ck_assert_int_eq(ae("identity;q=0", GZ), -1); /* nothing acceptable: 406 */
    ck_assert_int_eq(ae("*;q=0", GZ), -1);
    ck_assert_int_eq(ae("*;q=0, identity", GZ), SRV__CODING_IDENTITY);
    ck_assert_int_eq(ae("*;q=0, gzip;q=0.1", GZ), SRV__CODING_GZIP);
}
END_TEST

START_TEST(named_identity_competes_on_its_q_value)
{
    ck_assert_int_eq(ae("gzip;q=0.5, identity", GZ), SRV__CODING_IDENTITY);
    ck_assert_int_eq(ae("gzip;q=0.5, identity;q=0.5", GZ), SRV__CODING_GZIP); /* ties: coded */
    ck_assert_int_eq(ae("gzip;q=0.5", GZ), SRV__CODING_GZIP); /* unnamed: last resort */
}
END_TEST

START_TEST(malformed_members_are_skipped)
{
    ck_assert_int_eq(ae("br;q=2, gzip", ALL), SRV__CODING_GZIP);
    ck_assert_int_eq(ae("br;q=0.5x, gzip;q=0.1", ALL), SRV__CODING_GZIP);
    ck_assert_int_eq(ae("br;q=1.001, gzip;q=0.1", ALL), SRV__CODING_GZIP);
    ck_assert_int_eq(ae("br;q=0.0001, gzip;q=0.1", ALL), SRV__CODING_GZIP);
    ck_assert_int_eq(ae("br;level=5, gzip;q=0.1", ALL), SRV__CODING_GZIP);
    ck_assert_int_eq(ae("br gzip", ALL), SRV__CODING_IDENTITY);
    ck_assert_int_eq(ae(",,, ,gzip,", ALL), SRV__CODING_GZIP);
    ck_assert_int_eq(ae("br;q=0.5, br;q=0", ALL), SRV__CODING_BR); /* the first counts */
}
END_TEST

static Suite *static_headers_suite(void)
{
    Suite *s = suite_create("runtime/static_headers");
    TCase *tc = tcase_create("dates");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, reads_the_three_forms_of_the_rfc_example);
    tcase_add_test(tc, round_trips_what_the_server_formats);
    tcase_add_test(tc, rfc850_two_digit_years_are_at_most_50_years_ahead);
    tcase_add_test(tc, rejects_malformed_dates);
    tcase_add_test(tc, leap_days_and_leap_seconds);
    suite_add_tcase(s, tc);
    tc = tcase_create("etags");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, etag_lists_match_by_weak_or_strong_comparison);
    tcase_add_test(tc, star_matches_any_representation);
    tcase_add_test(tc, malformed_lists_match_nothing);
    tcase_add_test(tc, if_range_needs_a_strong_exact_validator);
    suite_add_tcase(s, tc);
    tc = tcase_create("range");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, single_ranges_of_the_three_forms);
    tcase_add_test(tc, several_disjoint_ranges_keep_their_order);
    tcase_add_test(tc, overlapping_or_close_ranges_are_merged_in_order);
    tcase_add_test(tc, unsatisfiable_ranges_are_dropped_or_416);
    tcase_add_test(tc, invalid_ranges_are_ignored);
    tcase_add_test(tc, too_many_specs_or_an_empty_file_ignore_the_field);
    suite_add_tcase(s, tc);
    tc = tcase_create("accept_encoding");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, picks_the_preferred_available_coding);
    tcase_add_test(tc, no_header_or_an_empty_one_means_identity);
    tcase_add_test(tc, q_zero_excludes_and_star_covers_the_rest);
    tcase_add_test(tc, named_identity_competes_on_its_q_value);
    tcase_add_test(tc, malformed_members_are_skipped);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(static_headers_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
