/*
 * proxy_protocol.c - the PROXY protocol header (`proxy_protocol;`), which a
 * load balancer passing TCP through (HAProxy, AWS NLB, ...) puts before
 * the first byte of the client's data to say whom the connection is from.
 * conn.c reads it off a new connection before any HTTP; the address it
 * names becomes the connection's peer.
 *
 * Both versions of HAProxy's specification (proxy-protocol.txt):
 *   v1, one text line of at most 107 bytes:
 *       "PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n"
 *       "PROXY TCP6 2001:db8::1 2001:db8::2 56324 443\r\n"
 *       "PROXY UNKNOWN[ anything]\r\n"   (the connection's own addresses stand)
 *   v2, a 16-byte binary header (a 12-byte signature, version and command,
 *   family and transport, the length of the rest) then the address block
 *   and TLVs, which are skipped.  The LOCAL command (a health check from
 *   the balancer itself) and the AF_UNSPEC and AF_UNIX families keep the
 *   connection's own peer.
 *
 * Strict, as the HTTP parser is: single spaces, CRLF, decimal ports without
 * leading zeros in [0, 65535], addresses as srv__ip_parse reads them, only
 * the family/transport pairs the specification lists.  Bytes that no
 * further bytes could turn into a header are refused at once; a header
 * still incomplete is the caller's to time out.  Pure: no allocation, no
 * logging, so it is unit-tested cut at every byte and fuzzed.
 */
#include "internal.h"

#include <string.h>
#include <sys/socket.h>

static const char v2_sig[12] = "\r\n\r\n\0\r\nQUIT\n";

/* ---- Version 1 ------------------------------------------------------------ */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A port: 1-5 digits, no leading zero (but "0"), at most 65535. */
static bool parse_port(const char *s, size_t len, uint16_t *out)
{
    if (len == 0 || len > 5 || (len > 1 && s[0] == '0'))
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!is_digit(s[i]))
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return false;
    *out = (uint16_t)v;
    return true;
}

/* The next space-separated field of [*P, END): its start and length, *P
 * past its separating space (the last field runs to END). */
static bool next_field(const char **p, const char *end, bool last, const char **f, size_t *len)
{
    const char *s = *p;
    const char *sp = last ? end : memchr(s, ' ', (size_t)(end - s));
    if (sp == NULL || sp == s)
        return false;
    *f = s;
    *len = (size_t)(sp - s);
    *p = last ? end : sp + 1;
    return true;
}

/* "TCP4 SRC DST SPORT DPORT" (the line without "PROXY " and CRLF). */
static bool parse_v1_tcp(const char *p, const char *end, struct srv__proxy_header *h)
{
    bool six = p[3] == '6';
    p += 5;
    const char *f[4];
    size_t n[4];
    for (int i = 0; i < 4; i++)
        if (!next_field(&p, end, i == 3, &f[i], &n[i]))
            return false;
    struct srv__peer dst;
    uint16_t dport;
    if (!srv__ip_parse(f[0], n[0], &h->source) || !srv__ip_parse(f[1], n[1], &dst) ||
        !parse_port(f[2], n[2], &h->source_port) || !parse_port(f[3], n[3], &dport))
        return false;
    int family = six ? AF_INET6 : AF_INET;
    return h->source.family == family && dst.family == family;
}

/* Whether the bytes of an unfinished v1 line can still become one: the
 * fixed words so far, then only what addresses and ports are made of (or,
 * after UNKNOWN, anything but a line break). */
