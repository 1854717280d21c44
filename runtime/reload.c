/*
 * reload.c - generations: how a running server hands its listening sockets
 * to a new copy of itself (SIGHUP), and how that copy says it is ready.
 *
 * The protocol, between the serving generation ("old") and the next:
 *
 *   1. old (the master, or the single process) creates a pipe and forks; the
 *      child clears close-on-exec on the listening sockets and the pipe's
 *      write end and executes the binary old was started from - the path
 *      it had at start-up, so a binary replaced on disk is the one that
 *      runs - with the same arguments and, in the environment,
 *          SRV_LISTEN_FDS=3,4,...   the sockets, in order
 *          SRV_READY_FD=N           the pipe
 *          SRV_RELOADS=K            generations before this one
 *   2. the new generation starts like any server, except that it adopts
 *      those sockets instead of binding (server.c), then runs setup and
 *      forks its workers; once every worker has run worker_setup and
 *      accepts, it writes one byte 'R' on the pipe and closes it
 *      (srv__generation_ready) - it now serves side by side with old;
 *   3. old reads 'R' and drains: its workers accept what is already queued,
 *      finish what is in flight, close their copies of the sockets and
 *      exit.  The sockets live on in the new generation, so no connection
 *      queued on them is ever reset.
 *
 * If the child cannot execute the binary it writes 'E' and the errno on the
 * pipe; if the new generation exits (setup fails, its workers crash-loop)
 * the pipe reaches end of file; if it is not ready within RELOAD_TIMEOUT_MS
 * it is stopped.  In every case old logs one line and goes on serving as
 * if nothing had happened.  Only one generation can be pending, and a new
 * generation refuses a reload while its predecessor (its parent) still
 * drains, so at most two generations ever run.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

extern char **environ;

unsigned srv__generation;

static char exe_path[PATH_MAX];
static char **saved_argv;
static int ready_fd = -1;    /* SRV_READY_FD of this generation, until ready */
static pid_t previous = 0;   /* the generation that started this one */

void srv__reload_init(char **argv)
{
    saved_argv = argv;
    ssize_t n = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
    if (n < 0)
        n = 0;
    exe_path[n] = '\0';
    /* A binary replaced on disk (`cc -o app ...` unlinks the old file) is
     * still running from the old inode; the path names the new one. */
    const char *deleted = " (deleted)";
    size_t dl = strlen(deleted);
    if ((size_t)n > dl && strcmp(exe_path + n - (ssize_t)dl, deleted) == 0)
        exe_path[n - (ssize_t)dl] = '\0';
}

/* "3,4,5" into fds; false unless every entry is a descriptor number. */
static bool parse_fd_list(const char *s, struct srv__sockets *out)
{
    int n = 1;
    for (const char *p = s; *p; p++)
        n += *p == ',';
    out->fds = srv__xcalloc((size_t)n, sizeof *out->fds);
    out->names = srv__xcalloc((size_t)n, sizeof *out->names);
    const char *p = s;
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || v < 0 || v > INT_MAX || (*end != ',' && *end != '\0'))
            return false;
        out->fds[i] = (int)v;
        out->n = i + 1;
        p = end + 1;
    }
    return true;
}

/* Every adopted socket must be a listening stream socket; make it
 * non-blocking and close-on-exec like ours. */
static int check_sockets(struct srv__sockets *s)
{
    for (int i = 0; i < s->n; i++) {
        int fd = s->fds[i], listening = 0, type = 0;
        socklen_t l1 = sizeof listening, l2 = sizeof type;
        int flags = fcntl(fd, F_GETFL);
        if (flags < 0 || getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &l1) < 0 ||
            getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l2) < 0 || !listening ||
            type != SOCK_STREAM) {
            srv__boot_error("descriptor %d from %s%s%s%s is not a listening stream socket",
                            fd, s->from, s->names[i] ? " (\"" : "",
                            s->names[i] ? s->names[i] : "", s->names[i] ? "\")" : "");
            return -1;
        }
        if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
            srv__boot_error("descriptor %d from %s: %s", fd, s->from, strerror(errno));
            return -1;
        }
    }
    return 0;
}

int srv__sockets_inherit(struct srv__sockets *out)
{
    memset(out, 0, sizeof *out);
    const char *reloads = getenv("SRV_RELOADS");
    if (reloads != NULL) {
        srv__generation = (unsigned)strtoul(reloads, NULL, 10);
        unsetenv("SRV_RELOADS");
    }
    const char *ready = getenv("SRV_READY_FD");
    if (ready != NULL) {
        char *end;
        long v = strtol(ready, &end, 10);
        if (*end == '\0' && v >= 0 && v <= INT_MAX && fcntl((int)v, F_SETFD, FD_CLOEXEC) == 0) {
            ready_fd = (int)v;
            previous = getppid();
        }
        unsetenv("SRV_READY_FD");
    }
    const char *list = getenv("SRV_LISTEN_FDS");
    int rc;
    if (list != NULL) {
        out->from = "the previous generation";
        bool ok = parse_fd_list(list, out);
        if (!ok) {
            srv__boot_error("SRV_LISTEN_FDS=\"%s\": not a list of descriptors", list);
            srv__sockets_free(out);
        }
        unsetenv("SRV_LISTEN_FDS");
        if (!ok)
            return -1;
        out->first_pending = out->n;
        rc = out->n;
    } else {
        rc = srv__systemd_listen_fds(out);
        if (rc <= 0)
            return rc;
    }
    if (check_sockets(out) < 0) {
        srv__sockets_free(out); /* the caller has nothing to free on failure */
        return -1;
    }
    return rc;
}

