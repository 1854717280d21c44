/*
 * test_check.c - tests compiler/check.c: values resolved for codegen and
 * one diagnostic per rule (port, workers, methods, patterns, parameter
 * names, limits and timeouts, user).
 */
#include "support.h"

static char text[4096];

/* A server block around BODY. */
static App *check_body(Run *r, const char *body)
{
    snprintf(text, sizeof text, "server \"h\" 80 {\n%s\n}\n", body);
    return run_check(r, text);
}

#define EXPECT_ERROR(body, msg)                                   \
    do {                                                          \
        Run r_;                                                   \
        check_body(&r_, body);                                    \
        ck_assert(!r_.ok);                                        \
        ck_assert_contains(run_diags(&r_), msg);                  \
        run_close(&r_);                                           \
    } while (0)

START_TEST(resolves_values)
{
    Run r;
    App *app = check_body(&r, "workers auto;\n"
                              "limits { request_line 8K; header_bytes 1M; header_count 7; body 100;\n"
                              "         multipart_parts 9; multipart_header 4K; }\n"
                              "timeouts { header 250ms; body 2s; idle 3m; shutdown 1s; }");
    ck_assert(r.ok);
    const Server *s = app->servers;
    ck_assert_int_eq(s->port_value, 80);
    ck_assert_int_eq(s->workers_value, -1);
    ck_assert_uint_eq(s->limit_values[LIM_REQUEST_LINE], 8192);
    ck_assert_uint_eq(s->limit_values[LIM_HEADER_BYTES], 1048576);
    ck_assert_uint_eq(s->limit_values[LIM_HEADER_COUNT], 7);
    ck_assert_uint_eq(s->limit_values[LIM_BODY], 100);
    ck_assert_uint_eq(s->limit_values[LIM_MULTIPART_PARTS], 9);
    ck_assert_uint_eq(s->limit_values[LIM_MULTIPART_HEADER], 4096);
    ck_assert_uint_eq(s->limit_values[LIM_HEADER_TIMEOUT], 250);
    ck_assert_uint_eq(s->limit_values[LIM_BODY_TIMEOUT], 2000);
    ck_assert_uint_eq(s->limit_values[LIM_IDLE_TIMEOUT], 180000);
    ck_assert_uint_eq(s->limit_values[LIM_SHUTDOWN_TIMEOUT], 1000);
    run_close(&r);
}
END_TEST

START_TEST(splits_patterns_into_segments)
{
    Run r;
    App *app = check_body(&r, "GET \"/a/:id/*\" h;\nGET \"/\" h;");
    ck_assert(r.ok);
    const Route *a = app->servers->routes, *root = a->next;
    ck_assert_uint_eq(a->nsegs, 3);
    ck_assert_int_eq(a->segs[0].kind, SEG_LITERAL);
    ck_assert_int_eq(a->segs[1].kind, SEG_PARAM);
    ck_assert_mem_eq(a->segs[1].ptr, "id", 2);
    ck_assert_int_eq(a->segs[2].kind, SEG_WILD);
    ck_assert_uint_eq(a->nparams, 2);
    ck_assert_uint_eq(root->nsegs, 1);
    ck_assert_uint_eq(root->segs[0].len, 0);
    run_close(&r);
}
END_TEST

START_TEST(rejects_missing_or_second_server)
{
    Run r;
    run_check(&r, "// nothing\n");
    ck_assert_str_eq(run_diags(&r), "t.srv: error: no 'server' block\n");
    run_close(&r);
    run_check(&r, "server \"a\" 1 { }\nserver \"b\" 2 { }\n");
    ck_assert_contains(run_diags(&r), "t.srv:2:1: error: more than one 'server' block");
    ck_assert_contains(run_diags(&r), "t.srv:1:1: note: first defined here");
    run_close(&r);
}
END_TEST

START_TEST(rejects_port_out_of_range)
{
    Run r;
    run_check(&r, "server \"h\" 65536 { }");
    ck_assert_contains(run_diags(&r), "t.srv:1:12: error: port 65536 is outside 0-65535");
    run_close(&r);
    run_check(&r, "server \"h\" 65535 { }");
    ck_assert(r.ok);
    run_close(&r);
}
END_TEST

