/*
 * srv.h - the public API of libsrv, the runtime that srvc-generated servers
 * link against.  It is the only runtime header generated code includes.
 *
 * Ownership, in one rule: everything a handler receives (path, headers,
 * parameters, body) and everything it allocates with srv_alloc() lives until
 * the response has been sent, then it is gone.  A handler never frees.  Data
 * needed after the request must be copied into memory the program owns.
 *
 * Threads: none.  Each worker process runs one event loop; handlers run on it
 * and must not block for long.
 */
#ifndef SRV_H
#define SRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define SRV_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SRV_PRINTF(a, b)
#endif

#define SRV_VERSION "0.1.0"

/* ---------------------------------------------------------------------------
 * Methods.  Each is one bit so route tables can hold a set of them.
 */
enum srv_method {
    SRV_METHOD_GET = 1u << 0,
    SRV_METHOD_HEAD = 1u << 1,
    SRV_METHOD_POST = 1u << 2,
    SRV_METHOD_PUT = 1u << 3,
    SRV_METHOD_DELETE = 1u << 4,
    SRV_METHOD_PATCH = 1u << 5,
    SRV_METHOD_OPTIONS = 1u << 6,
    SRV_METHOD_ANY = 0x7fu, /* every method above */
};

struct srv_request;  /* one parsed request; valid only inside the handler */
struct srv_response; /* the response being built for it */

typedef void (*srv_handler_fn)(struct srv_request *req, struct srv_response *res);

/* ---------------------------------------------------------------------------
 * Request accessors.  Every returned string is NUL-terminated and lives until
 * the response has been sent.
 */

/* The request method as a bit (SRV_METHOD_GET, ...). */
enum srv_method srv_request_method(const struct srv_request *req);

/* The method as sent, e.g. "GET". */
const char *srv_request_method_name(const struct srv_request *req);

/* The URL-decoded path, dot-segments resolved, without the query: "/a b/c". */
const char *srv_request_path(const struct srv_request *req);

/* The raw query string after '?', not decoded; NULL when there is none. */
const char *srv_request_query(const struct srv_request *req);

/* The URL-decoded value of query parameter NAME ('+' means space); "" for a
 * key without '='; NULL when absent.  The first occurrence wins. */
const char *srv_request_query_param(struct srv_request *req, const char *name);

/* The value of request header NAME, compared case-insensitively, with
 * surrounding whitespace removed; NULL when absent.  With repeated headers
 * the first one is returned. */
const char *srv_request_header(const struct srv_request *req, const char *name);

/* Path parameter NAME (":name" or "*" in the route pattern, without the
 * colon; the trailing wildcard is "*"), URL-decoded; NULL when the route has
 * no such parameter. */
const char *srv_request_param(struct srv_request *req, const char *name);

/* Path parameter by position in the pattern (0-based); NULL past the end.
 * Generated inline handlers use this to bind parameters to C variables. */
const char *srv_request_param_at(struct srv_request *req, unsigned index);

/* The request body (de-chunked) and its length in *len (may be NULL).
 * The body is NUL-terminated for convenience; it may itself contain NULs.
 * Returns "" with *len == 0 when there is no body. */
const char *srv_request_body(const struct srv_request *req, size_t *len);

/* The peer address as text, e.g. "127.0.0.1". */
const char *srv_request_peer(struct srv_request *req);

/* ---------------------------------------------------------------------------
 * Per-request memory.  Freed all at once after the response is sent.
 * Allocation failure aborts the worker (the master replaces it).
 */
void *srv_alloc(struct srv_request *req, size_t size);
char *srv_strdup(struct srv_request *req, const char *s);
char *srv_sprintf(struct srv_request *req, const char *fmt, ...) SRV_PRINTF(2, 3);

/* ---------------------------------------------------------------------------
 * Responses.  The defaults are 200, no extra headers and an empty body.
 * Content-Length, Date and Connection are written by the server and may not
 * be set by handlers.  A header name or value containing CR, LF or NUL, or an
 * invalid name, is a programming error: it is logged and the request is
 * answered 500 instead.
 */
void srv_response_set_status(struct srv_response *res, int status);

/* Adds a header line; both strings are copied.  Repeating a name adds
 * another line (as Set-Cookie needs). */
