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

/* The client's address as text, e.g. "127.0.0.1" or "2001:db8::1": the
 * socket's peer; with `proxy_protocol;` the source address its PROXY header
 * named; with `trust_proxy ...;` and a trusted peer, the address the
 * proxies forwarded (Forwarded or X-Forwarded-For: the rightmost hop that
 * is not itself trusted).  README, "Behind a load balancer". */
const char *srv_request_peer(struct srv_request *req);

/* The scheme the client used, "http" or "https": "https" only when a
 * trusted proxy (trust_proxy) says so in Forwarded's proto= or in
 * X-Forwarded-Proto; srv itself speaks plain HTTP. */
const char *srv_request_scheme(struct srv_request *req);

/* ---------------------------------------------------------------------------
 * Request bodies: forms, uploads and JSON.  Each is decoded on first use
 * and kept for the rest of the request; a request that uses none of them
 * pays nothing.
 */

/* application/x-www-form-urlencoded bodies.  The body is a form only when
 * the request's Content-Type is exactly that media type: case-insensitive,
 * parameters allowed ("; charset=UTF-8"), nothing but visible ASCII in the
 * header.  Otherwise there are no fields and every lookup returns NULL.
 * Names and values are decoded like query parameters ("%XX" is a byte, '+'
 * a space, a malformed escape is kept as it is); empty "&&" pieces are
 * skipped and a piece without '=' is a field whose value is "".  Bytes are
 * not checked to be UTF-8. */
struct srv_form_field {
    const char *name;  /* decoded, NUL-terminated; may itself contain NULs */
    const char *value; /* decoded, NUL-terminated; may itself contain NULs */
    size_t name_len, value_len;
};

/* The decoded value of the first field named NAME, or NULL. */
const char *srv_request_form(struct srv_request *req, const char *name);

/* The first field named NAME (for a value with NULs, use value_len), or NULL. */
const struct srv_form_field *srv_request_form_field(struct srv_request *req, const char *name);

/* Every field in body order, repeated names included; their number in
 * *COUNT.  An empty array (and *COUNT 0) when the body is not a form. */
const struct srv_form_field *srv_request_form_fields(struct srv_request *req, size_t *count);

/* multipart/form-data bodies (RFC 7578; boundaries as in RFC 2046).  One
 * part per form field or file.  Strings are NUL-terminated copies; DATA is
 * a view into the request body (binary, not NUL-terminated, no copy). */
struct srv_part {
    const char *name;         /* the Content-Disposition name, unquoted */
    const char *filename;     /* its filename, unquoted; NULL when absent */
    const char *content_type; /* as sent; "text/plain" when absent */
    const char *data;         /* the part's bytes, LEN of them */
    size_t len;
};

/* Parses the body as multipart/form-data and points *PARTS at every part,
 * in body order.  Returns the number of parts (>= 0), or:
 *   -EMEDIUMTYPE  there is no Content-Type, or it is not multipart/form-data:
 *                 answered 415 when RES is not NULL;
 *   -EBADMSG      its boundary parameter is missing or invalid, or the body
 *                 breaks the multipart syntax (a missing final boundary, a
 *                 part without Content-Disposition: form-data and a name, a
 *                 bare LF, ...): answered 400;
 *   -E2BIG        more parts than limits { multipart_parts } or a part
 *                 header block over limits { multipart_header }: answered 413.
 * The answers are the server's error responses (an `error` block shapes
 * them), so a handler only returns:
 *     const struct srv_part *parts;
 *     int n = srv_request_parts(req, res, &parts);
 *     if (n < 0)
 *         return;
 * With RES NULL nothing is answered.  The result is kept: later calls cost
 * nothing and return the same. */
int srv_request_parts(struct srv_request *req, struct srv_response *res,
                      const struct srv_part **parts);

/* The first part named NAME, or NULL (also when the body is not valid
 * multipart/form-data: check srv_request_parts() first to answer that). */
const struct srv_part *srv_request_part(struct srv_request *req, const char *name);

