/*
 * beneath.c - opening a file by a relative path without leaving a
 * directory: the one Linux-specific call of the static file server (L2),
 * kept here so the rest of it is portable C.
 *
 * With openat2(2) (Linux 5.6+), RESOLVE_BENEATH makes the kernel refuse any
 * resolution that would leave the directory - "..", an absolute path, or a
 * symlink (absolute or relative) pointing outside - with EXDEV, atomically,
 * whatever happens to the tree meanwhile; symlinks that stay inside are
 * followed.  RESOLVE_NO_MAGICLINKS also refuses /proc-style magic links.
 *
 * Without it (ENOSYS on older kernels, or EPERM from a seccomp filter that
 * does not know the call, as older container runtimes have), the path is
 * walked one component at a time with O_NOFOLLOW, so EVERY symlink is
 * refused, even one that would stay inside: a symlink is the only way out of
 * a directory by a path without ".." (which callers reject) and without a
 * leading '/' (which callers reject too).  Which mode is used is decided once,
 * by srv__beneath_probe() at start-up, not per request.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

/* -1: not probed yet; 1: openat2 works; 0: component walk. */
static int have_openat2 = -1;

static int openat2_beneath(int dirfd, const char *path, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)(unsigned)flags,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    for (int tries = 0;; tries++) {
        long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
        if (fd >= 0)
            return (int)fd;
        /* EAGAIN: a rename or mount raced the lookup and the kernel could
         * not prove the result safe; the man page says to retry. */
        if (errno != EAGAIN || tries == 8)
            return -errno;
    }
}

/* The fallback: each directory with O_PATH|O_NOFOLLOW|O_DIRECTORY (a
 * symlink there is opened as itself and then fails O_DIRECTORY with
 * ENOTDIR), the last component with O_NOFOLLOW (a symlink: ELOOP). */
static int walk_beneath(int dirfd, const char *path, int flags)
{
    int cur = dirfd;
    const char *p = path;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        char name[256];
        if (n == 0 || n >= sizeof name || (p[0] == '.' && (n == 1 || (n == 2 && p[1] == '.')))) {
            if (cur != dirfd)
                close(cur);
            return n >= sizeof name ? -ENAMETOOLONG : -ENOENT;
        }
        memcpy(name, p, n);
        name[n] = '\0';
        int fd = slash ? openat(cur, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                       : openat(cur, name, flags | O_NOFOLLOW);
        int err = errno;
        if (cur != dirfd)
            close(cur);
        if (fd < 0)
            return -err;
        if (!slash)
            return fd;
        cur = fd;
        p = slash + 1;
    }
}

int srv__beneath_probe(int dirfd)
{
    if (have_openat2 >= 0)
        return have_openat2;
    int fd = openat2_beneath(dirfd, ".", O_PATH | O_CLOEXEC);
    if (fd >= 0) {
        close(fd);
        have_openat2 = 1;
    } else {
        have_openat2 = (fd == -ENOSYS || fd == -EPERM || fd == -EINVAL) ? 0 : 1;
    }
    return have_openat2;
}

void srv__beneath_force_walk(bool walk)
{
    have_openat2 = walk ? 0 : -1;
}

int srv__open_beneath(int dirfd, const char *path, int flags)
{
    if (path[0] == '\0' || path[0] == '/')
        return -ENOENT;
    if (SRV__UNLIKELY(have_openat2 < 0))
        srv__beneath_probe(dirfd);
    return have_openat2 ? openat2_beneath(dirfd, path, flags) : walk_beneath(dirfd, path, flags);
}
