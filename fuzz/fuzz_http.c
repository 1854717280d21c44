/* fuzz_http.c - libFuzzer target for the request parser: runtime/http_parse.c
 * and the grammar/http.re scanner.  Each input is copied into a buffer of
 * its exact size (so ASan sees any read past the end), parsed as a head with
 * the default limits, and, when the head says chunked, the rest is run
 * through the chunked decoder, first in two pieces and then whole.  Besides
 * crashes it checks the parser's own promises and aborts when one breaks:
 * - every way of reading a head (srv__http_scan_path: the rules alone, the
 *   portable fast path, the AVX2 one) gives the same answer and pieces, and
 *   the portable and AVX2 byte scanners agree on the input's bytes;
 * - the prefix check of incomplete heads reads the parser's grammar: every
 *   prefix of a valid head passes it, fed whole, in two pieces or from
 *   where an incomplete parse stopped; a request line the scanner finds
 *   malformed fails it, and a head it finds malformed fails it;
 * - the request line for error pages is the head's, where both exist. */
#include "http_scan.h"
#include "http_simd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(bool ok)
{
    if (!ok)
        abort();
}

static struct srv_limits lim;

static void fuzz_chunked(char *body, size_t len)
{
    struct srv__chunked c = {0};
    int rc = srv__http_parse_chunked(&c, body, len / 2, lim.body);
    if (rc == 0)
        rc = srv__http_parse_chunked(&c, body, len, lim.body);
    check(rc == 0 || rc == 1 || rc == -400 || rc == -413 || rc == -431);
    check(c.raw <= len && c.out <= c.raw && c.out <= lim.body);
}

/* The answer and the pieces of a head, written out, so paths compare. */
struct outcome {
    int rc;
    char text[4096];
};

static void parse_with(enum srv__scan_path path, const uint8_t *data, size_t size,
                       struct outcome *o)
{
    static struct srv__header headers[100];
    struct srv__head h = {.headers = headers};
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    enum srv__scan_path saved = srv__http_scan_path;
    srv__http_scan_path = path;
    o->rc = srv__http_parse_head(buf, size, &lim, &h);
    srv__http_scan_path = saved;
    o->text[0] = '\0';
    if (o->rc > 0) {
        size_t at = (size_t)snprintf(o->text, sizeof o->text, "%u %s %s %u|%s %u %d%d%d%d %llu %s|",
                                     h.method, h.method_name, h.path, h.path_len,
                                     h.query ? h.query : "-", h.version_minor, h.keep_alive,
                                     h.chunked, h.expect_continue, h.has_content_length,
                                     (unsigned long long)h.content_length, h.host ? h.host : "-");
        for (uint32_t i = 0; i < h.nheaders && at < sizeof o->text; i++)
            at += (size_t)snprintf(o->text + at, sizeof o->text - at, "%s=%u:%s=%u;",
                                   h.headers[i].name, h.headers[i].name_len, h.headers[i].value,
                                   h.headers[i].value_len);
    }
    free(buf);
}

/* The AVX2 scanners (AVX2 code, which builds their constants), against the
 * portable ones on [P, END) of a buffer that starts at LO. */
static SRV__AVX2 void avx2_scan(const unsigned char *lo, const unsigned char *p,
                                const unsigned char *end, const unsigned char **out,
                                uint64_t *name, uint64_t *stop)
{
    struct srv__simd k;
    srv__simd_init(&k);
    out[0] = srv__avx2_token_end(&k, p, end);
    out[1] = srv__avx2_value_end(&k, p, end);
    for (int c = SRV__CLASS_TCHAR; c <= SRV__CLASS_REG_NAME; c++)
        out[2 + c] = srv__avx2_span(&k, (enum srv__class)c, p, end, lo);
    if (end - p >= 32)
        srv__avx2_line_bits(&k, p, name, stop);
    else
        srv__avx2_last_bits(&k, p, end, name, stop);
}

static void fuzz_scanners(const unsigned char *lo, const unsigned char *p, const unsigned char *end)
{
    const unsigned char *avx2[5];
    uint64_t name, stop, want_name = 0, want_stop = 0;
    if (!srv__simd_avx2() || end - lo < 32 || p == end)
        return;
    avx2_scan(lo, p, end, avx2, &name, &stop);
    check(avx2[0] == srv__token_end(p, end));
    check(avx2[1] == srv__value_end(p, end));
    for (int c = SRV__CLASS_TCHAR; c <= SRV__CLASS_REG_NAME; c++)
        check(avx2[2 + c] == srv__span((enum srv__class)c, p, end));
    for (size_t i = 0; i < 32 && p + i < end; i++) {
        want_name |= (uint64_t)!srv__tchar[p[i]] << i;
        want_stop |= (uint64_t)(p[i] < 0x20 || p[i] == 0x7f) << i;
    }
    check(name == want_name && stop == want_stop);
}

