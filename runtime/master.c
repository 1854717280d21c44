/*
 * master.c - the supervising process of a multi-worker server: forks the
 * workers, replaces the ones that die, stops them all on a signal, and reaps
 * every child so that no zombie is ever left.
 *
 * The master serves nothing.  Everything it reacts to (signals, child exits,
 * workers reporting that start-up is over, deadlines) arrives in one poll()
 * over a signalfd and a pipe: the managed signals are blocked before the
 * first fork (server.c), so none can arrive between two steps and kill or
 * confuse the master while it has children.
 *
 * The master keeps every listening socket open (and hands them all to the
 * next generation on a reload).  SO_REUSEPORT gives
 * each socket its own accept queue; if a worker dies, the connections the
 * kernel already queued on its socket stay there (the socket lives on in the
 * master) and the replacement, which gets the same id and the same socket,
 * accepts them.  Without this they would be reset.  What remains of the race
 * is a shutdown's: connections the kernel queues on a draining worker's
 * socket between its last accept and its close are reset.
 *
 *   SIGTERM, SIGINT           graceful: close the master's listener copies,
 *                             SIGTERM every worker, wait for all (no
 *                             respawns), exit 0.  A second one during the
 *                             drain SIGKILLs the workers; exit 1.
 *   SIGHUP                    reload (reload.c): start the next generation
 *                             on our sockets; when it serves, stop as on
 *                             SIGTERM; when it fails, log it and go on.
 *   SIGQUIT                   SIGQUIT every worker (they exit at once); exit 1.
 *   a worker dies             log id, pid and cause; respawn it with the same
 *                             id, unless it is crash-looping (below): then
 *                             stop everything and exit 1.  (A worker that
 *                             exits 0 by itself is replaced too.)
 *
 * Workers still alive shutdown_timeout + KILL_GRACE_MS after a stop began
 * are SIGKILLed.  Workers set PR_SET_PDEATHSIG, so killing the master (even
 * with SIGKILL) makes them drain and exit too.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Crash-loop guard: CRASH_LIMIT unplanned deaths within CRASH_WINDOW_MS, or
 * one worker slot dying EARLY_DEATH_LIMIT times in a row before it finished
 * worker_setup, make the master give up instead of forking forever. */
#define CRASH_LIMIT 5
#define CRASH_WINDOW_MS 10000u
#define EARLY_DEATH_LIMIT 3
/* Extra time a stopping worker gets beyond its own drain timeout. */
#define KILL_GRACE_MS 2000u
/* Delay before retrying a fork that failed while replacing a worker. */
#define RESPAWN_RETRY_MS 1000u

struct slot {
    pid_t pid;              /* 0: not running */
    bool ready;             /* reported the end of worker_setup */
    unsigned early_deaths;  /* consecutive deaths before ready */
    uint64_t respawn_at;    /* when pid == 0 outside a stop: retry then */
};

