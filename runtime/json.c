/*
 * json.c - JSON request bodies: srv_request_json() parses the body with
 * jansson once, on first use, and ties the document to the request arena
 * (srv__arena_defer) so json_decref() runs when the request ends.  A
 * request that cannot be parsed is answered here, as JSON: 415 for a
 * Content-Type that is not JSON, 400 with the byte offset jansson reports
 * for a malformed body.  Those bodies are built with the writer's escaping
 * (json_write.c): jansson's message quotes the offending input, which may
 * be anything.
 *
 * Why jansson (README, "Dependencies"): of the JSON libraries Debian
 * packages, it is the one that rejects every invalid document we tried
 * (invalid UTF-8, overlong forms, "01", "1.", lone surrogates), can refuse
 * duplicate keys, and reports a byte position with a message.  cJSON is
 * about four times faster (bench/json_parse.sh) but accepts all of those.
 */
#include "internal.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* RFC 8259 is strict already; duplicates are refused too, since two
 * parsers that keep a different one of them disagree about the request. */
#define PARSE_FLAGS (JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES)

static void doc_release(void *doc)
{
    json_decref(doc);
}

/* application/json or application/ANYTHING+json, parameters allowed. */
static bool is_json_type(const struct srv_request *req)
{
    struct srv__media m;
    if (!srv__content_type(req, &m))
        return false;
    if (m.type_len != 11 || strncasecmp(m.type, "application", 11) != 0)
        return false;
    return (m.subtype_len == 4 && strncasecmp(m.subtype, "json", 4) == 0) ||
           (m.subtype_len > 5 && strncasecmp(m.subtype + m.subtype_len - 5, "+json", 5) == 0);
}

/* The error body {"error":MESSAGE,"offset":N} (OFFSET < 0: no offset). */
static void set_error(struct srv__lazy *lz, int status, const char *msg, long offset)
{
    size_t len = strlen(msg);
    char *body = srv__arena_alloc(lz->req->arena, srv__json_quoted_max(len) + 48);
    char *p = body;
    memcpy(p, "{\"error\":", 9);
    p = srv__json_quote(p + 9, msg, len);
    if (offset >= 0)
        p += sprintf(p, ",\"offset\":%ld", offset);
    *p++ = '}';
    lz->json_status = status;
    lz->json_error = body;
    lz->json_error_len = (size_t)(p - body);
}

static void json_parse(struct srv_request *req, struct srv__lazy *lz)
{
    lz->json_done = true;
    if (!is_json_type(req)) {
        set_error(lz, 415, "Content-Type must be application/json", -1);
        return;
    }
    json_error_t err;
    json_t *doc = json_loadb(req->body, req->body_len, PARSE_FLAGS, &err);
    if (doc == NULL) {
        char msg[sizeof err.text + 64];
        snprintf(msg, sizeof msg, "invalid JSON at byte %d: %s", err.position, err.text);
        set_error(lz, 400, msg, err.position);
        return;
    }
    srv__arena_defer(req->arena, doc_release, doc);
    lz->json = doc;
}

struct json_t *srv_request_json(struct srv_request *req, struct srv_response *res)
{
    struct srv__lazy *lz = srv__request_lazy(req);
    if (!lz->json_done)
        json_parse(req, lz);
    if (lz->json == NULL && res != NULL) {
        srv_response_set_status(res, lz->json_status);
        srv_response_set_header(res, "Content-Type", "application/json");
        srv_response_body_static(res, lz->json_error, lz->json_error_len);
    }
    return lz->json;
}
