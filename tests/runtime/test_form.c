/* Tests for runtime/form.c: urlencoded form bodies and the decoder they
 * share with query parameters. */
#include "fixture.h"

#include <check.h>

static void setup(void)
{
    fixture_begin();
}

static void teardown(void)
{
    fixture_end();
}

static void form(const char *content_type, const char *body)
{
    fixture_header("Content-Type", content_type);
    fixture_text(body);
}

START_TEST(decoder_handles_percent_plus_and_bad_escapes)
{
    char out[64];
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"a+b", "a b"},        {"%41%62", "Ab"},     {"%e2%82%AC", "\xe2\x82\xac"},
        {"%", "%"},            {"%4", "%4"},         {"%zz", "%zz"},
        {"%%41", "%A"},        {"100%", "100%"},     {"%2B+", "+ "},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = srv__form_decode(out, cases[i].in, strlen(cases[i].in));
        out[n] = '\0';
        ck_assert_str_eq(out, cases[i].out);
    }
    ck_assert_uint_eq(srv__form_decode(out, "a%00b", 5), 3);
    ck_assert(memcmp(out, "a\0b", 3) == 0);
    ck_assert(srv__form_key_equals("a%20b", 5, "a b"));
    ck_assert(srv__form_key_equals("a+b", 3, "a b"));
    ck_assert(!srv__form_key_equals("a+b", 3, "a b "));
    ck_assert(!srv__form_key_equals("a+b", 3, "a"));
    ck_assert(srv__form_key_equals("", 0, ""));
}
END_TEST

START_TEST(fields_are_decoded_and_first_occurrence_wins)
{
    form("application/x-www-form-urlencoded",
         "name=J%C3%B6rg+M%20x&age=42&name=second&empty=&flag&a%26b=c%3Dd");
    ck_assert_str_eq(srv_request_form(&fx_req, "name"), "J\xc3\xb6rg M x");
    ck_assert_str_eq(srv_request_form(&fx_req, "age"), "42");
    ck_assert_str_eq(srv_request_form(&fx_req, "empty"), "");
    ck_assert_str_eq(srv_request_form(&fx_req, "flag"), "");
    ck_assert_str_eq(srv_request_form(&fx_req, "a&b"), "c=d");
    ck_assert_ptr_null(srv_request_form(&fx_req, "nam"));
    ck_assert_ptr_null(srv_request_form(&fx_req, "names"));
    ck_assert_ptr_null(srv_request_form(&fx_req, NULL));
}
END_TEST

START_TEST(every_pair_is_listed_in_order_with_repeats)
{
    form("application/x-www-form-urlencoded", "&a=1&&b=2&a=3&=4&c&");
    size_t n;
    const struct srv_form_field *f = srv_request_form_fields(&fx_req, &n);
    ck_assert_uint_eq(n, 5);
    const char *want[][2] = {{"a", "1"}, {"b", "2"}, {"a", "3"}, {"", "4"}, {"c", ""}};
    for (size_t i = 0; i < n; i++) {
        ck_assert_str_eq(f[i].name, want[i][0]);
        ck_assert_str_eq(f[i].value, want[i][1]);
        ck_assert_uint_eq(f[i].name_len, strlen(want[i][0]));
        ck_assert_uint_eq(f[i].value_len, strlen(want[i][1]));
    }
    /* Cached: the same array again. */
    ck_assert_ptr_eq(srv_request_form_fields(&fx_req, NULL), f);
}
END_TEST