struct master {
    const struct srv_app *app;
    const struct srv_limits *lim;
    struct srv__sockets *socks;
    int nworkers;
    struct slot *slots;
    int alive;
    pid_t pid;
    int sfd;                /* signalfd */
    int ready_rd, ready_wr; /* workers write their pid when ready */
    uint64_t deaths[CRASH_LIMIT]; /* times of the last unplanned deaths */
    unsigned ndeaths;
    bool stopping;
    bool killed;            /* SIGKILL sent to whoever was left */
    uint64_t kill_at;       /* when stopping: SIGKILL the rest then */
    int status;             /* exit status once everything is reaped */
    bool announced;         /* told the previous generation / systemd we serve */
    bool reload_wanted;     /* SIGHUP before that: reload once it is done */
    struct srv__next next;  /* a reload's new generation, while it starts */
    bool handed_over;       /* the next generation serves: we only drain */
};

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* In the child: becomes worker ID and never returns. */
static void worker_main(struct master *m, int id)
{
    /* If the master dies, the worker gets SIGTERM and drains.  The master may
     * already have died between fork() and prctl(); then the parent is no
     * longer the master, and nobody would ever tell this worker to stop. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != m->pid)
        _exit(1);
    close(m->sfd);
    close(m->ready_rd);
    srv__next_close(&m->next);
    srv__generation_close_ready_fd();
    struct srv__sockets *s = m->socks;
    for (int i = 0; i < s->n; i++)
        if (!srv__sockets_owns(s, i, id, m->nworkers) && s->fds[i] >= 0) {
            close(s->fds[i]);
            s->fds[i] = -1;
        }
    srv__worker_id_value = id;
    srv__worker_ready_fd = m->ready_wr;
    srv__bus_attach(id);
    exit(srv__worker_run(m->app, m->lim, s, id, m->nworkers, false));
}

/* Forks worker ID.  Returns 0 or -errno. */
static int spawn(struct master *m, int id)
{
    /* Anything buffered (setup's printf) would otherwise be written again by
     * every child. */
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0)
        worker_main(m, id);
    m->slots[id].pid = pid;
    m->slots[id].ready = false;
    m->alive++;
    return 0;
}

static void signal_all(struct master *m, int sig)
{
    for (int i = 0; i < m->nworkers; i++)
        if (m->slots[i].pid > 0)
            kill(m->slots[i].pid, sig);
}

/* Starts stopping: no respawns from now on.  The master's listener copies are
 * closed first, so the sockets go away as soon as their workers close them. */
static void begin_stop(struct master *m, int sig, int status, uint64_t grace_ms)
{
    if (m->stopping)
        return;
    m->stopping = true;
    m->status = status;
    m->kill_at = monotonic_ms() + grace_ms;
    for (int i = 0; i < m->socks->n; i++) {
        if (m->socks->fds[i] >= 0) {
            close(m->socks->fds[i]);
            m->socks->fds[i] = -1;
        }
    }
    /* A generation still starting would serve after we are gone: stop it. */
    if (m->next.pid > 0 && !m->handed_over) {
        srv__next_failed(&m->next, "was stopped by the shutdown");
        kill(m->next.pid, SIGTERM);
    }
    if (!m->handed_over)
        srv__systemd_notify("STOPPING=1");
    signal_all(m, sig);
}

static void kill_all(struct master *m, const char *why)
{
    if (m->killed)
        return;
    m->killed = true;
    if (m->alive > 0)
        srv__boot_error("%s; killing %d worker(s)", why, m->alive);
    signal_all(m, SIGKILL);
}

static void describe(char *buf, size_t size, int st)
{
    if (WIFSIGNALED(st))
        snprintf(buf, size, "killed by signal %d (%s)", WTERMSIG(st),
                 strsignal(WTERMSIG(st)));
    else
        snprintf(buf, size, "exited with status %d", WEXITSTATUS(st));
}

/* Records an unplanned death of worker ID; false when the crash-loop guard
 * says to give up (after saying why). */
static bool crash_guard(struct master *m, int id, uint64_t now)
{
    struct slot *s = &m->slots[id];
    if (!s->ready && ++s->early_deaths >= EARLY_DEATH_LIMIT) {
        srv__boot_error("worker %d died %u times in a row during start-up; giving up",
                        id, s->early_deaths);
        return false;
    }
    m->deaths[m->ndeaths++ % CRASH_LIMIT] = now;
    if (m->ndeaths >= CRASH_LIMIT) {
        uint64_t oldest = m->deaths[m->ndeaths % CRASH_LIMIT];
        if (now - oldest < CRASH_WINDOW_MS) {
            srv__boot_error("workers died %d times within %u s; giving up",
                            CRASH_LIMIT, CRASH_WINDOW_MS / 1000);
            return false;
        }
    }
    return true;
}

