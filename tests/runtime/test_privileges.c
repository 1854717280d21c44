/* Tests for runtime/privileges.c: the `user` directive.  Looking names up
 * (unknown user or group: one boot line), the warning of a root server
 * without `user` (once, not in a re-executed generation), the switch itself
 * (ids, supplementary groups, a named group, no_new_privs, root out of
 * reach, the access log handed over and still reopenable), and a server
 * that is not root (already the user: nothing to do; another: refused).
 *
 * Every test runs in a process of its own (Check's fork mode, forced in
 * main), so a test that drops root changes nothing for the next one.  The
 * switching tests need root and are left out, with a line saying so, when
 * the suite does not run as root; the others become a non-root user first
 * when they do. */
#include "internal.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* Run CALL with standard error going to a file; its text in OUT. */
#define CAPTURE_STDERR(out, call)                                         \
    do {                                                                  \
        char tmpl_[] = "/tmp/srv-privileges-err-XXXXXX";                  \
        int fd_ = mkstemp(tmpl_);                                         \
        ck_assert_int_ge(fd_, 0);                                         \
        unlink(tmpl_);                                                    \
        int saved_ = dup(STDERR_FILENO);                                  \
        dup2(fd_, STDERR_FILENO);                                         \
        call;                                                             \
        dup2(saved_, STDERR_FILENO);                                      \
        close(saved_);                                                    \
        ssize_t n_ = pread(fd_, (out), sizeof(out) - 1, 0);               \
        close(fd_);                                                       \
        (out)[n_ > 0 ? n_ : 0] = '\0';                                    \
    } while (0)

static struct srv_app app_for(const char *user, const char *group)
{
    struct srv_app app;
    memset(&app, 0, sizeof app);
    app.user = user;
    app.group = group;
    return app;
}

static uid_t uid_of(const char *name)
{
    struct passwd *pw = getpwnam(name);
    ck_assert_ptr_nonnull(pw);
    return pw->pw_uid;
}

static gid_t gid_of(const char *name)
{
    struct group *gr = getgrnam(name);
    ck_assert_ptr_nonnull(gr);
    return gr->gr_gid;
}

/* Sorts the N gids of G and drops repeats; returns how many are left. */
static int sorted_set(gid_t *g, int n)
{
    for (int i = 1; i < n; i++)
        for (int k = i; k > 0 && g[k - 1] > g[k]; k--) {
            gid_t t = g[k];
            g[k] = g[k - 1];
            g[k - 1] = t;
        }
    int m = 0;
    for (int i = 0; i < n; i++)
        if (m == 0 || g[m - 1] != g[i])
            g[m++] = g[i];
    return m;
}

/* The supplementary groups now, as a sorted set. */
static int groups_now(gid_t *out, int max)
{
    int n = getgroups(max, out);
    ck_assert_int_ge(n, 0);
    return sorted_set(out, n);
}

/* What initgroups(USER, GID) should give, as a sorted set. */
static int groups_of(const char *user, gid_t gid, gid_t *out, int max)
{
    int n = max;
    ck_assert_int_ge(getgrouplist(user, gid, out, &n), 0);
    return sorted_set(out, n);
}

/* Not root: a test of the non-root rules run by root becomes nobody. */
static void leave_root(void)
{
    if (geteuid() != 0)
        return;
    gid_t g = gid_of("nogroup");
    ck_assert_int_eq(setgroups(1, &g), 0);
    ck_assert_int_eq(setgid(g), 0);
    ck_assert_int_eq(setuid(uid_of("nobody")), 0);
}

static const char *my_name(void)
{
    struct passwd *pw = getpwuid(geteuid());
    ck_assert_ptr_nonnull(pw);
    return pw->pw_name;
}

/* ---- Looking up ------------------------------------------------------------ */

START_TEST(unknown_user_is_a_boot_error)
{
    struct srv_app app = app_for("srv-no-such-user", NULL);
    char err[512];
    int rc;
    CAPTURE_STDERR(err, rc = srv__privileges_resolve(&app));
    ck_assert_int_eq(rc, -ENOENT);
    ck_assert_str_eq(err, "srv: user \"srv-no-such-user\": no such user\n");
    ck_assert_int_eq(srv__privileges_drop(), 0); /* nothing resolved, nothing done */
}
END_TEST

START_TEST(unknown_group_is_a_boot_error)
{
    struct srv_app app = app_for("nobody", "srv-no-such-group");
    char err[512];
    int rc;
    CAPTURE_STDERR(err, rc = srv__privileges_resolve(&app));
    ck_assert_int_eq(rc, -ENOENT);
    ck_assert_str_eq(err, "srv: group \"srv-no-such-group\": no such group\n");
}
END_TEST

