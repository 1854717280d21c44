/* fixture.h - a request and its response without a connection, for the
 * unit tests of the body accessors (test_form.c, test_multipart.c,
 * test_json.c, test_cookie.c): headers and a body set by hand, one arena
 * for both, released (and its cleanups run) by fixture_end(). */
#ifndef SRV_TEST_FIXTURE_H
#define SRV_TEST_FIXTURE_H

#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define FIXTURE_MAX_HEADERS 16

static struct srv__arena fx_arena;
static struct srv__header fx_headers[FIXTURE_MAX_HEADERS];
static struct srv_request fx_req;
static struct srv_response fx_res;
static char *fx_body; /* malloc'd at the body's exact size (plus its NUL) */

static inline void fixture_begin(void)
{
    srv__arena_init(&fx_arena, 512);
    memset(&fx_req, 0, sizeof fx_req);
    fx_req.arena = &fx_arena;
    fx_req.fd = -1;
    fx_req.head.headers = fx_headers;
    fx_req.head.method = SRV_METHOD_POST;
    fx_req.head.method_name = "POST";
    fx_req.head.path = "/";
    fx_req.head.path_len = 1;
    fx_req.body = "";
    srv__response_init(&fx_res, &fx_arena);
    fx_body = NULL;
}

static inline void fixture_end(void)
{
    srv__arena_free(&fx_arena);
    free(fx_body);
    fx_body = NULL;
}

/* Starts a new request on the same connection: the arena is reset, as
 * conn.c does between requests. */
static inline void fixture_next(void)
{
    srv__arena_reset(&fx_arena);
    fx_req.head.nheaders = 0;
    srv__response_init(&fx_res, &fx_arena);
}

static inline void fixture_header(const char *name, const char *value)
{
    struct srv__header *h = &fx_headers[fx_req.head.nheaders++];
    h->name = name;
    h->name_len = (uint32_t)strlen(name);
    h->value = value;
    h->value_len = (uint32_t)strlen(value);
}

/* The body BODY[0..LEN), copied into its own buffer, NUL-terminated as
 * conn.c leaves it. */
static inline void fixture_body(const void *body, size_t len)
{
    free(fx_body);
    fx_body = malloc(len + 1);
    memcpy(fx_body, body, len);
    fx_body[len] = '\0';
    fx_req.body = fx_body;
    fx_req.body_len = len;
}

static inline void fixture_text(const char *body)
{
    fixture_body(body, strlen(body));
}

/* The response body as a NUL-terminated string in the arena. */
static inline const char *fixture_res_body(void)
{
    char *s = srv__arena_alloc(&fx_arena, fx_res.body_len + 1);
    memcpy(s, fx_res.body, fx_res.body_len);
    s[fx_res.body_len] = '\0';
    return s;
}

#endif