/* JSON bodies, parsed by jansson (RFC 8259, strict: UTF-8 only, no
 * duplicate object keys, "\u0000" allowed in strings).  Any JSON value may
 * be the top level.  The document belongs to the request: it is released
 * (json_decref) when the request ends, so a handler never frees it, and
 * json_incref() keeps it longer.  Include <jansson.h> to use it. */
struct json_t;

/* The parsed body, or NULL when the request was answered instead (RES not
 * NULL) with a JSON error body:
 *   415 {"error":"Content-Type must be application/json"} - the type is
 *       neither application/json nor application/NAME+json (parameters are
 *       allowed).  Requiring it means a cross-site page cannot send the
 *       request without a CORS preflight, which a form or text/plain can;
 *   400 {"error":"invalid JSON at byte N: MESSAGE","offset":N} - N counts
 *       the bytes jansson had read when it found the error: the offending
 *       token ends at byte N (counting from 1), or byte N (from 0) is one
 *       that is not UTF-8.
 * Answered or not, later calls return the same.  With RES NULL nothing is
 * answered. */
struct json_t *srv_request_json(struct srv_request *req, struct srv_response *res);

/* ---------------------------------------------------------------------------
 * Cookies (RFC 6265).
 */

/* The value of cookie NAME from the request's Cookie header lines (all of
 * them, in order; the first pair named NAME wins), with surrounding
 * whitespace and one pair of double quotes removed; NULL when absent.
 * Names compare exactly (case-sensitive). */
const char *srv_request_cookie(struct srv_request *req, const char *name);

/* Cookie NAME written by srv_response_set_signed_cookie() with one of the
 * app's secrets (struct srv_app.secret_env): the value without its
 * signature, or NULL when it is absent, tampered with, truncated, signed
 * for another cookie name or with a secret the app no longer has.  Every
 * configured secret is tried (rotation); the comparison is constant-time. */
const char *srv_request_signed_cookie(struct srv_request *req, const char *name);

/* ---------------------------------------------------------------------------
 * Per-request memory.  Freed all at once after the response is sent.
 * Allocation failure aborts the worker (the master replaces it).
 */
void *srv_alloc(struct srv_request *req, size_t size);
char *srv_strdup(struct srv_request *req, const char *s);
char *srv_sprintf(struct srv_request *req, const char *fmt, ...) SRV_PRINTF(2, 3);

/* Calls FN(ARG) when the request ends, once its response has been sent (or
 * the connection is gone): for memory or handles the request holds that
 * srv_alloc() did not give.  The cleanup registered last runs first.  FN
 * must not use the request. */
void srv_request_cleanup(struct srv_request *req, void (*fn)(void *arg), void *arg);

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

/* Redirects to LOCATION with STATUS 301, 302, 303, 307 or 308 (any other
 * status is a misuse): sets the status, a Location header (replacing one set
 * before) and a short text body ("303 See Other\n").  LOCATION is sent as
 * given, except that a space and bytes >= 0x80 are percent-encoded; an
 * empty LOCATION or one with a control character (CR, LF, NUL, ...) is a
 * misuse.  Where LOCATION comes from the client (a "next" parameter),
 * check it is a path of this site ("/..." but not "//..."): any URL is
 * accepted here. */
void srv_response_redirect(struct srv_response *res, int status, const char *location);

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
 * Set-Cookie.  Every field of struct srv_cookie has a safe zero value, so
 * NULL or {0} makes a session cookie (gone when the browser closes) with
 *     Path=/; Secure; HttpOnly; SameSite=Lax
 * Secure is the default because a deployed srv server sits behind a TLS
 * proxy; browsers treat http://localhost as secure, so development over
 * plain HTTP on localhost works too (set .insecure for another plain-HTTP
 * host).  A cookie that could not be stored as asked is a misuse, logged
 * and answered 500 like a bad header: an invalid name (not a token) or
 * value (not cookie-octets: no space, '"', ',', ';', '\\', control or
 * non-ASCII byte; encode such values, e.g. base64url), a bad path or
 * domain, SameSite=None without Secure, a "__Secure-" name without Secure
 * or a "__Host-" name without Secure, with a Domain or a Path other than "/".
 */
