/* Tests for runtime/arena.c: the request arena. */
#include "internal.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

START_TEST(allocations_are_16_byte_aligned_and_disjoint)
{
    struct srv__arena a;
    srv__arena_init(&a, 1024);
    char *p[20];
    for (int i = 0; i < 20; i++) {
        p[i] = srv__arena_alloc(&a, (size_t)i + 1);
        ck_assert_uint_eq((uintptr_t)p[i] % 16, 0);
        memset(p[i], i, (size_t)i + 1);
    }
    for (int i = 0; i < 20; i++)
        for (int j = 0; j <= i; j++)
            ck_assert_int_eq(p[i][j], i);
    srv__arena_free(&a);
}
END_TEST

START_TEST(reset_reuses_the_first_chunk)
{
    struct srv__arena a;
    srv__arena_init(&a, 1024);
    void *first = srv__arena_alloc(&a, 100);
    srv__arena_alloc(&a, 500);
    srv__arena_reset(&a);
    ck_assert_ptr_eq(srv__arena_alloc(&a, 100), first);
    srv__arena_free(&a);
}
END_TEST

START_TEST(overflow_goes_to_extra_chunks_freed_on_reset)
{
    struct srv__arena a;
    srv__arena_init(&a, 256);
    void *first = srv__arena_alloc(&a, 16);
    char *big = srv__arena_alloc(&a, 100000); /* larger than any chunk */
    memset(big, 'x', 100000);
    ck_assert_ptr_nonnull(a.extra);
    char *small = srv__arena_alloc(&a, 64); /* fits in the overflow chunk? any place */
    memset(small, 'y', 64);
    ck_assert_int_eq(big[99999], 'x');
    srv__arena_reset(&a);
    ck_assert_ptr_null(a.extra);
    ck_assert_ptr_eq(srv__arena_alloc(&a, 16), first);
    srv__arena_free(&a);
}
END_TEST

START_TEST(many_small_allocations_survive_chunk_changes)
{
    struct srv__arena a;
    srv__arena_init(&a, 64);
    uint32_t *p[1000];
    for (uint32_t i = 0; i < 1000; i++) {
        p[i] = srv__arena_alloc(&a, sizeof *p[i]);
        *p[i] = i * 7u;
    }
    for (uint32_t i = 0; i < 1000; i++)
        ck_assert_uint_eq(*p[i], i * 7u);
    srv__arena_free(&a);
}
END_TEST

START_TEST(zero_size_allocation_is_valid)
{
    struct srv__arena a;
    srv__arena_init(&a, 64);
    ck_assert_ptr_nonnull(srv__arena_alloc(&a, 0));
    srv__arena_free(&a);
}
END_TEST

START_TEST(xmalloc_family_returns_usable_memory)
{
    char *p = srv__xmalloc(10);
    memcpy(p, "abcdefghi", 10);
    p = srv__xrealloc(p, 20000);
    ck_assert_str_eq(p, "abcdefghi");
    free(p);
    int *z = srv__xcalloc(4, sizeof *z);
    ck_assert_int_eq(z[0] | z[1] | z[2] | z[3], 0);
    free(z);
}
END_TEST

static int hook_log[8], hook_n;

static void record(void *arg)
{
    hook_log[hook_n++] = *(int *)arg;
}

START_TEST(hooks_run_newest_first_on_reset_and_only_once)
{
    struct srv__arena a;
    srv__arena_init(&a, 256);
    hook_n = 0;
    static int one = 1, two = 2;
    struct srv__arena_hook *h1 = srv__arena_alloc(&a, sizeof *h1);
    *h1 = (struct srv__arena_hook){NULL, record, &one};
    srv__arena_defer(&a, h1);
    /* The second node lives in an overflow chunk, freed by the same reset. */
    srv__arena_alloc(&a, 4096);
    struct srv__arena_hook *h2 = srv__arena_alloc(&a, sizeof *h2);
    *h2 = (struct srv__arena_hook){NULL, record, &two};
    srv__arena_defer(&a, h2);
    srv__arena_reset(&a);
    ck_assert_int_eq(hook_n, 2);
    ck_assert_int_eq(hook_log[0], 2);
    ck_assert_int_eq(hook_log[1], 1);
    srv__arena_reset(&a);
    ck_assert_int_eq(hook_n, 2);
    srv__arena_free(&a);
}
END_TEST

START_TEST(free_runs_pending_hooks)
{
    struct srv__arena a;
    srv__arena_init(&a, 256);
    hook_n = 0;
    static int three = 3;
    struct srv__arena_hook *h = srv__arena_alloc(&a, sizeof *h);
    *h = (struct srv__arena_hook){NULL, record, &three};
    srv__arena_defer(&a, h);
    srv__arena_free(&a);
    ck_assert_int_eq(hook_n, 1);
    ck_assert_int_eq(hook_log[0], 3);
}
END_TEST

static Suite *arena_suite(void)
{
    Suite *s = suite_create("runtime/arena");
    TCase *tc = tcase_create("alloc");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, allocations_are_16_byte_aligned_and_disjoint);
    tcase_add_test(tc, many_small_allocations_survive_chunk_changes);
    tcase_add_test(tc, zero_size_allocation_is_valid);
    suite_add_tcase(s, tc);
    tc = tcase_create("reset");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, reset_reuses_the_first_chunk);
    tcase_add_test(tc, overflow_goes_to_extra_chunks_freed_on_reset);
    tcase_add_test(tc, hooks_run_newest_first_on_reset_and_only_once);
    tcase_add_test(tc, free_runs_pending_hooks);
    suite_add_tcase(s, tc);
    tc = tcase_create("xmalloc");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, xmalloc_family_returns_usable_memory);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(arena_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
