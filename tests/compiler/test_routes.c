/*
 * test_routes.c - tests compiler/routes.c: the segment tree's shape and
 * child order (literals by length then bytes, then the param, then `*`),
 * shared nodes for routes that differ only by method, and duplicates.
 */
#include "support.h"

static RouteTree *build(Run *r, const char *routes)
{
    static char text[4096];
    snprintf(text, sizeof text, "server \"h\" 80 {\n%s\n}\n", routes);
    App *app = run_check(r, text);
    ck_assert_msg(r->ok, "%s", run_diags(r));
    return routes_build(app->servers, &r->diag, r->arena);
}

START_TEST(orders_literal_children_by_length_then_bytes)
{
    Run r;
    RouteTree *t = build(&r, "GET \"/zz\" h;\nGET \"/b\" h;\nGET \"/a\" h;\nGET \"/\" h;");
    ck_assert_ptr_nonnull(t);
    Node *root = t->root;
    ck_assert_uint_eq(root->nlits, 4);
    ck_assert_uint_eq(root->lits[0]->label_len, 0);
    ck_assert_mem_eq(root->lits[1]->label, "a", 1);
    ck_assert_mem_eq(root->lits[2]->label, "b", 1);
    ck_assert_mem_eq(root->lits[3]->label, "zz", 2);
    ck_assert_uint_eq(t->nnodes, 5);
    run_close(&r);
}
END_TEST

START_TEST(literal_param_and_wildcard_are_separate_children)
{
    Run r;
    RouteTree *t = build(&r, "GET \"/f/*\" w;\nGET \"/f/:id\" p;\nGET \"/f/new\" l;");
    Node *f = t->root->lits[0];
    ck_assert_uint_eq(f->nlits, 1);
    ck_assert_ptr_nonnull(f->param);
    ck_assert_ptr_nonnull(f->wild);
    ck_assert_str_eq(f->param->path, "/f/:id");
    ck_assert_uint_eq(f->wild->leaf[M_GET]->index, 0);
    ck_assert_uint_eq(f->param->leaf[M_GET]->index, 1);
    ck_assert_uint_eq(f->lits[0]->leaf[M_GET]->index, 2);
    /* Pre-order ids: root, f, f/new, f/:id, f/ *. */
    ck_assert_uint_eq(f->lits[0]->id, 2);
    ck_assert_uint_eq(f->param->id, 3);
    ck_assert_uint_eq(f->wild->id, 4);
    run_close(&r);
}
END_TEST

START_TEST(methods_share_a_node)
{
    Run r;
    RouteTree *t = build(&r, "GET \"/u/:id\" a;\nPOST \"/u/:name\" b;\nANY \"/u/:x\" c;");
    ck_assert_ptr_nonnull(t);
    Node *u = t->root->lits[0]->param;
    ck_assert_ptr_nonnull(u->leaf[M_GET]);
    ck_assert_ptr_nonnull(u->leaf[M_POST]);
    ck_assert_ptr_nonnull(u->leaf[M_ANY]);
    ck_assert_int_eq(r.diag.nerrors, 0);
    run_close(&r);
}
END_TEST

START_TEST(rejects_duplicate_route_naming_both_places)
{
    Run r;
    RouteTree *t = build(&r, "GET \"/users/:id\" a;\nGET \"/x\" b;\nGET \"/users/:name\" c;");
    ck_assert_ptr_null(t);
    ck_assert_str_eq(run_diags(&r), "t.srv:4:1: error: route GET \"/users/:name\" defined twice\n"
                                    "GET \"/users/:name\" c;\n"
                                    "^~~~~~~~~~~~~~~~~~~~~\n"
                                    "t.srv:2:1: note: first defined here\n"
                                    "GET \"/users/:id\" a;\n"
                                    "^~~~~~~~~~~~~~~~~~~\n");
    run_close(&r);
}
END_TEST

START_TEST(reports_each_duplicate_in_source_order)
{
    Run r;
    RouteTree *t = build(&r, "GET \"/b\" a;\nGET \"/a\" a;\nGET \"/b\" a;\nGET \"/a\" a;\nGET \"/b\" a;");
    ck_assert_ptr_null(t);
    ck_assert_int_eq(r.diag.nerrors, 3);
    const char *d = run_diags(&r);
    const char *x = strstr(d, "t.srv:4:1: error"), *y = strstr(d, "t.srv:5:1: error"),
               *z = strstr(d, "t.srv:6:1: error");
    ck_assert(x && y && z && x < y && y < z);
    ck_assert_contains(d, "t.srv:6:1: error: route GET \"/b\" defined twice\n"
                          "GET \"/b\" a;\n^~~~~~~~~~~\nt.srv:2:1: note");
    run_close(&r);
}
END_TEST

START_TEST(builds_ten_thousand_siblings)
{
    static char text[1 << 20];
    size_t n = (size_t)snprintf(text, sizeof text, "server \"h\" 80 {\n");
    for (int i = 0; i < 10000; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "GET \"/r/x%d/:id\" h;\n", i);
    snprintf(text + n, sizeof text - n, "}\n");
    Run r;
    App *app = run_check(&r, text);
    ck_assert(r.ok);
    RouteTree *t = routes_build(app->servers, &r.diag, r.arena);
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(t->root->lits[0]->nlits, 10000);
    ck_assert_uint_eq(t->nnodes, 2 + 2 * 10000);
    run_close(&r);
}
END_TEST

START_TEST(reports_duplicates_with_other_errors_leaving_bad_routes_out)
{
    Run r;
    ck_assert(!run_compile(&r, "server \"h\" 99999 {\n"
                               "GET \"/a\" x;\nGET \"/a\" y;\n"         /* a duplicate */
                               "GET \"/b/:int\" x;\nGET \"/b/:int\" y;\n" /* bad twice: no duplicate */
                               "FOO \"/a\" z;\n"                          /* bad method: left out */
                               "}\n"));
    const char *d = run_diags(&r);
    ck_assert_contains(d, "t.srv:1:12: error: port 99999 is outside 0-65535");
    ck_assert_contains(d, "t.srv:3:1: error: route GET \"/a\" defined twice");
    ck_assert_not_contains(d, "\"/b/:int\" defined twice");
    int errors = 0;
    for (const char *p = d; (p = strstr(p, ": error: ")) != NULL; p++)
        errors++;
    ck_assert_int_eq(errors, 5); /* the port, the two :int, FOO, the duplicate */
    run_close(&r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("compiler/routes");
    TCase *tc = tcase_create("tree");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, orders_literal_children_by_length_then_bytes);
    tcase_add_test(tc, literal_param_and_wildcard_are_separate_children);
    tcase_add_test(tc, methods_share_a_node);
    tcase_add_test(tc, builds_ten_thousand_siblings);
    suite_add_tcase(s, tc);
    tc = tcase_create("duplicates");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, rejects_duplicate_route_naming_both_places);
    tcase_add_test(tc, reports_each_duplicate_in_source_order);
    tcase_add_test(tc, reports_duplicates_with_other_errors_leaving_bad_routes_out);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