START_TEST(rejects_bad_workers)
{
    EXPECT_ERROR("workers -1;", "'workers' must be a number from 0 to 4096 or 'auto'");
    EXPECT_ERROR("workers many;", "'workers' must be a number from 0 to 4096 or 'auto'");
    EXPECT_ERROR("workers 4x;", "'workers' must be a number from 0 to 4096 or 'auto'");
}
END_TEST

START_TEST(group_prefixes_join_route_patterns)
{
    Run r;
    App *app = check_body(&r, "group \"/api\" {\n"
                              "    group \"/u/:uid\" { GET \"/posts/:pid\" h; GET \"\" h; }\n"
                              "    static \"/docs/\" \"d\";\n"
                              "    GET \"/\" h;\n"
                              "}\n"
                              "group \"\" { GET \"/bare\" h; }\n"
                              "static \"/\" \"www\";");
    ck_assert_msg(r.ok, "%s", run_diags(&r));
    const Route *posts = app->servers->routes, *u = posts->next, *docs = u->next,
                *slash = docs->next, *bare = slash->next, *root = bare->next;
    ck_assert_str_eq(posts->path, "/api/u/:uid/posts/:pid");
    ck_assert_uint_eq(posts->nsegs, 5);
    ck_assert_uint_eq(posts->nparams, 2);
    ck_assert_mem_eq(posts->segs[2].ptr, "uid", 3);
    ck_assert_mem_eq(posts->segs[4].ptr, "pid", 3);
    ck_assert_str_eq(u->path, "/api/u/:uid");
    ck_assert_uint_eq(u->nsegs, 3);
    ck_assert_str_eq(docs->path, "/api/docs/*");
    ck_assert_int_eq(docs->method_index, M_GET);
    ck_assert_int_eq(docs->segs[2].kind, SEG_WILD);
    ck_assert_str_eq(slash->path, "/api/");
    ck_assert_uint_eq(slash->nsegs, 2);
    ck_assert_str_eq(bare->path, "/bare");
    ck_assert_str_eq(root->path, "/*");
    ck_assert_uint_eq(root->nsegs, 1);
    ck_assert_int_eq(root->segs[0].kind, SEG_WILD);
    run_close(&r);
}
END_TEST

START_TEST(rejects_bad_group_prefixes)
{
    EXPECT_ERROR("group \"api\" { }", "t.srv:2:7: error: group prefix must start with '/'");
    EXPECT_ERROR("group \"/api/\" { }", "t.srv:2:12: error: group prefix must not end with '/'");
    EXPECT_ERROR("group \"/a/*\" { }", "t.srv:2:11: error: '*' cannot be part of a group prefix");
    EXPECT_ERROR("group \"/a//b\" { }", "t.srv:2:10: error: empty segment '//' in group prefix");
    EXPECT_ERROR("group \"/:res\" { }", "parameter name 'res' collides with the handler argument");
    EXPECT_ERROR("group \"/:id\" { GET \"/:id\" h; }", "t.srv:2:22: error: repeated parameter name 'id'");
    EXPECT_ERROR("GET \"\" h;", "t.srv:2:5: error: route pattern must start with '/'");
    EXPECT_ERROR("group \"\" { GET \"\" h; }", "t.srv:2:16: error: route pattern must start with '/'");
}
END_TEST

START_TEST(a_bad_group_prefix_is_reported_once)
{
    Run r;
    check_body(&r, "group \"api\" {\n    GET \"/a\" h;\n    GET \"/b/:x\" h;\n}");
    ck_assert_int_eq(r.diag.nerrors, 1);
    run_close(&r);
}
END_TEST

START_TEST(rejects_bad_static_mounts)
{
    EXPECT_ERROR("static \"assets/\" \"p\";", "t.srv:2:8: error: static prefix must start with '/'");
    EXPECT_ERROR("static \"/assets\" \"p\";", "t.srv:2:8: error: static prefix must end with '/'");
    EXPECT_ERROR("static \"/a/:x/\" \"p\";", "t.srv:2:12: error: a static prefix cannot have parameters");
    EXPECT_ERROR("static \"/a/*/\" \"p\";", "t.srv:2:12: error: '*' cannot be part of a static prefix");
    EXPECT_ERROR("static \"/a/\" \"\";", "t.srv:2:14: error: static directory must not be empty");
    EXPECT_ERROR("static \"/a/\" \"x\\0y\";", "static directory must not contain NUL");
}
END_TEST

