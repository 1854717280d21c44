/*
 * test_lexer.c - tests grammar/srv.re: tokens, decoded strings, C blocks
 * that must not end at a '}' inside strings, chars or comments, and the
 * errors for unterminated constructs and stray bytes.
 */
#include "support.h"
#include "srv.tab.h"

typedef struct {
    Run run;
    Lexer lx;
} Lex;

static void lex_open(Lex *l, const char *text)
{
    run_open(&l->run, text);
    lexer_init(&l->lx, &l->run.src, &l->run.diag, l->run.arena);
}

static int next(Lex *l, Token *t)
{
    return lexer_next(&l->lx, t);
}

START_TEST(keywords_identifiers_and_numbers)
{
    Lex l;
    Token t;
    lex_open(&l, "server workers setup worker_setup limits timeouts GET greet 8K 15s -1");
    const int want[] = {T_SERVER, T_WORKERS, T_SETUP, T_WORKER_SETUP, T_LIMITS, T_TIMEOUTS,
                        T_IDENT, T_IDENT, T_NUMBER, T_NUMBER, T_NUMBER, T_END};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_int_eq(next(&l, &t), want[i]);
    ck_assert_int_eq(l.run.diag.nerrors, 0);
    run_close(&l.run);
}
END_TEST

START_TEST(number_keeps_its_suffix)
{
    Lex l;
    Token t;
    lex_open(&l, "  15ms;");
    ck_assert_int_eq(next(&l, &t), T_NUMBER);
    ck_assert_int_eq((int)t.len, 4);
    ck_assert_int_eq((int)t.loc.off, 2);
    ck_assert_int_eq(next(&l, &t), ';');
    run_close(&l.run);
}
END_TEST

START_TEST(string_decodes_c_escapes)
{
    Lex l;
    Token t;
    lex_open(&l, "\"a\\tb\\x41\\101\\n\\\"\" \"plain\"");
    ck_assert_int_eq(next(&l, &t), T_STRING);
    ck_assert_int_eq((int)t.len, 7);
    ck_assert_mem_eq(t.ptr, "a\tbAA\n\"", 7);
    ck_assert(!t.exact);
    ck_assert_int_eq(next(&l, &t), T_STRING);
    ck_assert_str_eq(t.ptr, "plain");
    ck_assert(t.exact);
    ck_assert_int_eq(l.run.diag.nerrors, 0);
    run_close(&l.run);
}
END_TEST

START_TEST(string_with_unknown_escape_is_an_error)
{
    Lex l;
    Token t;
    lex_open(&l, "\"a\\qb\"");
    ck_assert_int_eq(next(&l, &t), T_STRING);
    ck_assert_contains(run_diags(&l.run), "t.srv:1:3: error: unknown escape sequence '\\q'");
    run_close(&l.run);
}
END_TEST

START_TEST(unterminated_string_points_at_its_quote)
{
    Lex l;
    Token t;
    lex_open(&l, "GET \"/abc\nx");
    ck_assert_int_eq(next(&l, &t), T_IDENT);
    ck_assert_int_eq(next(&l, &t), T_STRING);
    ck_assert_str_eq(t.ptr, "/abc");
    ck_assert_int_eq(next(&l, &t), T_IDENT);
    ck_assert_str_eq(run_diags(&l.run), "t.srv:1:5: error: unterminated string\n"
                                        "GET \"/abc\n"
                                        "    ^\n");
    run_close(&l.run);
}
END_TEST

START_TEST(c_block_is_one_token_with_nested_braces)
{
    Lex l;
    Token t;
    const char *src = "GET \"/\" { if (x) { y(); } } ;";
    lex_open(&l, src);
    next(&l, &t);
    next(&l, &t);
    ck_assert_int_eq(next(&l, &t), T_CBLOCK);
    ck_assert_int_eq((int)t.len, (int)strlen("{ if (x) { y(); } }"));
    ck_assert_int_eq(next(&l, &t), ';');
    run_close(&l.run);
}
END_TEST

START_TEST(c_block_ignores_braces_in_strings_chars_and_comments)
{
    Lex l;
    Token t;
    const char *block = "{ s(\"}\\\"}\"); c = '}'; d = '\\''; /* } */ // }\n }";
    lex_open(&l, block);
    ck_assert_int_eq(next(&l, &t), T_CBLOCK);
    ck_assert_int_eq((int)t.len, (int)strlen(block));
    ck_assert_int_eq(next(&l, &t), T_END);
    ck_assert_int_eq(l.run.diag.nerrors, 0);
    run_close(&l.run);
}
END_TEST

START_TEST(braces_of_server_and_limits_are_plain)
{
    Lex l;
    Token t;
    lex_open(&l, "server \"h\" 1 { limits { body 1M; } setup { } }");
    const int want[] = {T_SERVER, T_STRING, T_NUMBER, '{', T_LIMITS, '{', T_IDENT, T_NUMBER,
                        ';', '}', T_SETUP, T_CBLOCK, '}', T_END};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_int_eq(next(&l, &t), want[i]);
    run_close(&l.run);
}
END_TEST

