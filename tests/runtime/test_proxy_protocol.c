/* Tests for runtime/proxy_protocol.c: PROXY protocol headers, version 1
 * (text) and 2 (binary).  Every valid header is read whole, with the
 * request that follows it, and cut at every byte (each prefix must be
 * "incomplete", never an error); every malformed variant is refused, at
 * the byte where it stops being a possible header when that is known.
 * Buffers are malloc'd at their exact size, so ASan catches a read past
 * the end. */
#include "internal.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static int parse(const void *bytes, size_t len, struct srv__proxy_header *h)
{
    char *buf = malloc(len ? len : 1);
    memcpy(buf, bytes, len);
    int r = srv__proxy_parse(buf, len, h);
    free(buf);
    return r;
}

/* A valid header of LEN bytes: whole it is read as LEN bytes (also with
 * HTTP bytes behind it), and every prefix is incomplete. */
static void check_valid(const void *hdr, size_t len, struct srv__proxy_header *h)
{
    for (size_t cut = 0; cut < len; cut++) {
        struct srv__proxy_header tmp;
        int r = parse(hdr, cut, &tmp);
        ck_assert_msg(r == SRV__PROXY_INCOMPLETE, "cut at %zu of %zu: %d", cut, len, r);
    }
    char with_request[SRV__PROXY_V2_MAX + 64];
    static const char get[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    memcpy(with_request, hdr, len);
    memcpy(with_request + len, get, sizeof get - 1);
    ck_assert_int_eq(parse(with_request, len + sizeof get - 1, h), (int)len);
    ck_assert_int_eq(parse(hdr, len, h), (int)len);
}

static void check_v1(const char *line, struct srv__proxy_header *h)
{
    check_valid(line, strlen(line), h);
    ck_assert_int_eq(h->version, 1);
}

/* Refused: whole, and as soon as the bytes can no longer become a header
 * (at the latest when whole). */
static void check_bad(const void *bytes, size_t len)
{
    struct srv__proxy_header h;
    ck_assert_msg(parse(bytes, len, &h) == -1, "%.*s", (int)len, (const char *)bytes);
}

static void check_bad_v1(const char *line)
{
    check_bad(line, strlen(line));
}

/* ---- Version 1 ---------------------------------------------------------------- */

START_TEST(v1_tcp4_names_the_source)
{
    struct srv__proxy_header h;
    check_v1("PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n", &h);
    ck_assert(!h.local);
    ck_assert_int_eq(h.source.family, AF_INET);
    ck_assert_str_eq(srv__peer_text(&h.source), "192.0.2.1");
    ck_assert_int_eq(h.source_port, 56324);
    check_v1("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n", &h);
    ck_assert_str_eq(srv__peer_text(&h.source), "0.0.0.0");
    ck_assert_int_eq(h.source_port, 0);
}
END_TEST

START_TEST(v1_tcp6_names_the_source)
{
    struct srv__proxy_header h;
    check_v1("PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n", &h);
    ck_assert_int_eq(h.source.family, AF_INET6);
    ck_assert_str_eq(srv__peer_text(&h.source), "2001:db8::1");
    check_v1("PROXY TCP6 ::ffff:192.0.2.1 ::1 443 80\r\n", &h);
    ck_assert_str_eq(srv__peer_text(&h.source), "::ffff:192.0.2.1");
}
END_TEST

START_TEST(v1_longest_header_is_107_bytes)
{
    /* The specification's worst case, which only UNKNOWN can reach. */
    static const char longest[] =
        "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
        "65535 65535\r\n";
    ck_assert_int_eq(strlen(longest), SRV__PROXY_V1_MAX);
    struct srv__proxy_header h;
    check_v1(longest, &h);
    ck_assert(h.local);
    static const char tcp6[] =
        "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
        "65535 65535\r\n";
    check_v1(tcp6, &h);
    ck_assert_str_eq(srv__peer_text(&h.source), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
}
END_TEST

START_TEST(v1_unknown_keeps_the_connections_own_peer)
{
    struct srv__proxy_header h;
    check_v1("PROXY UNKNOWN\r\n", &h);
    ck_assert(h.local);
    ck_assert_int_eq(h.source.family, 0);
    /* Whatever follows UNKNOWN is ignored, as the specification says. */
    check_v1("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n", &h);
    ck_assert(h.local);
    ck_assert_int_eq(h.source.family, 0);
}
END_TEST

START_TEST(v1_malformed_lines_are_refused)
{
    static const char *const bad[] = {
        "PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\n",      /* bare LF */
        "PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\r\n",
        "PROXY TCP4 192.0.2.1  198.51.100.7 56324 443\r\n",   /* two spaces */
        "PROXY TCP4 192.0.2.1 198.51.100.7 56324 443 \r\n",
        "PROXY TCP4 192.0.2.1 198.51.100.7 56324\r\n",
        "PROXY TCP4 192.0.2.1 198.51.100.7 56324 443 1\r\n",
        "PROXY TCP4 192.0.2.1 198.51.100.7 65536 443\r\n",
        "PROXY TCP4 192.0.2.1 198.51.100.7 056324 443\r\n",  /* leading zero */
        "PROXY TCP4 192.0.2.1 198.51.100.7 -1 443\r\n",
        "PROXY TCP4 192.0.2.256 198.51.100.7 1 443\r\n",
        "PROXY TCP4 2001:db8::1 198.51.100.7 1 443\r\n",      /* family mismatch */
        "PROXY TCP6 192.0.2.1 2001:db8::2 1 443\r\n",
        "PROXY TCP6 2001:db8::1 192.0.2.1 1 443\r\n",
        "PROXY TCP5 192.0.2.1 198.51.100.7 56324 443\r\n",
        "PROXY tcp4 192.0.2.1 198.51.100.7 56324 443\r\n",
        "PROXY  TCP4 192.0.2.1 198.51.100.7 56324 443\r\n",
        "PROXY TCP4\r\n",
        "PROXY TCP4 \r\n",
        "PROXY \r\n",
        "PROXY\r\n",
        "PROXYTCP4 192.0.2.1 198.51.100.7 56324 443\r\n",
        "proxy TCP4 192.0.2.1 198.51.100.7 56324 443\r\n",
        "PROXY UNKNOWNX\r\n",
        "PROXY UNKNOWN a\rb\r\n",
        "PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\nGET",  /* only the LF ends it */
    };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (i == sizeof bad / sizeof bad[0] - 1) {
            /* The last one is valid after all: its header is the line. */
            struct srv__proxy_header h;
            ck_assert_int_eq(parse(bad[i], strlen(bad[i]), &h), (int)strlen(bad[i]) - 3);
            continue;
        }
        check_bad_v1(bad[i]);
    }
}
END_TEST

START_TEST(v1_refuses_what_can_never_become_a_header_at_once)
{
    /* An HTTP request without the header: refused at its second byte. */
    check_bad_v1("PO");
    check_bad_v1("GET / HTTP/1.1\r\n");
    check_bad_v1("PUT");
    check_bad_v1("PROXY TCP4 192.0.2.x");
    check_bad_v1("PROXY UNKNOWN\n");
    check_bad_v1("PROXY TCP4 1.2.3.4\n");
    check_bad_v1("PROXY TCP4 1.2.3.4\r ");
    check_bad_v1("\x16\x03\x01\x02\x00"); /* a TLS handshake */
    check_bad_v1("x");
}
END_TEST

START_TEST(v1_without_a_line_end_by_107_bytes_is_refused)
{
    char buf[200];
    memcpy(buf, "PROXY TCP4 ", 11);
    memset(buf + 11, '1', sizeof buf - 11);
    struct srv__proxy_header h;
    ck_assert_int_eq(parse(buf, SRV__PROXY_V1_MAX - 1, &h), SRV__PROXY_INCOMPLETE);
    ck_assert_int_eq(parse(buf, SRV__PROXY_V1_MAX, &h), -1);
    ck_assert_int_eq(parse(buf, sizeof buf, &h), -1);
    memcpy(buf, "PROXY UNKNOWN ", 14);
    memset(buf + 14, 'x', sizeof buf - 14);
    ck_assert_int_eq(parse(buf, SRV__PROXY_V1_MAX - 1, &h), SRV__PROXY_INCOMPLETE);
    ck_assert_int_eq(parse(buf, SRV__PROXY_V1_MAX, &h), -1);
    /* The line end as byte 108: too late. */
    buf[SRV__PROXY_V1_MAX - 1] = '\r';
    buf[SRV__PROXY_V1_MAX] = '\n';
    ck_assert_int_eq(parse(buf, SRV__PROXY_V1_MAX + 1, &h), -1);
    buf[SRV__PROXY_V1_MAX - 2] = '\r';
    buf[SRV__PROXY_V1_MAX - 1] = '\n';
    ck_assert_int_eq(parse(buf, SRV__PROXY_V1_MAX + 1, &h), SRV__PROXY_V1_MAX);
}
END_TEST

/* ---- Version 2 ---------------------------------------------------------------- */

static const unsigned char sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                      0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* A v2 header: signature, VERCMD, FAM, then BODY (BODY_LEN bytes, the
 * length field says LEN_FIELD, which is normally BODY_LEN).  Returns its
 * length in OUT. */
static size_t v2(unsigned char *out, unsigned vercmd, unsigned fam, const void *body,
                 size_t body_len, size_t len_field)
{
    memcpy(out, sig, 12);
    out[12] = (unsigned char)vercmd;
    out[13] = (unsigned char)fam;
    out[14] = (unsigned char)(len_field >> 8);
    out[15] = (unsigned char)len_field;
    memcpy(out + 16, body, body_len);
    return 16 + body_len;
}

static const unsigned char inet_block[12] = {192, 0, 2, 1, 198, 51, 100, 7, 0xdc, 0x04, 0x01, 0xbb};

START_TEST(v2_tcp4_names_the_source)
{
    unsigned char b[64];
    size_t n = v2(b, 0x21, 0x11, inet_block, 12, 12);
    struct srv__proxy_header h;
    check_valid(b, n, &h);
    ck_assert_int_eq(h.version, 2);
    ck_assert(!h.local);
    ck_assert_str_eq(srv__peer_text(&h.source), "192.0.2.1");
    ck_assert_int_eq(h.source_port, 56324);
}
END_TEST

START_TEST(v2_tcp6_names_the_source)
{
    unsigned char block[36] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1, [16] = 0x20, [17] = 0x01,
                               [31] = 2, [32] = 0x01, [33] = 0x02, [34] = 0x00, [35] = 0x50};
    unsigned char b[64];
    size_t n = v2(b, 0x21, 0x21, block, 36, 36);
    struct srv__proxy_header h;
    check_valid(b, n, &h);
    ck_assert_int_eq(h.source.family, AF_INET6);
    ck_assert_str_eq(srv__peer_text(&h.source), "2001:db8::1");
    ck_assert_int_eq(h.source_port, 258);
}
END_TEST