enum srv_same_site {
    SRV_SAME_SITE_LAX = 0, /* sent on top-level navigations from other sites */
    SRV_SAME_SITE_STRICT,  /* never sent on requests from other sites */
    SRV_SAME_SITE_NONE,    /* always sent; needs Secure */
};

struct srv_cookie {
    const char *path;    /* NULL: "/" */
    const char *domain;  /* NULL: no Domain (this host only, the safe choice) */
    int64_t max_age;     /* > 0: Max-Age in seconds; 0: a session cookie */
    int64_t expires;     /* > 0: Expires at this Unix time; 0: none */
    enum srv_same_site same_site;
    bool insecure;       /* leave out Secure: plain-HTTP hosts other than localhost */
    bool script_visible; /* leave out HttpOnly: document.cookie may read it */
};

/* Adds a Set-Cookie line NAME=VALUE with the attributes of OPTS (NULL: the
 * defaults above). */
void srv_response_set_cookie(struct srv_response *res, const char *name, const char *value,
                             const struct srv_cookie *opts);

/* Tells the browser to delete cookie NAME: an empty value, Max-Age=0 and an
 * Expires in 1970.  OPTS must name the same Path and Domain as when it was
 * set (NULL: the defaults); its max_age and expires are ignored. */
void srv_response_clear_cookie(struct srv_response *res, const char *name,
                               const struct srv_cookie *opts);

/* Like srv_response_set_cookie(), with VALUE signed by the app's first
 * secret: the cookie is VALUE "." SIG, where SIG is the unpadded base64url
 * HMAC-SHA256 (43 characters) of NAME "=" VALUE, so a signature is only
 * valid for the cookie it was made for.  The value is readable by the
 * client, not secret: signing stops changes, not reading.  Without a
 * secret (struct srv_app.secret_env) it is a misuse. */
void srv_response_set_signed_cookie(struct srv_response *res, const char *name,
                                    const char *value, const struct srv_cookie *opts);

/* ---------------------------------------------------------------------------
 * A JSON writer: builds the response body in request memory as the calls
 * are made, with no tree in between.  Commas and colons are written for
 * you; nesting is tracked, so a misuse (a value where an object expects a
 * key, a key in an array, an end that does not match, a second top-level
 * value, srv_json_end() with something still open, more than 64 levels)
 * marks the response failed: logged and answered 500, never invalid JSON.
 *
 *     struct srv_json *j = srv_json_begin(res);
 *     srv_json_object(j);
 *     srv_json_key(j, "id");
 *     srv_json_int(j, 7);
 *     srv_json_key(j, "tags");
 *     srv_json_array(j);
 *     srv_json_string(j, "a");
 *     srv_json_array_end(j);
 *     srv_json_object_end(j);
 *     srv_json_end(j);          // {"id":7,"tags":["a"]}
 *
 * Strings: '"' and '\\' are escaped, control characters as \b \f \n \r \t
 * or \u00XX; valid UTF-8 is copied as it is; each byte that does not start
 * a well-formed UTF-8 sequence (a stray continuation byte, an overlong form,
 * a surrogate, a code point past U+10FFFF, a cut sequence) becomes U+FFFD,
 * and the next byte starts afresh.  Doubles are written in the shortest form
 * that reads back as the same double; NaN and infinities have no JSON form
 * and are a misuse (write srv_json_null() yourself if that is what they
 * mean).
 */
struct srv_json;

/* Starts a body for RES.  The writer lives in request memory. */
struct srv_json *srv_json_begin(struct srv_response *res);
void srv_json_object(struct srv_json *j);
void srv_json_object_end(struct srv_json *j);
void srv_json_array(struct srv_json *j);
void srv_json_array_end(struct srv_json *j);
/* A member name; the next call writes its value. */
void srv_json_key(struct srv_json *j, const char *key);
void srv_json_key_n(struct srv_json *j, const char *key, size_t len);
/* A string; NULL writes null. */
void srv_json_string(struct srv_json *j, const char *s);
void srv_json_string_n(struct srv_json *j, const char *s, size_t len);
void srv_json_int(struct srv_json *j, int64_t v);
void srv_json_uint(struct srv_json *j, uint64_t v);
void srv_json_double(struct srv_json *j, double v);
void srv_json_bool(struct srv_json *j, bool v);
void srv_json_null(struct srv_json *j);
/* Sets the body and Content-Type: application/json (replacing both); for
 * a message, ends it. */
