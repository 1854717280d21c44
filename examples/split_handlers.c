/*
 * split_handlers.c - the named handlers of split.srv.  Nothing here is
 * generated: it is C compiled next to srvc's output and linked with libsrv.
 * srv.h is the whole API a handler needs.
 */
#include "srv.h"

void home(struct srv_request *req, struct srv_response *res);
void greet(struct srv_request *req, struct srv_response *res);
void echo(struct srv_request *req, struct srv_response *res);
void files(struct srv_request *req, struct srv_response *res);
void ping(struct srv_request *req, struct srv_response *res);

void home(struct srv_request *req, struct srv_response *res)
{
    (void)req;
    srv_response_set_content_type(res, "text/plain");
    srv_response_body_static(res, "try /greet/you, /files/a/b or POST /echo\n", 41);
}

/* "name" is URL-decoded already; query parameters are too:
 * /greet/ann?greeting=Good%20morning says "Good morning, ann!". */
void greet(struct srv_request *req, struct srv_response *res)
{
    const char *greeting = srv_request_query_param(req, "greeting");
    srv_response_set_content_type(res, "text/plain; charset=utf-8");
    srv_response_printf(res, "%s, %s!\n", greeting != NULL ? greeting : "Hello",
                        srv_request_param(req, "name"));
}

/* The body may contain NULs, so it is passed on with its length. */
void echo(struct srv_request *req, struct srv_response *res)
{
    size_t len;
    const char *body = srv_request_body(req, &len);
    const char *type = srv_request_header(req, "Content-Type");
    srv_response_set_content_type(res, type != NULL ? type : "application/octet-stream");
    srv_response_body(res, body, len);
}

/* GET /files/docs/a.txt answers "docs/a.txt"; GET /files/ answers "". */
void files(struct srv_request *req, struct srv_response *res)
{
    srv_response_set_content_type(res, "text/plain; charset=utf-8");
    srv_response_text(res, srv_request_param(req, "*"));
}

void ping(struct srv_request *req, struct srv_response *res)
{
    srv_response_set_content_type(res, "text/plain");
    srv_response_printf(res, "pong %s\n", srv_request_method_name(req));
}
