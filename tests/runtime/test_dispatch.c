/* Tests for runtime/dispatch.c: route selection, 404, 405 + Allow, handler
 * misuse answered 500. */
#include "internal.h"

#include <check.h>
#include <string.h>

static int calls;

static void hello(struct srv_request *req, struct srv_response *res)
{
    (void)req;
    calls++;
    srv_response_text(res, "hi");
}

static void show_user(struct srv_request *req, struct srv_response *res)
{
    calls++;
    srv_response_printf(res, "user %s", srv_request_param(req, "id"));
}

static void bad_header(struct srv_request *req, struct srv_response *res)
{
    (void)req;
    calls++;
    srv_response_add_header(res, "X-Evil", "a\r\nSet-Cookie: x=1");
    srv_response_text(res, "should not be sent");
}

static const char *const user_params[] = {"id"};
static const struct srv_route routes[] = {
    {hello, SRV_METHOD_GET, "/", 0, NULL, NULL, NULL, 0},
    {show_user, SRV_METHOD_GET | SRV_METHOD_DELETE, "/users/:id", 1, user_params, NULL, NULL, 0},
    {hello, SRV_METHOD_POST, "/users/:id", 1, user_params, NULL, NULL, 0},
    {bad_header, SRV_METHOD_GET, "/bad", 0, NULL, NULL, NULL, 0},
};

/* A hand-written matcher in the shape srvc generates. */
static int match(unsigned method, const char *path, size_t len, struct srv_match *m)
{
    m->nparams = 0;
    m->allow = 0;
    if (method == SRV_METHOD_HEAD)
        method = SRV_METHOD_GET;
    if (len == 1 && path[0] == '/') {
        if (method == SRV_METHOD_GET)
            return 0;
        m->allow = SRV_METHOD_GET | SRV_METHOD_HEAD;
        return -1;
    }
    if (len == 4 && memcmp(path, "/bad", 4) == 0) {
        if (method == SRV_METHOD_GET)
            return 3;
        m->allow = SRV_METHOD_GET | SRV_METHOD_HEAD;
        return -1;
    }
    if (len > 7 && memcmp(path, "/users/", 7) == 0 && !memchr(path + 7, '/', len - 7)) {
        m->nparams = 1;
        m->params[0].ptr = path + 7;
        m->params[0].len = len - 7;
        if (method & (SRV_METHOD_GET | SRV_METHOD_DELETE))
            return 1;
        if (method == SRV_METHOD_POST)
            return 2;
        m->allow = SRV_METHOD_GET | SRV_METHOD_HEAD | SRV_METHOD_DELETE | SRV_METHOD_POST;
        return -1;
    }
    return -1;
}

static const struct srv_app app = {.match = match, .routes = routes, .nroutes = 4};

static struct srv__arena arena;
static struct srv_request req;
static struct srv_response res;

static void run(unsigned method, const char *name, const char *path)
{
    memset(&req, 0, sizeof req);
    req.arena = &arena;
    req.fd = -1;
    req.head.method = method;
    req.head.method_name = name;
    req.head.path = (char *)path;
    req.head.path_len = (uint32_t)strlen(path);
    srv__response_init(&res, &arena);
    srv__dispatch(&app, &req, &res);
}

static bool has_header(const char *line)
{
    size_t n = strlen(line);
    for (size_t i = 0; i + n <= res.headers_len; i++)
        if (memcmp(res.headers + i, line, n) == 0)
            return true;
    return false;
}

static void setup(void)
{
    srv__arena_init(&arena, 512);
    calls = 0;
}

static void teardown(void)
{
    srv__arena_free(&arena);
}

START_TEST(matching_route_runs_its_handler)
{
    run(SRV_METHOD_GET, "GET", "/");
    ck_assert_int_eq(calls, 1);
    ck_assert_int_eq(res.status, 200);
    ck_assert_str_eq(res.body, "hi");
    ck_assert_ptr_eq(req.route, &routes[0]);
}
END_TEST

START_TEST(handler_sees_its_parameters)
{
    run(SRV_METHOD_GET, "GET", "/users/ann");
    ck_assert_int_eq(calls, 1);
    ck_assert_str_eq(res.body, "user ann");
}
END_TEST

START_TEST(unknown_path_is_404)
{
    run(SRV_METHOD_GET, "GET", "/nope");
    ck_assert_int_eq(calls, 0);
    ck_assert_int_eq(res.status, 404);
    ck_assert_uint_eq(res.body_len, strlen("404 Not Found\n"));
    ck_assert_int_eq(memcmp(res.body, "404 Not Found\n", res.body_len), 0);
    ck_assert_ptr_null(req.route);
}
END_TEST

START_TEST(wrong_method_is_405_with_allow)
{
    run(SRV_METHOD_PUT, "PUT", "/users/ann");
    ck_assert_int_eq(calls, 0);
    ck_assert_int_eq(res.status, 405);
    ck_assert(has_header("Allow: GET, HEAD, POST, DELETE\r\n"));
    ck_assert_int_eq(memcmp(res.body, "405 Method Not Allowed\n", res.body_len), 0);
}
END_TEST

START_TEST(allow_lists_head_with_get)
{
    run(SRV_METHOD_POST, "POST", "/");
    ck_assert_int_eq(res.status, 405);
    ck_assert(has_header("Allow: GET, HEAD\r\n"));
}
END_TEST

START_TEST(allow_format_writes_methods_in_order)
{
    char buf[80];
    size_t n = srv__allow_format(buf, SRV_METHOD_OPTIONS | SRV_METHOD_PUT | SRV_METHOD_PATCH);
    ck_assert_str_eq(buf, "Allow: PUT, PATCH, OPTIONS");
    ck_assert_uint_eq(n, strlen(buf));
    srv__allow_format(buf, SRV_METHOD_ANY);
    ck_assert_str_eq(buf, "Allow: GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS");
}
END_TEST

START_TEST(head_runs_the_get_route)
{
    run(SRV_METHOD_HEAD, "HEAD", "/");
    ck_assert_int_eq(calls, 1);
    ck_assert_int_eq(res.status, 200);
}
END_TEST

START_TEST(handler_header_with_crlf_becomes_500)
{
    run(SRV_METHOD_GET, "GET", "/bad");
    ck_assert_int_eq(calls, 1);
    ck_assert_int_eq(res.status, 500);
    ck_assert(!has_header("X-Evil"));
    ck_assert_int_eq(memcmp(res.body, "500 Internal Server Error\n", res.body_len), 0);
}
END_TEST

static Suite *dispatch_suite(void)
{
    Suite *s = suite_create("runtime/dispatch");
    TCase *tc = tcase_create("route");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, matching_route_runs_its_handler);
    tcase_add_test(tc, handler_sees_its_parameters);
    tcase_add_test(tc, head_runs_the_get_route);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, unknown_path_is_404);
    tcase_add_test(tc, wrong_method_is_405_with_allow);
    tcase_add_test(tc, allow_lists_head_with_get);
    tcase_add_test(tc, allow_format_writes_methods_in_order);
    tcase_add_test(tc, handler_header_with_crlf_becomes_500);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(dispatch_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
