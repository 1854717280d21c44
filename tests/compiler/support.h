/*
 * support.h - helpers shared by the compiler's Check tests: run the whole
 * pipeline (or its first passes) over a string and capture the
 * diagnostics and the generated C as strings.
 */
#ifndef TESTS_COMPILER_SUPPORT_H
#define TESTS_COMPILER_SUPPORT_H

#include "srvc.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    Arena *arena;
    Source src;
    Diag diag;
    FILE *diag_file;
    char *diag_text;
    size_t diag_len;
    Emit out;
    bool ok;
} Run;

static inline void run_open(Run *r, const char *text)
{
    memset(r, 0, sizeof *r);
    r->arena = arena_new();
    source_from_memory(&r->src, r->arena, "t.srv", text, strlen(text));
    r->diag_file = open_memstream(&r->diag_text, &r->diag_len);
    ck_assert_ptr_nonnull(r->diag_file);
    diag_init(&r->diag, &r->src, r->diag_file);
    emit_init(&r->out);
}

/* Diagnostics so far, NUL-terminated. */
static inline const char *run_diags(Run *r)
{
    fflush(r->diag_file);
    return r->diag_text ? r->diag_text : "";
}

static inline void run_close(Run *r)
{
    fclose(r->diag_file);
    free(r->diag_text);
    emit_free(&r->out);
    arena_free(r->arena);
}

/* The whole pipeline; generated C in r->out (NUL-terminated), true on success. */
static inline bool run_compile(Run *r, const char *text)
{
    run_open(r, text);
    r->ok = srvc_compile(&r->src, r->arena, r->diag_file, "t.c", &r->out);
    emit_bytes(&r->out, "", 1);
    r->out.len--;
    fflush(r->diag_file);
    return r->ok;
}

/* Parse + check only, as srvc_compile runs them (errors the parser found
 * without a syntax error do not stop the checks); returns the App.  r->ok:
 * no error at all. */
static inline App *run_check(Run *r, const char *text)
{
    run_open(r, text);
    App *app = parse_app(&r->src, &r->diag, r->arena);
    if (!app->syntax_errors)
        r->ok = check_app(app, &r->diag, r->arena) && r->diag.nerrors == 0;
    return app;
}

#define ck_assert_contains(hay, needle)                                              \
    do {                                                                         \
        const char *hay_ = (hay), *needle_ = (needle);                           \
        ck_assert_msg(strstr(hay_, needle_) != NULL, "expected \"%s\" in:\n%s", needle_, \
                      hay_);                                                     \
    } while (0)

#define ck_assert_not_contains(hay, needle)                                          \
    do {                                                                         \
        const char *hay_ = (hay), *needle_ = (needle);                           \
        ck_assert_msg(strstr(hay_, needle_) == NULL, "unexpected \"%s\" in:\n%s", needle_, \
                      hay_);                                                     \
    } while (0)

static inline int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