void srv_json_end(struct srv_json *j);

/* The same writer for a message that is not a response body - a WebSocket
 * message, an event, a publish - from any callback:
 *
 *     struct srv_json *j = srv_json_message();
 *     srv_json_object(j); ... srv_json_object_end(j);
 *     srv_json_end(j);
 *     size_t len;
 *     const char *text = srv_json_text(j, &len);
 *     if (text != NULL)
 *         srv_ws_send_text(ws, text);
 *     srv_json_free(j);
 *
 * Its memory is its own (the heap): free it with srv_json_free().  A misuse
 * is logged, and srv_json_text() then gives NULL, as it does before
 * srv_json_end(); otherwise the text, NUL-terminated, LEN bytes, valid
 * until srv_json_free(). */
struct srv_json *srv_json_message(void);
const char *srv_json_text(const struct srv_json *j, size_t *len);
void srv_json_free(struct srv_json *j);

/* ---------------------------------------------------------------------------
 * Process model.
 */

/* This worker's id, 0..srv_worker_count()-1, stable across respawns; 0 in a
 * single-process server and in setup. */
int srv_worker_id(void);

/* The number of workers (1 for a single-process server). */
int srv_worker_count(void);

/* ---------------------------------------------------------------------------
 * Deferred responses: answering later, from a callback.
 *
 * A handler that cannot answer yet (it waits on a database, another
 * service, a message) calls srv_response_defer() and returns.  REQ and RES,
 * and everything allocated for the request, stay valid; the connection
 * reads no further request meanwhile.  Later, from any callback on the same
 * worker (a timer, an fd watch, a subscription), the owner builds the
 * response on RES as a handler would and calls srv_response_finish().
 *
 * If the request ends first - the client went away, the response deadline
 * (`timeouts { response ...; }`) passed (the server then answers 503), or a
 * drain ran out of time - CANCEL(ARG) is called instead, once, and from then
 * on REQ and RES must not be touched.  Exactly one of finish or cancel
 * happens.
 */
typedef void (*srv_cancel_fn)(void *arg);
void srv_response_defer(struct srv_response *res, srv_cancel_fn cancel, void *arg);
/* Sends what RES holds now and ends the request (its memory is released once
 * the response is written). */
void srv_response_finish(struct srv_response *res);
/* The request RES answers (for callbacks that kept only RES). */
struct srv_request *srv_response_request(struct srv_response *res);

/* ---------------------------------------------------------------------------
 * Server-Sent Events (`SSE "/events" every 1s { open {...} tick {...}
 * close {...} }`): a response that stays open and carries events.
 *
 * A stream lives from its `open` block to its `close` block, which runs
 * exactly once, whatever ends the stream (enum srv_sse_reason).  The request
 * is readable in `open` only.  Events may be sent from anywhere on the
 * worker - open, tick, a timer, a deferred callback, a subscription - until
 * `close` has run; after it the stream is gone.  Sending never blocks: what
 * the client has not taken yet waits in a queue of at most
 * `limits { sse_queue }` bytes (64 KiB), past which the stream is closed
 * (SRV_SSE_TOO_SLOW).
 */
struct srv_sse;

enum srv_sse_reason {
    SRV_SSE_CLIENT_GONE, /* the client closed the connection */
    SRV_SSE_DRAINING,    /* the server is shutting down */
    SRV_SSE_TOO_SLOW,    /* more than sse_queue bytes waited for the client */
    SRV_SSE_CLOSED,      /* srv_sse_close() */
};

