/* Tests for runtime/json.c: JSON request bodies through jansson, their
 * Content-Type, error answers with byte offsets, and the document's
 * lifetime (released with the request arena). */
#include "fixture.h"

#include <check.h>
#include <jansson.h>

static void setup(void)
{
    fixture_begin();
}

static void teardown(void)
{
    fixture_end();
}

static void json_request(const char *ct, const char *body, size_t len)
{
    fixture_next();
    if (ct != NULL)
        fixture_header("Content-Type", ct);
    fixture_body(body, len);
}

START_TEST(valid_body_is_parsed_once_per_request)
{
    const char *b = "{\"name\":\"apple\",\"n\":[1,2.5,null,true],\"s\":\"a\\u0000b\"}";
    json_request("application/json", b, strlen(b));
    json_t *doc = srv_request_json(&fx_req, &fx_res);
    ck_assert_ptr_nonnull(doc);
    ck_assert(!srv_response_answered(&fx_res));
    ck_assert_str_eq(json_string_value(json_object_get(doc, "name")), "apple");
    ck_assert_uint_eq(json_string_length(json_object_get(doc, "s")), 3);
    ck_assert_ptr_eq(srv_request_json(&fx_req, NULL), doc);
}
END_TEST

START_TEST(document_is_released_when_the_request_ends)
{
    json_request("application/json", "[1]", 3);
    json_t *doc = srv_request_json(&fx_req, &fx_res);
    json_incref(doc); /* keep it past the request, as a handler may */
    ck_assert_uint_eq(doc->refcount, 2);
    fixture_next();
    ck_assert_uint_eq(doc->refcount, 1);
    json_decref(doc);
    /* Without the extra reference it is freed; LeakSanitizer (build-asan)
     * reports it if it were not. */
    json_request("application/json", "{\"a\":[{},[]]}", 13);
    ck_assert_ptr_nonnull(srv_request_json(&fx_req, &fx_res));
}
END_TEST

START_TEST(json_content_types_are_accepted)
{
    static const char *const yes[] = {"application/json", "APPLICATION/JSON",
                                      "application/json; charset=utf-8",
                                      "application/problem+json", "application/vnd.api+JSON ; a=b"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        json_request(yes[i], "1", 1);
        ck_assert_msg(srv_request_json(&fx_req, &fx_res) != NULL, "%s", yes[i]);
    }
}
END_TEST

START_TEST(other_content_types_are_415)
{
    static const char *const no[] = {"text/plain", "application/jsonx", "application/+json",
                                     "text/json", "application/x-www-form-urlencoded",
                                     "application/json; charset=\"\xc3\xa9\"", NULL};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        json_request(no[i], "{}", 2);
        ck_assert_ptr_null(srv_request_json(&fx_req, &fx_res));
        ck_assert_int_eq(fx_res.status, 415);
        ck_assert_str_eq(fixture_res_body(),
                         "{\"error\":\"Content-Type must be application/json\"}");
        ck_assert_str_eq(srv_response_header(&fx_res, "Content-Type"), "application/json");
        ck_assert(srv_response_answered(&fx_res));
    }
}
END_TEST

