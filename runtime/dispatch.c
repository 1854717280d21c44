/*
 * dispatch.c - from a parsed request to a filled-in response.  The generated
 * matcher (a decision tree compiled by srvc) picks the route; this file turns
 * a miss into 404 or 405 + Allow, runs the handler, and replaces a response
 * the handler got wrong with a logged 500.  HEAD body suppression happens
 * later, when conn.c serialises the response.
 */
#include "internal.h"

void srv__dispatch(const struct srv_app *app, struct srv_request *req,
                   struct srv_response *res)
{
    int idx = app->match(req->head.method, req->head.path, req->head.path_len,
                         &req->match);
    if (idx < 0 || (unsigned)idx >= app->nroutes) {
        req->route = NULL;
        if (idx < 0 && req->match.allow != 0)
            srv__response_error(res, 405, req->match.allow);
        else
            srv__response_error(res, 404, 0);
        return;
    }
    const struct srv_route *route = &app->routes[idx];
    req->route = route;
    /* Only the slots this match can use need clearing: no per-request memset
     * of the whole cache. */
    unsigned np = req->match.nparams < SRV_MAX_PARAMS ? req->match.nparams : SRV_MAX_PARAMS;
    for (unsigned i = 0; i < np; i++)
        req->param_cache[i] = NULL;

    route->handler(req, res);

    if (SRV__UNLIKELY(res->failed)) {
        srv_log(SRV_LOG_ERROR, "handler for %s %s: %s; answering 500",
                req->head.method_name, route->pattern,
                res->failure ? res->failure : "API misuse");
        srv__response_error(res, 500, 0);
    }
}
