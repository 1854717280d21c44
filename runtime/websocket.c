/*
 * websocket.c - WebSocket connections above conn.c: the handler of a WS
 * route (the handshake's answer), the srv_ws_* calls programs make, frames
 * out, and subscriptions.  ws.c and ws_deflate.c hold the protocol; conn.c
 * holds the connection (reading, decoding, the blocks, the queue's socket
 * end, pings, closing).
 *
 * Sending never blocks and never fails for lack of room: a frame the socket
 * does not take at once waits in the connection's queue; when more than
 * `limits { ws_queue }` bytes wait, the client is not keeping up and the
 * connection is closed with 1008 (policy).  The server's own failures
 * (zlib out of memory) close with 1011.  Those are the only two codes the
 * runtime uses on its own initiative, besides 1001 at shutdown, the
 * protocol's 1002/1007/1009 for a client that breaks the rules, and 1006
 * (never sent) reported to `close` when the connection ended without a
 * close frame.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- The handshake ----------------------------------------------------------- */

void srv_ws_start(struct srv_request *req, struct srv_response *res,
                  const struct srv_ws_route *route)
{
    struct srv__ws_upgrade *up = srv__arena_alloc(req->arena, sizeof *up);
    memset(up, 0, sizeof *up);
    up->route = route;
    up->opts.protocols = route->protocols;
    up->opts.nprotocols = route->nprotocols;
    up->opts.deflate = route->deflate;
    int status = srv__ws_handshake(&req->head, &up->opts, &up->hs);
    if (status != 101) {
        srv__respond_error(req, res, status, status == 405 ? SRV_METHOD_GET : 0);
        /* 405 carries Allow from respond_error; 426 names what to upgrade
         * to (RFC 9110 7.8: Upgrade, with "upgrade" in Connection). */
        if (status == 426) {
            srv__response_add_lines(res, up->hs.headers, up->hs.headers_len);
            srv__response_add_lines(res, "Connection: upgrade\r\n", 21);
        }
        return;
    }
    /* A browser sends Origin; a route under a `cors` block accepts the
     * upgrade only from the origins it lists (cross-site WebSocket
     * hijacking: cookies go with the handshake whatever the origin). */
    int idx = srv_request_route(req);
    const struct srv_cors *cors = idx >= 0 ? req->app->routes[idx].cors : NULL;
    const char *origin = srv_request_header(req, "origin");
    if (cors != NULL && origin != NULL && !srv__cors_origin_allowed(cors, origin)) {
        srv__respond_error(req, res, 403, 0);
        return;
    }
    res->status = 101;
    res->answered = true;
    srv__response_add_lines(res, up->hs.headers, up->hs.headers_len);
    res->upgrade = up;
    res->outlives = true;
}

struct srv_ws *srv__ws_new(const struct srv__ws_upgrade *up, const struct srv_limits *lim)
{
    struct srv_ws *ws = srv__xcalloc(1, sizeof *ws);
    ws->route = up->route;
    ws->protocol = up->hs.protocol;
    ws->limit = lim->ws_queue;
    ws->pmd = up->hs.deflate ? srv__ws_deflate_new(&up->hs.pmd, &up->opts) : NULL;
    struct srv__ws_limits wl = {.message = lim->ws_message, .frame = lim->ws_frame};
    srv__ws_decoder_init(&ws->dec, &wl, ws->pmd);
    return ws;
}

void srv__ws_free(struct srv_ws *ws)
{
    srv__ws_forget(ws);
    srv__ws_decoder_free(&ws->dec);
    srv__ws_deflate_free(ws->pmd);
    free(ws->queue);
    free(ws);
}

/* ---- Sending ------------------------------------------------------------------ */

/* A data frame: header, then the payload, compressed when agreed and
 * worth it. */
static int send_message(struct srv_ws *ws, unsigned opcode, const void *msg, size_t len)
{
    if (ws->close_sent || ws->ending)
        return -EPIPE;
    const char *p = msg != NULL ? msg : "";
    bool compressed = false;
    if (ws->pmd != NULL) {
        const char *zp;
        size_t zn;
        int c = srv__ws_deflate_message(ws->pmd, p, len, &zp, &zn);
        if (c < 0) {
            srv__ws_begin_close(ws, SRV__WS_INTERNAL, NULL, 0);
            return -EPIPE;
        }
        if (c == 1) {
            p = zp; /* the shared compressor's: srv__ws_write copies what waits */
            len = zn;
            compressed = true;
        }
    }
    char hdr[SRV__WS_HEADER_MAX];
    size_t hlen = srv__ws_frame_header(hdr, opcode, compressed, len);
    struct iovec iov[2] = {{hdr, hlen}, {(void *)(uintptr_t)p, len}};
    return srv__ws_write(ws, iov, len ? 2 : 1);
}

