/*
 * dispatch.c - from a parsed request to a filled-in response.  The generated
 * matcher (a decision tree compiled by srvc) picks the route and the handler
 * runs; that usual path is srv__dispatch(), inline in internal.h.  This file
 * has the rest: a miss becomes 404 or 405 + Allow, and a response the
 * handler got wrong is replaced with a logged 500.  HEAD body suppression
 * happens later, when conn.c serialises the response.
 */
#include "internal.h"

void srv__dispatch_miss(struct srv_request *req, struct srv_response *res, int idx)
{
    req->route = NULL;
    if (idx < 0 && req->match.allow != 0)
        srv__response_error(res, 405, req->match.allow);
    else
        srv__response_error(res, 404, 0);
}

void srv__dispatch_failed(struct srv_request *req, struct srv_response *res)
{
    srv_log(SRV_LOG_ERROR, "handler for %s %s: %s; answering 500", req->head.method_name,
            req->route->pattern, res->failure ? res->failure : "API misuse");
    srv__response_error(res, 500, 0);
}