void srv_response_add_header(struct srv_response *res, const char *name,
                             const char *value);

/* Shorthand for srv_response_add_header(res, "Content-Type", type). */
void srv_response_set_content_type(struct srv_response *res, const char *type);

/* Body setters replace any body set before. */
/* Copies LEN bytes. */
void srv_response_body(struct srv_response *res, const void *data, size_t len);
/* Copies the NUL-terminated string TEXT. */
void srv_response_text(struct srv_response *res, const char *text);
/* Borrows DATA, which must outlive the request (a literal, a global). */
void srv_response_body_static(struct srv_response *res, const void *data, size_t len);
/* Formats the body with printf rules. */
void srv_response_printf(struct srv_response *res, const char *fmt, ...) SRV_PRINTF(2, 3);

/* Reading and changing the response built so far: what `after` blocks are
 * for, usable anywhere. */

/* The status set so far (200 unless a status was set). */
int srv_response_status(const struct srv_response *res);

/* The value of the first response header NAME (case-insensitive) set so far,
 * NUL-terminated, valid until the request ends; NULL when there is none. */
const char *srv_response_header(struct srv_response *res, const char *name);

/* Replaces every NAME header with one NAME: VALUE line (or adds it).  Same
 * checks as srv_response_add_header(). */
void srv_response_set_header(struct srv_response *res, const char *name,
                             const char *value);

/* Removes every NAME header; returns how many lines were removed. */
unsigned srv_response_remove_header(struct srv_response *res, const char *name);

/* The body set so far and its length in *LEN (LEN may be NULL).  A body sent
 * from a file (static files) is not in memory: NULL, with *LEN its length. */
const void *srv_response_get_body(const struct srv_response *res, size_t *len);

/* Whether a status or a body has been set on RES.  In a `before` block this
 * is exactly what "answers the request" means: a before block that sets a
 * status or a body (any srv_response_set_status, srv_response_body*,
 * srv_response_text, srv_response_printf call) answers, and no later before
 * block and no handler runs; headers alone do not answer and are kept for
 * the response that follows. */
bool srv_response_answered(const struct srv_response *res);

/* ---------------------------------------------------------------------------
 * Process model.
 */

/* This worker's id, 0..srv_worker_count()-1, stable across respawns; 0 in a
 * single-process server and in setup. */
int srv_worker_id(void);

/* The number of workers (1 for a single-process server). */
int srv_worker_count(void);

/* ---------------------------------------------------------------------------
 * Logging to stderr, one line, prefixed with the worker id and pid.
 */
enum srv_log_level { SRV_LOG_ERROR, SRV_LOG_WARN, SRV_LOG_INFO, SRV_LOG_DEBUG };
void srv_log(enum srv_log_level level, const char *fmt, ...) SRV_PRINTF(2, 3);

/* ---------------------------------------------------------------------------
 * For srvc-generated code.  Handlers need none of what follows.
 */

#define SRV_MAX_PARAMS 16

/* What a generated matcher fills in while walking the path. */
struct srv_match {
    unsigned allow; /* methods accepted at the best path match (for 405) */
    unsigned nparams;
    struct {
        const char *ptr;
        size_t len;
    } params[SRV_MAX_PARAMS];
};

/* Returns the index of the route that takes (METHOD, PATH), or -1.  On -1,
 * m->allow is the method set of the most specific route whose pattern
 * matches PATH (0: no pattern matches, 404).  HEAD matches GET routes. */
typedef int (*srv_match_fn)(unsigned method, const char *path, size_t len,
                            struct srv_match *m);

/* A `static "/prefix/" "dir";` mount: GET and HEAD under PREFIX are files
 * under DIR.  The compiler makes each mount a route PREFIX* whose handler
 * calls srv_static_serve() with the mount's index. */
struct srv_static_mount {
    const char *prefix; /* URL prefix, group prefixes included; ends in '/' */
    const char *dir;    /* as written; relative to the working directory at start-up */
    const char *where;  /* "app.srv:7:5", named by start-up errors */
};

/* Serves the file named by the route's trailing `*` under mount MOUNT
 * (an index into app->mounts). */
void srv_static_serve(struct srv_request *req, struct srv_response *res, unsigned mount);

/* The index of the route that took REQ in app->routes, or -1 (a 404, a 405,
 * a request refused before routing). */