START_TEST(v2_local_keeps_the_connections_own_peer)
{
    unsigned char b[64];
    struct srv__proxy_header h;
    size_t n = v2(b, 0x20, 0x00, "", 0, 0);
    check_valid(b, n, &h);
    ck_assert(h.local);
    ck_assert_int_eq(h.source.family, 0);
    /* LOCAL ignores the family byte and whatever the block holds. */
    n = v2(b, 0x20, 0xff, inet_block, 12, 12);
    check_valid(b, n, &h);
    ck_assert(h.local);
    ck_assert_int_eq(h.source.family, 0);
}
END_TEST

START_TEST(v2_unspec_and_unix_keep_the_connections_own_peer)
{
    static unsigned char body[216];
    unsigned char b[300];
    struct srv__proxy_header h;
    size_t n = v2(b, 0x21, 0x00, "", 0, 0);
    check_valid(b, n, &h);
    ck_assert(!h.local);
    ck_assert_int_eq(h.source.family, 0);
    n = v2(b, 0x21, 0x31, body, 216, 216);
    check_valid(b, n, &h);
    ck_assert_int_eq(h.source.family, 0);
}
END_TEST

START_TEST(v2_tlvs_are_skipped)
{
    /* The INET block, then TLVs: PP2_TYPE_ALPN "h2", PP2_TYPE_AUTHORITY
     * "example.com", a NOOP. */
    unsigned char body[12 + 5 + 14 + 4];
    memcpy(body, inet_block, 12);
    memcpy(body + 12, "\x01\x00\x02h2", 5);
    memcpy(body + 17, "\x02\x00\x0b" "example.com", 14);
    memcpy(body + 31, "\x04\x00\x01\x00", 4);
    unsigned char b[128];
    size_t n = v2(b, 0x21, 0x11, body, sizeof body, sizeof body);
    struct srv__proxy_header h;
    check_valid(b, n, &h);
    ck_assert_str_eq(srv__peer_text(&h.source), "192.0.2.1");
}
END_TEST