/* Sends one event.  EVENT and ID may be NULL; neither may hold CR, LF or
 * NUL (-EINVAL).  DATA may hold several lines (CR, LF or CRLF each end
 * one), each sent as its own "data:" line, so nothing in it can start
 * another field.  Returns 0, or -EPIPE when the stream is closing or was
 * closed by this send (too slow). */
int srv_sse_send(struct srv_sse *sse, const char *event, const char *id, const char *data);
/* The same with DATA of LEN bytes (NULs are sent as they are). */
int srv_sse_send_n(struct srv_sse *sse, const char *event, const char *id, const void *data,
                   size_t len);
/* A comment line (": text"), which clients ignore: a keep-alive. */
int srv_sse_comment(struct srv_sse *sse, const char *text);
/* Asks the client to wait MS before reconnecting ("retry:"). */
int srv_sse_retry(struct srv_sse *sse, unsigned ms);
/* Sends every message published on CHANNEL as an event named EVENT (NULL:
 * the default, "message"), until the stream closes.  Returns 0 or -errno. */
int srv_sse_subscribe(struct srv_sse *sse, const char *channel, const char *event);
/* Ends the stream once what is queued has been sent; `close` runs with
 * SRV_SSE_CLOSED.  The stream must not be used after this call. */
void srv_sse_close(struct srv_sse *sse);
/* A pointer of the program's own, kept with the stream (free it in `close`). */
void srv_sse_set_data(struct srv_sse *sse, void *data);
void *srv_sse_data(const struct srv_sse *sse);

/* ---------------------------------------------------------------------------
 * WebSocket (RFC 6455) routes: `WS "/chat/:room" protocols "chat.v2" {
 * open {...} message {...} close {...} }`.
 *
 * A connection lives from its `open` block to its `close` block, which runs
 * exactly once with the close code and reason (1006 when the connection
 * ended without a close frame: reason "" when the peer vanished, "no answer
 * to ping" after the dead-peer timeout).  The request is readable in `open` only.  Messages arrive whole
 * in `message` (reassembled from their fragments, decompressed, text checked
 * for UTF-8); MSG is valid until the block returns.  Sending works from any
 * callback of the worker until `close` has run; it never blocks: what the
 * client has not taken waits in a queue of at most `limits { ws_queue }`
 * bytes, past which the server closes the connection with 1008.
 */
struct srv_ws;

/* srv_ws_send_text sends TEXT as a text message, and checks it: not valid
 * UTF-8 is -EINVAL, nothing sent.  srv_ws_send sends MSG[0..LEN) as a binary
 * message, or with BINARY false as a text message it does not check (the
 * caller vouches for its UTF-8).  Both return 0, or -EPIPE once the
 * connection is closing. */
int srv_ws_send_text(struct srv_ws *ws, const char *text);
int srv_ws_send(struct srv_ws *ws, const void *msg, size_t len, bool binary);
/* A ping with up to 125 bytes of payload (the pong is the peer's business). */
int srv_ws_ping(struct srv_ws *ws, const void *data, size_t len);
/* Starts the close handshake with CODE (1000-4999, not a reserved one) and
 * REASON (may be NULL; cut at 123 bytes on a UTF-8 boundary).  `close` runs
 * when the handshake ends. */
void srv_ws_close(struct srv_ws *ws, int code, const char *reason);
/* Sends every message published on CHANNEL to this client, as a text
 * message (BINARY false) or a binary one, until the connection closes. */
int srv_ws_subscribe(struct srv_ws *ws, const char *channel, bool binary);
/* The subprotocol chosen in the handshake, or NULL. */
const char *srv_ws_protocol(const struct srv_ws *ws);
/* A pointer of the program's own, kept with the connection. */
void srv_ws_set_data(struct srv_ws *ws, void *data);
void *srv_ws_data(const struct srv_ws *ws);

/* ---------------------------------------------------------------------------
 * The worker's event loop: timers and file descriptors.  Everything runs on
 * the one thread of the worker, between requests; callbacks must not block.
 * Usable from worker_setup, handlers and any callback; not from `setup`
 * (the master has no loop): there these return NULL (errno EINVAL) or
 * -EINVAL.  Timers and watches still running when the worker exits are
 * freed by it; what their ARG points to is the caller's.
 */