int srv_request_route(const struct srv_request *req);

/* Whether decoded PATH starts with the group prefix PREFIX ("/api",
 * "/users/:id"; a `:name` segment matches any non-empty segment) at a
 * segment boundary: the rest of PATH ("" or "/..."), else NULL. */
const char *srv_path_prefix(const char *path, const char *prefix);

/* An `error` block: builds the body and headers of a response the server
 * makes itself (404, 405, 413, ...).  STATUS and its REASON ("Not Found")
 * are fixed; REQ has at least the method and path. */
typedef void (*srv_error_fn)(struct srv_request *req, struct srv_response *res, int status,
                             const char *reason);

/* A `cors { ... }` block.  Strings are preformatted header values. */
struct srv_cors {
    const char *const *origins; /* allowed origins, exact; unused with any_origin */
    unsigned norigins;
    bool any_origin;            /* origin "*" (never with credentials) */
    bool credentials;           /* Access-Control-Allow-Credentials: true */
    unsigned methods;           /* SRV_METHOD_* allowed by a preflight */
    const char *allow_methods;  /* "GET, HEAD, POST" */
    const char *allow_headers;  /* "Content-Type, Authorization", or NULL */
    const char *expose_headers; /* or NULL */
    const char *max_age;        /* seconds, "600", or NULL */
};

/* Adds the CORS headers of POLICY for REQ's Origin to RES (nothing when the
 * origin is not allowed; Vary: Origin whenever the answer depends on it).
 * Generated route chains call it after the handler. */
void srv_cors_apply(struct srv_request *req, struct srv_response *res,
                    const struct srv_cors *policy);

struct srv_route {
    srv_handler_fn handler;
    unsigned methods;                /* SRV_METHOD_* set */
    const char *pattern;             /* as written, for logs */
    unsigned nparams;
    const char *const *param_names;  /* "name" for ":name", "*" for the tail */
    const struct srv_cors *cors;     /* the route's CORS policy, or NULL */
};

/* `log ...;`: the access log. */
enum srv_access_log {
    SRV_ACCESS_LOG_OFF,      /* the default */
    SRV_ACCESS_LOG_COMBINED, /* the Combined Log Format */
    SRV_ACCESS_LOG_JSON,     /* one JSON object per line */
};

/* Limits and timeouts; 0 means the default (given in brackets). */
struct srv_limits {
    size_t request_line;          /* [8 KiB] longer: 414 */
    size_t header_bytes;          /* [32 KiB] whole header block: 431 */
    unsigned header_count;        /* [100] fields: 431 */
    size_t body;                  /* [1 MiB] larger: 413 */
    unsigned header_timeout_ms;   /* [15 s] from the first byte of a request */
    unsigned body_timeout_ms;     /* [30 s] from the end of the head */
    unsigned idle_timeout_ms;     /* [60 s] keep-alive between requests */
    unsigned shutdown_timeout_ms; /* [10 s] graceful drain before exit */
};

#define SRV_WORKERS_AUTO (-1)

struct srv_app {
    const char *source;           /* the .srv file name, for messages */
    const char *host;             /* "127.0.0.1" */
    int port;                     /* 0..65535; 0 picks a free port */
    int workers;                  /* <= 1: one process; SRV_WORKERS_AUTO */
    void (*setup)(void);          /* once, in the master, before fork; may be NULL */
    void (*worker_setup)(void);   /* in each worker before it accepts; may be NULL */
    srv_match_fn match;
    const struct srv_route *routes;
    unsigned nroutes;
    struct srv_limits limits;
    const struct srv_static_mount *mounts; /* may be NULL */
    unsigned nmounts;
    srv_error_fn error;           /* the `error` blocks; NULL: built-in pages */
    const char *const *secret_env; /* `secret env "A" env "B";`: variable names, newest first */
    unsigned nsecret_env;
    enum srv_access_log log_format;
    const char *log_path;         /* NULL: standard error */
    bool has_cors;                /* some route has a CORS policy: answer preflights */
};

/* Parses --host, --port, --workers (and --help), then serves APP until a
 * graceful shutdown.  Returns the process exit status. */
int srv_main(int argc, char **argv, const struct srv_app *app);

#ifdef __cplusplus
}
#endif

#endif /* SRV_H */
