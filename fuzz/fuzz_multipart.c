/* fuzz_multipart.c - libFuzzer target for multipart/form-data bodies:
 * runtime/multipart.c and the media-type parser it reads Content-Type and
 * Content-Disposition with (runtime/media.c).  An input is a Content-Type
 * value, a newline, then the body; the body is copied into a buffer of its
 * exact size (so ASan sees any read past the end) and parsed through
 * srv_request_parts() as a handler would, with small limits so the limit
 * paths are reached too.  Besides crashes it checks the parser's promises:
 * the result is a count or one of the three errors, every part lies inside
 * the body, and every string it returns is NUL-terminated. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void check(bool ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct srv__arena arena;
    static struct srv_app app = {.limits = {.multipart_parts = 16, .multipart_header = 512}};
    static bool ready;
    if (!ready) {
        srv__arena_init(&arena, 8192);
        ready = true;
    }

    const uint8_t *nl = memchr(data, '\n', size);
    size_t ct_len = nl ? (size_t)(nl - data) : size;
    if (ct_len > 1024)
        return 0;
    char ct[1025];
    memcpy(ct, data, ct_len);
    ct[ct_len] = '\0';
    size_t blen = nl ? size - ct_len - 1 : 0;
    char *body = malloc(blen ? blen : 1);
    memcpy(body, nl ? nl + 1 : data, blen);

    struct srv__header header = {"Content-Type", ct, 12, (uint32_t)strlen(ct)};
    struct srv_request req = {.app = &app, .fd = -1, .arena = &arena, .body = body,
                              .body_len = blen};
    req.head.headers = &header;
    req.head.nheaders = 1;
    req.head.method_name = "POST";
    req.head.path = "/";
    struct srv_response res;
    srv__response_init(&res, &arena);

    const struct srv_part *parts = NULL;
    int n = srv_request_parts(&req, &res, &parts);
    check(parts != NULL);
    check(n >= 0 || n == -EBADMSG || n == -E2BIG || n == -EMEDIUMTYPE);
    check(n <= 16);
    check(n >= 0 ? res.status == 200 : res.status == 400 || res.status == 413 || res.status == 415);
    for (int i = 0; i < n; i++) {
        check(parts[i].data >= body && parts[i].len <= blen &&
              parts[i].data + parts[i].len <= body + blen);
        check(strlen(parts[i].name) < 512 && strlen(parts[i].content_type) < 512);
        check(parts[i].filename == NULL || strlen(parts[i].filename) < 512);
        check(srv_request_part(&req, parts[i].name) != NULL);
    }
    /* The same answer again, from the cache. */
    check(srv_request_parts(&req, NULL, NULL) == n);

    srv__arena_reset(&arena);
    check(req.lazy == NULL);
    free(body);
    return 0;
}