struct srv_timer;
typedef void (*srv_timer_fn)(struct srv_timer *timer, void *arg);

/* Calls FN(timer, ARG) once AFTER_MS milliseconds have passed (on the
 * monotonic clock, counted from this call), then every REPEAT_MS if that is
 * not 0.  Repeats keep to the schedule the first call set (no drift); ticks
 * missed while the worker was busy are skipped, not made up in a burst.
 * Timers due at the same millisecond run in the order they were started.
 * The timer lives until srv_timer_stop(); a one-shot timer stops itself
 * after its call (do not stop it after that).  Never NULL in a worker
 * (out of memory aborts the worker). */
struct srv_timer *srv_timer_start(uint64_t after_ms, uint64_t repeat_ms, srv_timer_fn fn,
                                  void *arg);
/* Stops and frees TIMER; safe inside its own callback (then it is freed
 * when the callback returns).  NULL is ignored. */
void srv_timer_stop(struct srv_timer *timer);

struct srv_watch;
#define SRV_READABLE 1u
#define SRV_WRITABLE 2u
typedef void (*srv_watch_fn)(struct srv_watch *watch, int fd, unsigned events, void *arg);

/* Calls FN whenever FD (owned by the caller, non-blocking) is ready for any
 * of EVENTS (SRV_READABLE | SRV_WRITABLE; level-triggered, as async client
 * libraries expect: FN is called again while the condition holds).  FN gets
 * the events that are ready among those watched; an error or a hang-up on
 * FD makes every watched event ready, so the next read or write says what
 * it is.  One
 * watch per descriptor.  Returns NULL with errno set when FD cannot be
 * watched (EBADF, EPERM for a regular file, EEXIST when it is watched
 * already, EINVAL outside a worker or for bad EVENTS). */
struct srv_watch *srv_watch_fd(int fd, unsigned events, srv_watch_fn fn, void *arg);
/* Changes the events watched (0 pauses the watch).  Returns 0 or -errno. */
int srv_watch_set(struct srv_watch *watch, unsigned events);
/* Stops watching and frees WATCH; the descriptor stays open (the caller
 * closes it, after this call).  Safe inside its own callback and any other:
 * a watch stopped while its event is already pending is not called. */
void srv_watch_stop(struct srv_watch *watch);

/* Puts a hiredis asynchronous context (from redisAsyncConnect(), its err
 * 0) on this worker's loop, as hiredis's own adapters do for libevent or
 * libuv: commands sent with redisAsyncCommand() then run without blocking
 * and their callbacks run on the loop.  The context stays the caller's:
 * redisAsyncFree() or a lost connection releases what this attached.
 * Returns 0, -EINVAL (outside a worker, NULL, or AC->err set) or -EEXIST
 * (AC already has an event library).  Include <hiredis/async.h> and link
 * hiredis (`pkg-config --libs hiredis`) to use it. */
struct redisAsyncContext;
int srv_redis_attach(struct redisAsyncContext *ac);

/* ---------------------------------------------------------------------------
 * Publish/subscribe.  A message published on a channel reaches every
 * subscriber of that channel on this worker at once (inside the call), and
 * the subscribers on the other workers (and, with `pubsub redis ...;`, on
 * other servers) as soon as their loops run.  Messages from one publisher
 * (one worker) arrive in the order they were published; there is no order
 * between publishers.  Delivery is at most once: a worker that falls too
 * far behind, or a Redis that is unreachable, loses messages, which is
 * counted and logged (README, "Publish/subscribe").  Subscriptions still
 * open when the worker exits are freed by it, after its connections have
 * closed (so a connection's cleanup may still unsubscribe).
 */
struct srv_subscription;
/* CHANNEL is NUL-terminated; MSG (LEN bytes) is valid during the call only. */
typedef void (*srv_message_fn)(struct srv_subscription *sub, const char *channel,
                               const void *msg, size_t len, void *arg);