/* ---- Not root ------------------------------------------------------------- */

START_TEST(already_the_user_does_nothing)
{
    leave_root();
    uid_t uid = geteuid();
    struct srv_app app = app_for(my_name(), NULL);
    char err[512];
    int rc;
    CAPTURE_STDERR(err, rc = srv__privileges_resolve(&app));
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(err, "");
    ck_assert_int_eq(srv__privileges_drop(), 0);
    ck_assert_uint_eq(geteuid(), uid);
    ck_assert_int_eq(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), 0);
}
END_TEST

START_TEST(another_user_cannot_be_switched_to)
{
    leave_root();
    struct srv_app app = app_for("root", NULL);
    char err[512], want[512];
    int rc;
    CAPTURE_STDERR(err, rc = srv__privileges_resolve(&app));
    ck_assert_int_eq(rc, -EPERM);
    snprintf(want, sizeof want,
             "srv: user \"root\": cannot switch from uid %lu (not running as root)\n",
             (unsigned long)geteuid());
    ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(another_group_cannot_be_switched_to)
{
    leave_root();
    struct srv_app app = app_for(my_name(), "root");
    char err[512], want[512];
    int rc;
    CAPTURE_STDERR(err, rc = srv__privileges_resolve(&app));
    ck_assert_int_eq(rc, -EPERM);
    snprintf(want, sizeof want,
             "srv: group \"root\": cannot switch from gid %lu (not running as root)\n",
             (unsigned long)getegid());
    ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(no_warning_when_not_root)
{
    leave_root();
    struct srv_app app = app_for(NULL, NULL);
    char err[512];
    int rc;
    CAPTURE_STDERR(err, rc = srv__privileges_resolve(&app); srv__privileges_drop());
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(err, "");
}
END_TEST

/* ---- Root ----------------------------------------------------------------- */

START_TEST(root_without_user_warns_once_where_it_would_switch)
{
    struct srv_app app = app_for(NULL, NULL);
    char err[512];
    int rc;
    srv__generation = 0;
    /* Not while looking up: a start-up that fails later says only why. */
    CAPTURE_STDERR(err, rc = srv__privileges_resolve(&app));
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(err, "");
    CAPTURE_STDERR(err, rc = srv__privileges_drop());
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(err, "srv: warning: running as root: setup and every handler run as "
                          "root; add user \"NAME\"; to the server block to drop privileges "
                          "once the ports are open\n");
    ck_assert_uint_eq(geteuid(), 0);
    CAPTURE_STDERR(err, rc = srv__privileges_drop());
    ck_assert_str_eq(err, "");
    /* Each start-up of a first generation says it. */
    ck_assert_int_eq(srv__privileges_resolve(&app), 0);
    CAPTURE_STDERR(err, rc = srv__privileges_drop());
    ck_assert_ptr_nonnull(strstr(err, "warning: running as root"));
}
END_TEST

START_TEST(reloaded_generation_does_not_warn_again)
{
    struct srv_app app = app_for(NULL, NULL);
    char err[512];
    int rc;
    srv__generation = 3; /* reload.c read SRV_RELOADS=3 */
    CAPTURE_STDERR(err, rc = srv__privileges_resolve(&app); srv__privileges_drop());
    srv__generation = 0;
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(err, "");
}
END_TEST

START_TEST(drops_to_the_user_with_its_groups_and_no_new_privs)
{
    struct srv_app app = app_for("nobody", NULL);
    struct passwd *pw = getpwnam("nobody");
    ck_assert_ptr_nonnull(pw);
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    char err[512];
    int rc;
    CAPTURE_STDERR(err, rc = srv__privileges_resolve(&app));
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(geteuid(), 0); /* resolving changes nothing yet */
    CAPTURE_STDERR(err, rc = srv__privileges_drop());
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(err, ""); /* a `user`: no warning */
    uid_t r, e, s;
    gid_t rg, eg, sg;
    ck_assert_int_eq(getresuid(&r, &e, &s), 0);
    ck_assert_int_eq(getresgid(&rg, &eg, &sg), 0);
    ck_assert(r == uid && e == uid && s == uid);
    ck_assert(rg == gid && eg == gid && sg == gid);
    gid_t want[64], have[64];
    int nw = groups_of("nobody", gid, want, 64), nh = groups_now(have, 64);
    ck_assert_int_eq(nh, nw);
    ck_assert_mem_eq(have, want, (size_t)nh * sizeof *have);
    ck_assert_int_eq(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), 1);
    ck_assert_int_eq(setuid(0), -1);
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(setgid(0), -1);
    /* Done once: a second call has nothing left to do. */
    ck_assert_int_eq(srv__privileges_drop(), 0);
}
END_TEST

START_TEST(named_group_is_the_gid)
{
    struct srv_app app = app_for("nobody", "daemon");
    gid_t gid = gid_of("daemon");
    ck_assert_int_eq(srv__privileges_resolve(&app), 0);
    ck_assert_int_eq(srv__privileges_drop(), 0);
    ck_assert_uint_eq(getgid(), gid);
    ck_assert_uint_eq(getegid(), gid);
    ck_assert_uint_eq(geteuid(), uid_of("nobody"));
    gid_t want[64], have[64];
    int nw = groups_of("nobody", gid, want, 64), nh = groups_now(have, 64);
    ck_assert_int_eq(nh, nw);
    ck_assert_mem_eq(have, want, (size_t)nh * sizeof *have);
}
END_TEST

/* A directory for the log, made and removed by the runner (root), since
 * the test itself ends as nobody. */
static char log_dir[] = "/tmp/srv-privileges-XXXXXX";
static char log_path[256];

static void make_log_dir(void)
{
    ck_assert_ptr_nonnull(mkdtemp(log_dir));
    ck_assert_int_eq(chmod(log_dir, 0755), 0); /* the user reopens by path */
    snprintf(log_path, sizeof log_path, "%s/access.log", log_dir);
}

static void remove_log_dir(void)
{
    unlink(log_path);
    rmdir(log_dir);
}

START_TEST(access_log_is_handed_to_the_user)
{
    const char *path = log_path;
    ck_assert_int_eq(srv__access_log_open(&srv__access_log_main, SRV_ACCESS_LOG_COMBINED, path),
                     0);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_uid, 0);
    gid_t group_before = st.st_gid;
    struct srv_app app = app_for("nobody", NULL);
    ck_assert_int_eq(srv__privileges_resolve(&app), 0);
    ck_assert_int_eq(srv__privileges_drop(), 0);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_uid, uid_of("nobody"));
    ck_assert_uint_eq(st.st_gid, group_before); /* the group is left alone */
    /* SIGUSR1's reopen works as the user. */
    ck_assert_int_eq(srv__access_log_reopen(&srv__access_log_main), 0);
    srv__access_log_close(&srv__access_log_main);
}
END_TEST

