/* fuzz_proxy_protocol.c - libFuzzer target for runtime/proxy_protocol.c.
 * The input, in a buffer of its exact size, is parsed as the start of a
 * connection; the parser's promises are checked: a header's length is at
 * most what was given and within the version's bounds, and does not change
 * with what follows it; every shorter prefix of a header is incomplete (a
 * header never needs fewer bytes than it has); an incomplete input is
 * shorter than the longest header. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static void check(bool ok)
{
    if (!ok)
        abort();
}

static int parse(const uint8_t *data, size_t size, struct srv__proxy_header *h)
{
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    int r = srv__proxy_parse(buf, size, h);
    free(buf);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct srv__proxy_header h;
    int r = parse(data, size, &h);
    check(r >= -1 && (size_t)(r < 0 ? 0 : r) <= size);
    if (r == SRV__PROXY_INCOMPLETE) {
        check(size < SRV__PROXY_V2_MAX);
        return 0;
    }
    if (r < 0)
        return 0;
    check(h.version == 1 || h.version == 2);
    check(h.version == 1 ? r <= SRV__PROXY_V1_MAX : (r >= 16 && r <= SRV__PROXY_V2_MAX));
    check(h.source.family == 0 || h.source.family == AF_INET || h.source.family == AF_INET6);
    check(!h.local || h.source.family == 0);
    if (h.source.family != 0)
        check(strlen(srv__peer_text(&h.source)) == h.source.text_len);
    /* The length is the header's alone: a few bytes less is incomplete,
     * the header alone is the same header. */
    struct srv__proxy_header g;
    check(parse(data, (size_t)r, &g) == r);
    for (size_t cut = r > 64 ? (size_t)r - 64 : 0; cut < (size_t)r; cut++)
        check(parse(data, cut, &g) == SRV__PROXY_INCOMPLETE);
    return 0;
}
