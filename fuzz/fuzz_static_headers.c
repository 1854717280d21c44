/* fuzz_static_headers.c - libFuzzer target for the request headers static
 * files depend on: runtime/static_headers.c.  Each input is copied into a
 * buffer of its exact size (so ASan sees any read past the end) and read as
 * every one of them - an HTTP-date, an If-Match/If-None-Match list, an
 * If-Range, a Range against files of several sizes, an Accept-Encoding
 * against every set of siblings - and the parsers' promises are checked:
 * ranges inside the file, disjoint, never more bytes than the file; a
 * strong match is also a weak one; the chosen coding is one that exists. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static void check(bool ok)
{
    if (!ok)
        abort();
}

static void fuzz_range(const char *s, size_t len, uint64_t size)
{
    struct srv__range r[SRV__RANGE_SPECS_MAX];
    int n = srv__range_parse(s, len, size, r);
    check(n >= -1 && n <= SRV__RANGE_SPECS_MAX);
    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
        check(r[i].first <= r[i].last && r[i].last < size);
        total += r[i].last - r[i].first + 1;
        for (int j = 0; j < i; j++)
            check(r[i].last < r[j].first || r[j].last < r[i].first);
    }
    check(total <= size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size ? size : 1);
    memcpy(s, data, size);
    const int64_t now = 1795996800; /* 2026-11-30 */

    int64_t t;
    if (srv__http_date_parse(s, size, now, &t)) {
        check(t >= -62167219200 && t <= 253402300799); /* years 0 to 9999 */
        char back[SRV__DATE_LEN + 1];
        srv__date_format(back, t);
        int64_t t2;
        check(srv__http_date_parse(back, SRV__DATE_LEN, now, &t2) && t2 == t);
    }

    static const char etag[] = "\"6b0cddb0-d-4dc86e4\"";
    bool strong = srv__etag_match(s, size, etag, sizeof etag - 1, true);
    bool weak = srv__etag_match(s, size, etag, sizeof etag - 1, false);
    check(!strong || weak);
    if (srv__if_range_ok(s, size, etag, sizeof etag - 1, 784111777, now))
        check(size == sizeof etag - 1 || size == SRV__DATE_LEN || size >= 24);

    static const uint64_t sizes[] = {0, 1, 13, 100, 65536, 1u << 20, UINT64_MAX / 2};
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        fuzz_range(s, size, sizes[i]);

    for (unsigned avail = 0; avail < 16; avail += 2) {
        int c = srv__accept_encoding(s, size, avail);
        check(c >= -1 && c < SRV__CODINGS);
        check(c <= 0 || (avail & (1u << c)));
    }
    free(s);
    return 0;
}