static void respawn(struct master *m, int id, uint64_t now)
{
    int rc = spawn(m, id);
    if (rc == 0)
        srv__metrics_restarted();
    if (rc < 0) {
        srv__boot_error("fork worker %d: %s; retrying in %u ms", id, strerror(-rc),
                        RESPAWN_RETRY_MS);
        m->slots[id].respawn_at = now + RESPAWN_RETRY_MS;
    }
}

static void on_child_exit(struct master *m, pid_t pid, int st)
{
    if (pid == m->next.pid) {
        /* What it wrote before exiting ('E': could not execute) says
         * more than its exit status. */
        if (!m->handed_over && m->next.ready_fd >= 0)
            srv__next_read(&m->next);
        if (!m->handed_over) {
            char cause[128];
            describe(cause + 4, sizeof cause - 4, st);
            memcpy(cause, "was ", 4);
            strcat(cause, " before it was ready");
            const char *text = WIFSIGNALED(st) ? cause : cause + 4;
            srv__next_failed(&m->next, text);
            if (!m->stopping)
                srv__systemd_notify("READY=1");
        }
        srv__next_close(&m->next);
        return;
    }
    int id = -1;
    for (int i = 0; i < m->nworkers; i++)
        if (m->slots[i].pid == pid)
            id = i;
    if (id < 0)
        return; /* a child of setup's: reaped, nothing more */
    m->slots[id].pid = 0;
    m->alive--;

    char cause[96];
    describe(cause, sizeof cause, st);
    bool clean = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    if (m->stopping) {
        /* Deaths the stop itself causes are expected; others are news. */
        if (!clean && !m->killed && m->status == 0)
            srv__boot_error("worker %d (pid %d) %s during shutdown", id, (int)pid, cause);
        return;
    }
    uint64_t now = monotonic_ms();
    if (clean)
        /* Someone stopped this worker alone (a SIGTERM to its pid), or user
         * code called exit(0); the server is still meant to run at full
         * strength, but the guard counts it too, or a worker_setup that
         * exits would make the master fork forever. */
        srv__boot_error("worker %d (pid %d) exited; restarting it", id, (int)pid);
    else
        srv__boot_error("worker %d (pid %d) %s", id, (int)pid, cause);
    if (!crash_guard(m, id, now)) {
        begin_stop(m, SIGTERM, 1, m->lim->shutdown_timeout_ms + KILL_GRACE_MS);
        return;
    }
    respawn(m, id, now);
}

static void reap(struct master *m)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
        on_child_exit(m, pid, st);
}

static void start_reload(struct master *m);

/* Workers write their pid once worker_setup is done. */
static void read_ready(struct master *m)
{
    pid_t pids[64];
    ssize_t n;
    while ((n = read(m->ready_rd, pids, sizeof pids)) > 0) {
        for (size_t k = 0; k < (size_t)n / sizeof pids[0]; k++) {
            for (int i = 0; i < m->nworkers; i++) {
                if (m->slots[i].pid == pids[k]) {
                    m->slots[i].ready = true;
                    m->slots[i].early_deaths = 0;
                }
            }
        }
    }
    /* The generation serves once every worker does: only then may a
     * previous generation stop (and systemd call us started). */
    if (m->announced || m->stopping)
        return;
    for (int i = 0; i < m->nworkers; i++)
        if (!m->slots[i].ready)
            return;
    m->announced = true;
    srv__generation_ready();
    if (m->reload_wanted)
        start_reload(m);
}

