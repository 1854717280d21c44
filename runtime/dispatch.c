/*
 * dispatch.c - from a parsed request to a filled-in response.  The generated
 * matcher (a decision tree compiled by srvc) picks the route and the handler
 * runs; that usual path is srv__dispatch(), inline in internal.h.  This file
 * has the rest: a miss becomes 404 or 405 + Allow, a response the handler
 * got wrong is replaced with a logged 500, and every error response the
 * server makes for a request it could read passes through the app's `error`
 * blocks (srv__respond_error).  HEAD body suppression happens later, when
 * conn.c serialises the response.
 */
#include "internal.h"

#include <string.h>

void srv__respond_error(struct srv_request *req, struct srv_response *res, int status,
                        unsigned allow)
{
    srv__response_error(res, status, allow);
    const struct srv_app *app = req->app;
    /* A redirect (a directory's missing slash) is no error page. */
    if (app == NULL || app->error == NULL || status < 400)
        return;
    /* The block starts from an empty response with the status set. */
    status = res->status;
    res->headers_len = 0;
    res->body = "";
    res->body_len = 0;
    res->answered = false;
    app->error(req, res, status, srv__status_reason(status));
    if (SRV__UNLIKELY(res->failed)) {
        srv_log(SRV_LOG_ERROR, "error block for %d (%s %s): %s; using the built-in page",
                status, req->head.method_name ? req->head.method_name : "-",
                req->head.path ? req->head.path : "-",
                res->failure ? res->failure : "API misuse");
        srv__response_error(res, status, allow);
        return;
    }
    /* What the block may not change: the status, and a 405's Allow. */
    res->status = status;
    if (res->body_len == 0) {
        /* No page: the built-in one, with the block's headers. */
        if (srv_response_header(res, "Content-Type") == NULL)
            srv_response_set_content_type(res, "text/plain; charset=utf-8");
        res->body = srv__status_page(status, &res->body_len);
    }
    if (status == 405) {
        char buf[80];
        srv__allow_format(buf, allow);
        srv_response_remove_header(res, "Allow");
        srv_response_add_header(res, "Allow", buf + 7);
    }
}

void srv__dispatch_miss(struct srv_request *req, struct srv_response *res, int idx)
{
    req->route = NULL;
    if (idx < 0 && req->match.allow != 0)
        srv__respond_error(req, res, 405, req->match.allow);
    else
        srv__respond_error(req, res, 404, 0);
}

void srv__dispatch_end(struct srv_request *req, struct srv_response *res)
{
    if (req->route != NULL && req->route->end != NULL)
        req->route->end(req, res);
    if (res->failed)
        srv__dispatch_failed(req, res);
}

void srv__dispatch_failed(struct srv_request *req, struct srv_response *res)
{
    srv_log(SRV_LOG_ERROR, "handler for %s %s: %s; answering 500", req->head.method_name,
            req->route->pattern, res->failure ? res->failure : "API misuse");
    srv__respond_error(req, res, 500, 0);
}

int srv_request_route(const struct srv_request *req)
{
    if (req->route == NULL || req->app == NULL)
        return -1;
    return (int)(req->route - req->app->routes);
}

const char *srv_path_prefix(const char *path, const char *prefix)
{
    if (path == NULL)
        return NULL;
    while (*prefix == '/') {
        if (*path != '/')
            return NULL;
        prefix++;
        path++;
        size_t n = strcspn(prefix, "/"), m = strcspn(path, "/");
        if (prefix[0] == ':') {
            if (m == 0)
                return NULL;
        } else if (n != m || memcmp(prefix, path, n) != 0) {
            return NULL;
        }
        prefix += n;
        path += m;
    }
    return *prefix == '\0' && (*path == '\0' || *path == '/') ? path : NULL;
}
