/* Tests for runtime/request.c: the handler's view of a request. */
#include "internal.h"

#include <check.h>
#include <string.h>

static struct srv__arena arena;
static struct srv__header hdrs[8];
static struct srv_request req;

static void add_header(const char *name, const char *value)
{
    struct srv__header *h = &hdrs[req.head.nheaders++];
    h->name = name;
    h->name_len = (uint32_t)strlen(name);
    h->value = value;
    h->value_len = (uint32_t)strlen(value);
}

static void set_query(const char *q)
{
    req.head.query = (char *)q;
    req.head.query_len = q ? (uint32_t)strlen(q) : 0;
}

static void setup(void)
{
    srv__arena_init(&arena, 256);
    memset(&req, 0, sizeof req);
    req.arena = &arena;
    req.fd = -1;
    req.head.headers = hdrs;
    req.head.method = SRV_METHOD_GET;
    req.head.method_name = "GET";
    req.head.path = "/a b";
    req.head.path_len = 4;
}

static void teardown(void)
{
    srv__arena_free(&arena);
}

START_TEST(query_param_decodes_percent_and_plus)
{
    char q[] = "name=J%C3%B6rg+M%20x&b=2";
    set_query(q);
    ck_assert_str_eq(srv_request_query_param(&req, "name"), "J\xc3\xb6rg M x");
    ck_assert_str_eq(srv_request_query_param(&req, "b"), "2");
}
END_TEST

START_TEST(query_param_first_occurrence_wins)
{
    char q[] = "a=1&a=2";
    set_query(q);
    ck_assert_str_eq(srv_request_query_param(&req, "a"), "1");
}
END_TEST

START_TEST(query_param_without_equals_is_empty)
{
    char q[] = "flag&x=1&empty=";
    set_query(q);
    ck_assert_str_eq(srv_request_query_param(&req, "flag"), "");
    ck_assert_str_eq(srv_request_query_param(&req, "empty"), "");
    ck_assert_str_eq(srv_request_query_param(&req, "x"), "1");
}
END_TEST

START_TEST(query_param_absent_is_null)
{
    char q[] = "ab=1&abc=2&=3";
    set_query(q);
    ck_assert_ptr_null(srv_request_query_param(&req, "a"));
    ck_assert_ptr_null(srv_request_query_param(&req, "abcd"));
    set_query(NULL);
    ck_assert_ptr_null(srv_request_query_param(&req, "a"));
    ck_assert_ptr_null(srv_request_query(&req));
}
END_TEST

START_TEST(query_param_matches_encoded_keys)
{
    char q[] = "a%20b=1&c+d=2";
    set_query(q);
    ck_assert_str_eq(srv_request_query_param(&req, "a b"), "1");
    ck_assert_str_eq(srv_request_query_param(&req, "c d"), "2");
}
END_TEST

START_TEST(query_param_keeps_malformed_escapes_literally)
{
    char q[] = "x=100%&y=%zz&z=%4";
    set_query(q);
    ck_assert_str_eq(srv_request_query_param(&req, "x"), "100%");
    ck_assert_str_eq(srv_request_query_param(&req, "y"), "%zz");
    ck_assert_str_eq(srv_request_query_param(&req, "z"), "%4");
    ck_assert_str_eq(srv_request_query(&req), "x=100%&y=%zz&z=%4");
}
END_TEST

START_TEST(header_lookup_ignores_case)
{
    add_header("Content-Type", "text/plain");
    add_header("X-Thing", "1");
    ck_assert_str_eq(srv_request_header(&req, "content-type"), "text/plain");
    ck_assert_str_eq(srv_request_header(&req, "CONTENT-TYPE"), "text/plain");
    ck_assert_str_eq(srv_request_header(&req, "x-thing"), "1");
}
END_TEST

START_TEST(header_lookup_returns_first_of_repeats)
{
    add_header("Accept", "a");
    add_header("accept", "b");
    ck_assert_str_eq(srv_request_header(&req, "ACCEPT"), "a");
}
END_TEST

START_TEST(header_lookup_needs_whole_name)
{
    add_header("Content-Type", "text/plain");
    ck_assert_ptr_null(srv_request_header(&req, "Content"));
    ck_assert_ptr_null(srv_request_header(&req, "Content-Type2"));
    ck_assert_ptr_null(srv_request_header(&req, ""));
}
END_TEST

static const char *const names[] = {"user", "*"};
static const struct srv_route route = {NULL, SRV_METHOD_GET, "/u/:user/*", 2, names, NULL, NULL, 0};

static void set_params(const char *path)
{
    /* "/u/ann/x/y": user = "ann", * = "x/y" */
    req.route = &route;
    req.match.nparams = 2;
    req.match.params[0].ptr = path + 3;
    req.match.params[0].len = 3;
    req.match.params[1].ptr = path + 7;
    req.match.params[1].len = strlen(path + 7);
}

