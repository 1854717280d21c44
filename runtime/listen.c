/*
 * listen.c - the listening sockets.  server.c opens one per worker, all on
 * the same host:port with SO_REUSEPORT, in the master before anything forks,
 * so a port that cannot be bound is reported once, here, as
 * "bind 127.0.0.1:8080: Address already in use".
 *
 * SO_REUSEPORT lets any socket of the same user join a port's group, so a
 * second copy of the same server would silently share the port with the
 * first instead of failing.  srv__listen_open therefore first probes the port
 * with a socket that does not set SO_REUSEPORT: its bind fails if anything is
 * listening there, whoever opened it.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stddef.h>
#include <sys/un.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The kernel caps the backlog at net.core.somaxconn; asking for more than
 * the usual default only matters where an administrator raised it. */
#define LISTEN_BACKLOG 4096

/* Connections that have sent nothing within this many seconds are handed to
 * accept() anyway; until then they cost no worker any work. */
#define DEFER_ACCEPT_SECONDS 2

/* "HOST:PORT", with an IPv6 literal in brackets. */
static void format_addr(char *buf, size_t size, const char *host, int port)
{
    if (strchr(host, ':'))
        snprintf(buf, size, "[%s]:%d", host, port);
    else
        snprintf(buf, size, "%s:%d", host, port);
}

static int fail(char *err, size_t errlen, const char *op, const char *addr, int e)
{
    snprintf(err, errlen, "%s %s: %s", op, addr, strerror(e));
    return -e;
}

/* Creates a socket for AI and binds it; REUSEPORT selects the real listener
 * (true) or the probe (false).  Returns the fd or -errno, with *OP naming
 * the step that failed. */
static int bind_one(const struct addrinfo *ai, bool reuseport, const char **op)
{
    int one = 1;
    *op = "socket";
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
    if (fd < 0)
        return -errno;
    *op = "setsockopt";
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0))
        goto fail;
    *op = "bind";
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0)
        goto fail;
    return fd;
fail:;
    int e = errno;
    close(fd);
    return -e;
}

/* Opens a listener; with PROBE, first checks that nothing listens there. */
static int listen_open(const char *host, int port, bool probe_first, char *err,
                       size_t errlen)
{
    char addr[300], service[16];
    if (!host || !host[0])
        host = "0.0.0.0";
    format_addr(addr, sizeof addr, host, port);
    if (port < 0 || port > 65535)
        return fail(err, errlen, "bind", addr, EINVAL);
    snprintf(service, sizeof service, "%d", port);

    /* Brackets are how users write IPv6 on the command line ("[::1]"), but
     * getaddrinfo wants the bare literal. */
    char bare[256];
    size_t hlen = strlen(host);
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']' && hlen - 2 < sizeof bare) {
        memcpy(bare, host + 1, hlen - 2);
        bare[hlen - 2] = '\0';
        host = bare;
    }

    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_ADDRCONFIG;
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc == EAI_ADDRFAMILY || rc == EAI_NONAME || rc == EAI_NODATA) {
        /* AI_ADDRCONFIG hides ::1 and 127.0.0.1 on hosts with only a
         * loopback interface; ask again without it. */
        hints.ai_flags &= ~AI_ADDRCONFIG;
        rc = getaddrinfo(host, service, &hints, &res);
    }
    if (rc != 0) {
        snprintf(err, errlen, "resolve %s: %s", addr,
                 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return -EADDRNOTAVAIL;
    }

    /* The first address that binds wins ("localhost" may give ::1 and
     * 127.0.0.1); every listener of one server resolves the same name the
     * same way, so they all land on the same address. */
    int fd = -EADDRNOTAVAIL;
    const char *op = "bind";
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (probe_first && port != 0) {
            int probe = bind_one(ai, false, &op);
            if (probe < 0) {
                fd = probe;
                continue;
            }
            close(probe);
        }
        fd = bind_one(ai, true, &op);
        if (fd >= 0)
            break;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return fail(err, errlen, op, addr, -fd);

    int r = srv__listen_start(fd);
    if (r < 0) {
        close(fd);
        return fail(err, errlen, "listen", addr, -r);
    }
    return fd;
}

int srv__listen_start(int fd)
{
    int secs = DEFER_ACCEPT_SECONDS;
    /* Only an optimisation: failure changes nothing a client can see. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof secs);
    return listen(fd, LISTEN_BACKLOG) < 0 ? -errno : 0;
}

int srv__listen_bind_like(int like)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int one = 1, reuse = 0;
    socklen_t rl = sizeof reuse;
    if (getsockname(like, (struct sockaddr *)&ss, &len) < 0 ||
        getsockopt(like, SOL_SOCKET, SO_REUSEPORT, &reuse, &rl) < 0)
        return -errno;
    /* Without SO_REUSEPORT on the original (systemd's sockets, unless
     * ReusePort=yes) there is no group to join. */
    if (!reuse || (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
        return -EOPNOTSUPP;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&ss, len) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

void srv__listen_describe(int fd, char *buf, size_t size)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        snprintf(buf, size, "descriptor %d", fd);
        return;
    }
    if (ss.ss_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)&ss;
        size_t n = len > offsetof(struct sockaddr_un, sun_path)
                       ? len - offsetof(struct sockaddr_un, sun_path) : 0;
        if (n > 0 && un->sun_path[0] == '\0') /* abstract */
            snprintf(buf, size, "unix:@%.*s", (int)(n - 1), un->sun_path + 1);
        else
            snprintf(buf, size, "unix:%.*s", (int)strnlen(un->sun_path, n), un->sun_path);
        return;
    }
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
    char addr[INET6_ADDRSTRLEN + 2];
    snprintf(addr, sizeof addr, ss.ss_family == AF_INET6 ? "[%s]" : "%s", host);
    snprintf(buf, size, "http://%s:%d", addr, srv__listen_port(fd));
}

int srv__listen_open(const char *host, int port, char *err, size_t errlen)
{
    return listen_open(host, port, true, err, errlen);
}

int srv__listen_join(const char *host, int port, char *err, size_t errlen)
{
    return listen_open(host, port, false, err, errlen);
}

int srv__listen_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -errno;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -EAFNOSUPPORT;
}
