/*
 * test_parser.c - tests grammar/srv.y: the AST built from whole files,
 * GCC-like "expected X before Y" messages, statement-level recovery that
 * reports several errors in one run, and repeated singleton statements.
 */
#include "support.h"

static const char *dump(Run *r, const char *text)
{
    static char *buf;
    static size_t len;
    run_open(r, text);
    App *app = parse_app(&r->src, &r->diag, r->arena);
    free(buf);
    buf = NULL;
    FILE *f = open_memstream(&buf, &len);
    ast_dump(app, f);
    fclose(f);
    return buf;
}

START_TEST(parses_a_full_file)
{
    Run r;
    const char *out = dump(&r, "%{\n#include <string.h>\n%}\n"
                               "server \"127.0.0.1\" 8080 {\n"
                               "    workers auto;\n"
                               "    setup { x = 1; }\n"
                               "    worker_setup { }\n"
                               "    limits { body 1M; header_count 50; }\n"
                               "    timeouts { idle 5s; }\n"
                               "    GET \"/\" { srv_response_text(res, \"}\"); }\n"
                               "    POST \"/echo/:id\" echo;\n"
                               "}\n%%\nvoid echo(void);\n");
    ck_assert_int_eq(r.diag.nerrors, 0);
    ck_assert_str_eq(out, "app prologue=1 epilogue=1 servers=1\n"
                          "server host=127.0.0.1 port=8080 workers=auto setup=1 worker_setup=1\n"
                          "  limit body 1M\n"
                          "  limit header_count 50\n"
                          "  timeout idle 5s\n"
                          "  route 0 GET \"/\" inline\n"
                          "  route 1 POST \"/echo/:id\" -> echo\n");
    run_close(&r);
}
END_TEST

START_TEST(parses_groups_hooks_and_mounts)
{
    Run r;
    const char *out = dump(&r, "server \"h\" 80 {\n"
                               "    before { a(); }\n"
                               "    static \"/assets/\" \"public\";\n"
                               "    group \"/api\" {\n"
                               "        after { b(); }\n"
                               "        error { c(); }\n"
                               "        GET \"/x\" error;\n"
                               "        group \"/v1\" { before { } GET \"/y\" { } }\n"
                               "    }\n"
                               "    GET \"/z\" before;\n"
                               "}\n");
    ck_assert_msg(r.diag.nerrors == 0, "%s", run_diags(&r));
    ck_assert_str_eq(out, "app prologue=0 epilogue=0 servers=1\n"
                          "server host=h port=80 setup=0 worker_setup=0\n"
                          "  before 0 in 0\n"
                          "  group 1 \"/api\" in 0\n"
                          "  after 0 in 1\n"
                          "  error 0 in 1\n"
                          "  group 2 \"/v1\" in 1\n"
                          "  before 1 in 2\n"
                          "  static 0 \"/assets/\" \"public\" in 0\n"
                          "  route 1 GET \"/x\" in 1 -> error\n"
                          "  route 2 GET \"/y\" in 2 inline\n"
                          "  route 3 GET \"/z\" -> before\n");
    run_close(&r);
}
END_TEST

START_TEST(parses_the_load_balancer_directives)
{
    Run r;
    const char *out = dump(&r, "server \"h\" 80 {\n"
                               "    trust_proxy \"127.0.0.1\" \"10.0.0.0/8\";\n"
                               "    proxy_protocol;\n"
                               "    GET \"/a\" metrics;\n"
                               "    metrics \"/metrics\";\n"
                               "    GET \"/b\" trust_proxy;\n"
                               "}\n");
    ck_assert_msg(r.diag.nerrors == 0, "%s", run_diags(&r));
    /* The metrics path is a route in file order; the words are handler names too. */
    ck_assert_str_eq(out, "app prologue=0 epilogue=0 servers=1\n"
                          "server host=h port=80 setup=0 worker_setup=0\n"
                          "  trust_proxy 127.0.0.1 10.0.0.0/8\n"
                          "  proxy_protocol\n"
                          "  metrics /metrics\n"
                          "  route 0 GET \"/a\" -> metrics\n"
                          "  metrics 1 \"/metrics\"\n"
                          "  route 2 GET \"/b\" -> trust_proxy\n");
    run_close(&r);
}
END_TEST

START_TEST(load_balancer_directives_are_server_settings_once)
{
    Run r;
    dump(&r, "server \"h\" 80 {\n"
             "    metrics;\n"
             "    metrics \"/m\";\n"
             "    group \"/g\" { proxy_protocol; trust_proxy \"::1\"; }\n"
             "}\n");
    ck_assert_int_eq(r.diag.nerrors, 3);
    ck_assert_contains(run_diags(&r), "t.srv:3:5: error: duplicate 'metrics' setting");
    ck_assert_contains(run_diags(&r), "t.srv:2:5: note: first set here");
    ck_assert_contains(run_diags(&r), "t.srv:4:18: error: 'proxy_protocol' is a server setting");
    ck_assert_contains(run_diags(&r), "t.srv:4:34: error: 'trust_proxy' is a server setting");
    run_close(&r);
}
END_TEST

START_TEST(server_settings_are_refused_inside_groups)
{
    Run r;
    dump(&r, "server \"h\" 80 {\n"
             "    group \"/g\" {\n"
             "        workers 2;\n"
             "        timeouts { idle 1s; }\n"
             "        worker_setup { }\n"
             "    }\n"
             "}\n");
    /* `timeouts` may hold `response` in a group: check.c judges its lines. */
    ck_assert_int_eq(r.diag.nerrors, 2);
    ck_assert_contains(run_diags(&r), "t.srv:3:9: error: 'workers' is a server setting; it cannot be inside a group");
    ck_assert_contains(run_diags(&r), "t.srv:5:9: error: 'worker_setup' is a server setting");
    ck_assert_contains(run_diags(&r), "t.srv:2:5: note: inside this group");
    run_close(&r);
}
END_TEST

