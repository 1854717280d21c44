/*
 * worker.c - one serving process's life: signals, the event loop, the
 * pubsub transport, worker_setup, serving, and the graceful drain.  It runs
 * in each forked worker and, with single_process, as the whole server when
 * there is no master.  The loop and the transport come before worker_setup,
 * so it can start timers, watch descriptors, subscribe and publish; the
 * timers, watches and subscriptions left at exit are freed here.
 *
 * Signals are read from a signalfd registered in the server's own event loop,
 * so a signal is just another event and nothing runs in a handler context:
 *
 *   SIGHUP
 *       a single process reloads (reload.c): it starts the next generation
 *       on its sockets and drains once that one serves; a worker ignores
 *       it (a terminal hang-up reaches the whole group: the master acts).
 *   SIGTERM, SIGINT
 *       graceful drain: stop accepting, close idle keep-alive connections,
 *       finish in-flight requests, exit 0.  Repeats are ignored in a worker:
 *       Ctrl-C sends SIGINT to the whole process group, and the master then
 *       sends its own SIGTERM, which must not count as a second signal (the
 *       master escalates with SIGKILL itself).  A single process has no
 *       master, so there a second one exits at once (status 1) - from a real
 *       signal handler, because a handler stuck in user code would never let
 *       the event loop read it.
 *   SIGQUIT
 *       exit at once (status 1), from a signal handler for the same reason.
 *
 * The drain is bounded by limits.shutdown_timeout_ms; connections still open
 * then are closed, the fact is logged, and the process still exits 0: the
 * shutdown itself was orderly, only some clients were cut off.
 */
#include "internal.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <stdio.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int srv__worker_ready_fd = -1;

const char *srv__signal_name(int sig)
{
    switch (sig) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGHUP: return "SIGHUP";
    case SIGQUIT: return "SIGQUIT";
    default: return "a signal";
    }
}

struct worker {
    struct srv__io sig_io; /* first: the io callback finds the worker by it */
    struct srv__server server;
    struct srv__sockets *socks;
    /* A single process reloading: the next generation's pipe and pidfd. */
    struct srv__io next_io, next_exit_io;
    struct srv__next next;
    struct srv_timer *next_timer;
    bool handed_over;
    bool single_process;
    bool draining;
    bool stop_now;     /* a second signal read in the same batch (single process) */
    uint64_t deadline; /* of the drain, in monotonic ms */
};

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The signals a serving process reads from its signalfd. */
static void managed_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGUSR1); /* reopen log files */
    sigaddset(set, SIGHUP);  /* reload (single process) */
}

/* For "at once": _exit is async-signal-safe and the kernel closes every
 * socket; nothing else needs to happen. */
static void exit_now(int sig)
{
    SRV__UNUSED(sig);
    _exit(1);
}

/* Makes the stop signals (and SIGQUIT) end the process on delivery;
 * SIGUSR1 and SIGHUP stay blocked and read from the signalfd. */
static void exit_on_next_signal(bool with_stop_signals)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = exit_now;
    sigfillset(&sa.sa_mask);
    sigaction(SIGQUIT, &sa, NULL);
    if (!with_stop_signals)
        return;
    sigset_t set;
    managed_signals(&set);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigdelset(&set, SIGUSR1);
    sigdelset(&set, SIGHUP);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
}

/* Blocks exactly the managed signals (a forked worker inherits the master's
 * mask, which also blocks SIGCHLD: user code that runs children needs it
 * back), restores default handlers for the rest of what the master touched,
 * and opens the signalfd.  SIGPIPE stays ignored: a peer that went away must
 * cost a write error, not the process. */