START_TEST(a_group_may_set_only_its_response_deadline)
{
    Run r;
    App *app = check_body(&r, "timeouts { response 40s; }\n"
                              "group \"/slow\" { timeouts { response 2m; } GET \"/x\" h; }");
    ck_assert_msg(r.ok, "%s", run_diags(&r));
    ck_assert_uint_eq(app->servers->limit_values[LIM_RESPONSE_TIMEOUT], 40000);
    ck_assert_uint_eq(app->servers->scopes->next->response_ms, 120000);
    run_close(&r);
    EXPECT_ERROR("group \"/g\" { timeouts { idle 2s; } }",
                 "t.srv:2:25: error: only 'response' can be set in a group's timeouts");
    EXPECT_ERROR("group \"/g\" { timeouts { response 2s; response 3s; } }",
                 "t.srv:2:38: error: duplicate timeout 'response'");
}
END_TEST

START_TEST(rejects_unknown_method)
{
    EXPECT_ERROR("get \"/\" h;", "error: unknown method 'get'");
}
END_TEST

START_TEST(rejects_bad_patterns)
{
    EXPECT_ERROR("GET \"x\" h;", "t.srv:2:5: error: route pattern must start with '/'");
    EXPECT_ERROR("GET \"/a//b\" h;", "t.srv:2:8: error: empty segment '//' in route pattern");
    EXPECT_ERROR("GET \"/*/a\" h;", "t.srv:2:7: error: '*' must be the last segment");
    EXPECT_ERROR("GET \"/a?b\" h;", "t.srv:2:8: error: bad character '?' in route pattern");
    EXPECT_ERROR("GET \"/a\\tb\" h;", "t.srv:2:5: error: bad character '\\x09' in route pattern");
    EXPECT_ERROR("GET \"/a/..\" h;", "error: segment '..' never matches");
}
END_TEST

START_TEST(rejects_bad_parameter_names)
{
    EXPECT_ERROR("GET \"/:\" h;", "t.srv:2:7: error: missing parameter name after ':'");
    EXPECT_ERROR("GET \"/:a-b\" h;", "error: parameter name 'a-b' is not a C identifier");
    EXPECT_ERROR("GET \"/:for\" h;", "error: parameter name 'for' is a C keyword");
    EXPECT_ERROR("GET \"/:srv_x\" h;", "error: parameter name 'srv_x' uses a prefix reserved");
    EXPECT_ERROR("GET \"/:res\" { }", "error: parameter name 'res' collides with the handler argument 'res'");
    EXPECT_ERROR("GET \"/:a/:a\" h;", "t.srv:2:10: error: repeated parameter name 'a' in route pattern");
    EXPECT_ERROR("GET \"/:a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/:r/:s/:t/:u/:v/:w/:x/:y/:z/:aa/:ab/:ac/:ad/:ae/:af/:ag\" h;",
                 "error: too many parameters in route pattern (17; at most 16)");
}
END_TEST

START_TEST(req_is_fine_for_named_handlers)
{
    Run r;
    check_body(&r, "GET \"/:req\" h;");
    ck_assert(r.ok);
    run_close(&r);
}
END_TEST

START_TEST(rejects_bad_limits_and_timeouts)
{
    EXPECT_ERROR("limits { bodies 1K; }", "error: unknown limit 'bodies'");
    EXPECT_ERROR("timeouts { read 1s; }", "error: unknown timeout 'read'");
    EXPECT_ERROR("limits { body 1K; body 2K; }", "t.srv:2:19: error: duplicate limit 'body'");
    EXPECT_ERROR("limits { body 0; }", "error: 'body' must be greater than zero");
    EXPECT_ERROR("limits { body 2048M; }", "error: 'body' is out of range (at most 1024M)");
    EXPECT_ERROR("limits { body 1G; }", "error: bad size suffix 'G' in '1G' (use K or M)");
    EXPECT_ERROR("limits { header_count 1K; }", "error: bad suffix 'K' in '1K'");
    EXPECT_ERROR("limits { body \"1K\"; }", "error: 'body' needs a number");
    EXPECT_ERROR("timeouts { idle 10; }", "error: duration '10' needs a unit (ms, s or m)");
    EXPECT_ERROR("timeouts { idle 1h; }", "error: bad duration suffix 'h' in '1h' (use ms, s or m)");
    EXPECT_ERROR("timeouts { idle 0s; }", "error: 'idle' must be greater than zero");
    EXPECT_ERROR("timeouts { idle 99999999999999999999999s; }", "error: 'idle' is out of range");
}
END_TEST