START_TEST(param_lookup_by_name_and_position)
{
    static const char path[] = "/u/ann/x/y";
    set_params(path);
    ck_assert_str_eq(srv_request_param(&req, "user"), "ann");
    ck_assert_str_eq(srv_request_param(&req, "*"), "x/y");
    ck_assert_str_eq(srv_request_param_at(&req, 0), "ann");
    ck_assert_str_eq(srv_request_param_at(&req, 1), "x/y");
    /* Made once, then the same string. */
    ck_assert_ptr_eq(srv_request_param(&req, "user"), srv_request_param_at(&req, 0));
}
END_TEST

START_TEST(param_lookup_of_unknown_name_is_null)
{
    static const char path[] = "/u/ann/x/y";
    set_params(path);
    ck_assert_ptr_null(srv_request_param(&req, "id"));
    ck_assert_ptr_null(srv_request_param(&req, "use"));
    ck_assert_ptr_null(srv_request_param_at(&req, 2));
    req.route = NULL;
    ck_assert_ptr_null(srv_request_param(&req, "user"));
}
END_TEST

START_TEST(body_defaults_to_empty)
{
    size_t len = 99;
    ck_assert_str_eq(srv_request_body(&req, &len), "");
    ck_assert_uint_eq(len, 0);
    char b[] = "a\0b";
    req.body = b;
    req.body_len = 3;
    ck_assert_ptr_eq(srv_request_body(&req, &len), b);
    ck_assert_uint_eq(len, 3);
    ck_assert_ptr_eq(srv_request_body(&req, NULL), b);
}
END_TEST

START_TEST(method_path_and_name_are_the_parsed_ones)
{
    ck_assert_int_eq(srv_request_method(&req), SRV_METHOD_GET);
    ck_assert_str_eq(srv_request_method_name(&req), "GET");
    ck_assert_str_eq(srv_request_path(&req), "/a b");
}
END_TEST

START_TEST(arena_helpers_copy_and_format)
{
    char src[] = "abc";
    char *d = srv_strdup(&req, src);
    src[0] = 'x';
    ck_assert_str_eq(d, "abc");
    ck_assert_str_eq(srv_sprintf(&req, "%d-%s-%05.1f", 42, "x", 2.5), "42-x-002.5");
    char *big = srv_sprintf(&req, "%0500d", 7);
    ck_assert_uint_eq(strlen(big), 500);
    ck_assert_ptr_nonnull(srv_alloc(&req, 10000));
}
END_TEST

START_TEST(peer_of_a_non_socket_is_empty)
{
    ck_assert_str_eq(srv_request_peer(&req), "");
}
END_TEST

static int cleaned;

static void count_cleanup(void *arg)
{
    cleaned += *(int *)arg;
}

START_TEST(cleanups_run_when_the_request_ends)
{
    static int one = 1, ten = 10;
    cleaned = 0;
    srv_request_cleanup(&req, count_cleanup, &one);
    srv_request_cleanup(&req, count_cleanup, &ten);
    ck_assert_int_eq(cleaned, 0);
    srv__arena_reset(&arena); /* what conn.c does once the response is out */
    ck_assert_int_eq(cleaned, 11);
    srv__arena_reset(&arena);
    ck_assert_int_eq(cleaned, 11);
}
END_TEST

START_TEST(lazy_results_are_forgotten_with_the_arena)
{
    struct srv__lazy *lz = srv__request_lazy(&req);
    ck_assert_ptr_eq(srv__request_lazy(&req), lz);
    ck_assert_ptr_eq(lz->req, &req);
    ck_assert(!lz->form_done && !lz->parts_done && !lz->json_done);
    srv__arena_reset(&arena);
    ck_assert_ptr_null(req.lazy);
}
END_TEST

static Suite *request_suite(void)
{
    Suite *s = suite_create("runtime/request");
    TCase *tc = tcase_create("query");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, query_param_decodes_percent_and_plus);
    tcase_add_test(tc, query_param_first_occurrence_wins);
    tcase_add_test(tc, query_param_without_equals_is_empty);
    tcase_add_test(tc, query_param_absent_is_null);
    tcase_add_test(tc, query_param_matches_encoded_keys);
    tcase_add_test(tc, query_param_keeps_malformed_escapes_literally);
    suite_add_tcase(s, tc);
    tc = tcase_create("header");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, header_lookup_ignores_case);
    tcase_add_test(tc, header_lookup_returns_first_of_repeats);
    tcase_add_test(tc, header_lookup_needs_whole_name);
    suite_add_tcase(s, tc);
    tc = tcase_create("param");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, param_lookup_by_name_and_position);
    tcase_add_test(tc, param_lookup_of_unknown_name_is_null);
    suite_add_tcase(s, tc);
    tc = tcase_create("misc");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, body_defaults_to_empty);
    tcase_add_test(tc, method_path_and_name_are_the_parsed_ones);
    tcase_add_test(tc, arena_helpers_copy_and_format);
    tcase_add_test(tc, peer_of_a_non_socket_is_empty);
    tcase_add_test(tc, cleanups_run_when_the_request_ends);
    tcase_add_test(tc, lazy_results_are_forgotten_with_the_arena);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(request_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
