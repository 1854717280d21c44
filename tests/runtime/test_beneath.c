/* Tests for runtime/beneath.c: opening beneath a directory, with openat2
 * and with the symlink-refusing walk, in a temporary tree:
 *
 *   TMP/outside.txt
 *   TMP/root/a.txt, sub/b.txt, noread.txt (mode 0)
 *   TMP/root/link_in -> a.txt          link_sub -> sub
 *   TMP/root/link_out -> /etc/passwd   link_up -> ../outside.txt
 *   TMP/root/link_etc -> /etc          sub/link_up2 -> ../../outside.txt
 *   TMP/root/proc_self -> /proc/self/cwd (a magic link target)
 */
#include "internal.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp[64];
static int root = -1;

static void put_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void setup(void)
{
    strcpy(tmp, "/tmp/srv-beneath-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    char p[256];
    snprintf(p, sizeof p, "%s/outside.txt", tmp);
    put_file(p, "outside");
    snprintf(p, sizeof p, "%s/root", tmp);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    root = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(root, 0);
    ck_assert_int_eq(mkdirat(root, "sub", 0755), 0);
    snprintf(p, sizeof p, "%s/root/a.txt", tmp);
    put_file(p, "a");
    snprintf(p, sizeof p, "%s/root/sub/b.txt", tmp);
    put_file(p, "b");
    snprintf(p, sizeof p, "%s/root/noread.txt", tmp);
    put_file(p, "secret");
    chmod(p, 0);
    ck_assert_int_eq(symlinkat("a.txt", root, "link_in"), 0);
    ck_assert_int_eq(symlinkat("sub", root, "link_sub"), 0);
    ck_assert_int_eq(symlinkat("/etc/passwd", root, "link_out"), 0);
    ck_assert_int_eq(symlinkat("../outside.txt", root, "link_up"), 0);
    ck_assert_int_eq(symlinkat("/etc", root, "link_etc"), 0);
    ck_assert_int_eq(symlinkat("../../outside.txt", root, "sub/link_up2"), 0);
    ck_assert_int_eq(symlinkat("/proc/self/cwd", root, "proc_self"), 0);
}

static int rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void teardown(void)
{
    close(root);
    nftw(tmp, rm, 16, FTW_DEPTH | FTW_PHYS);
    srv__beneath_force_walk(false);
}

/* The first bytes of what PATH opens to, or the error's name. */
static const char *open_read(const char *path)
{
    static char buf[64];
    int fd = srv__open_beneath(root, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        snprintf(buf, sizeof buf, "-%s", strerrorname_np(-fd));
        return buf;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

START_TEST(this_kernel_has_openat2)
{
    ck_assert_int_eq(srv__beneath_probe(root), 1);
}
END_TEST

START_TEST(openat2_opens_files_and_inside_symlinks)
{
    ck_assert_str_eq(open_read("a.txt"), "a");
    ck_assert_str_eq(open_read("sub/b.txt"), "b");
    ck_assert_str_eq(open_read("link_in"), "a");
    ck_assert_str_eq(open_read("link_sub/b.txt"), "b");
}
END_TEST

START_TEST(openat2_refuses_every_way_out)
{
    ck_assert_str_eq(open_read("link_out"), "-EXDEV");
    ck_assert_str_eq(open_read("link_up"), "-EXDEV");
    ck_assert_str_eq(open_read("sub/link_up2"), "-EXDEV");
    ck_assert_str_eq(open_read("link_etc/passwd"), "-EXDEV");
    ck_assert_str_eq(open_read("../outside.txt"), "-EXDEV");
    ck_assert_str_eq(open_read("sub/../../outside.txt"), "-EXDEV");
    ck_assert(open_read("proc_self/x")[0] == '-');
    ck_assert_str_eq(open_read("/etc/passwd"), "-ENOENT");
    ck_assert_str_eq(open_read(""), "-ENOENT");
}
END_TEST

START_TEST(walk_opens_files_and_refuses_every_symlink)
{
    srv__beneath_force_walk(true);
    ck_assert_str_eq(open_read("a.txt"), "a");
    ck_assert_str_eq(open_read("sub/b.txt"), "b");
    ck_assert_str_eq(open_read("link_in"), "-ELOOP");
    ck_assert_str_eq(open_read("link_sub/b.txt"), "-ENOTDIR");
    ck_assert_str_eq(open_read("link_out"), "-ELOOP");
    ck_assert_str_eq(open_read("link_up"), "-ELOOP");
    ck_assert_str_eq(open_read("sub/link_up2"), "-ELOOP");
    ck_assert_str_eq(open_read("link_etc/passwd"), "-ENOTDIR");
    ck_assert_str_eq(open_read("proc_self/x"), "-ENOTDIR");
}
END_TEST

START_TEST(walk_refuses_dot_segments_and_absolute_paths)
{
    srv__beneath_force_walk(true);
    ck_assert_str_eq(open_read("../outside.txt"), "-ENOENT");
    ck_assert_str_eq(open_read("sub/../../outside.txt"), "-ENOENT");
    ck_assert_str_eq(open_read("./a.txt"), "-ENOENT");
    ck_assert_str_eq(open_read("sub//b.txt"), "-ENOENT");
    ck_assert_str_eq(open_read("/etc/passwd"), "-ENOENT");
    ck_assert_str_eq(open_read(""), "-ENOENT");
    ck_assert_str_eq(open_read("missing/b.txt"), "-ENOENT");
    ck_assert_str_eq(open_read("a.txt/b"), "-ENOTDIR");
}
END_TEST

START_TEST(permissions_are_reported_as_eacces)
{
    /* Root reads anything: become nobody for the check (effective uid only,
     * so the teardown can still clean up). */
    bool was_root = geteuid() == 0;
    if (was_root) {
        ck_assert_int_eq(chmod(tmp, 0755), 0);
        ck_assert_int_eq(seteuid(65534), 0);
    }
    ck_assert_str_eq(open_read("noread.txt"), "-EACCES");
    srv__beneath_force_walk(true);
    ck_assert_str_eq(open_read("noread.txt"), "-EACCES");
    if (was_root)
        ck_assert_int_eq(seteuid(0), 0);
}
END_TEST

START_TEST(walk_leaks_no_descriptors)
{
    srv__beneath_force_walk(true);
    int before = dup(0);
    close(before);
    for (int i = 0; i < 50; i++) {
        open_read("sub/b.txt");
        open_read("sub/missing");
        open_read("link_sub/b.txt");
    }
    int after = dup(0);
    close(after);
    ck_assert_int_eq(before, after);
}
END_TEST

static Suite *beneath_suite(void)
{
    Suite *s = suite_create("runtime/beneath");
    TCase *tc = tcase_create("openat2");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, this_kernel_has_openat2);
    tcase_add_test(tc, openat2_opens_files_and_inside_symlinks);
    tcase_add_test(tc, openat2_refuses_every_way_out);
    suite_add_tcase(s, tc);
    tc = tcase_create("walk");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, walk_opens_files_and_refuses_every_symlink);
    tcase_add_test(tc, walk_refuses_dot_segments_and_absolute_paths);
    tcase_add_test(tc, permissions_are_reported_as_eacces);
    tcase_add_test(tc, walk_leaks_no_descriptors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(beneath_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