static bool v1_prefix_ok(const char *buf, size_t len)
{
    static const char tcp4[] = "PROXY TCP4 ", tcp6[] = "PROXY TCP6 ", unknown[] = "PROXY UNKNOWN";
    size_t n4 = len < 11 ? len : 11, nu = len < 13 ? len : 13;
    if (memcmp(buf, tcp4, n4) != 0 && memcmp(buf, tcp6, n4) != 0) {
        if (memcmp(buf, unknown, nu) != 0)
            return false;
        if (len > 13 && buf[13] != ' ' && !(buf[13] == '\r' && len == 14))
            return false; /* "PROXY UNKNOWN\r" may still end well */
        return len < 13 || memchr(buf + 13, '\n', len - 13) == NULL;
    }
    for (size_t i = 11; i < len; i++) {
        char c = buf[i];
        if (!(is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '.' ||
              c == ':' || c == ' ' || (c == '\r' && i + 1 == len)))
            return false;
    }
    return true;
}

static int parse_v1(const char *buf, size_t len, struct srv__proxy_header *h)
{
    size_t scan = len < SRV__PROXY_V1_MAX ? len : SRV__PROXY_V1_MAX;
    const char *lf = memchr(buf, '\n', scan);
    if (lf == NULL) {
        if (len >= SRV__PROXY_V1_MAX || !v1_prefix_ok(buf, len))
            return -1;
        return SRV__PROXY_INCOMPLETE;
    }
    size_t line = (size_t)(lf - buf) + 1; /* with its CRLF */
    if (line < 8 || lf[-1] != '\r' || !v1_prefix_ok(buf, line - 2))
        return -1;
    const char *end = lf - 1;
    /* No other CR inside the line (UNKNOWN's free text included). */
    if (memchr(buf, '\r', (size_t)(end - buf)) != NULL)
        return -1;
    memset(h, 0, sizeof *h);
    h->version = 1;
    if (line - 2 >= 13 && memcmp(buf, "PROXY UNKNOWN", 13) == 0) {
        h->local = true;
        return (int)line;
    }
    if (line - 2 < 11 || !parse_v1_tcp(buf + 6, end, h))
        return -1;
    return (int)line;
}

/* ---- Version 2 ------------------------------------------------------------ */

static uint16_t get16(const unsigned char *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static int parse_v2(const char *buf, size_t len, struct srv__proxy_header *h)
{
    const unsigned char *b = (const unsigned char *)buf;
    if (memcmp(buf, v2_sig, len < 12 ? len : 12) != 0)
        return -1;
    if (len > 12) {
        unsigned version = b[12] >> 4, command = b[12] & 0xf;
        if (version != 2 || command > 1)
            return -1;
    }
    if (len > 13 && (b[12] & 0xf) == 1) {
        /* PROXY: exactly the pairs the specification lists (LOCAL ignores
         * the byte). */
        switch (b[13]) {
        case 0x00: case 0x11: case 0x12: case 0x21: case 0x22: case 0x31: case 0x32:
            break;
        default:
            return -1;
        }
    }
    if (len < 16)
        return SRV__PROXY_INCOMPLETE;
    size_t total = 16 + (size_t)get16(b + 14);
    if (total > SRV__PROXY_V2_MAX)
        return -1;
    bool proxy = (b[12] & 0xf) == 1;
    unsigned family = b[13] >> 4;
    static const size_t block[4] = {0, 12, 36, 216}; /* UNSPEC, INET, INET6, UNIX */
    if (proxy && total - 16 < block[family])
        return -1;
    if (len < total)
        return SRV__PROXY_INCOMPLETE;
    memset(h, 0, sizeof *h);
    h->version = 2;
    h->local = !proxy;
    if (proxy && family == 1) {
        h->source.family = AF_INET;
        memcpy(h->source.addr, b + 16, 4);
        h->source_port = get16(b + 24);
    } else if (proxy && family == 2) {
        h->source.family = AF_INET6;
        memcpy(h->source.addr, b + 16, 16);
        h->source_port = get16(b + 48);
    }
    return (int)total;
}

int srv__proxy_parse(const char *buf, size_t len, struct srv__proxy_header *h)
{
    if (len == 0)
        return SRV__PROXY_INCOMPLETE;
    if (buf[0] == 'P')
        return parse_v1(buf, len, h);
    if (buf[0] == '\r')
        return parse_v2(buf, len, h);
    return -1;
}
