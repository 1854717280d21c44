/*
 * server.c - srv_main(), the generated program's main: reads the command
 * line, opens the listeners, runs `setup`, then serves from this process
 * (workers <= 1) or becomes the master of N workers (master.c).
 *
 * Start-up order, and why:
 *   1. parse --host/--port/--workers; bad usage exits 2;
 *      read the cookie secrets the app names from the environment (a
 *      missing or short one exits 1 here, with nothing started);
 *      look up the `user` and group (privileges.c): an unknown one exits 1
 *      here, before anything is bound;
 *   2. open every `static` mount's directory (static.c), relative to the
 *      working directory now: a missing one is reported with its .srv
 *      location and the program exits 1 before binding anything; workers
 *      inherit the descriptors, so a setup that chroots or changes
 *      directory cannot change what they serve;
 *   3. open every worker's listener (one per worker, SO_REUSEPORT, same
 *      host:port) here, before setup and before any fork: a port that cannot
 *      be bound is reported once and the program exits 1 with nothing
 *      started; and a setup that drops privileges can still have a low port.
 *      A generation started by a reload adopts the previous one's sockets
 *      instead, and a server started by systemd the ones it passed
 *      (reload.c, systemd.c: the sockets are never bound twice); with
 *      `metrics`, map the counters every worker (and every replacement)
 *      shares (metrics.c);
 *   3b. `user`: switch from root to that user for good (privileges.c), so
 *      `setup`, workers and handlers never run as root;
 *   4. run `setup` once (in the master: workers inherit its state);
 *   5. block the signals the master and workers manage, so from here on a
 *      signal is an event read from a signalfd, never a window in which the
 *      master dies with children;
 *   6. print "PROG: listening on http://HOST:PORT (N workers)" - the
 *      listeners already queue connections, so clients may connect now;
 *   7. serve.
 */
#include "internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* More would mostly exhaust memory and descriptors, not add throughput. */
#define MAX_WORKERS 1024

struct options {
    const char *host;
    int port;
    int workers; /* SRV_WORKERS_AUTO or >= 0 */
};

static void usage(FILE *out, const struct srv_app *app)
{
    fprintf(out,
            "Usage: %s [--host HOST] [--port PORT] [--workers N|auto]\n"
            "Serves the routes of %s over HTTP/1.1.\n"
            "\n"
            "  --host HOST       address to listen on (default: %s)\n"
            "  --port PORT       TCP port; 0 picks a free one (default: %d)\n"
            "  --workers N|auto  worker processes; 0 or 1 serves from one process,\n"
            "                    auto starts one per usable CPU (default: ",
            srv__progname, app->source ? app->source : "its .srv file",
            app->host ? app->host : "127.0.0.1", app->port);
    if (app->workers == SRV_WORKERS_AUTO)
        fprintf(out, "auto)\n");
    else
        fprintf(out, "%d)\n", app->workers < 1 ? 1 : app->workers);
    fprintf(out,
            "  --help            show this help and exit\n"
            "\n"
            "SIGTERM or SIGINT drains gracefully; a second one stops at once.\n"
            "SIGHUP reloads: the binary is started again on the same sockets and\n"
            "takes over once it is ready.  SIGUSR1 reopens the access log.\n");
}

static int bad_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", srv__progname);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry '%s --help' for more information.\n", srv__progname);
    return 2;
}

/* A decimal integer in [MIN, MAX], nothing else. */
static bool parse_int(const char *s, long min, long max, int *out)
{
    char *end;
    errno = 0;
    if (!s[0] || s[0] == ' ' || s[0] == '+')
        return false;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = (int)v;
    return true;
}

/* Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, const struct srv_app *app,
                      struct options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = NULL;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout, app);
            return 0;
        }
        const char *names[] = {"--host", "--port", "--workers"};
        size_t which = 3;
        for (size_t k = 0; k < 3; k++) {
            size_t n = strlen(names[k]);
            if (strncmp(arg, names[k], n) == 0 && (arg[n] == '\0' || arg[n] == '=')) {
                which = k;
                val = arg[n] == '=' ? arg + n + 1 : NULL;
            }
        }
        if (which == 3)
            return bad_usage(arg[0] == '-' ? "unknown option '%s'"
                                           : "unexpected argument '%s'", arg);
        if (!val) {
            if (i + 1 >= argc)
                return bad_usage("option '%s' needs a value", names[which]);
            val = argv[++i];
        }
        switch (which) {
        case 0:
            if (!val[0])
                return bad_usage("--host: empty host%s", "");
            o->host = val;
            break;
        case 1:
            if (!parse_int(val, 0, 65535, &o->port))
                return bad_usage("--port: '%s' is not a port number (0-65535)", val);
            break;
        default:
            if (strcmp(val, "auto") == 0)
                o->workers = SRV_WORKERS_AUTO;
            else if (!parse_int(val, 0, MAX_WORKERS, &o->workers))
                return bad_usage("--workers: '%s' is not 'auto' or a number of "
                                 "workers (0-1024)", val);
            break;
        }
    }
    return -1;
}

void srv__managed_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGQUIT);
    sigaddset(set, SIGCHLD);
    sigaddset(set, SIGUSR1); /* reopen log files */
    sigaddset(set, SIGHUP);  /* reload */
}

static void block_managed_signals(void)
{
    sigset_t set;
    srv__managed_signals(&set);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* SIGHUP means reload, under nohup too (which ignores it: an ignored
     * signal is dropped, never read from the signalfd).  Blocked first, so
     * the default action can never end the process. */
    signal(SIGHUP, SIG_DFL);
}

/* Opens N listeners on HOST:PORT; *PORT becomes the real port. */
static int open_listeners(const char *host, int *port, struct srv__sockets *socks, int n)
{
    char err[512];
    socks->fds = srv__xcalloc((size_t)n, sizeof *socks->fds);
    socks->n = socks->first_pending = n;
    int *fds = socks->fds;
    for (int i = 0; i < n; i++)
        fds[i] = -1;
    for (int i = 0; i < n; i++) {
        fds[i] = i == 0 ? srv__listen_open(host, *port, err, sizeof err)
                        : srv__listen_join(host, *port, err, sizeof err);
        if (fds[i] < 0) {
            srv__boot_error("%s", err);
            for (int k = 0; k < i; k++)
                close(fds[k]);
            srv__sockets_free(socks);
            return -1;
        }
        if (i == 0 && *port == 0) {
            int p = srv__listen_port(fds[0]);
            if (p < 0) {
                srv__boot_error("getsockname: %s", strerror(-p));
                close(fds[0]);
                srv__sockets_free(socks);
                return -1;
            }
            *port = p;
        }
    }
    return 0;
}

/* Sockets handed over by the previous generation or by systemd, for
 * WORKERS workers.  A reload that raised the worker count adds sockets to
 * the SO_REUSEPORT group (bound now, listening once their worker is ready);
 * otherwise, with fewer sockets than workers, every worker accepts from
 * every socket. */
static void adopt_sockets(struct srv__sockets *socks, int workers, const struct options *o)
{
    if (socks->from != NULL && strcmp(socks->from, "systemd") != 0) {
        int port = srv__listen_port(socks->fds[0]);
        if (o->port != 0 && port > 0 && port != o->port)
            srv__boot_error("reload: keeping the sockets on port %d; listening on port %d "
                            "needs a restart", port, o->port);
        int have = socks->n;
        if (have < workers) {
            socks->fds = srv__xrealloc(socks->fds, (size_t)workers * sizeof *socks->fds);
            socks->names = srv__xrealloc(socks->names, (size_t)workers * sizeof *socks->names);
            for (int i = have; i < workers; i++) {
                int fd = srv__listen_bind_like(socks->fds[0]);
                if (fd < 0) {
                    /* After dropping privileges a socket root opened cannot
                     * be joined; sharing the ones we have serves as well. */
                    for (int k = have; k < i; k++)
                        close(socks->fds[k]);
                    socks->n = have;
                    break;
                }
                socks->fds[i] = fd;
                socks->names[i] = NULL;
                socks->n = i + 1;
            }
        }
    }
    if (socks->n < workers)
        socks->shared = true;
}