START_TEST(values_are_binary_safe)
{
    form("application/x-www-form-urlencoded", "bin=a%00b%FF&k%00=v");
    const struct srv_form_field *f = srv_request_form_field(&fx_req, "bin");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(f->value_len, 4);
    ck_assert(memcmp(f->value, "a\0b\xff", 5) == 0); /* NUL-terminated too */
    size_t n;
    f = srv_request_form_fields(&fx_req, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(f[1].name_len, 2);
    ck_assert(memcmp(f[1].name, "k\0", 3) == 0);
}
END_TEST

START_TEST(media_type_must_match_exactly)
{
    static const char *const yes[] = {
        "application/x-www-form-urlencoded",
        "APPLICATION/X-WWW-FORM-URLENCODED",
        "application/x-www-form-urlencoded; charset=UTF-8",
        "application/x-www-form-urlencoded;charset=\"utf-8\"",
        "application/x-www-form-urlencoded ; a=b ; c=d",
    };
    static const char *const no[] = {
        "application/x-www-form-urlencodedx",
        "application/x-www-form-urlencode",
        "text/x-www-form-urlencoded",
        "application/json",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded; charset=\"\xc3\xa9\"",
        "application/x-www-form-urlencoded\xc2\xa0",
        "application/x-www-form-urlencoded; charset",
        "application/x-www-form-urlencoded, text/plain",
    };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        fixture_next();
        form(yes[i], "a=1");
        ck_assert_msg(srv_request_form(&fx_req, "a") != NULL, "%s", yes[i]);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        fixture_next();
        form(no[i], "a=1");
        ck_assert_msg(srv_request_form(&fx_req, "a") == NULL, "%s", no[i]);
        size_t n = 1;
        ck_assert_ptr_nonnull(srv_request_form_fields(&fx_req, &n));
        ck_assert_uint_eq(n, 0);
    }
    /* No Content-Type at all. */
    fixture_next();
    fixture_text("a=1");
    ck_assert_ptr_null(srv_request_form(&fx_req, "a"));
}
END_TEST

START_TEST(empty_body_has_no_fields)
{
    form("application/x-www-form-urlencoded", "");
    size_t n = 1;
    srv_request_form_fields(&fx_req, &n);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(srv_request_form(&fx_req, ""));
}
END_TEST

START_TEST(cache_goes_with_the_request)
{
    form("application/x-www-form-urlencoded", "a=1");
    ck_assert_str_eq(srv_request_form(&fx_req, "a"), "1");
    ck_assert_ptr_nonnull(fx_req.lazy);
    /* The next request on the connection starts afresh. */
    fixture_next();
    ck_assert_ptr_null(fx_req.lazy);
    form("application/x-www-form-urlencoded", "a=2");
    ck_assert_str_eq(srv_request_form(&fx_req, "a"), "2");
}
END_TEST

START_TEST(every_cut_of_a_body_decodes_within_bounds)
{
    /* Bodies end exactly at their last byte (ASan): no read past them. */
    const char *full = "a=%41%4&b+c=%&d=%e2%82%ac&&e";
    size_t len = strlen(full);
    for (size_t cut = 0; cut <= len; cut++) {
        fixture_next();
        fixture_header("Content-Type", "application/x-www-form-urlencoded");
        free(fx_body);
        fx_body = malloc(cut ? cut : 1);
        memcpy(fx_body, full, cut);
        fx_req.body = fx_body;
        fx_req.body_len = cut;
        size_t n;
        const struct srv_form_field *f = srv_request_form_fields(&fx_req, &n);
        for (size_t i = 0; i < n; i++)
            ck_assert_uint_le(f[i].name_len + f[i].value_len, cut);
    }
}
END_TEST

static Suite *form_suite(void)
{
    Suite *s = suite_create("runtime/form");
    TCase *tc = tcase_create("form");
    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, decoder_handles_percent_plus_and_bad_escapes);
    tcase_add_test(tc, fields_are_decoded_and_first_occurrence_wins);
    tcase_add_test(tc, every_pair_is_listed_in_order_with_repeats);
    tcase_add_test(tc, values_are_binary_safe);
    tcase_add_test(tc, media_type_must_match_exactly);
    tcase_add_test(tc, empty_body_has_no_fields);
    tcase_add_test(tc, cache_goes_with_the_request);
    tcase_add_test(tc, every_cut_of_a_body_decodes_within_bounds);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(form_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
