/* fuzz_forwarded.c - libFuzzer target for runtime/forwarded.c.  Each input
 * is read twice:
 *   - whole, as one address: srv__ip_parse must judge it as inet_pton does
 *     (when it has no NUL) and give the same bytes;
 *   - split at '\n' into up to 12 header lines, each line's first byte
 *     naming its field (F: Forwarded, X: X-Forwarded-For, P:
 *     X-Forwarded-Proto, else another field), each value in a buffer of its
 *     exact size so ASan sees any read past it.  The walk runs against two
 *     trust lists and must name an address or nothing, say where it came
 *     from exactly when it names one, and give the same answer twice. */
#include "internal.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static void check(bool ok)
{
    if (!ok)
        abort();
}

static const struct srv_cidr trust[] = {
    {4, 8, {10}},
    {4, 32, {127, 0, 0, 1}},
    {6, 128, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
    {6, 7, {0xfc}},
};

static void check_ip(const uint8_t *data, size_t size)
{
    char *s = malloc(size ? size : 1);
    memcpy(s, data, size);
    struct srv__peer p;
    bool ok = srv__ip_parse(s, size, &p);
    if (size < 64 && memchr(s, '\0', size) == NULL) {
        char z[64];
        memcpy(z, s, size);
        z[size] = '\0';
        unsigned char want[16];
        int family = memchr(z, ':', size) ? AF_INET6 : AF_INET;
        bool pton = inet_pton(family, z, want) == 1;
        check(ok == pton);
        if (ok) {
            check(p.family == family);
            check(memcmp(p.addr, want, family == AF_INET ? 4 : 16) == 0);
            check(strlen(srv__peer_text(&p)) == p.text_len);
        }
    }
    free(s);
}

static void walk(const struct srv__header *h, uint32_t n, const struct srv_cidr *t, unsigned nt)
{
    struct srv__forwarded a, b;
    srv__forwarded_parse(h, n, t, nt, &a);
    srv__forwarded_parse(h, n, t, nt, &b);
    check(a.client.family == 0 || a.client.family == AF_INET || a.client.family == AF_INET6);
    check((a.client.family != 0) == (a.source != NULL));
    check(a.client.family == b.client.family && a.https == b.https && a.source == b.source);
    if (a.client.family != 0) {
        check(memcmp(a.client.addr, b.client.addr, 16) == 0);
        check(strlen(srv__peer_text(&a.client)) < sizeof a.client.text);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_ip(data, size);

    struct srv__header h[12];
    char *values[12];
    uint32_t n = 0;
    const uint8_t *p = data, *end = data + size;
    while (p < end && n < 12) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        const uint8_t *le = nl ? nl : end;
        if (le > p) {
            static const char *const names[] = {"Forwarded", "X-Forwarded-For",
                                                "X-Forwarded-Proto", "Via"};
            unsigned k = p[0] == 'F' ? 0 : p[0] == 'X' ? 1 : p[0] == 'P' ? 2 : 3;
            size_t len = (size_t)(le - p - 1);
            values[n] = malloc(len ? len : 1);
            memcpy(values[n], p + 1, len);
            h[n] = (struct srv__header){names[k], values[n], (uint32_t)strlen(names[k]),
                                        (uint32_t)len};
            n++;
        }
        p = le + 1;
    }
    walk(h, n, trust, sizeof trust / sizeof trust[0]);
    walk(h, n, trust, 0);
    for (uint32_t i = 0; i < n; i++)
        free(values[i]);
    return 0;
}