/* SIGHUP: start the next generation, unless one is already on its way. */
static void start_reload(struct master *m)
{
    if (m->stopping) {
        srv__boot_error("received SIGHUP while stopping; ignored");
        return;
    }
    if (m->next.pid > 0) {
        srv__boot_error("received SIGHUP; a reload is already under way (pid %d); ignored",
                        (int)m->next.pid);
        return;
    }
    if (srv__previous_generation_alive()) {
        srv__boot_error("received SIGHUP; the previous generation (pid %d) is still "
                        "draining; ignored", (int)getppid());
        return;
    }
    if (!m->announced) {
        if (!m->reload_wanted)
            srv__boot_error("received SIGHUP while starting; reloading once every "
                            "worker is ready");
        m->reload_wanted = true;
        return;
    }
    m->reload_wanted = false;
    char state[64];
    snprintf(state, sizeof state, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)srv__clock_ms() * 1000ull);
    srv__systemd_notify(state);
    if (srv__next_start(&m->next, m->socks, m->lim->reload_timeout_ms) < 0)
        srv__systemd_notify("READY=1");
}

/* The next generation's pipe is readable: it serves (we drain), or failed. */
static void read_next(struct master *m)
{
    int r = srv__next_read(&m->next);
    if (r == 0)
        return;
    close(m->next.ready_fd);
    m->next.ready_fd = -1;
    if (r < 0)
        return; /* its exit, reaped on SIGCHLD, says how it failed */
    m->handed_over = true;
    srv__boot_error("reload: generation %u (pid %d) is serving; draining %d old worker(s)",
                    srv__generation + 1, (int)m->next.pid, m->alive);
    begin_stop(m, SIGTERM, 0, m->lim->shutdown_timeout_ms + KILL_GRACE_MS);
}

static void read_signals(struct master *m)
{
    struct signalfd_siginfo si;
    while (read(m->sfd, &si, sizeof si) == (ssize_t)sizeof si) {
        switch (si.ssi_signo) {
        case SIGCHLD:
            reap(m);
            break;
        case SIGHUP:
            start_reload(m);
            break;
        case SIGTERM:
        case SIGINT:
            if (!m->stopping) {
                srv__boot_error("received %s; draining %d worker(s)",
                                srv__signal_name((int)si.ssi_signo), m->alive);
                begin_stop(m, SIGTERM, 0, m->lim->shutdown_timeout_ms + KILL_GRACE_MS);
            } else {
                m->status = 1;
                kill_all(m, "second stop signal");
            }
            break;
        case SIGUSR1:
            /* logrotate: every process reopens its log files. */
            signal_all(m, SIGUSR1);
            srv__access_log_reopen(&srv__access_log_main);
            break;
        case SIGQUIT:
            if (m->stopping) {
                m->status = 1;
                signal_all(m, SIGQUIT);
            }
            begin_stop(m, SIGQUIT, 1, KILL_GRACE_MS);
            break;
        default:
            break;
        }
    }
    /* A SIGCHLD may have been merged with one already read; reaping again
     * costs one syscall and makes a lost child impossible. */
    reap(m);
}

/* How long poll() may sleep: until the kill deadline or the next respawn. */
static int next_timeout(struct master *m, uint64_t now)
{
    uint64_t next = UINT64_MAX;
    if (m->next.pid > 0 && !m->handed_over)
        next = m->next.deadline;
    if (m->stopping) {
        if (!m->killed && m->kill_at < next)
            next = m->kill_at;
    } else {
        for (int i = 0; i < m->nworkers; i++)
            if (m->slots[i].pid == 0 && m->slots[i].respawn_at < next)
                next = m->slots[i].respawn_at;
    }
    if (next == UINT64_MAX)
        return -1;
    return next <= now ? 0 : (int)(next - now);
}

static void on_timeout(struct master *m, uint64_t now)
{
    if (m->next.pid > 0 && !m->handed_over && now >= m->next.deadline) {
        if (!m->next.reported) {
            char cause[64];
            snprintf(cause, sizeof cause, "was not ready after %u ms and was stopped",
                     m->lim->reload_timeout_ms);
            srv__next_failed(&m->next, cause);
            kill(m->next.pid, SIGTERM);
            srv__systemd_notify("READY=1");
        } else {
            kill(m->next.pid, SIGKILL); /* failed, and still not gone */
        }
        m->next.deadline = now + KILL_GRACE_MS;
    }
    if (m->stopping) {
        if (!m->killed && now >= m->kill_at) {
            m->status = 1;
            kill_all(m, "workers still running after the shutdown timeout");
        }
        return;
    }
    for (int i = 0; i < m->nworkers; i++)
        if (m->slots[i].pid == 0 && m->slots[i].respawn_at <= now)
            respawn(m, i, now);
}

