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
 *   SIGTERM, SIGINT (and SIGHUP unless it was ignored at start-up)
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
#include <sys/signalfd.h>
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

static bool hup_ignored(void)
{
    struct sigaction sa;
    return sigaction(SIGHUP, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN;
}

/* The signals a serving process reads from its signalfd. */
static void managed_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGUSR1); /* reopen log files */
    if (!hup_ignored())
        sigaddset(set, SIGHUP);
}

/* For "at once": _exit is async-signal-safe and the kernel closes every
 * socket; nothing else needs to happen. */
static void exit_now(int sig)
{
    SRV__UNUSED(sig);
    _exit(1);
}

/* Makes the stop signals (and SIGQUIT) end the process on delivery;
 * SIGUSR1 stays blocked and read from the signalfd. */
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
    if (sigismember(&set, SIGHUP))
        sigaction(SIGHUP, &sa, NULL);
    sigdelset(&set, SIGUSR1);
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
    srv__server_drain(&w->server);
}

static void on_signal(struct srv__io *io, uint32_t events)
{
    struct worker *w = (struct worker *)((char *)io - offsetof(struct worker, sig_io));
    struct signalfd_siginfo si;
    SRV__UNUSED(events);
    while (read(io->fd, &si, sizeof si) == (ssize_t)sizeof si) {
        switch (si.ssi_signo) {
        case SIGTERM:
        case SIGINT:
        case SIGHUP:
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

int srv__worker_run(const struct srv_app *app, const struct srv_limits *lim,
                    int listen_fd, bool single_process)
{
    static struct worker w; /* one per process; static keeps it off the stack */
    memset(&w, 0, sizeof w);
    w.single_process = single_process;

    int sfd = signals_open();
    if (sfd < 0) {
        srv_log(SRV_LOG_ERROR, "signalfd: %s", strerror(-sfd));
        return 1;
    }
    /* The loop first: worker_setup may start timers, watch descriptors,
     * subscribe and publish.  Nothing is accepted before the loop runs. */
    int rc = srv__server_init(&w.server, app, listen_fd);
    if (rc < 0) {
        srv_log(SRV_LOG_ERROR, "cannot start serving: %s", strerror(-rc));
        close(sfd);
        return 1;
    }
    /* The drain bound is the caller's resolved limit, whatever conn.c did. */
    w.server.limits.shutdown_timeout_ms = lim->shutdown_timeout_ms;
    /* This worker's metrics slot: a replacement goes on counting where the
     * worker it replaces stopped. */
    if (app->metrics)
        w.server.metrics = srv__metrics_attach(srv__worker_id_value);
    w.sig_io.fd = sfd;
    w.sig_io.fn = on_signal;
    rc = srv__loop_add(&w.server.loop, &w.sig_io, EPOLLIN);
    if (rc < 0) {
        srv_log(SRV_LOG_ERROR, "epoll: %s", strerror(-rc));
        srv__server_close(&w.server);
        close(sfd);
        return 1;
    }
    pubsub_start(app, &w.server.loop);
    if (app->worker_setup)
        app->worker_setup();
    report_ready();

    int status = 0;
    for (;;) {
        int wait = -1;
        if (w.draining) {
            if (srv__server_drained(&w.server))
                break;
            uint64_t now = monotonic_ms();
            if (now >= w.deadline) {
                srv_log(SRV_LOG_WARN,
                        "shutdown timeout (%u ms) reached; closing %u connection(s)",
                        lim->shutdown_timeout_ms, w.server.nconns);
                break;
            }
            wait = (int)(w.deadline - now);
        }
        rc = srv__server_run_once(&w.server, wait);
        if (rc < 0 && rc != -EINTR) {
            srv_log(SRV_LOG_ERROR, "event loop: %s", strerror(-rc));
            status = 1;
            break;
        }
        if (w.stop_now) {
            status = 1;
            break;
        }
    }
    srv__loop_del(&w.server.loop, &w.sig_io);
    pubsub_stop(app);
    srv__server_close(&w.server); /* frees the timers and watches left */
    srv__pubsub_close();          /* and the subscriptions */
    close(sfd);
    return status;
}