/* Publishes LEN bytes of MSG (copied) on CHANNEL (1..255 bytes, no NUL).
 * Returns the number of subscribers reached on this worker, or -errno
 * (-EINVAL for a bad channel or outside a worker, -EMSGSIZE past 64 KiB).
 * Inside a subscriber's callback the message is queued and delivered to
 * this worker's subscribers once the current delivery is over (so every
 * subscriber sees this worker's messages in publish order); the return
 * value is then the number it is queued for, and -ELOOP after 4096 such
 * publishes in one delivery. */
int srv_publish(const char *channel, const void *msg, size_t len);

/* Calls FN for every message published on CHANNEL after this call, until
 * srv_unsubscribe().  NULL with errno EINVAL for a bad channel or outside a
 * worker. */
struct srv_subscription *srv_subscribe(const char *channel, srv_message_fn fn, void *arg);
/* Ends SUB and frees it; safe inside its own callback or another one (it
 * gets no further call).  NULL is ignored. */
void srv_unsubscribe(struct srv_subscription *sub);

/* ---------------------------------------------------------------------------
 * Metrics (`metrics "/metrics";`): counters kept in shared memory by every
 * worker and summed when read.  README, "Metrics".
 */

/* Answers REQ with every worker's counters in the Prometheus text format
 * (version 0.0.4).  What the route `metrics "/path";` makes runs; a route
 * of your own may call it too (inside a group whose hooks guard it, with
 * `metrics;` turning the counting on).  Without `metrics` it is a misuse
 * (logged, answered 500). */
void srv_metrics_serve(struct srv_request *req, struct srv_response *res);

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
/* 301 to the request's path with a '/' added (the query kept): what the
 * compiler routes a mount's prefix without its slash ("/assets") to. */
void srv_static_redirect_slash(struct srv_request *req, struct srv_response *res);

/* The index of the route that took REQ in app->routes, or -1 (a 404, a 405,
 * a request refused before routing). */
int srv_request_route(const struct srv_request *req);

/* Whether decoded PATH starts with the group prefix PREFIX ("/api",
 * "/users/:id"; a `:name` segment matches any non-empty segment) at a
 * segment boundary: the rest of PATH ("" or "/..."), else NULL. */
const char *srv_path_prefix(const char *path, const char *prefix);

/* An `SSE` route's blocks, for generated code. */
struct srv_sse_route {
    void (*open)(struct srv_sse *sse, struct srv_request *req, const char *last_event_id);
    void (*tick)(struct srv_sse *sse);
    void (*close)(struct srv_sse *sse, int reason);
    unsigned every_ms; /* 0: no ticks */
};
/* The handler of an SSE route: answers 200 text/event-stream (HEAD and any
 * other method: 405) and turns the connection into a stream once the
 * response's head is built (after blocks and CORS apply to it). */
void srv_sse_start(struct srv_request *req, struct srv_response *res,
                   const struct srv_sse_route *route);

/* A `WS` route's blocks and subprotocols, for generated code. */
struct srv_ws_route {
    void (*open)(struct srv_ws *ws, struct srv_request *req, const char *protocol);
    void (*message)(struct srv_ws *ws, const char *msg, size_t len, bool binary);
    void (*close)(struct srv_ws *ws, int code, const char *reason);
    const char *const *protocols; /* in the server's order of preference */
    unsigned nprotocols;
    bool deflate;                 /* `deflate`: accept permessage-deflate */
};
/* The handler of a WS route: answers the upgrade (101), or 426 for a
 * request that is not one, 400 for a broken one, 405 for another method. */