/* The "listening on" line: the address, and where the sockets came from. */
static void announce(const struct srv__sockets *socks, int workers)
{
    char addr[160], from[200] = "";
    srv__listen_describe(socks->fds[0], addr, sizeof addr);
    if (socks->from != NULL && strcmp(socks->from, "systemd") == 0) {
        size_t len = (size_t)snprintf(from, sizeof from, "; %d socket%s from systemd",
                                      socks->n, socks->n == 1 ? "" : "s");
        for (int i = 0; i < socks->n && len < sizeof from; i++)
            len += (size_t)snprintf(from + len, sizeof from - len, "%s\"%s\"",
                                    i ? ", " : ": ", socks->names[i]);
    } else if (socks->from != NULL) {
        snprintf(from, sizeof from, "; generation %u, %d socket%s handed over",
                 srv__generation, socks->first_pending, socks->first_pending == 1 ? "" : "s");
    }
    if (workers > 1)
        fprintf(stderr, "%s: listening on %s (%d workers%s)\n", srv__progname, addr,
                workers, from);
    else
        fprintf(stderr, "%s: listening on %s (1 process%s)\n", srv__progname, addr, from);
    for (int i = 1; i < socks->n; i++) {
        char other[160];
        srv__listen_describe(socks->fds[i], other, sizeof other);
        if (strcmp(other, addr) != 0)
            fprintf(stderr, "%s: listening on %s\n", srv__progname, other);
    }
    fflush(stderr);
}

int srv_main(int argc, char **argv, const struct srv_app *app)
{
    const char *slash = argc > 0 && argv[0] ? strrchr(argv[0], '/') : NULL;
    srv__progname = slash ? slash + 1 : (argc > 0 && argv[0] ? argv[0] : "srv");

    struct options o = {
        .host = app->host && app->host[0] ? app->host : "127.0.0.1",
        .port = app->port,
        .workers = app->workers,
    };
    int rc = parse_args(argc, argv, app, &o);
    if (rc >= 0)
        return rc;
    srv__reload_init(argv);
    struct srv__sockets socks;
    int inherited = srv__sockets_inherit(&socks);
    if (inherited < 0)
        return 1;
    if (srv__secrets_load(app) < 0) {
        srv__sockets_free(&socks);
        return 1;
    }
    /* privileges.c (`user`): names looked up before anything is bound. */
    if (srv__privileges_resolve(app) < 0) {
        srv__sockets_free(&socks);
        return 1;
    }
    int workers = o.workers == SRV_WORKERS_AUTO ? srv__cpu_count() : o.workers;
    if (workers > MAX_WORKERS)
        workers = MAX_WORKERS;
    int nlisten = workers > 1 ? workers : 1;

    struct srv_limits lim;
    srv__limits_resolve(&lim, &app->limits);

    if (srv__static_open(app) < 0) {
        srv__sockets_free(&socks);
        return 1;
    }
    /* Opened once here: a path that cannot be written stops the start-up,
     * and every worker inherits the descriptor. */
    int lr = srv__access_log_open(&srv__access_log_main, app->log_format, app->log_path);
    if (lr < 0) {
        srv__boot_error("log \"%s\": %s", app->log_path ? app->log_path : "(stderr)",
                        strerror(-lr));
        srv__sockets_free(&socks);
        return 1;
    }
    /* The JSON log's duration_us is measured in ticks, as the metrics'
     * latencies are (srv__metrics_create calibrates them itself). */
    if (app->log_format == SRV_ACCESS_LOG_JSON && !app->metrics) {
        srv__ticks_calibrate(false);
        srv__loop_ticks_on = true;
    }
    if (inherited > 0)
        adopt_sockets(&socks, nlisten, &o);
    else if (open_listeners(o.host, &o.port, &socks, nlisten) < 0)
        return 1;
    /* privileges.c (`user`): drop root now that the ports, the static
     * directories and the access log are open, before `setup` and any fork. */
    if (srv__privileges_drop() < 0) {
        for (int i = 0; i < socks.n; i++)
            close(socks.fds[i]);
        srv__sockets_free(&socks);
        srv__access_log_close(&srv__access_log_main);
        return 1;
    }
    /* The counters every worker (and each replacement) shares. */
    if (app->metrics) {
        int mr = srv__metrics_create(nlisten);
        if (mr < 0) {
            srv__boot_error("metrics: %s", strerror(-mr));
            for (int i = 0; i < socks.n; i++)
                close(socks.fds[i]);
            srv__sockets_free(&socks);
            srv__access_log_close(&srv__access_log_main);
            return 1;
        }
    }

    srv__worker_id_value = 0;
    srv__worker_count_value = nlisten;
    if (app->setup)
        app->setup();
    block_managed_signals();

    announce(&socks, workers);

    if (workers > 1)
        rc = srv__master_run(app, &lim, &socks, workers);
    else
        rc = srv__worker_run(app, &lim, &socks, 0, 1, true);
    srv__sockets_free(&socks);
    srv__access_log_close(&srv__access_log_main);
    srv__metrics_destroy();
    return rc;
}