START_TEST(resolves_user_and_group)
{
    Run r;
    /* `user` leads a statement only: a handler may still be called so. */
    App *app = check_body(&r, "user \"www-data\";\nGET \"/me\" user;");
    ck_assert(r.ok);
    ck_assert_str_eq(app->servers->user_name, "www-data");
    ck_assert_ptr_null(app->servers->group_name);
    ck_assert_mem_eq(app->servers->routes->handler.ptr, "user", 4);
    run_close(&r);
    app = check_body(&r, "user \"nobody\" \"nogroup\";");
    ck_assert(r.ok);
    ck_assert_str_eq(app->servers->user_name, "nobody");
    ck_assert_str_eq(app->servers->group_name, "nogroup");
    run_close(&r);
    app = check_body(&r, "GET \"/\" h;");
    ck_assert(r.ok);
    ck_assert_ptr_null(app->servers->user_name);
    run_close(&r);
}
END_TEST

START_TEST(rejects_bad_user)
{
    EXPECT_ERROR("user;", "t.srv:2:1: error: 'user' needs a user name");
    EXPECT_ERROR("user \"\";", "t.srv:2:6: error: user name must not be empty");
    EXPECT_ERROR("user \"a\" \"\";", "t.srv:2:10: error: group name must not be empty");
    EXPECT_ERROR("user \"a\" \"b\" \"c\";", "t.srv:2:14: error: 'user' takes a user name and an "
                                          "optional group, nothing more");
    EXPECT_ERROR("user www;", "t.srv:2:6: error: user name must be a string (write \"www\")");
    EXPECT_ERROR("user \"a\" 1;", "t.srv:2:10: error: group name must be a string (write \"1\")");
    EXPECT_ERROR("user \"a\\0b\";", "error: bad character '\\x00' in user name");
    EXPECT_ERROR("user \"a:b\";", "t.srv:2:8: error: bad character ':' in user name");
    EXPECT_ERROR("user \"a\";\nuser \"b\";", "t.srv:3:1: error: duplicate 'user' setting");
    EXPECT_ERROR("group \"/g\" { user \"a\"; }",
                 "t.srv:2:14: error: 'user' is a server setting; it cannot be inside a group");
}
END_TEST

START_TEST(reports_every_error_in_file_order)
{
    Run r;
    check_body(&r, "GET \"a\" h;\nlimits { x 1; }\nFOO \"/\" h;");
    ck_assert_int_eq(r.diag.nerrors, 3);
    const char *d = run_diags(&r);
    const char *a = strstr(d, ":2:"), *b = strstr(d, ":3:"), *c = strstr(d, ":4:");
    ck_assert(a && b && c && a < b && b < c);
    run_close(&r);
}
END_TEST

START_TEST(resolves_trust_proxy_entries)
{
    Run r;
    App *app = check_body(&r, "trust_proxy \"127.0.0.1\" \"10.0.0.0/8\" \"::1\" \"fd00::/8\" "
                              "\"0.0.0.0/0\" \"2001:db8::/32\";");
    ck_assert(r.ok);
    const Server *s = app->servers;
    ck_assert_uint_eq(s->ntrust, 6);
    static const struct { int family; unsigned prefix; unsigned char first, last; } want[] = {
        {4, 32, 127, 1}, {4, 8, 10, 0}, {6, 128, 0, 1}, {6, 8, 0xfd, 0}, {4, 0, 0, 0},
        {6, 32, 0x20, 0},
    };
    for (unsigned i = 0; i < 6; i++) {
        ck_assert_int_eq(s->trust[i].family, want[i].family);
        ck_assert_uint_eq(s->trust[i].prefix, want[i].prefix);
        ck_assert_uint_eq(s->trust[i].addr[0], want[i].first);
        ck_assert_uint_eq(s->trust[i].addr[want[i].family == 6 ? 15 : 3], want[i].last);
    }
    run_close(&r);
}
END_TEST

