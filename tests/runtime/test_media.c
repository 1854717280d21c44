/* Tests for runtime/media.c: media types and parameter lists, the parser
 * behind every Content-Type and Content-Disposition the runtime reads. */
#include "fixture.h"

#include <check.h>
#include <errno.h>

static int parse(const char *s, struct srv__media *m)
{
    return srv__media_parse(s, strlen(s), m);
}

START_TEST(type_and_subtype_are_tokens_around_a_slash)
{
    struct srv__media m;
    ck_assert_int_eq(parse("text/plain", &m), 0);
    ck_assert(srv__media_is(&m, "text", "plain"));
    ck_assert(srv__media_is(&m, "TEXT", "Plain"));
    ck_assert(!srv__media_is(&m, "text", "plai"));
    ck_assert(!srv__media_is(&m, "tex", "plain"));
    ck_assert_int_eq(parse("  application/vnd.api+json \t", &m), 0);
    ck_assert(srv__media_is(&m, "application", "vnd.api+json"));
    static const char *const bad[] = {"", "text", "text/", "/plain", "text /plain",
                                      "text/ plain", "text/plain x", "te(x)t/plain",
                                      "text/plain/more", "text/plain,", "\"text/plain\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(parse(bad[i], &m) == -EINVAL, "%s", bad[i]);
}
END_TEST

/* Every parameter of S, as "name=value|" with values unquoted. */
static const char *params(const char *s, char *out)
{
    struct srv__media m;
    if (parse(s, &m) < 0)
        return "bad type";
    const char *p = m.params;
    struct srv__param prm;
    int r;
    out[0] = '\0';
    while ((r = srv__param_next(&p, m.end, &prm)) > 0) {
        char v[256];
        srv__param_copy(&prm, v);
        strncat(out, prm.name, prm.name_len);
        strcat(out, "=");
        strcat(out, v);
        strcat(out, "|");
    }
    return r < 0 ? "bad params" : out;
}

START_TEST(parameters_are_tokens_or_quoted_strings)
{
    char out[512];
    ck_assert_str_eq(params("text/plain", out), "");
    ck_assert_str_eq(params("text/plain;charset=utf-8", out), "charset=utf-8|");
    ck_assert_str_eq(params("text/plain ; charset=utf-8 ;  q=1", out), "charset=utf-8|q=1|");
    ck_assert_str_eq(params("a/b; x=\"quoted; value\"", out), "x=quoted; value|");
    ck_assert_str_eq(params("a/b; x=\"back\\\\slash \\\"q\\\"\"", out), "x=back\\slash \"q\"|");
    ck_assert_str_eq(params("a/b; x=\"\"", out), "x=|");
    ck_assert_str_eq(params("a/b;;; x=1;", out), "x=1|");
    ck_assert_str_eq(params("a/b; x=\"caf\xc3\xa9\"", out), "x=caf\xc3\xa9|");
}
END_TEST

START_TEST(malformed_parameter_lists_are_errors)
{
    char out[512];
    static const char *const bad[] = {
        "a/b; x",         "a/b; x=",     "a/b; x =1",     "a/b; x= 1",      "a/b; =1",
        "a/b; x=1 y=2",   "a/b; x=\"1",  "a/b; x=\"1\\", "a/b; x=\"1\"2",   "a/b; x=a b",
        "a/b; x=\"\x01\"", "a/b; x=\"\x7f\"", "a/b; x=(1)", "a/b x=1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(strncmp(params(bad[i], out), "bad", 3) == 0, "%s", bad[i]);
}
END_TEST

START_TEST(parameter_names_compare_case_insensitively)
{
    struct srv__media m;
    ck_assert_int_eq(parse("a/b; BoUnDaRy=x", &m), 0);
    const char *p = m.params;
    struct srv__param prm;
    ck_assert_int_eq(srv__param_next(&p, m.end, &prm), 1);
    ck_assert(srv__param_is(&prm, "boundary"));
    ck_assert(!srv__param_is(&prm, "boundar"));
    ck_assert_int_eq(srv__param_next(&p, m.end, &prm), 0);
}
END_TEST

START_TEST(request_content_type_needs_a_valid_ascii_header)
{
    struct srv__media m;
    fixture_begin();
    ck_assert(!srv__content_type(&fx_req, &m)); /* none */
    fixture_header("Content-Type", "application/json; charset=utf-8");
    ck_assert(srv__content_type(&fx_req, &m));
    ck_assert(srv__media_is(&m, "application", "json"));
    static const char *const bad[] = {"application/json; charset=\"\xc3\xa9\"",
                                      "application/json\xc2\xa0", "application/json; x",
                                      "application", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fixture_next();
        fixture_header("content-type", bad[i]);
        ck_assert_msg(!srv__content_type(&fx_req, &m), "%s", bad[i]);
    }
    fixture_end();
}
END_TEST

static Suite *media_suite(void)
{
    Suite *s = suite_create("runtime/media");
    TCase *tc = tcase_create("media");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, type_and_subtype_are_tokens_around_a_slash);
    tcase_add_test(tc, parameters_are_tokens_or_quoted_strings);
    tcase_add_test(tc, malformed_parameter_lists_are_errors);
    tcase_add_test(tc, parameter_names_compare_case_insensitively);
    tcase_add_test(tc, request_content_type_needs_a_valid_ascii_header);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(media_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