void srv__sockets_free(struct srv__sockets *s)
{
    if (s->names != NULL)
        for (int i = 0; i < s->n; i++)
            free(s->names[i]);
    free(s->names);
    free(s->fds);
    memset(s, 0, sizeof *s);
}

bool srv__previous_generation_alive(void)
{
    return previous != 0 && getppid() == previous;
}

void srv__generation_ready(void)
{
    if (ready_fd >= 0) {
        ssize_t n;
        do
            n = write(ready_fd, "R", 1);
        while (n < 0 && errno == EINTR);
        close(ready_fd);
        ready_fd = -1;
    }
    char state[64];
    snprintf(state, sizeof state, "MAINPID=%d\nREADY=1", (int)getpid());
    srv__systemd_notify(state);
}

void srv__generation_close_ready_fd(void)
{
    if (ready_fd >= 0)
        close(ready_fd);
    ready_fd = -1;
}

/* The environment of the next generation: ours without any variable of
 * the protocol (a stale one would be misread), plus the new ones. */
static char **next_environment(const struct srv__sockets *s, int wfd)
{
    size_t n = 0;
    while (environ[n] != NULL)
        n++;
    char **env = srv__xcalloc(n + 4, sizeof *env);
    size_t k = 0;
    static const char *const drop[] = {"SRV_LISTEN_FDS=", "SRV_READY_FD=", "SRV_RELOADS=",
                                       "LISTEN_PID=", "LISTEN_FDS=", "LISTEN_FDNAMES="};
    for (size_t i = 0; i < n; i++) {
        bool keep = true;
        for (size_t d = 0; d < sizeof drop / sizeof drop[0]; d++)
            if (strncmp(environ[i], drop[d], strlen(drop[d])) == 0)
                keep = false;
        if (keep)
            env[k++] = environ[i];
    }
    size_t cap = 32 + (size_t)s->n * 12;
    char *fds = srv__xmalloc(cap);
    size_t len = (size_t)snprintf(fds, cap, "SRV_LISTEN_FDS=");
    for (int i = 0; i < s->n; i++)
        len += (size_t)snprintf(fds + len, cap - len, "%s%d", i ? "," : "", s->fds[i]);
    env[k++] = fds;
    char *rfd = srv__xmalloc(32), *gen = srv__xmalloc(32);
    snprintf(rfd, 32, "SRV_READY_FD=%d", wfd);
    snprintf(gen, 32, "SRV_RELOADS=%u", srv__generation + 1);
    env[k++] = rfd;
    env[k++] = gen;
    env[k] = NULL;
    return env;
}

/* In the forked child: become the next generation, or report why not. */
static void exec_next(const struct srv__sockets *s, int wfd, char **env)
{
    for (int i = 0; i < s->n; i++)
        if (s->fds[i] >= 0 && fcntl(s->fds[i], F_SETFD, 0) < 0)
            goto fail;
    if (fcntl(wfd, F_SETFD, 0) < 0)
        goto fail;
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(exe_path, saved_argv, env);
fail:;
    int e = errno;
    char msg[1 + sizeof e];
    msg[0] = 'E';
    memcpy(msg + 1, &e, sizeof e);
    if (write(wfd, msg, sizeof msg) < 0) {
        /* nobody to tell: the exit status says it */
    }
    _exit(127);
}

int srv__next_start(struct srv__next *g, const struct srv__sockets *s, unsigned timeout_ms)
{
    memset(g, 0, sizeof *g);
    g->ready_fd = -1;
    g->pidfd = -1;
    if (exe_path[0] == '\0') {
        srv__boot_error("reload failed: cannot tell which binary this process runs; "
                        "still serving");
        return -1;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
        srv__boot_error("reload failed: pipe: %s; still serving", strerror(errno));
        return -1;
    }
    char **env = next_environment(s, p[1]);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        exec_next(s, p[1], env);
    int e = errno;
    /* The entries after ours point into environ; only the three are ours. */
    size_t n = 0;
    while (env[n] != NULL)
        n++;
    for (size_t i = n - 3; i < n; i++)
        free(env[i]);
    free(env);
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        srv__boot_error("reload failed: fork: %s; still serving", strerror(e));
        return -1;
    }
    g->pid = pid;
    g->ready_fd = p[0];
    g->deadline = srv__clock_ms() + timeout_ms;
    g->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    srv__boot_error("reload: starting generation %u (pid %d) from %s", srv__generation + 1,
                    (int)pid, exe_path);
    return 0;
}

int srv__next_read(struct srv__next *g)
{
    char buf[1 + sizeof(int)];
    ssize_t n = read(g->ready_fd, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n >= 1 && buf[0] == 'R')
        return 1;
    if (n == (ssize_t)sizeof buf && buf[0] == 'E') {
        int e;
        memcpy(&e, buf + 1, sizeof e);
        srv__boot_error("reload failed: cannot execute %s: %s; still serving", exe_path,
                        strerror(e));
        g->reported = true;
    }
    return -1; /* end of file: it exited (the caller learns how) */
}

void srv__next_failed(struct srv__next *g, const char *cause)
{
    if (!g->reported)
        srv__boot_error("reload failed: generation %u (pid %d) %s; still serving",
                        srv__generation + 1, (int)g->pid, cause);
    g->reported = true;
}

void srv__next_close(struct srv__next *g)
{
    if (g->ready_fd >= 0)
        close(g->ready_fd);
    if (g->pidfd >= 0)
        close(g->pidfd);
    g->ready_fd = g->pidfd = -1;
    g->pid = 0;
}