START_TEST(suggests_a_close_name_only)
{
    static const char *const names[] = {"workers", "limits", "timeouts", "GET", "PATCH", "SSE", "WS"};
    const size_t n = sizeof names / sizeof names[0];
    ck_assert_str_eq(diag_suggest("wrokers", 7, names, n), "workers"); /* a swap is one edit */
    ck_assert_str_eq(diag_suggest("limts", 5, names, n), "limits");
    ck_assert_str_eq(diag_suggest("timout", 6, names, n), "timeouts"); /* two in eight */
    ck_assert_str_eq(diag_suggest("GTE", 3, names, n), "GET");
    ck_assert_str_eq(diag_suggest("get", 3, names, n), "GET");         /* case alone */
    ck_assert_str_eq(diag_suggest("ws", 2, names, n), "WS");
    ck_assert_ptr_null(diag_suggest("FETCH", 5, names, n));            /* two in five */
    ck_assert_ptr_null(diag_suggest("listen", 6, names, n));
    ck_assert_ptr_null(diag_suggest("WX", 2, names, n));
    ck_assert_ptr_null(diag_suggest("", 0, names, n));
    char long_word[200];
    memset(long_word, 'w', sizeof long_word);
    ck_assert_ptr_null(diag_suggest(long_word, sizeof long_word, names, n));
}
END_TEST

START_TEST(reports_unknown_directives_and_goes_on)
{
    Run r;
    check_body(&r, "wrokers 4;\nlimts { body 1M; }\nlisten 80;\nGTE \"/a\" h;\ngrop \"/b\" { }\n"
                   "FETCH \"/c\" h;\nworkers 0x;");
    ck_assert(!r.ok);
    const char *d = run_diags(&r);
    ck_assert_contains(d, "t.srv:2:1: error: unknown directive 'wrokers'; did you mean 'workers'?");
    ck_assert_contains(d, "t.srv:3:1: error: unknown directive 'limts'; did you mean 'limits'?");
    ck_assert_contains(d, "t.srv:4:1: error: unknown directive 'listen'\n");
    ck_assert_contains(d, "t.srv:5:1: error: unknown method 'GTE'; did you mean 'GET'?");
    ck_assert_contains(d, "t.srv:6:1: error: unknown directive 'grop'; did you mean 'group'?");
    ck_assert_contains(d, "t.srv:7:1: error: unknown method 'FETCH' (expected GET,");
    /* The checks ran: the bad value after them is reported too. */
    ck_assert_contains(d, "t.srv:8:9: error: 'workers' must be");
    ck_assert_int_eq(r.diag.nerrors, 7);
    run_close(&r);
}
END_TEST

START_TEST(rejects_bad_trust_proxy_entries)
{
    EXPECT_ERROR("trust_proxy \"10.0.0.256\";", "\"10.0.0.256\" is not an IPv4 or IPv6 address");
    EXPECT_ERROR("trust_proxy \"10.0.0.0/33\";", "prefix length 33 is too long for an IPv4 range");
    EXPECT_ERROR("trust_proxy \"::/129\";", "prefix length 129 is too long for an IPv6 range");
    EXPECT_ERROR("trust_proxy \"10.0.0.0/\";", "bad prefix length '/'");
    EXPECT_ERROR("trust_proxy \"10.1.0.0/8\";", "did you mean \"10.0.0.0/8\"?");
    EXPECT_ERROR("trust_proxy \"::1\" \"0::1\";", "\"0::1\" is listed twice");
    EXPECT_ERROR("trust_proxy;", "'trust_proxy' needs the addresses or ranges");
    EXPECT_ERROR("trust_proxy localhost;", "expected an address or range in quotes");
    EXPECT_ERROR("group \"/g\" { trust_proxy \"::1\"; }", "'trust_proxy' is a server setting");
}
END_TEST

START_TEST(metrics_is_a_get_route_in_file_order)
{
    Run r;
    App *app = check_body(&r, "GET \"/a\" h;\nmetrics \"/ops/metrics\";\nGET \"/b\" h;");
    ck_assert(r.ok);
    const Route *m = app->servers->routes->next;
    ck_assert_int_eq(m->kind, RK_METRICS);
    ck_assert_uint_eq(m->index, 1);
    ck_assert_int_eq(m->method_index, M_GET);
    ck_assert_str_eq(m->path, "/ops/metrics");
    ck_assert_ptr_nonnull(app->servers->metrics);
    run_close(&r);
    /* Counting alone makes no route. */
    app = check_body(&r, "metrics;\nGET \"/a\" h;");
    ck_assert(r.ok);
    ck_assert_uint_eq(app->servers->nroutes, 1);
    ck_assert_ptr_nonnull(app->servers->metrics);
    run_close(&r);
}
END_TEST