START_TEST(recovers_inside_a_group)
{
    Run r;
    const char *out = dump(&r, "server \"h\" 80 {\n"
                               "    group \"/g\" {\n"
                               "        GET \"/a\" a b;\n"
                               "    }\n"
                               "    GET \"/c\" c;\n"
                               "}\n");
    ck_assert_int_eq(r.diag.nerrors, 1);
    ck_assert_contains(run_diags(&r), "t.srv:3:20: error: expected ';' before identifier 'b'");
    /* The route after the group is back in the server's scope. */
    ck_assert_contains(out, "  route 0 GET \"/c\" -> c\n");
    run_close(&r);
}
END_TEST

START_TEST(second_error_block_in_a_scope_names_the_first)
{
    Run r;
    dump(&r, "server \"h\" 80 {\n    error { }\n    group \"/g\" { error { } error { } }\n}\n");
    ck_assert_int_eq(r.diag.nerrors, 1);
    ck_assert_contains(run_diags(&r), "t.srv:3:28: error: duplicate 'error' block in this group");
    ck_assert_contains(run_diags(&r), "t.srv:3:18: note: first defined here");
    run_close(&r);
}
END_TEST

START_TEST(says_what_was_expected)
{
    Run r;
    dump(&r, "server \"h\" 80 {\n    GET \"/\" h\n}\n");
    ck_assert_str_eq(run_diags(&r), "t.srv:3:1: error: expected ';' before '}'\n"
                                    "}\n"
                                    "^\n");
    run_close(&r);
}
END_TEST

START_TEST(names_the_unexpected_token)
{
    Run r;
    dump(&r, "server 80 {\n}\n");
    ck_assert_contains(run_diags(&r), "t.srv:1:8: error: expected string before number '80'");
    run_close(&r);
}
END_TEST

START_TEST(recovers_at_each_statement)
{
    Run r;
    const char *out = dump(&r, "server \"h\" 80 {\n"
                               "    GET / x;\n"
                               "    GET \"/a\" a;\n"
                               "    workers 4 4;\n"
                               "    limits { body; idle 1s; }\n"
                               "    GET \"/b\" { }\n"
                               "}\n");
    ck_assert_int_eq(r.diag.nerrors, 4);
    ck_assert_contains(run_diags(&r), "t.srv:2:9: error: stray '/' in input");
    ck_assert_contains(run_diags(&r), "t.srv:4:15: error: expected ';' before number '4'");
    ck_assert_contains(run_diags(&r), "t.srv:5:18: error: expected identifier, string or number before ';'");
    /* Statements after the broken ones are still in the tree. */
    ck_assert_contains(out, "route 0 GET \"/a\" -> a");
    ck_assert_contains(out, "route 1 GET \"/b\" inline");
    ck_assert_contains(out, "limit idle 1s");
    run_close(&r);
}
END_TEST

START_TEST(repeated_workers_names_the_first)
{
    Run r;
    dump(&r, "server \"h\" 80 {\n    workers 2;\n    workers 3;\n}\n");
    ck_assert_str_eq(run_diags(&r), "t.srv:3:5: error: duplicate 'workers' setting\n"
                                    "    workers 3;\n"
                                    "    ^~~~~~~\n"
                                    "t.srv:2:5: note: first set here\n"
                                    "    workers 2;\n"
                                    "    ^~~~~~~\n");
    run_close(&r);
}
END_TEST

START_TEST(repeated_setup_names_the_first)
{
    Run r;
    dump(&r, "server \"h\" 80 {\n setup { }\n setup { }\n}\n");
    ck_assert_contains(run_diags(&r), "t.srv:3:2: error: duplicate 'setup' block");
    ck_assert_contains(run_diags(&r), "t.srv:2:2: note: first defined here");
    run_close(&r);
}
END_TEST

START_TEST(unterminated_block_is_one_error_not_two)
{
    Run r;
    dump(&r, "server \"h\" 80 {\n    GET \"/\" {\n");
    ck_assert_int_eq(r.diag.nerrors, 1);
    ck_assert_contains(run_diags(&r), "t.srv:2:13: error: unterminated C block");
    run_close(&r);
}
END_TEST

START_TEST(empty_file_parses_to_no_server)
{
    Run r;
    const char *out = dump(&r, "");
    ck_assert_int_eq(r.diag.nerrors, 0);
    ck_assert_contains(out, "servers=0");
    run_close(&r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("grammar/srv.y");
    TCase *tc = tcase_create("ast");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, parses_a_full_file);
    tcase_add_test(tc, empty_file_parses_to_no_server);
    tcase_add_test(tc, parses_groups_hooks_and_mounts);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, says_what_was_expected);
    tcase_add_test(tc, names_the_unexpected_token);
    tcase_add_test(tc, recovers_at_each_statement);
    tcase_add_test(tc, repeated_workers_names_the_first);
    tcase_add_test(tc, repeated_setup_names_the_first);
    tcase_add_test(tc, unterminated_block_is_one_error_not_two);
    tcase_add_test(tc, server_settings_are_refused_inside_groups);
    tcase_add_test(tc, parses_the_load_balancer_directives);
    tcase_add_test(tc, load_balancer_directives_are_server_settings_once);
    tcase_add_test(tc, recovers_inside_a_group);
    tcase_add_test(tc, second_error_block_in_a_scope_names_the_first);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