START_TEST(malformed_json_is_400_with_the_offset)
{
    static const struct {
        const char *body, *answer;
    } cases[] = {
        {"{\"a\": [1, 2], \"b\": }",
         "{\"error\":\"invalid JSON at byte 20: unexpected token near '}'\",\"offset\":20}"},
        {"", "{\"error\":\"invalid JSON at byte 0: unexpected token near end of file\","
             "\"offset\":0}"},
        {"[1] x", "{\"error\":\"invalid JSON at byte 5: end of file expected near 'x'\","
                  "\"offset\":5}"},
        {"{\"a\":1,\"a\":2}", "{\"error\":\"invalid JSON at byte 10: duplicate object key "
                              "near '\\\"a\\\"'\",\"offset\":10}"},
        {"[01]", "{\"error\":\"invalid JSON at byte 2: invalid token near '0'\",\"offset\":2}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_request("application/json", cases[i].body, strlen(cases[i].body));
        ck_assert_ptr_null(srv_request_json(&fx_req, &fx_res));
        ck_assert_int_eq(fx_res.status, 400);
        ck_assert_str_eq(fixture_res_body(), cases[i].answer);
        ck_assert_str_eq(srv_response_header(&fx_res, "Content-Type"), "application/json");
    }
}
END_TEST

START_TEST(error_bodies_are_valid_json_whatever_the_input)
{
    /* jansson quotes the input near the error: raw bytes, controls, quotes. */
    static const char *const bodies[] = {"[\"\xff\"]", "[\"ab\xc0\x80\"]", "[\"a\x01\"]",
                                         "[tru\"\\e]", "{\"\xe2\x82\"", "[\"\\ud800\"]",
                                         "[1e999]", "[123456789012345678901234567890]"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        json_request("application/json", bodies[i], strlen(bodies[i]));
        ck_assert_ptr_null(srv_request_json(&fx_req, &fx_res));
        ck_assert_int_eq(fx_res.status, 400);
        json_error_t err;
        json_t *answer = json_loadb(fx_res.body, fx_res.body_len, 0, &err);
        ck_assert_msg(answer != NULL, "%s: %s", bodies[i], err.text);
        const char *msg = json_string_value(json_object_get(answer, "error"));
        ck_assert_ptr_nonnull(msg);
        ck_assert(strncmp(msg, "invalid JSON at byte ", 21) == 0);
        ck_assert(json_is_integer(json_object_get(answer, "offset")));
        json_decref(answer);
    }
}
END_TEST

START_TEST(failure_is_kept_and_res_null_answers_nothing)
{
    json_request("application/json", "{", 1);
    ck_assert_ptr_null(srv_request_json(&fx_req, NULL));
    ck_assert_int_eq(fx_res.status, 200);
    ck_assert(!srv_response_answered(&fx_res));
    ck_assert_ptr_null(srv_request_json(&fx_req, &fx_res));
    ck_assert_int_eq(fx_res.status, 400);
    ck_assert_ptr_nonnull(strstr(fixture_res_body(), "at byte 1"));
}
END_TEST

START_TEST(top_level_scalars_and_nul_in_strings_are_json)
{
    static const char *const bodies[] = {"\"x\"", "1", "null", " true ", "\"\\u0000\""};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        json_request("application/json", bodies[i], strlen(bodies[i]));
        ck_assert_msg(srv_request_json(&fx_req, &fx_res) != NULL, "%s", bodies[i]);
    }
}
END_TEST

START_TEST(every_cut_of_a_document_is_parsed_within_bounds)
{
    const char *full = "{\"k\":[1,-2.5e3,\"s\\u00e9\\n\",true,false,null,{}]}";
    size_t len = strlen(full);
    for (size_t cut = 0; cut <= len; cut++) {
        fixture_next();
        fixture_header("Content-Type", "application/json");
        /* No NUL after the body: jansson must stop at the length given. */
        free(fx_body);
        fx_body = malloc(cut ? cut : 1);
        memcpy(fx_body, full, cut);
        fx_req.body = fx_body;
        fx_req.body_len = cut;
        json_t *doc = srv_request_json(&fx_req, &fx_res);
        ck_assert(cut == len ? doc != NULL : doc == NULL);
    }
}
END_TEST

static Suite *json_suite(void)
{
    Suite *s = suite_create("runtime/json");
    TCase *tc = tcase_create("json");
    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, valid_body_is_parsed_once_per_request);
    tcase_add_test(tc, document_is_released_when_the_request_ends);
    tcase_add_test(tc, json_content_types_are_accepted);
    tcase_add_test(tc, other_content_types_are_415);
    tcase_add_test(tc, malformed_json_is_400_with_the_offset);
    tcase_add_test(tc, error_bodies_are_valid_json_whatever_the_input);
    tcase_add_test(tc, failure_is_kept_and_res_null_answers_nothing);
    tcase_add_test(tc, top_level_scalars_and_nul_in_strings_are_json);
    tcase_add_test(tc, every_cut_of_a_document_is_parsed_within_bounds);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(json_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