int srv__master_run(const struct srv_app *app, const struct srv_limits *lim,
                    struct srv__sockets *socks, int workers)
{
    struct master m = {
        .app = app, .lim = lim, .socks = socks, .nworkers = workers,
        .pid = getpid(), .sfd = -1, .ready_rd = -1, .ready_wr = -1,
        .next = {.ready_fd = -1, .pidfd = -1},
    };
    m.slots = srv__xcalloc((size_t)workers, sizeof *m.slots);

    /* server.c blocked these before opening anything; blocking again keeps
     * this function correct on its own. */
    sigset_t set;
    srv__managed_signals(&set);
    signal(SIGPIPE, SIG_IGN);
    int ready[2];
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 ||
        (m.sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0 ||
        pipe2(ready, O_NONBLOCK | O_CLOEXEC) < 0) {
        srv__boot_error("master: %s", strerror(errno));
        if (m.sfd >= 0)
            close(m.sfd);
        free(m.slots);
        return 1;
    }
    m.ready_rd = ready[0];
    m.ready_wr = ready[1];
    /* The workers' pubsub bus, inherited by every worker and replacement
     * (with Redis, Redis carries messages between workers too). */
    if (app->pubsub_redis_host == NULL) {
        int rc = srv__bus_create(workers);
        if (rc < 0)
            srv__boot_error("pubsub bus for %d workers: %s; messages will not cross "
                            "workers", workers, strerror(-rc));
    }

    for (int i = 0; i < workers; i++) {
        int rc = spawn(&m, i);
        if (rc < 0) {
            /* Its sockets queue connections nobody accepts until the retry
             * succeeds; closing them would reset those connections, and
             * after a reload they may hold the previous generation's. */
            srv__boot_error("fork worker %d: %s; retrying in %u ms", i, strerror(-rc),
                            RESPAWN_RETRY_MS);
            m.slots[i].respawn_at = monotonic_ms() + RESPAWN_RETRY_MS;
        }
    }
    if (m.alive == 0 && workers > 0) {
        srv__boot_error("no workers started");
        m.stopping = true;
        m.status = 1;
    }

    while (!(m.stopping && m.alive == 0)) {
        struct pollfd pfd[3] = {
            {.fd = m.sfd, .events = POLLIN},
            {.fd = m.ready_rd, .events = POLLIN},
            {.fd = m.next.ready_fd, .events = POLLIN}, /* -1: ignored */
        };
        int n = poll(pfd, 3, next_timeout(&m, monotonic_ms()));
        if (n < 0 && errno != EINTR) {
            /* Cannot wait any more: do not leave workers behind. */
            srv__boot_error("master: poll: %s", strerror(errno));
            begin_stop(&m, SIGTERM, 1, 0);
            kill_all(&m, "master cannot wait for events");
            while (m.alive > 0 && waitpid(-1, NULL, 0) > 0)
                m.alive--;
            break;
        }
        /* Ready reports first: a worker that reported and then died must
         * not count as dying during start-up. */
        read_ready(&m);
        if (m.next.ready_fd >= 0 && pfd[2].revents != 0)
            read_next(&m);
        read_signals(&m);
        on_timeout(&m, monotonic_ms());
    }

    for (int i = 0; i < socks->n; i++)
        if (socks->fds[i] >= 0)
            close(socks->fds[i]);
    if (!m.handed_over)
        srv__next_close(&m.next);
    close(m.sfd);
    close(m.ready_rd);
    close(m.ready_wr);
    srv__bus_destroy();
    free(m.slots);
    return m.status;
}
