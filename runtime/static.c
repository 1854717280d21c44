/*
 * static.c - static files under `static "/prefix/" "dir";` mounts.
 * Placeholder until the file server lands: every request is a 404.
 */
#include "internal.h"

void srv_static_serve(struct srv_request *req, struct srv_response *res, unsigned mount)
{
    SRV__UNUSED(mount);
    srv__respond_error(req, res, 404, 0);
}
