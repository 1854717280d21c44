/*
 * privileges.c - dropping root: the `user "NAME" ["GROUP"];` directive.
 *
 * A server started as root binds its ports (port 80 needs root), opens its
 * `static` directories and its access log, and then becomes USER for good,
 * before any block of the .srv file runs: srv_main() calls
 * srv__privileges_drop() after those are open and BEFORE `setup`.  Dropping
 * after `setup` would let a setup block open files as root, but it would
 * also run user code with every privilege; dropping before the listeners
 * would lose low ports.  So no `setup`, `worker_setup`, hook or handler
 * ever runs as root, and what needs root is done first, by the runtime.  The drop happens once, in the single process or in the
 * master before it forks: workers (and their replacements) inherit the
 * credentials and never hold root.
 *
 * The switch: supplementary groups with initgroups() (USER's groups from
 * the group database, plus the group the server runs as), setgid() to GROUP
 * (or USER's primary group), setuid() to USER, then a check that it took
 * (real, effective and saved ids are the target's, setuid(0) fails), then
 * PR_SET_NO_NEW_PRIVS, so no exec'd program can gain privileges back
 * through set-user-ID bits or file capabilities.  The kernel also makes the
 * process non-dumpable when its ids change, which keeps other processes of
 * the same user from reading its memory with ptrace (the secrets it read as
 * root); it is left that way.
 *
 * Names are looked up in srv__privileges_resolve(), first thing at start-up,
 * before anything is bound, so an unknown user or group stops the program
 * with one line and nothing was opened.  Files opened before the drop that
 * the server opens again later are handed to USER: the access log, which
 * SIGUSR1 reopens (logrotate).  The `static` directories are not: they are
 * the app's content, and files beneath them are opened as USER, who must be
 * able to read them.  Listening sockets need nothing.
 *
 * Not root: a server already running as USER has nothing to do (a server
 * that re-executes itself for a reload runs as the user it dropped to and
 * inherits its sockets); any other user cannot switch and stops at start-up.
 * Root without `user` says once that it runs as root, where the switch
 * would have been (so a start-up that fails says only why it failed),
 * except in a re-executed generation (SRV_RELOADS > 0), which said it the
 * first time.
 */
#include "internal.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* What srv__privileges_resolve found for srv__privileges_drop. */
static struct {
    bool drop;         /* root, with a `user`: switch in srv__privileges_drop */
    bool warn;         /* root, without one: say so in srv__privileges_drop */
    const char *user;  /* as named in the app (static storage) */
    uid_t uid;
    gid_t gid;         /* GROUP's, or USER's primary group */
} target;

/* getpwnam_r/getgrnam_r want a buffer of a size sysconf only suggests; they
 * say ERANGE when it is too small. */
#define LOOKUP_BUF_START 1024
#define LOOKUP_BUF_MAX (1024 * 1024)

/* USER's uid and primary gid.  Returns 0, or -errno after a boot line. */
static int lookup_user(const char *name, uid_t *uid, gid_t *gid)
{
    struct passwd pw, *found = NULL;
    int rc = ERANGE;
    for (size_t size = LOOKUP_BUF_START; rc == ERANGE && size <= LOOKUP_BUF_MAX; size *= 2) {
        char *buf = srv__xmalloc(size);
        rc = getpwnam_r(name, &pw, buf, size, &found);
        if (rc == 0 && found) {
            *uid = pw.pw_uid;
            *gid = pw.pw_gid;
        }
        free(buf);
    }
    if (rc != 0) {
        srv__boot_error("user \"%s\": cannot look it up: %s", name, strerror(rc));
        return -rc;
    }
    if (!found) {
        srv__boot_error("user \"%s\": no such user", name);
        return -ENOENT;
    }
    return 0;
}

static int lookup_group(const char *name, gid_t *gid)
{
    struct group gr, *found = NULL;
    int rc = ERANGE;
    for (size_t size = LOOKUP_BUF_START; rc == ERANGE && size <= LOOKUP_BUF_MAX; size *= 2) {
        char *buf = srv__xmalloc(size);
        rc = getgrnam_r(name, &gr, buf, size, &found);
        if (rc == 0 && found)
            *gid = gr.gr_gid;
        free(buf);
    }
    if (rc != 0) {
        srv__boot_error("group \"%s\": cannot look it up: %s", name, strerror(rc));
        return -rc;
    }
    if (!found) {
        srv__boot_error("group \"%s\": no such group", name);
        return -ENOENT;
    }
    return 0;
}

