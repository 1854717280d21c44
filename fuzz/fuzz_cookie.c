/* fuzz_cookie.c - libFuzzer target for runtime/cookie.c.  An input is split
 * at its first two NULs into a cookie name, a value and the rest, which is
 * used as the text of two Cookie header lines (split at its first newline).
 * The target reads NAME as a plain and as a signed cookie from those lines,
 * writes NAME=VALUE as a plain, a signed and a cleared cookie, and when the
 * signed one was accepted reads it back from a fresh Cookie line.  It
 * checks: a Set-Cookie line is written exactly when the response did not
 * fail, never holds CR, LF or NUL, and starts with NAME "="; what is signed
 * reads back unchanged; a value not signed by us never verifies (a signed
 * read of arbitrary text returning non-NULL would be a forged signature,
 * which the fuzzer cannot find unless verification is broken). */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static void check(bool ok)
{
    if (!ok)
        abort();
}

#define SECRET "fuzz-secret-0123456789abcdefghijklmnopqrstuvwxyz"
#define OLD_SECRET "fuzz-old-secret-0123456789abcdefghijklmnopqrstuvwxyz"

static struct srv__arena arena;

/* The Set-Cookie line just added to RES (NULL if none), checked. */
static const char *last_line(struct srv_response *res, size_t before)
{
    if (res->headers_len == before)
        return NULL;
    const char *line = res->headers + before;
    size_t len = res->headers_len - before;
    check(len > 14 && memcmp(line, "Set-Cookie: ", 12) == 0);
    check(memcmp(line + len - 2, "\r\n", 2) == 0);
    for (size_t i = 0; i < len - 2; i++)
        check(line[i] != '\r' && line[i] != '\n' && line[i] != '\0');
    return line + 12;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        srv__arena_init(&arena, 8192);
        const char *s[2] = {SECRET, OLD_SECRET};
        size_t l[2] = {strlen(SECRET), strlen(OLD_SECRET)};
        srv__secrets_set(s, l, 2);
        ready = true;
    }
    char *copy = malloc(size + 1);
    memcpy(copy, data, size);
    copy[size] = '\0';
    const char *name = copy;
    size_t nlen = strlen(name);
    const char *value = nlen < size ? copy + nlen + 1 : "";
    size_t vlen = strlen(value);
    const char *rest = nlen + vlen + 2 <= size ? value + vlen + 1 : "";
    /* Two Cookie lines from REST, each its own exact-size buffer. */
    size_t rlen = strlen(rest);
    const char *nl = memchr(rest, '\n', rlen);
    size_t l1 = nl ? (size_t)(nl - rest) : rlen, l2 = nl ? rlen - l1 - 1 : 0;
    char *line1 = malloc(l1 + 1), *line2 = malloc(l2 + 1);
    memcpy(line1, rest, l1);
    line1[l1] = '\0';
    memcpy(line2, nl ? nl + 1 : "", l2);
    line2[l2] = '\0';

    struct srv__header headers[3] = {
        {"Cookie", line1, 6, (uint32_t)l1},
        {"X-Other", "a=b", 7, 3},
        {"cookie", line2, 6, (uint32_t)l2},
    };
    struct srv_request req = {.fd = -1, .arena = &arena};
    req.head.headers = headers;
    req.head.nheaders = 3;

    const char *plain = srv_request_cookie(&req, name);
    const char *verified = srv_request_signed_cookie(&req, name);
    if (verified != NULL) {
        /* Only a value and a signature we made verify: the input had to
         * contain one, so the plain value is that value plus 44 bytes. */
        check(plain != NULL && strlen(plain) == strlen(verified) + 44);
        check(memcmp(plain, verified, strlen(verified)) == 0);
    }

    struct srv_response res;
    srv__response_init(&res, &arena);
    size_t before = res.headers_len;
    srv_response_set_cookie(&res, name, value, NULL);
    const char *line = last_line(&res, before);
    check((line != NULL) == !res.failed);
    if (line != NULL)
        check(strncmp(line, name, nlen) == 0 && line[nlen] == '=');

    srv__response_init(&res, &arena);
    srv_response_set_signed_cookie(&res, name, value, NULL);
    line = last_line(&res, 0);
    check((line != NULL) == !res.failed);
    if (line != NULL) {
        /* Back in a Cookie line of its own, it reads as VALUE. */
        const char *v = line + nlen + 1;
        size_t n = strcspn(v, ";\r");
        char *cookie = malloc(nlen + 1 + n + 1);
        memcpy(cookie, name, nlen);
        cookie[nlen] = '=';
        memcpy(cookie + nlen + 1, v, n);
        cookie[nlen + 1 + n] = '\0';
        struct srv__header h = {"Cookie", cookie, 6, (uint32_t)strlen(cookie)};
        req.head.headers = &h;
        req.head.nheaders = 1;
        const char *back = srv_request_signed_cookie(&req, name);
        check(back != NULL && strcmp(back, value) == 0);
        free(cookie);
    }

    srv__response_init(&res, &arena);
    struct srv_cookie o = {.path = nlen % 2 ? "/" : value, .same_site = (enum srv_same_site)(vlen % 3),
                           .insecure = size % 2, .max_age = (int64_t)vlen - 2};
    srv_response_clear_cookie(&res, name, &o);
    check((last_line(&res, 0) != NULL) == !res.failed);

    srv__arena_reset(&arena);
    free(line1);
    free(line2);
    free(copy);
    return 0;
}