/* Where feeding DATA to the prefix check, whole or in two pieces at CUT,
 * fails: SIZE when it does not.  Both must agree. */
static size_t prefix_fails_at(const uint8_t *data, size_t size, size_t cut)
{
    struct srv__prefix st = {0};
    size_t at = 0;
    for (; at < size; at++) {
        unsigned char b = data[at];
        if (srv__http_prefix(&st, (const char *)&b, 1) < 0)
            break;
    }
    struct srv__prefix whole = {0}, two = {0};
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    check((srv__http_prefix(&whole, buf, size) < 0) == (at < size));
    bool fails = srv__http_prefix(&two, buf, cut) < 0 ||
                 srv__http_prefix(&two, buf + cut, size - cut) < 0;
    check(fails == (at < size));
    free(buf);
    return at;
}

static void fuzz_prefix(const uint8_t *data, size_t size)
{
    static struct srv__header headers[100];
    struct srv__head h = {.headers = headers};
    struct srv__scan s;
    size_t cut = size ? data[0] % (size + 1) : 0;
    size_t bad = prefix_fails_at(data, size, cut);
    char *buf = malloc(size ? size : 1);

    /* The scanner and the check read the same grammar. */
    memcpy(buf, data, size);
    int rc = srv__http_scan_head(buf, size, &lim, &h, &s);
    if (rc > 0)
        check(bad >= (size_t)rc); /* every prefix of a valid head passes */
    if (rc == -400)
        check(bad < size);
    if (bad < size)
        check(rc == -400 || rc == -505 || rc == -414 || rc == -431);
    int line = srv__http_scan_request_line(buf, size, &lim, &s);
    if (line > 0)
        check(bad >= (size_t)line);
    if (line == -400) { /* it fails by the line's LF, after any empty lines */
        size_t at = 0, region = size < lim.request_line + 2 ? size : lim.request_line + 2;
        while (at + 1 < region && data[at] == '\r' && data[at + 1] == '\n')
            at += 2;
        const uint8_t *lf = memchr(data + at, '\n', region - at);
        check(lf && bad <= (size_t)(lf - data));
    }

    /* From where an incomplete parse stopped, the check goes on alike. */
    memcpy(buf, data, size);
    if (srv__http_parse_head(buf, cut, &lim, &h) == 0) {
        check(bad >= cut);
        struct srv__prefix st = h.prefix;
        bool fails = srv__http_prefix(&st, buf + cut, size - cut) < 0;
        check(fails == (bad < size));
    }
    free(buf);
}

static void fuzz_request_line(const uint8_t *data, size_t size, const struct outcome *head)
{
    struct srv__head h;
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    int n = srv__http_parse_request_line(buf, size, &lim, &h);
    check(n == 0 || n == -400 || n == -414 || (n > 0 && (size_t)n <= size));
    if (n > 0) {
        check(h.nheaders == 0 && h.host == NULL && h.version_minor <= 1);
        check(strlen(h.method_name) > 0);
        check(h.path[0] == '/' || (h.path[0] == '*' && h.path_len == 1));
        check(strlen(h.path) == h.path_len && strstr(h.path, "/../") == NULL);
        check(!h.query || strlen(h.query) == h.query_len);
        if (head->rc > 0) { /* the same request line as the head's */
            char text[4096];
            snprintf(text, sizeof text, "%u %s %s %u|%s %u ", h.method, h.method_name, h.path,
                     h.path_len, h.query ? h.query : "-", h.version_minor);
            check(strncmp(text, head->text, strlen(text)) == 0);
        }
    }
    if (head->rc > 0)
        check(n > 0);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct srv__header headers[100];
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
            fuzz_chunked(buf + n, size - (size_t)n);
    }
    /* The decoder must also survive bytes that were never a valid head. */
    if (size && data[0] <= '9') {
        memcpy(buf, data, size);
        fuzz_chunked(buf, size);
    }

    /* Every way of reading a head alike. */
    struct outcome rules, other;
    parse_with(SRV__SCAN_RULES, data, size, &rules);
    parse_with(SRV__SCAN_PORTABLE, data, size, &other);
    check(rules.rc == other.rc && strcmp(rules.text, other.text) == 0);
    if (srv__simd_avx2()) {
        parse_with(SRV__SCAN_AVX2, data, size, &other);
        check(rules.rc == other.rc && strcmp(rules.text, other.text) == 0);
    }
    memcpy(buf, data, size);
    for (size_t at = 0; at < size && at < 64; at++)
        fuzz_scanners((const unsigned char *)buf, (const unsigned char *)buf + at,
                      (const unsigned char *)buf + size);

    fuzz_prefix(data, size);
    fuzz_request_line(data, size, &rules);
    free(buf);
    return 0;
}