START_TEST(rejects_bad_metrics_paths)
{
    EXPECT_ERROR("metrics \"/m/:id\";", "the metrics path must be a plain path");
    EXPECT_ERROR("metrics \"/m/*\";", "the metrics path must be a plain path");
    EXPECT_ERROR("metrics \"m\";", "the metrics path must start with '/'");
    EXPECT_ERROR("metrics \"/a/../b\";", "never matches");
    EXPECT_ERROR("metrics 1;", "expected the metrics path in quotes");
    EXPECT_ERROR("metrics \"/m\" \"/n\";", "unexpected '/n' after the metrics path");
    EXPECT_ERROR("proxy_protocol 2;", "'proxy_protocol' takes no value");
}
END_TEST

START_TEST(suggests_setting_and_block_names)
{
    EXPECT_ERROR("limits { bdy 1M; }", "unknown limit 'bdy'; did you mean 'body'?");
    EXPECT_ERROR("limits { max_body 1M; }", "unknown limit 'max_body' (expected request_line,");
    EXPECT_ERROR("timeouts { idel 1s; }", "unknown timeout 'idel'; did you mean 'idle'?");
    EXPECT_ERROR("group \"/a\" { timeouts { respones 1s; } }",
                 "unknown timeout 'respones'; did you mean 'response'?");
    EXPECT_ERROR("cors { orgin \"*\"; }", "unknown cors setting 'orgin'; did you mean 'origin'?");
    EXPECT_ERROR("cors { origin \"*\"; methods PSOT; }",
                 "unknown method 'PSOT' in 'methods'; did you mean 'POST'?");
    EXPECT_ERROR("SSE \"/e\" { opne { } }", "unknown SSE block 'opne'; did you mean 'open'?");
    EXPECT_ERROR("SSE \"/e\" evrey 1s { }", "unknown SSE option 'evrey'; did you mean 'every'?");
    EXPECT_ERROR("WS \"/w\" { mesage { } }", "unknown WS block 'mesage'; did you mean 'message'?");
    EXPECT_ERROR("log jsno;", "unknown log format 'jsno'; did you mean 'json'?");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("compiler/check");
    TCase *tc = tcase_create("values");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, resolves_values);
    tcase_add_test(tc, splits_patterns_into_segments);
    tcase_add_test(tc, rejects_missing_or_second_server);
    tcase_add_test(tc, rejects_port_out_of_range);
    tcase_add_test(tc, rejects_bad_workers);
    tcase_add_test(tc, rejects_bad_limits_and_timeouts);
    tcase_add_test(tc, resolves_user_and_group);
    tcase_add_test(tc, rejects_bad_user);
    tcase_add_test(tc, reports_every_error_in_file_order);
    suite_add_tcase(s, tc);
    tc = tcase_create("routes");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, rejects_unknown_method);
    tcase_add_test(tc, rejects_bad_patterns);
    tcase_add_test(tc, rejects_bad_parameter_names);
    tcase_add_test(tc, req_is_fine_for_named_handlers);
    tcase_add_test(tc, group_prefixes_join_route_patterns);
    tcase_add_test(tc, rejects_bad_group_prefixes);
    tcase_add_test(tc, a_bad_group_prefix_is_reported_once);
    tcase_add_test(tc, rejects_bad_static_mounts);
    tcase_add_test(tc, a_group_may_set_only_its_response_deadline);
    suite_add_tcase(s, tc);
    tc = tcase_create("behind_a_load_balancer");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, resolves_trust_proxy_entries);
    tcase_add_test(tc, rejects_bad_trust_proxy_entries);
    tcase_add_test(tc, metrics_is_a_get_route_in_file_order);
    tcase_add_test(tc, rejects_bad_metrics_paths);
    suite_add_tcase(s, tc);
    tc = tcase_create("did you mean");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, suggests_a_close_name_only);
    tcase_add_test(tc, reports_unknown_directives_and_goes_on);
    tcase_add_test(tc, suggests_setting_and_block_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