START_TEST(v2_lengths_are_bounded)
{
    static unsigned char b[SRV__PROXY_V2_MAX + 32], body[SRV__PROXY_V2_MAX];
    memcpy(body, inet_block, 12);
    struct srv__proxy_header h;
    /* The longest accepted: 4096 bytes in all. */
    size_t n = v2(b, 0x21, 0x11, body, SRV__PROXY_V2_MAX - 16, SRV__PROXY_V2_MAX - 16);
    ck_assert_int_eq(parse(b, n, &h), SRV__PROXY_V2_MAX);
    ck_assert_int_eq(parse(b, n - 1, &h), SRV__PROXY_INCOMPLETE);
    /* One more, refused as soon as the length field has arrived. */
    n = v2(b, 0x21, 0x11, body, SRV__PROXY_V2_MAX - 15, SRV__PROXY_V2_MAX - 15);
    ck_assert_int_eq(parse(b, 16, &h), -1);
    ck_assert_int_eq(parse(b, n, &h), -1);
    n = v2(b, 0x21, 0x11, body, 12, 0xffff);
    ck_assert_int_eq(parse(b, 16, &h), -1);
    /* Shorter than the family's address block: refused at the length field. */
    n = v2(b, 0x21, 0x11, inet_block, 11, 11);
    ck_assert_int_eq(parse(b, 16, &h), -1);
    n = v2(b, 0x21, 0x21, body, 35, 35);
    ck_assert_int_eq(parse(b, 16, &h), -1);
    n = v2(b, 0x21, 0x31, body, 215, 215);
    ck_assert_int_eq(parse(b, n, &h), -1);
    (void)n;
}
END_TEST

