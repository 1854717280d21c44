/*
 * cors.c - Cross-Origin Resource Sharing for routes under a `cors { ... }`
 * block (Fetch standard, "CORS protocol").  srvc compiles each block into a
 * struct srv_cors and points every route of its scope at it; the work here is
 * per request and only for those routes:
 *
 * - a preflight (OPTIONS with Origin and Access-Control-Request-Method) is
 *   answered 204 by srv__cors_preflight() before any user code runs, with the
 *   policy of the route the real request would reach;
 * - the real request gets Access-Control-Allow-Origin (the origin echoed, or
 *   "*") and friends from srv_cors_apply(), which generated route chains call
 *   after the handler.
 *
 * An origin the policy does not list gets no CORS headers at all, and its
 * request goes on exactly as a same-origin one would (the browser then keeps
 * the response from the page).  Origins are compared byte for byte: browsers
 * serialise them in lower case, and srvc refuses policies that list them
 * otherwise.
 */
#include "internal.h"

#include <string.h>

bool srv__cors_origin_allowed(const struct srv_cors *p, const char *origin)
{
    if (p->any_origin)
        return true;
    for (unsigned i = 0; i < p->norigins; i++)
        if (strcmp(p->origins[i], origin) == 0)
            return true;
    return false;
}

/* Access-Control-Allow-Origin and -Credentials for an allowed ORIGIN. */
static void allow_origin(struct srv_response *res, const struct srv_cors *p, const char *origin)
{
    /* "*" cannot carry credentials (srvc refuses the combination). */
    srv_response_add_header(res, "Access-Control-Allow-Origin", p->any_origin ? "*" : origin);
    if (p->credentials)
        srv_response_add_header(res, "Access-Control-Allow-Credentials", "true");
}

void srv_cors_apply(struct srv_request *req, struct srv_response *res,
                    const struct srv_cors *p)
{
    const char *origin = srv_request_header(req, "origin");
    if (p->any_origin) {
        /* The same answer for everyone: no Vary needed. */
        srv_response_add_header(res, "Access-Control-Allow-Origin", "*");
    } else {
        /* The answer depends on Origin, even when there is none: a cache
         * must not hand this response to another origin. */
        srv_response_add_header(res, "Vary", "Origin");
        if (origin == NULL || !srv__cors_origin_allowed(p, origin))
            return;
        allow_origin(res, p, origin);
    }
    if (p->expose_headers)
        srv_response_add_header(res, "Access-Control-Expose-Headers", p->expose_headers);
}

/* The method bit of a method name, 0 for one srv does not route. */
static unsigned method_bit(const char *name)
{
    static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH",
                                        "OPTIONS"};
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(names[i], name) == 0)
            return 1u << i;
    return 0;
}

bool srv__cors_preflight(const struct srv_app *app, struct srv_request *req,
                         struct srv_response *res)
{
    const char *origin = srv_request_header(req, "origin");
    const char *want = srv_request_header(req, "access-control-request-method");
    if (origin == NULL || want == NULL)
        return false; /* a plain OPTIONS request */
    unsigned method = method_bit(want);
    if (method == 0)
        return false;
    int idx = app->match(method, req->head.path, req->head.path_len, &req->match);
    if (idx < 0 || (unsigned)idx >= app->nroutes)
        return false; /* routed as usual: 404 or 405 */
    const struct srv_route *route = &app->routes[idx];
    const struct srv_cors *p = route->cors;
    if (p == NULL || !srv__cors_origin_allowed(p, origin))
        return false;
    req->route = route;
    srv_response_set_status(res, 204);
    allow_origin(res, p, origin);
    srv_response_add_header(res, "Access-Control-Allow-Methods", p->allow_methods);
    if (p->allow_headers)
        srv_response_add_header(res, "Access-Control-Allow-Headers", p->allow_headers);
    if (p->max_age)
        srv_response_add_header(res, "Access-Control-Max-Age", p->max_age);
    srv_response_add_header(res, "Vary",
                            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
    return true;
}