START_TEST(stderr_log_is_not_touched)
{
    /* A log on standard error (no path) is the terminal's or the
     * supervisor's, never ours to give away. */
    char tmpl[] = "/tmp/srv-privileges-stderr-XXXXXX";
    int fd = mkstemp(tmpl);
    ck_assert_int_ge(fd, 0);
    unlink(tmpl);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    ck_assert_int_eq(srv__access_log_open(&srv__access_log_main, SRV_ACCESS_LOG_COMBINED, NULL),
                     0);
    struct srv_app app = app_for("nobody", NULL);
    ck_assert_int_eq(srv__privileges_resolve(&app), 0);
    ck_assert_int_eq(srv__privileges_drop(), 0);
    dup2(saved, STDERR_FILENO);
    close(saved);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    ck_assert_uint_eq(st.st_uid, 0);
    close(fd);
    srv__access_log_close(&srv__access_log_main);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("runtime/privileges");
    TCase *tc = tcase_create("lookup");
    tcase_add_test(tc, unknown_user_is_a_boot_error);
    tcase_add_test(tc, unknown_group_is_a_boot_error);
    suite_add_tcase(s, tc);
    tc = tcase_create("not_root");
    tcase_add_test(tc, already_the_user_does_nothing);
    tcase_add_test(tc, another_user_cannot_be_switched_to);
    tcase_add_test(tc, another_group_cannot_be_switched_to);
    tcase_add_test(tc, no_warning_when_not_root);
    suite_add_tcase(s, tc);
    if (geteuid() == 0) {
        tc = tcase_create("root");
        tcase_add_unchecked_fixture(tc, make_log_dir, remove_log_dir);
        tcase_add_test(tc, root_without_user_warns_once_where_it_would_switch);
        tcase_add_test(tc, reloaded_generation_does_not_warn_again);
        tcase_add_test(tc, drops_to_the_user_with_its_groups_and_no_new_privs);
        tcase_add_test(tc, named_group_is_the_gid);
        tcase_add_test(tc, access_log_is_handed_to_the_user);
        tcase_add_test(tc, stderr_log_is_not_touched);
        suite_add_tcase(s, tc);
    } else {
        printf("skipped: the tests that switch users need root\n");
    }
    SRunner *sr = srunner_create(s);
    /* Tests drop root for good: each must be a process of its own. */
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