/* A generation started by a reload (reload.c read SRV_RELOADS). */
static bool is_reload(void)
{
    return srv__generation > 0;
}

int srv__privileges_resolve(const struct srv_app *app)
{
    memset(&target, 0, sizeof target);
    uid_t euid = geteuid();
    if (!app->user) {
        target.warn = euid == 0 && !is_reload();
        return 0;
    }
    uid_t uid = (uid_t)-1;
    gid_t gid = (gid_t)-1;
    int rc = lookup_user(app->user, &uid, &gid);
    if (rc < 0)
        return rc;
    if (app->group && (rc = lookup_group(app->group, &gid)) < 0)
        return rc;
    if (euid != 0) {
        if (getuid() != uid || euid != uid) {
            srv__boot_error("user \"%s\": cannot switch from uid %lu (not running as root)",
                            app->user, (unsigned long)euid);
            return -EPERM;
        }
        if (app->group && (getgid() != gid || getegid() != gid)) {
            srv__boot_error("group \"%s\": cannot switch from gid %lu (not running as root)",
                            app->group, (unsigned long)getegid());
            return -EPERM;
        }
        return 0; /* already USER: a re-executed generation, or started so */
    }
    target.drop = true;
    target.user = app->user;
    target.uid = uid;
    target.gid = gid;
    return 0;
}

/* The access log is reopened by path on SIGUSR1, after the drop: its file
 * must belong to USER (a new file after a rotation needs a directory USER
 * may write in, or logrotate's `create`).  Only a regular file the server
 * opened itself: never a terminal or a pipe it was given as stderr.  The
 * group is left alone, as nginx does (logs are often group adm). */
static int hand_over_log(void)
{
    const struct srv__access_log *l = &srv__access_log_main;
    struct stat st;
    if (l->fd < 0 || l->path == NULL || fstat(l->fd, &st) < 0 || !S_ISREG(st.st_mode))
        return 0;
    if (fchown(l->fd, target.uid, (gid_t)-1) < 0) {
        int err = errno;
        srv__boot_error("log \"%s\": cannot give it to user \"%s\": %s", l->path, target.user,
                        strerror(err));
        return -err;
    }
    return 0;
}

/* One boot line for a step of the switch that failed; returns -ERR. */
static int failed(const char *what, unsigned long id, int err)
{
    srv__boot_error("user \"%s\": %s %lu: %s", target.user, what, id, strerror(err));
    return -err;
}

int srv__privileges_drop(void)
{
    if (target.warn) {
        target.warn = false;
        srv__boot_error("warning: running as root: setup and every handler run as root; "
                        "add user \"NAME\"; to the server block to drop privileges "
                        "once the ports are open");
    }
    if (!target.drop)
        return 0;
    target.drop = false;
    int rc = hand_over_log();
    if (rc < 0)
        return rc;
    if (initgroups(target.user, target.gid) < 0)
        return failed("initgroups with gid", target.gid, errno);
    if (setgid(target.gid) < 0)
        return failed("setgid", target.gid, errno);
    if (setuid(target.uid) < 0)
        return failed("setuid", target.uid, errno);
    /* Trust, but verify: every id is the target's, and root is out of
     * reach (unless USER is root itself). */
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
        return failed("getresuid after setuid", target.uid, errno);
    if (ru != target.uid || eu != target.uid || su != target.uid || rg != target.gid ||
        eg != target.gid || sg != target.gid ||
        (target.uid != 0 && (setuid(0) == 0 || setgid(0) == 0))) {
        srv__boot_error("user \"%s\": the switch to uid %lu gid %lu did not take", target.user,
                        (unsigned long)target.uid, (unsigned long)target.gid);
        return -EPERM;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return failed("PR_SET_NO_NEW_PRIVS after the switch to uid", target.uid, errno);
    return 0;
}