START_TEST(braces_of_groups_are_plain_and_hooks_take_c_blocks)
{
    Lex l;
    Token t;
    lex_open(&l, "group \"/a\" { before { x(); } after { } error { } static \"/s/\" \"d\"; }");
    const int want[] = {T_GROUP, T_STRING, '{', T_BEFORE, T_CBLOCK, T_AFTER, T_CBLOCK,
                        T_ERROR_KW, T_CBLOCK, T_STATIC, T_STRING, T_STRING, ';', '}', T_END};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_int_eq(next(&l, &t), want[i]);
    ck_assert_int_eq(l.run.diag.nerrors, 0);
    run_close(&l.run);
}
END_TEST

START_TEST(unterminated_c_block_points_where_it_opened)
{
    Lex l;
    Token t;
    lex_open(&l, "setup {\n  x = \"}\";\n");
    next(&l, &t);
    ck_assert_int_eq(next(&l, &t), T_END);
    ck_assert(l.lx.fatal);
    ck_assert_contains(run_diags(&l.run), "t.srv:1:7: error: unterminated C block");
    run_close(&l.run);
}
END_TEST

START_TEST(unterminated_comment_points_where_it_opened)
{
    Lex l;
    Token t;
    lex_open(&l, "server\n  /* never closed\n");
    ck_assert_int_eq(next(&l, &t), T_SERVER);
    ck_assert_int_eq(next(&l, &t), T_END);
    ck_assert_contains(run_diags(&l.run), "t.srv:2:3: error: unterminated comment");
    run_close(&l.run);
}
END_TEST

START_TEST(comments_are_skipped)
{
    Lex l;
    Token t;
    lex_open(&l, "// one\n/* two\n */ server");
    ck_assert_int_eq(next(&l, &t), T_SERVER);
    ck_assert_int_eq(next(&l, &t), T_END);
    run_close(&l.run);
}
END_TEST

START_TEST(prologue_and_epilogue_are_single_tokens)
{
    Lex l;
    Token t;
    lex_open(&l, "%{\nint x = '%}';\n%}\nserver %%\nint y;\n");
    ck_assert_int_eq(next(&l, &t), T_PROLOGUE);
    ck_assert_int_eq((int)t.len, (int)strlen("\nint x = '%}';\n"));
    ck_assert_int_eq(next(&l, &t), T_SERVER);
    ck_assert_int_eq(next(&l, &t), T_EPILOGUE);
    ck_assert_str_eq(t.ptr, "\nint y;\n");
    ck_assert_int_eq(next(&l, &t), T_END);
    run_close(&l.run);
}
END_TEST

START_TEST(stray_bytes_are_reported_and_skipped)
{
    Lex l;
    Token t;
    const char text[] = "@ server\0 ;";
    run_open(&l.run, "");
    source_from_memory(&l.run.src, l.run.arena, "t.srv", text, sizeof text - 1);
    lexer_init(&l.lx, &l.run.src, &l.run.diag, l.run.arena);
    ck_assert_int_eq(next(&l, &t), T_SERVER);
    ck_assert_int_eq(next(&l, &t), ';'); /* a NUL inside the file is not the end */
    ck_assert_int_eq(l.run.diag.nerrors, 2);
    ck_assert_contains(run_diags(&l.run), "t.srv:1:1: error: stray '@' in input");
    ck_assert_contains(run_diags(&l.run), "t.srv:1:9: error: stray '\\x00' in input");
    run_close(&l.run);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("grammar/srv.re");
    TCase *tc = tcase_create("tokens");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, keywords_identifiers_and_numbers);
    tcase_add_test(tc, number_keeps_its_suffix);
    tcase_add_test(tc, comments_are_skipped);
    tcase_add_test(tc, stray_bytes_are_reported_and_skipped);
    suite_add_tcase(s, tc);
    tc = tcase_create("strings");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, string_decodes_c_escapes);
    tcase_add_test(tc, string_with_unknown_escape_is_an_error);
    tcase_add_test(tc, unterminated_string_points_at_its_quote);
    suite_add_tcase(s, tc);
    tc = tcase_create("c_blocks");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, c_block_is_one_token_with_nested_braces);
    tcase_add_test(tc, c_block_ignores_braces_in_strings_chars_and_comments);
    tcase_add_test(tc, braces_of_server_and_limits_are_plain);
    tcase_add_test(tc, braces_of_groups_are_plain_and_hooks_take_c_blocks);
    tcase_add_test(tc, unterminated_c_block_points_where_it_opened);
    tcase_add_test(tc, unterminated_comment_points_where_it_opened);
    tcase_add_test(tc, prologue_and_epilogue_are_single_tokens);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