static int signals_open(void)
{
    sigset_t set;
    managed_signals(&set);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
    exit_on_next_signal(false);
    if (sigprocmask(SIG_SETMASK, &set, NULL) < 0)
        return -errno;
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

static void begin_drain(struct worker *w)
{
    if (w->draining)
        return;
    w->draining = true;
    w->deadline = monotonic_ms() + w->server.limits.shutdown_timeout_ms;
    /* A generation still starting would serve after we are gone. */
    if (w->next.pid > 0 && !w->handed_over) {
        srv__next_failed(&w->next, "was stopped by the shutdown");
        kill(w->next.pid, SIGTERM);
    }
    if (w->single_process && !w->handed_over)
        srv__systemd_notify("STOPPING=1");
    srv__server_drain(&w->server);
}

/* ---- Reload in a single process (master.c does it for workers) ---------- */

static struct worker the_worker; /* one per process; static keeps it off the stack */

static void next_done(struct worker *w)
{
    if (w->next_io.events != 0)
        srv__loop_del(&w->server.loop, &w->next_io);
    if (w->next_exit_io.events != 0)
        srv__loop_del(&w->server.loop, &w->next_exit_io);
    if (w->next_timer != NULL)
        srv_timer_stop(w->next_timer);
    w->next_timer = NULL;
    srv__next_close(&w->next);
}

/* The next generation exited before it was ready: reap it and say how. */
static void on_next_exit(struct srv__io *io, uint32_t events)
{
    SRV__UNUSED(io);
    SRV__UNUSED(events);
    struct worker *w = &the_worker;
    int st;
    if (waitpid(w->next.pid, &st, WNOHANG) != w->next.pid)
        return;
    if (w->next.ready_fd >= 0)
        srv__next_read(&w->next);
    char cause[128];
    if (WIFSIGNALED(st))
        snprintf(cause, sizeof cause, "was killed by signal %d (%s) before it was ready",
                 WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        snprintf(cause, sizeof cause, "exited with status %d before it was ready",
                 WEXITSTATUS(st));
    srv__next_failed(&w->next, cause);
    srv__systemd_notify("READY=1");
    next_done(w);
}

static void on_next_ready(struct srv__io *io, uint32_t events)
{
    SRV__UNUSED(io);
    SRV__UNUSED(events);
    struct worker *w = &the_worker;
    int r = srv__next_read(&w->next);
    if (r == 0)
        return;
    srv__loop_del(&w->server.loop, &w->next_io);
    if (r < 0)
        return; /* on_next_exit says how it ended */
    w->handed_over = true;
    srv__boot_error("reload: generation %u (pid %d) is serving; draining", srv__generation + 1,
                    (int)w->next.pid);
    if (w->next_timer != NULL)
        srv_timer_stop(w->next_timer);
    w->next_timer = NULL;
    begin_drain(w);
}

static void on_next_late(struct srv_timer *t, void *arg)
{
    SRV__UNUSED(t);
    struct worker *w = arg;
    if (!w->next.reported) {
        char cause[64];
        snprintf(cause, sizeof cause, "was not ready after %u ms and was stopped",
                 w->server.limits.reload_timeout_ms);
        srv__next_failed(&w->next, cause);
        srv__systemd_notify("READY=1");
        kill(w->next.pid, SIGTERM);
    } else {
        kill(w->next.pid, SIGKILL);
    }
}

static void start_reload(struct worker *w)
{
    if (w->draining) {
        srv__boot_error("received SIGHUP while draining; ignored");
        return;
    }
    if (w->next.pid > 0) {
        srv__boot_error("received SIGHUP; a reload is already under way (pid %d); ignored",
                        (int)w->next.pid);
        return;
    }
    if (srv__previous_generation_alive()) {
        srv__boot_error("received SIGHUP; the previous generation (pid %d) is still "
                        "draining; ignored", (int)getppid());
        return;
    }
    char state[64];
    snprintf(state, sizeof state, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)srv__clock_ms() * 1000ull);
    srv__systemd_notify(state);
    if (srv__next_start(&w->next, w->socks, w->server.limits.reload_timeout_ms) < 0) {
        srv__systemd_notify("READY=1");
        return;
    }
    w->next_io.fd = w->next.ready_fd;
    w->next_io.fn = on_next_ready;
    w->next_exit_io.fd = w->next.pidfd;
    w->next_exit_io.fn = on_next_exit;
    srv__loop_add(&w->server.loop, &w->next_io, EPOLLIN);
    if (w->next.pidfd >= 0)
        srv__loop_add(&w->server.loop, &w->next_exit_io, EPOLLIN);
    /* Fires at the deadline, then again after the grace if it lingers. */
    w->next_timer = srv_timer_start(w->server.limits.reload_timeout_ms, 2000, on_next_late, w);
}

static void on_signal(struct srv__io *io, uint32_t events)
{
    struct worker *w = (struct worker *)((char *)io - offsetof(struct worker, sig_io));
    struct signalfd_siginfo si;
    SRV__UNUSED(events);
    while (read(io->fd, &si, sizeof si) == (ssize_t)sizeof si) {
        switch (si.ssi_signo) {
        case SIGHUP:
            if (w->single_process) {
                start_reload(w);
                break;
            }
            /* A worker's SIGHUP comes from its master's process group
             * (a terminal hanging up): the master reloads or stops. */
            break;
        case SIGTERM:
        case SIGINT:
            if (w->draining && w->single_process)
                w->stop_now = true;
            if (!w->draining && w->single_process) {
                srv__boot_error("received %s; draining",
                                srv__signal_name((int)si.ssi_signo));
                exit_on_next_signal(true);
            }
            begin_drain(w);
            break;
        case SIGUSR1:
            if (w->server.log != NULL) {
                int r = srv__access_log_reopen(w->server.log);
                if (r < 0)
                    srv_log(SRV_LOG_ERROR, "reopening log \"%s\": %s", w->server.log->path,
                            strerror(-r));
            }
            break;
        default:
            break;
        }
    }
}

/* The transport that carries what srv_publish() sends beyond this worker:
 * Redis when the app names one (in a single process too), else the bus
 * the master made (none in a single process).  Neither can fail the
 * worker: without a transport, publish/subscribe stays within it. */
static void pubsub_start(const struct srv_app *app, struct srv__loop *l)
{
    if (app->pubsub_redis_host != NULL) {
        srv__redis_start(app->pubsub_redis_host, app->pubsub_redis_port);
        return;
    }
    int rc = srv__bus_start(l);
    if (rc < 0)
        srv_log(SRV_LOG_ERROR, "pubsub: cannot watch the bus: %s; messages published "
                "on other workers will not reach this one", strerror(-rc));
}

/* Stops the transport (its descriptors leave the loop while it exists).
 * The registry stays until the connections are closed: a connection's
 * cleanup may still unsubscribe. */
static void pubsub_stop(const struct srv_app *app)
{
    if (app->pubsub_redis_host != NULL)
        srv__redis_stop();
    else
        srv__bus_stop();
}

/* Tells the master that start-up is over (see srv__worker_ready_fd). */
static void report_ready(void)
{
    if (srv__worker_ready_fd < 0)
        return;
    pid_t pid = getpid();
    ssize_t n;
    do
        n = write(srv__worker_ready_fd, &pid, sizeof pid);
    while (n < 0 && errno == EINTR);
    close(srv__worker_ready_fd);
    srv__worker_ready_fd = -1;
}

/* Starts accepting from the sockets worker ID owns, once worker_setup is
 * done; the ones this generation added to the port's group listen only
 * now (see struct srv__sockets).  Returns 0 or -errno. */
static int accept_from(struct worker *w, int id, int workers)
{
    struct srv__sockets *s = w->socks;
    for (int i = 0; i < s->n; i++) {
        if (s->fds[i] < 0 || !srv__sockets_owns(s, i, id, workers))
            continue;
        int rc = i >= s->first_pending ? srv__listen_start(s->fds[i]) : 0;
        if (rc == 0)
            rc = srv__server_listen(&w->server, s->fds[i], s->shared);
        if (rc < 0)
            return rc;
        /* The server owns (and closes) it now. */
        if (!w->single_process)
            s->fds[i] = -1;
    }
    return 0;
}

int srv__worker_run(const struct srv_app *app, const struct srv_limits *lim,
                    struct srv__sockets *socks, int id, int workers, bool single_process)
{
    struct worker *w = &the_worker;
    memset(w, 0, sizeof *w);
    w->single_process = single_process;
    w->socks = socks;
    w->next.ready_fd = w->next.pidfd = -1;

    int sfd = signals_open();
    if (sfd < 0) {
        srv_log(SRV_LOG_ERROR, "signalfd: %s", strerror(-sfd));
        return 1;
    }
    /* The loop first: worker_setup may start timers, watch descriptors,
     * subscribe and publish.  Nothing is accepted before the loop runs. */
    int rc = srv__server_init(&w->server, app, -1);
    if (rc < 0) {
        srv_log(SRV_LOG_ERROR, "cannot start serving: %s", strerror(-rc));
        close(sfd);
        return 1;
    }
    /* The drain bound is the caller's resolved limit, whatever conn.c did. */
    w->server.limits.shutdown_timeout_ms = lim->shutdown_timeout_ms;
    /* This worker's metrics slot: a replacement goes on counting where the
     * worker it replaces stopped. */
    if (app->metrics)
        w->server.metrics = srv__metrics_attach(srv__worker_id_value);
    w->sig_io.fd = sfd;
    w->sig_io.fn = on_signal;
    rc = srv__loop_add(&w->server.loop, &w->sig_io, EPOLLIN);
    if (rc < 0) {
        srv_log(SRV_LOG_ERROR, "epoll: %s", strerror(-rc));
        srv__server_close(&w->server);
        close(sfd);
        return 1;
    }
    pubsub_start(app, &w->server.loop);
    if (app->worker_setup)
        app->worker_setup();
    int status = 0;
    rc = accept_from(w, id, workers);
    if (rc < 0) {
        srv_log(SRV_LOG_ERROR, "cannot accept connections: %s", strerror(-rc));
        status = 1;
        goto out;
    }
    report_ready();
    if (single_process)
        srv__generation_ready();

    for (;;) {
        int wait = -1;
        if (w->draining) {
            if (srv__server_drained(&w->server))
                break;
            uint64_t now = monotonic_ms();
            if (now >= w->deadline) {
                srv_log(SRV_LOG_WARN,
                        "shutdown timeout (%u ms) reached; closing %u connection(s)",
                        lim->shutdown_timeout_ms, w->server.nconns);
                break;
            }
            wait = (int)(w->deadline - now);
        }
        rc = srv__server_run_once(&w->server, wait);
        if (rc < 0 && rc != -EINTR) {
            srv_log(SRV_LOG_ERROR, "event loop: %s", strerror(-rc));
            status = 1;
            break;
        }
        if (w->stop_now) {
            status = 1;
            break;
        }
    }
out:
    if (w->next.pid > 0 && !w->handed_over)
        next_done(w); /* it learns nothing more from us: its pipe closes */
    srv__loop_del(&w->server.loop, &w->sig_io);
    pubsub_stop(app);
    srv__server_close(&w->server); /* frees the timers and watches left */
    srv__pubsub_close();          /* and the subscriptions */
    close(sfd);
    return status;
}