int srv_ws_send(struct srv_ws *ws, const void *msg, size_t len, bool binary)
{
    if (msg == NULL && len != 0)
        return -EINVAL;
    return send_message(ws, binary ? SRV__WS_BINARY : SRV__WS_TEXT, msg, len);
}

int srv_ws_send_text(struct srv_ws *ws, const char *text)
{
    size_t len = text != NULL ? strlen(text) : 0;
    uint32_t state = 0;
    if (!srv__utf8_check(&state, text != NULL ? text : "", len) || state != 0)
        return -EINVAL;
    return send_message(ws, SRV__WS_TEXT, text, len);
}

int srv__ws_control(struct srv_ws *ws, unsigned opcode, const void *payload, size_t len)
{
    if (len > SRV__WS_CONTROL_MAX)
        return -EINVAL;
    if (ws->close_sent)
        return -EPIPE;
    char hdr[SRV__WS_HEADER_MAX];
    size_t hlen = srv__ws_frame_header(hdr, opcode, false, len);
    struct iovec iov[2] = {{hdr, hlen}, {(void *)(uintptr_t)payload, len}};
    return srv__ws_write(ws, iov, len ? 2 : 1);
}

int srv_ws_ping(struct srv_ws *ws, const void *data, size_t len)
{
    if (data == NULL && len != 0)
        return -EINVAL;
    if (ws->ending)
        return -EPIPE;
    return srv__ws_control(ws, SRV__WS_PING, data, len);
}

void srv__ws_begin_close(struct srv_ws *ws, unsigned code, const char *reason, size_t len)
{
    if (ws->close_sent || ws->ending)
        return;
    char frame[SRV__WS_CLOSE_FRAME_MAX];
    size_t flen = srv__ws_close_frame(frame, code, reason, len);
    struct iovec iov = {frame, flen};
    /* The close frame goes out whatever the queue holds: the limit is for
     * messages. */
    size_t limit = ws->limit;
    ws->limit = SIZE_MAX;
    srv__ws_write(ws, &iov, 1);
    ws->limit = limit;
    ws->close_sent = true;
    ws->code = (uint16_t)code;
    /* The reason as it went out (cut at a character boundary). */
    ws->reason_len = flen > 4 ? (uint8_t)(flen - 4) : 0;
    memcpy(ws->reason, frame + 4, ws->reason_len);
    ws->reason[ws->reason_len] = '\0';
    srv__ws_end(ws);
}

void srv_ws_close(struct srv_ws *ws, int code, const char *reason)
{
    size_t len = reason != NULL ? strlen(reason) : 0;
    uint32_t state = 0;
    if (code < 0 || !srv__ws_close_code_valid((unsigned)code) ||
        !srv__utf8_check(&state, reason != NULL ? reason : "", len) || state != 0) {
        /* Not a code an endpoint may send, or a reason that is not UTF-8:
         * close normally rather than break the protocol. */
        code = SRV__WS_NORMAL;
        reason = NULL;
        len = 0;
    }
    srv__ws_begin_close(ws, (unsigned)code, reason, len);
}

const char *srv_ws_protocol(const struct srv_ws *ws)
{
    return ws->protocol;
}

void srv_ws_set_data(struct srv_ws *ws, void *data)
{
    ws->data = data;
}

void *srv_ws_data(const struct srv_ws *ws)
{
    return ws->data;
}

/* ---- Subscriptions ------------------------------------------------------------ */

struct srv__ws_sub {
    struct srv__ws_sub *next;
    struct srv_ws *ws;
    struct srv_subscription *sub;
    bool binary;
};

static void deliver(struct srv_subscription *sub, const char *channel, const void *msg,
                    size_t len, void *arg)
{
    SRV__UNUSED(sub);
    SRV__UNUSED(channel);
    struct srv__ws_sub *s = arg;
    if (!s->binary) {
        uint32_t state = 0;
        if (!srv__utf8_check(&state, msg, len) || state != 0)
            return; /* a text message must be UTF-8: not this one */
    }
    send_message(s->ws, s->binary ? SRV__WS_BINARY : SRV__WS_TEXT, msg, len);
}

int srv_ws_subscribe(struct srv_ws *ws, const char *channel, bool binary)
{
    if (ws->close_sent || ws->ending)
        return -EPIPE;
    struct srv__ws_sub *s = srv__xmalloc(sizeof *s);
    s->ws = ws;
    s->binary = binary;
    s->sub = srv_subscribe(channel, deliver, s);
    if (s->sub == NULL) {
        int err = errno ? -errno : -EINVAL;
        free(s);
        return err;
    }
    s->next = ws->subs;
    ws->subs = s;
    return 0;
}

void srv__ws_forget(struct srv_ws *ws)
{
    while (ws->subs != NULL) {
        struct srv__ws_sub *s = ws->subs;
        ws->subs = s->next;
        srv_unsubscribe(s->sub);
        free(s);
    }
}