void srv_ws_start(struct srv_request *req, struct srv_response *res,
                  const struct srv_ws_route *route);

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
    srv_handler_fn handler;          /* the route's before blocks, then its handler */
    unsigned methods;                /* SRV_METHOD_* set */
    const char *pattern;             /* as written, for logs */
    unsigned nparams;
    const char *const *param_names;  /* "name" for ":name", "*" for the tail */
    const struct srv_cors *cors;     /* the route's CORS policy, or NULL */
    srv_handler_fn end;              /* CORS headers and after blocks, run once the
                                        response is built (a deferred one: at
                                        srv_response_finish); or NULL */
    unsigned response_timeout_ms;    /* deadline of a deferred response; 0: the server's */
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
    unsigned multipart_parts;     /* [128] parts in a multipart body: 413 */
    size_t multipart_header;      /* [8 KiB] header block of one part: 413 */
    unsigned response_timeout_ms; /* [30 s] a deferred response not finished by then: 503 */
    size_t sse_queue;             /* [64 KiB] bytes an event stream may have unsent */
    unsigned reload_timeout_ms;   /* [60 s] a new generation (SIGHUP) not serving by then fails */
    size_t ws_message;            /* [1 MiB] a WebSocket message (decompressed): 1009 past it */
    size_t ws_frame;              /* [ws_message] payload of one WebSocket frame: 1009 */
    size_t ws_queue;              /* [1 MiB] bytes a WebSocket may have unsent: 1008 past it */
    unsigned ws_ping_ms;          /* [30 s] a ping after this long without a frame; none
                                     answered within as long again: the peer is dead */
};

#define SRV_WORKERS_AUTO (-1)

/* One entry of `trust_proxy`: an address ("10.0.0.7", prefix 32 or 128)
 * or a range ("10.0.0.0/8", "fd00::/8").  An IPv4 entry also matches the
 * IPv4-mapped IPv6 form of its addresses (::ffff:10.0.0.7). */
struct srv_cidr {
    uint8_t family;   /* 4 or 6 */
    uint8_t prefix;   /* leading bits that must match: 0..32 or 0..128 */
    uint8_t addr[16]; /* network byte order; an IPv4 address in the first 4 */
};

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
    /* `secret env "A" env "B";`: names of environment variables holding
     * the secrets that sign cookies (never the secrets themselves), newest
     * first.  The first signs and is required; the others only verify, for
     * rotation, and may be unset.  Each one set must be at least 32 bytes.
     * Read once by srv_main() before anything starts: a missing or short
     * secret stops the program with one line, exit 1. */
    const char *const *secret_env;
    unsigned nsecret_env;
    enum srv_access_log log_format;
    const char *log_path;         /* NULL: standard error */
    bool has_cors;                /* some route has a CORS policy: answer preflights */
    const char *pubsub_redis_host; /* `pubsub redis "HOST" PORT;`, or NULL */
    int pubsub_redis_port;
    /* `trust_proxy "127.0.0.1" "10.0.0.0/8" ...;`: the peers whose
     * Forwarded, X-Forwarded-For and X-Forwarded-Proto headers are
     * believed (srv_request_peer, srv_request_scheme, the access log);
     * from any other peer they are ignored.  NULL/0: none. */
    const struct srv_cidr *trust_proxy;
    unsigned ntrust_proxy;
    /* `proxy_protocol;`: every connection starts with a PROXY protocol
     * header (v1 or v2), which names the client; a connection without a
     * valid one is closed. */
    bool proxy_protocol;
    /* `metrics "/metrics";` (or `metrics;`): count requests in shared
     * memory for srv_metrics_serve(); the route itself is in ROUTES. */
    bool metrics;
    /* `user "NAME" "GROUP";`: the account the server runs as.  Started as
     * root, srv_main() opens the listeners, the `static` directories and
     * the access log, then switches to USER (its supplementary groups, and
     * GROUP or else USER's own group as the group) and sets no_new_privs,
     * before `setup` and before any worker forks: no setup, hook or handler
     * ever runs as root.  Both are looked up at start-up; an unknown one stops
     * the program with one line, exit 1.  NULL USER: no switch (a server
     * started as root then says once that it runs as root); GROUP may be
     * NULL. */
    const char *user;
    const char *group;
};

/* Parses --host, --port, --workers (and --help), then serves APP until a
 * graceful shutdown.  Returns the process exit status. */
int srv_main(int argc, char **argv, const struct srv_app *app);

#ifdef __cplusplus
}
#endif

#endif /* SRV_H */