START_TEST(v2_bad_version_command_or_family_is_refused_at_its_byte)
{
    unsigned char b[64];
    /* Versions other than 2, commands other than LOCAL and PROXY. */
    static const unsigned vercmds[] = {0x11, 0x31, 0x01, 0xf1, 0x22, 0x2f};
    for (unsigned i = 0; i < sizeof vercmds / sizeof vercmds[0]; i++) {
        v2(b, vercmds[i], 0x11, inet_block, 12, 12);
        check_bad(b, 13);
        check_bad(b, 28);
    }
    /* Family/transport pairs outside the specification's list. */
    static const unsigned fams[] = {0x01, 0x02, 0x10, 0x13, 0x20, 0x23, 0x30, 0x41, 0x1f, 0xff};
    for (unsigned i = 0; i < sizeof fams / sizeof fams[0]; i++) {
        v2(b, 0x21, fams[i], inet_block, 12, 12);
        check_bad(b, 14);
        check_bad(b, 28);
    }
    /* The specification's DGRAM pairs are valid headers. */
    struct srv__proxy_header h;
    size_t n = v2(b, 0x21, 0x12, inet_block, 12, 12);
    ck_assert_int_eq(parse(b, n, &h), (int)n);
}
END_TEST

START_TEST(v2_a_wrong_signature_byte_is_refused_at_that_byte)
{
    unsigned char b[64];
    size_t n = v2(b, 0x21, 0x11, inet_block, 12, 12);
    for (unsigned i = 1; i < 12; i++) {
        unsigned char c[64];
        memcpy(c, b, n);
        c[i] ^= 0x20;
        check_bad(c, i + 1);
        check_bad(c, n);
    }
}
END_TEST

START_TEST(v2_every_bit_flip_of_the_fixed_header_gives_a_header_or_an_error)
{
    unsigned char b[64];
    size_t n = v2(b, 0x21, 0x11, inet_block, 12, 12);
    for (unsigned i = 0; i < 16 * 8; i++) {
        unsigned char c[64] = {0};
        memcpy(c, b, n);
        c[i / 8] ^= (unsigned char)(1u << (i % 8));
        struct srv__proxy_header h;
        int r = parse(c, sizeof c, &h);
        /* A longer length field leaves the header incomplete. */
        ck_assert_msg(r == -1 || r == SRV__PROXY_INCOMPLETE || (r >= 16 && r <= (int)sizeof c),
                      "bit %u: %d", i, r);
    }
}
END_TEST

static Suite *proxy_protocol_suite(void)
{
    Suite *s = suite_create("runtime/proxy_protocol");
    TCase *tc = tcase_create("v1");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, v1_tcp4_names_the_source);
    tcase_add_test(tc, v1_tcp6_names_the_source);
    tcase_add_test(tc, v1_longest_header_is_107_bytes);
    tcase_add_test(tc, v1_unknown_keeps_the_connections_own_peer);
    tcase_add_test(tc, v1_malformed_lines_are_refused);
    tcase_add_test(tc, v1_refuses_what_can_never_become_a_header_at_once);
    tcase_add_test(tc, v1_without_a_line_end_by_107_bytes_is_refused);
    suite_add_tcase(s, tc);
    tc = tcase_create("v2");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, v2_tcp4_names_the_source);
    tcase_add_test(tc, v2_tcp6_names_the_source);
    tcase_add_test(tc, v2_local_keeps_the_connections_own_peer);
    tcase_add_test(tc, v2_unspec_and_unix_keep_the_connections_own_peer);
    tcase_add_test(tc, v2_tlvs_are_skipped);
    tcase_add_test(tc, v2_lengths_are_bounded);
    tcase_add_test(tc, v2_bad_version_command_or_family_is_refused_at_its_byte);
    tcase_add_test(tc, v2_a_wrong_signature_byte_is_refused_at_that_byte);
    tcase_add_test(tc, v2_every_bit_flip_of_the_fixed_header_gives_a_header_or_an_error);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(proxy_protocol_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
