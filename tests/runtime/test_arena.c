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

/* ---- Cleanups ------------------------------------------------------------- */

static char order[8];
static size_t norder;

static void note(void *arg)
{
    order[norder++] = *(const char *)arg;
}

START_TEST(cleanups_run_newest_first_at_reset_and_once)
{
    struct srv__arena a;
    srv__arena_init(&a, 64);
    norder = 0;
    static const char x = 'x', y = 'y', z = 'z';
    srv__arena_defer(&a, note, (void *)&x);
    srv__arena_defer(&a, note, (void *)&y);
    /* Past the first chunk: the records live in an overflow chunk too. */
    srv__arena_alloc(&a, 1000);
    srv__arena_defer(&a, note, (void *)&z);
    ck_assert_uint_eq(norder, 0);
    srv__arena_reset(&a);
    ck_assert_uint_eq(norder, 3);
    ck_assert(memcmp(order, "zyx", 3) == 0);
    srv__arena_reset(&a);
    ck_assert_uint_eq(norder, 3);
    srv__arena_free(&a);
}
END_TEST

START_TEST(cleanups_run_when_the_arena_is_freed)
{
    struct srv__arena a;
    srv__arena_init(&a, 64);
    norder = 0;
    static const char x = 'x';
    srv__arena_defer(&a, note, (void *)&x);
    srv__arena_free(&a);
    ck_assert_uint_eq(norder, 1);
}
END_TEST

START_TEST(registering_a_cleanup_moves_cur)
{
    /* conn.c skips the reset when cur has not moved: a request that only
     * registered a cleanup must still be reset. */
    struct srv__arena a;
    srv__arena_init(&a, 256);
    char *start = a.cur;
    static const char x = 'x';
    norder = 0;
    srv__arena_defer(&a, note, (void *)&x);
    ck_assert_ptr_ne(a.cur, start);
    srv__arena_free(&a);
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
    suite_add_tcase(s, tc);
    tc = tcase_create("cleanup");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, cleanups_run_newest_first_at_reset_and_once);
    tcase_add_test(tc, cleanups_run_when_the_arena_is_freed);
    tcase_add_test(tc, registering_a_cleanup_moves_cur);
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
