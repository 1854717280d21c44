/*
 * test_cpu.c - runtime/cpu.c: `workers auto` counts the CPUs the affinity
 * mask allows, capped by cgroup v2 cpu.max / v1 CFS quotas found in the
 * process's cgroup or any ancestor.  Each test builds a fake /proc/self/cgroup
 * and a fake /sys/fs/cgroup tree in a temporary directory.
 */
#include "internal.h"

#include <check.h>
#include <sched.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[64];      /* the temporary directory */
static char cgroot[128];    /* ROOT/sys/fs/cgroup */
static char proc_path[128]; /* ROOT/proc_self_cgroup */

static void mkdirs(const char *rel)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", cgroot, rel);
    for (char *p = path + strlen(cgroot) + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    }
    mkdir(path, 0755);
}

/* Writes TEXT to CGROOT/REL, creating the directories on the way. */
static void put(const char *rel, const char *text)
{
    char path[PATH_MAX], dir[256];
    ck_assert_uint_lt(strlen(rel), sizeof dir);
    snprintf(dir, sizeof dir, "%s", rel);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        mkdirs(dir);
    }
    snprintf(path, sizeof path, "%s/%s", cgroot, rel);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void proc_cgroup(const char *text)
{
    FILE *f = fopen(proc_path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static int count(int affinity)
{
    return srv__cpu_count_at(proc_path, cgroot, affinity);
}

static void setup(void)
{
    snprintf(root, sizeof root, "/tmp/srv-test-cpu-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(root));
    snprintf(cgroot, sizeof cgroot, "%s/cgroup", root);
    snprintf(proc_path, sizeof proc_path, "%s/proc_self_cgroup", root);
    mkdir(cgroot, 0755);
}

static void teardown(void)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    ck_assert_int_eq(system(cmd), 0);
}

/* --- affinity only --- */

START_TEST(without_proc_file_uses_affinity)
{
    ck_assert_int_eq(srv__cpu_count_at("/nonexistent/cgroup", cgroot, 6), 6);
}
END_TEST

START_TEST(never_returns_less_than_one)
{
    ck_assert_int_eq(srv__cpu_count_at("/nonexistent/cgroup", cgroot, 0), 1);
    proc_cgroup("0::/\n");
    put("cgroup.controllers", "cpu\n");
    put("cpu.max", "1000 100000\n"); /* 0.01 CPU */
    ck_assert_int_eq(count(8), 1);
}
END_TEST

/* --- cgroup v2 --- */

START_TEST(v2_max_means_unlimited)
{
    proc_cgroup("0::/app\n");
    put("cgroup.controllers", "cpu\n");
    put("app/cpu.max", "max 100000\n");
    ck_assert_int_eq(count(128), 128);
}
END_TEST

START_TEST(v2_whole_quota_caps_affinity)
{
    proc_cgroup("0::/app\n");
    put("cgroup.controllers", "cpu\n");
    put("app/cpu.max", "200000 100000\n");
    ck_assert_int_eq(count(128), 2);
}
END_TEST

START_TEST(v2_fractional_quota_rounds_up)
{
    proc_cgroup("0::/app\n");
    put("cgroup.controllers", "cpu\n");
    put("app/cpu.max", "150000 100000\n");
    ck_assert_int_eq(count(128), 2);
}
END_TEST

START_TEST(v2_affinity_below_quota_wins)
{
    proc_cgroup("0::/app\n");
    put("cgroup.controllers", "cpu\n");
    put("app/cpu.max", "400000 100000\n");
    ck_assert_int_eq(count(1), 1);
}
END_TEST

START_TEST(v2_parent_limit_applies_to_child)
{
    proc_cgroup("0::/kubepods/pod1/ctr\n");
    put("cgroup.controllers", "cpu\n");
    put("kubepods/cpu.max", "max 100000\n");
    put("kubepods/pod1/cpu.max", "300000 100000\n");
    put("kubepods/pod1/ctr/cpu.max", "max 100000\n");
    ck_assert_int_eq(count(64), 3);
}
END_TEST

START_TEST(v2_smallest_of_nested_limits_wins)
{
    proc_cgroup("0::/a/b\n");
    put("cgroup.controllers", "cpu\n");
    put("a/cpu.max", "200000 100000\n");
    put("a/b/cpu.max", "500000 100000\n");
    ck_assert_int_eq(count(64), 2);
    put("a/b/cpu.max", "100000 100000\n");
    ck_assert_int_eq(count(64), 1);
}
END_TEST

START_TEST(v2_namespaced_root_is_read)
{
    /* Inside a cgroup namespace the process sees "/" and its own limit is
     * the mount root's cpu.max. */
    proc_cgroup("0::/\n");
    put("cgroup.controllers", "cpu\n");
    put("cpu.max", "250000 100000\n");
    ck_assert_int_eq(count(128), 3);
}
END_TEST

START_TEST(v2_missing_host_path_falls_back_to_root)
{
    /* Without a cgroup namespace the path names the host's hierarchy, which
     * the container does not have; the mount root is its own cgroup. */
    proc_cgroup("0::/system.slice/docker-abc.scope\n");
    put("cgroup.controllers", "cpu\n");
    put("cpu.max", "200000 100000\n");
    ck_assert_int_eq(count(128), 2);
}
END_TEST

START_TEST(v2_hybrid_unified_mount_is_found)
{
    proc_cgroup("0::/app\n");
    put("unified/cgroup.controllers", "\n");
    put("unified/app/cpu.max", "200000 50000\n");
    ck_assert_int_eq(count(16), 4);
}
END_TEST

START_TEST(v2_malformed_cpu_max_is_ignored)
{
    proc_cgroup("0::/app\n");
    put("cgroup.controllers", "cpu\n");
    put("app/cpu.max", "garbage\n");
    ck_assert_int_eq(count(5), 5);
    put("app/cpu.max", "100000 0\n");
    ck_assert_int_eq(count(5), 5);
}
END_TEST

/* --- cgroup v1 --- */

START_TEST(v1_cfs_quota_caps_affinity)
{
    proc_cgroup("5:memory:/x\n4:cpu,cpuacct:/docker/abc\n0::/\n");
    put("cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "200000\n");
    put("cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
    ck_assert_int_eq(count(128), 2);
}
END_TEST

START_TEST(v1_minus_one_means_unlimited)
{
    proc_cgroup("4:cpu,cpuacct:/docker/abc\n");
    put("cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "-1\n");
    put("cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
    ck_assert_int_eq(count(12), 12);
}
END_TEST

START_TEST(v1_parent_quota_and_separate_cpu_mount)
{
    proc_cgroup("1:cpu:/a/b\n2:cpuacct:/\n");
    put("cpu/a/cpu.cfs_quota_us", "50000\n");
    put("cpu/a/cpu.cfs_period_us", "100000\n");
    put("cpu/a/b/cpu.cfs_quota_us", "-1\n");
    put("cpu/a/b/cpu.cfs_period_us", "100000\n");
    ck_assert_int_eq(count(32), 1);
}
END_TEST

START_TEST(v1_cpuacct_alone_is_not_the_cpu_controller)
{
    proc_cgroup("2:cpuacct:/a\n");
    put("cpuacct/a/cpu.cfs_quota_us", "100000\n");
    put("cpuacct/a/cpu.cfs_period_us", "100000\n");
    ck_assert_int_eq(count(7), 7);
}
END_TEST

/* --- the real system --- */

START_TEST(real_count_is_within_affinity)
{
    cpu_set_t set;
    ck_assert_int_eq(sched_getaffinity(0, sizeof set, &set), 0);
    int n = srv__cpu_count();
    ck_assert_int_ge(n, 1);
    ck_assert_int_le(n, CPU_COUNT(&set));
}
END_TEST

START_TEST(real_count_follows_affinity_mask)
{
    /* What `taskset -c 0` does: one CPU in the mask gives one worker. */
    cpu_set_t set, one;
    ck_assert_int_eq(sched_getaffinity(0, sizeof set, &set), 0);
    int cpu = 0;
    while (!CPU_ISSET(cpu, &set))
        cpu++;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    ck_assert_int_eq(sched_setaffinity(0, sizeof one, &one), 0);
    ck_assert_int_eq(srv__cpu_count(), 1);
}
END_TEST

static Suite *cpu_suite(void)
{
    Suite *s = suite_create("runtime/cpu");
    TCase *tc;

    tc = tcase_create("affinity");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, without_proc_file_uses_affinity);
    tcase_add_test(tc, never_returns_less_than_one);
    suite_add_tcase(s, tc);

    tc = tcase_create("cgroup_v2");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, v2_max_means_unlimited);
    tcase_add_test(tc, v2_whole_quota_caps_affinity);
    tcase_add_test(tc, v2_fractional_quota_rounds_up);
    tcase_add_test(tc, v2_affinity_below_quota_wins);
    tcase_add_test(tc, v2_parent_limit_applies_to_child);
    tcase_add_test(tc, v2_smallest_of_nested_limits_wins);
    tcase_add_test(tc, v2_namespaced_root_is_read);
    tcase_add_test(tc, v2_missing_host_path_falls_back_to_root);
    tcase_add_test(tc, v2_hybrid_unified_mount_is_found);
    tcase_add_test(tc, v2_malformed_cpu_max_is_ignored);
    suite_add_tcase(s, tc);

    tc = tcase_create("cgroup_v1");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, v1_cfs_quota_caps_affinity);
    tcase_add_test(tc, v1_minus_one_means_unlimited);
    tcase_add_test(tc, v1_parent_quota_and_separate_cpu_mount);
    tcase_add_test(tc, v1_cpuacct_alone_is_not_the_cpu_controller);
    suite_add_tcase(s, tc);

    tc = tcase_create("system");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, real_count_is_within_affinity);
    tcase_add_test(tc, real_count_follows_affinity_mask);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cpu_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
