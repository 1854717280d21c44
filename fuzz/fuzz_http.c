/* fuzz_http.c - libFuzzer target for the request parser: runtime/http_parse.c
 * and the grammar/http.re scanner.  Each input is copied into a buffer of
 * its exact size (so ASan sees any read past the end), parsed as a head with
 * the default limits, and, when the head says chunked, the rest is run
 * through the chunked decoder, first in two pieces and then whole.  Besides
 * crashes it checks the parser's own promises and aborts when one breaks. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static void check(bool ok)
{
    if (!ok)
        abort();
}

static void fuzz_chunked(char *body, size_t len, const struct srv_limits *lim)
{
    struct srv__chunked c = {0};
    int rc = srv__http_parse_chunked(&c, body, len / 2, lim->body);
    if (rc == 0)
        rc = srv__http_parse_chunked(&c, body, len, lim->body);
    check(rc == 0 || rc == 1 || rc == -400 || rc == -413 || rc == -431);
    check(c.raw <= len && c.out <= c.raw && c.out <= lim->body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct srv__header headers[100];
    struct srv_limits lim;
    struct srv__head h;
    char *buf = malloc(size ? size : 1);

    srv__limits_resolve(&lim, NULL);
    memcpy(buf, data, size);
    h.headers = headers;
    int n = srv__http_parse_head(buf, size, &lim, &h);
    if (n <= 0) {
        /* Only success may write into the buffer. */
        check(memcmp(buf, data, size) == 0);
        check(n == 0 || n == -400 || n == -413 || n == -414 || n == -417 || n == -431 ||
              n == -501 || n == -505);
    } else {
        check((size_t)n <= size && h.nheaders <= lim.header_count);
        check(h.path[0] == '/' || (h.path[0] == '*' && h.path_len == 1));
        check(strlen(h.path) == h.path_len && strstr(h.path, "/../") == NULL);
        check(h.version_minor == 1 || !h.chunked);
        check(!(h.chunked && h.has_content_length));
        for (uint32_t i = 0; i < h.nheaders; i++)
            check(strlen(h.headers[i].name) == h.headers[i].name_len &&
                  strlen(h.headers[i].value) == h.headers[i].value_len);
        if (h.chunked)
            fuzz_chunked(buf + n, size - (size_t)n, &lim);
    }
    /* The decoder must also survive bytes that were never a valid head. */
    if (size && data[0] <= '9') {
        memcpy(buf, data, size);
        fuzz_chunked(buf, size, &lim);
    }
    free(buf);
    return 0;
}
