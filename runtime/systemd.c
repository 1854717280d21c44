/*
 * systemd.c - the two systemd protocols a service needs, without linking
 * libsystemd: socket activation (sd_listen_fds(3): LISTEN_PID, LISTEN_FDS,
 * LISTEN_FDNAMES; the sockets start at descriptor 3) and readiness
 * notification (sd_notify(3): datagrams on the unix socket NOTIFY_SOCKET
 * names, "@..." being an abstract one).  Both are environment contracts
 * that have not changed in a decade; a dependency for 60 lines would cost
 * every user a package.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define SD_LISTEN_FDS_START 3
/* systemd itself allows more, but nobody passes a server thousands of
 * listeners; more is a mistake worth reporting. */
#define MAX_PASSED 256

/* A decimal number that fits an int, nothing else. */
static bool parse_count(const char *s, long max, long *out)
{
    char *end;
    if (s == NULL || *s < '0' || *s > '9')
        return false;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}

int srv__systemd_listen_fds(struct srv__sockets *out)
{
    const char *pid_s = getenv("LISTEN_PID"), *n_s = getenv("LISTEN_FDS");
    const char *names_s = getenv("LISTEN_FDNAMES");
    long pid, n;
    if (n_s == NULL)
        return 0;
    /* The variables are for this process only: not for setup's children,
     * not for the next generation after a reload. */
    bool for_us = parse_count(pid_s, 0x7fffffffL, &pid) && pid == (long)getpid();
    char *names = names_s ? strdup(names_s) : NULL;
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (!for_us) {
        free(names);
        return 0; /* meant for a process that exec'd us, as sd_listen_fds says */
    }
    if (!parse_count(n_s, MAX_PASSED, &n) || n == 0) {
        srv__boot_error("LISTEN_FDS=\"%s\": not a number of sockets (1-%d)", n_s, MAX_PASSED);
        free(names);
        return -1;
    }
    out->fds = srv__xcalloc((size_t)n, sizeof *out->fds);
    out->names = srv__xcalloc((size_t)n, sizeof *out->names);
    char *save = NULL, *name = names ? strtok_r(names, ":", &save) : NULL;
    for (long i = 0; i < n; i++) {
        out->fds[i] = SD_LISTEN_FDS_START + (int)i;
        out->names[i] = strdup(name && name[0] ? name : "unknown");
        if (name)
            name = strtok_r(NULL, ":", &save);
    }
    free(names);
    out->n = (int)n;
    out->first_pending = (int)n;
    out->from = "systemd";
    return (int)n;
}

int srv__systemd_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (path == NULL || path[0] == '\0')
        return 0;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    size_t len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof sa.sun_path)
        return -EINVAL;
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract namespace */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
                       (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
    int e = n < 0 ? errno : 0;
    close(fd);
    return -e;
}
