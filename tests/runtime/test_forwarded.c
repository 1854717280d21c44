/* Tests for runtime/forwarded.c: IP addresses (against inet_pton), ranges,
 * and the client a request's forwarding headers name - Forwarded (RFC
 * 7239), X-Forwarded-For, X-Forwarded-Proto - including what a client
 * forges in front of the proxies, which must change nothing; and
 * srv_request_peer()/srv_request_scheme() on a request from a trusted and
 * an untrusted peer. */
#include "internal.h"

#include "fixture.h"

#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static bool ip(const char *s, struct srv__peer *p)
{
    return srv__ip_parse(s, strlen(s), p);
}

static const char *text(struct srv__peer *p)
{
    return srv__peer_text(p);
}

/* ---- Addresses -------------------------------------------------------------- */

START_TEST(parses_ipv4_dotted_decimal)
{
    struct srv__peer p;
    ck_assert(ip("192.0.2.60", &p));
    ck_assert_int_eq(p.family, AF_INET);
    ck_assert_str_eq(text(&p), "192.0.2.60");
    ck_assert(ip("0.0.0.0", &p));
    ck_assert(ip("255.255.255.255", &p));
    ck_assert_str_eq(text(&p), "255.255.255.255");
}
END_TEST

START_TEST(parses_ipv6_text_forms)
{
    static const char *const in[][2] = {
        {"::", "::"},
        {"::1", "::1"},
        {"2001:db8::1", "2001:db8::1"},
        {"2001:DB8:0:0:0:0:2:1", "2001:db8::2:1"},
        {"::ffff:192.0.2.1", "::ffff:192.0.2.1"},
        {"1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"},
        {"1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"},
        {"::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"},
        {"fd00::", "fd00::"},
    };
    for (unsigned i = 0; i < sizeof in / sizeof in[0]; i++) {
        struct srv__peer p;
        ck_assert_msg(ip(in[i][0], &p), "%s", in[i][0]);
        ck_assert_int_eq(p.family, AF_INET6);
        ck_assert_str_eq(text(&p), in[i][1]);
    }
}
END_TEST

/* Every one of these is judged as inet_pton judges it (the oracle the fuzz
 * target uses too), and the valid ones give the same bytes. */
START_TEST(agrees_with_inet_pton)
{
    static const char *const cases[] = {
        "", "1", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.256", "01.2.3.4", "1.2.3.04",
        "1..2.3", "1.2.3.4 ", " 1.2.3.4", "1.2.3.-1", "1.2.3.4/8", "a.b.c.d", "1.2.3.1000",
        "0.0.0.0", "10.0.0.1", "1.2.3.4", "0.1.2.3", ":", ":::", "1:::2", "1::2::3", "12345::",
        "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8", ":1::",
        "1::2:", "g::", "::1%eth0", "[::1]", "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3", "::1.2.3.4.5",
        "::01.2.3.4", "1.2.3.4::", "::", "::1", "1::", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6::8",
        "1::1.2.3.4", "::ffff:1.2.3.4", "0:0:0:0:0:0:0:0", "00000::1", "0000::1", "fFfF::",
        "1:2:3:4:5::1.2.3.4", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "1:2:3:4::5:6:7:8",
        "::1.2.3.4:5", "1:2::3:4:5:6:7:8",
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *s = cases[i];
        unsigned char want[16];
        int family = strchr(s, ':') ? AF_INET6 : AF_INET;
        bool ok = inet_pton(family, s, want) == 1;
        struct srv__peer p;
        bool got = ip(s, &p);
        ck_assert_msg(got == ok, "\"%s\": srv %d, inet_pton %d", s, got, ok);
        if (ok) {
            ck_assert_int_eq(p.family, family);
            ck_assert_msg(memcmp(p.addr, want, family == AF_INET ? 4 : 16) == 0, "%s", s);
        }
    }
}
END_TEST

static const struct srv_cidr trust[] = {
    {4, 32, {127, 0, 0, 1}},
    {4, 8, {10}},
    {4, 25, {192, 168, 1, 128}},
    {6, 128, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
    {6, 8, {0xfd}},
};
#define NTRUST (sizeof trust / sizeof trust[0])

static bool trusted(const char *s)
{
    struct srv__peer p;
    ck_assert_msg(ip(s, &p), "%s", s);
    return srv__ip_trusted(trust, NTRUST, &p);
}

START_TEST(ranges_match_by_prefix)
{
    ck_assert(trusted("127.0.0.1"));
    ck_assert(!trusted("127.0.0.2"));
    ck_assert(trusted("10.0.0.0"));
    ck_assert(trusted("10.255.255.255"));
    ck_assert(!trusted("11.0.0.0"));
    ck_assert(!trusted("9.255.255.255"));
    ck_assert(trusted("192.168.1.128"));
    ck_assert(trusted("192.168.1.255"));
    ck_assert(!trusted("192.168.1.127"));
    ck_assert(trusted("::1"));
    ck_assert(!trusted("::2"));
    ck_assert(trusted("fd00::1"));
    ck_assert(trusted("fdff:ffff::1"));
    ck_assert(!trusted("fe00::1"));
    ck_assert(!trusted("fc00::1"));
}
END_TEST

START_TEST(ipv4_mapped_addresses_match_ipv4_ranges)
{
    ck_assert(trusted("::ffff:10.1.2.3"));
    ck_assert(trusted("::ffff:127.0.0.1"));
    ck_assert(!trusted("::ffff:11.1.2.3"));
    /* Only the mapped form: an IPv4-compatible or other embedding is not it. */
    ck_assert(!trusted("::10.1.2.3"));
    ck_assert(!trusted("64:ff9b::10.1.2.3"));
}
END_TEST

START_TEST(a_zero_prefix_matches_its_whole_family)
{
    static const struct srv_cidr any4[] = {{4, 0, {0}}}, any6[] = {{6, 0, {0}}};
    struct srv__peer p;
    ck_assert(ip("203.0.113.9", &p));
    ck_assert(srv__ip_trusted(any4, 1, &p));
    ck_assert(!srv__ip_trusted(any6, 1, &p));
    ck_assert(ip("2001:db8::9", &p));
    ck_assert(!srv__ip_trusted(any4, 1, &p));
    ck_assert(srv__ip_trusted(any6, 1, &p));
    ck_assert(!srv__ip_trusted(any6, 0, &p)); /* an empty list trusts nobody */
}
END_TEST

/* ---- Headers ---------------------------------------------------------------- */

static struct srv__header hs[8];
static uint32_t nhs;

static void hdr(const char *name, const char *value)
{
    hs[nhs++] = (struct srv__header){name, value, (uint32_t)strlen(name),
                                     (uint32_t)strlen(value)};
}

static struct srv__forwarded fw;

/* Reads the headers added so far, then forgets them. */
static void parse(void)
{
    srv__forwarded_parse(hs, nhs, trust, NTRUST, &fw);
    nhs = 0;
}

/* The client named, or "-" when none is. */
static const char *client(void)
{
    return fw.client.family ? srv__peer_text(&fw.client) : "-";
}

static void xff(const char *v, const char *want)
{
    hdr("X-Forwarded-For", v);
    parse();
    ck_assert_msg(strcmp(client(), want) == 0, "X-Forwarded-For: %s -> %s, not %s", v, client(),
                  want);
}

static void fwd(const char *v, const char *want, bool https)
{
    hdr("Forwarded", v);
    parse();
    ck_assert_msg(strcmp(client(), want) == 0, "Forwarded: %s -> %s, not %s", v, client(), want);
    ck_assert_msg(fw.https == https, "Forwarded: %s -> https %d", v, fw.https);
}

START_TEST(x_forwarded_for_names_the_rightmost_untrusted_hop)
{
    xff("203.0.113.7", "203.0.113.7");
    xff("198.51.100.1, 203.0.113.7, 10.0.0.2", "203.0.113.7");
    xff("203.0.113.7,10.0.0.2,127.0.0.1", "203.0.113.7");
    xff("\t203.0.113.7 ,\t10.0.0.2  ", "203.0.113.7");
    ck_assert_str_eq(fw.source, "x-forwarded-for");
}
END_TEST

START_TEST(x_forwarded_for_entries_forged_by_the_client_change_nothing)
{
    /* The client sent "X-Forwarded-For: 1.1.1.1" (or worse); the proxy
     * appended the address it saw. */
    xff("1.1.1.1, 203.0.113.7", "203.0.113.7");
    xff("10.0.0.1, 203.0.113.7", "203.0.113.7"); /* posing as a trusted proxy */
    xff("garbage!!, 203.0.113.7", "203.0.113.7");
    xff("[::1, 203.0.113.7", "203.0.113.7");
    xff("unknown, 203.0.113.7, 10.9.9.9", "203.0.113.7");
}
END_TEST

START_TEST(x_forwarded_for_all_trusted_names_the_leftmost)
{
    xff("10.0.0.5, 10.0.0.6", "10.0.0.5");
    xff("::1", "::1");
}
END_TEST

START_TEST(x_forwarded_for_lines_read_as_one_list)
{
    hdr("X-Forwarded-For", "1.1.1.1, 2.2.2.2");
    hdr("Host", "a");
    hdr("x-forwarded-for", "10.0.0.9");
    parse();
    ck_assert_str_eq(client(), "2.2.2.2");
    hdr("X-Forwarded-For", "2.2.2.2");
    hdr("X-Forwarded-For", "");
    hdr("X-Forwarded-For", " , 10.0.0.9, ");
    parse();
    ck_assert_str_eq(client(), "2.2.2.2");
}
END_TEST

START_TEST(x_forwarded_for_ports_and_brackets)
{
    xff("[2001:db8::1]:443", "2001:db8::1");
    xff("[2001:db8::1]", "2001:db8::1");
    xff("2001:db8::1", "2001:db8::1");
    xff("203.0.113.7:8080", "203.0.113.7");
    xff("203.0.113.7:0", "203.0.113.7");
    xff("[fd00::1]:1, 203.0.113.7:2, [fd00::2]", "203.0.113.7");
}
END_TEST

START_TEST(x_forwarded_for_malformed_where_the_walk_reaches_is_ignored)
{
    static const char *const bad[] = {
        "garbage", "203.0.113.7, garbage", "unknown", "203.0.113.7:", "203.0.113.7:123456",
        "203.0.113.7:8a", "[2001:db8::1", "[2001:db8::1]x", "[2001:db8::1]:", "[1.2.3.4]",
        "2001:db8::1:", "1.2.3.4.5", "203.0.113.7 10.0.0.1", "[2001:db8::1]:99999",
        "example.com", "256.0.0.1", "::ffff:1.2.3.4:80",
    };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        xff(bad[i], "-");
        ck_assert_ptr_null(fw.source);
    }
}
END_TEST

START_TEST(forwarded_reads_rfc_7239_examples)
{
    fwd("for=\"_gazonk\"", "-", false);
    fwd("For=\"[2001:db8:cafe::17]:4711\"", "2001:db8:cafe::17", false);
    fwd("for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60", false);
    ck_assert_str_eq(fw.source, "forwarded");
    fwd("for=192.0.2.43, for=198.51.100.17", "198.51.100.17", false);
    fwd("for=192.0.2.43, for=\"[2001:db8:cafe::17]\"", "2001:db8:cafe::17", false);
    fwd("for=unknown", "-", false);
    fwd("for=192.0.2.43;proto=https", "192.0.2.43", true);
    fwd("for=\"192.0.2.43:47011\";PROTO=HTTPS", "192.0.2.43", true);
    fwd("for=\"\\[2001:db8::1\\]\"", "2001:db8::1", false); /* quoted-pairs */
}
END_TEST

START_TEST(forwarded_names_the_rightmost_untrusted_element)
{
    fwd("for=192.0.2.43, for=198.51.100.17;proto=https, for=10.0.0.3", "198.51.100.17", true);
    fwd("for=10.0.0.1, for=10.0.0.2", "10.0.0.1", false);
    fwd("for=198.51.100.1,, ,for=10.0.0.1", "198.51.100.1", false);
    fwd("for=198.51.100.1 ; proto=https ;by=x", "198.51.100.1", true);
    fwd("for=\"[fd00::7]:80\";proto=http, for=\"[2001:db8::7]:1\";proto=https, for=\"[::1]\"",
        "2001:db8::7", true);
}
END_TEST

START_TEST(forwarded_elements_forged_by_the_client_change_nothing)
{
    /* The client's own "Forwarded: for=1.2.3.4;proto=https" before what
     * the proxy appended. */
    fwd("for=1.2.3.4;proto=https, for=198.51.100.17;proto=http", "198.51.100.17", false);
    fwd("for=10.0.0.1, for=198.51.100.17", "198.51.100.17", false);
    /* A quote left open swallows the proxy's part: malformed, not chosen. */
    fwd("for=\"x, for=198.51.100.17", "-", false);
    fwd("for=\"1.2.3.4\", x=\", for=\"[2001:db8::1]\"", "-", false);
    /* On lines of their own, the proxy's element stays its own. */
    hdr("Forwarded", "for=1.2.3.4;proto=https");
    hdr("Forwarded", "for=198.51.100.17");
    parse();
    ck_assert_str_eq(client(), "198.51.100.17");
    ck_assert(!fw.https);
}
END_TEST

START_TEST(forwarded_unknown_and_obfuscated_nodes_name_no_address)
{
    /* The rule: such a hop cannot be checked, so the walk stops there; it
     * names no address (the peer stays), its proto= still counts. */
    fwd("for=198.51.100.9, for=unknown;proto=https, for=10.0.0.2", "-", true);
    fwd("for=198.51.100.9, for=_hidden, for=10.0.0.2", "-", false);
    fwd("for=\"_SEVKISEK:_p0rt\"", "-", false);
    fwd("for=\"unknown:8080\"", "-", false);
    fwd("for=UNKNOWN", "-", false);
    /* An element without for= is such a hop too. */
    fwd("proto=https;by=10.0.0.1", "-", true);
    fwd("for=198.51.100.9, by=_me, for=10.0.0.2", "-", false);
}
END_TEST

START_TEST(forwarded_malformed_is_ignored_whole)
{
    static const char *const bad[] = {
        "for=", "for=[::1]", "for=\"[::1]", "for=1.2.3.4;for=5.6.7.8",
        "for=1.2.3.4 proto=https", "for=\"::1\"", "for=\"1.2.3.4:99999x\"",
        "for=1.2.3.4;proto=\"ht tp\"", "for=1.2.3.4;proto=1http", "=x", "for=300.1.1.1",
        "for=\"[2001:db8::1]:\"", "for=\"[2001:db8::1]x\"", "for=_", "for=\"_a b\"",
        "for=1.2.3.4;by=a;by=b", "for=1.2.3.4;proto=https;PROTO=http", "for=1.2.3.4,;x",
        "for=\"1.2.3.4\"x", "for=1.2.3.4;x", "for=\"\x01\"", "for=\"a\\\x01\"",
        "for=1.2.3.4:80", "for=\"[1.2.3.4]\"", "for=\"[fe80::1%eth0]\"",
    };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hdr("Forwarded", bad[i]);
        hdr("X-Forwarded-For", "203.0.113.99"); /* not a fallback */
        parse();
        ck_assert_msg(fw.client.family == 0, "Forwarded: %s -> %s", bad[i], client());
        ck_assert_ptr_null(fw.source);
    }
    /* Malformed anywhere, even left of the client: the whole is ignored. */
    fwd("for=\"[::1]\"x, for=198.51.100.17", "-", false);
}
END_TEST

START_TEST(forwarded_comes_before_x_forwarded_for)
{
    hdr("X-Forwarded-For", "203.0.113.1");
    hdr("Forwarded", "for=198.51.100.2");
    parse();
    ck_assert_str_eq(client(), "198.51.100.2");
    ck_assert_str_eq(fw.source, "forwarded");
    /* An empty Forwarded names nobody, and still X-Forwarded-For is not read. */
    hdr("X-Forwarded-For", "203.0.113.1");
    hdr("Forwarded", " , ;");
    parse();
    ck_assert_str_eq(client(), "-");
}
END_TEST

static bool proto(const char *xff_value, const char *xfp)
{
    if (xff_value != NULL)
        hdr("X-Forwarded-For", xff_value);
    hdr("X-Forwarded-Proto", xfp);
    parse();
    return fw.https;
}

START_TEST(x_forwarded_proto_is_read_at_the_clients_hop)
{
    ck_assert(proto(NULL, "https"));
    ck_assert(proto(NULL, "HTTPS"));
    ck_assert(!proto(NULL, "http"));
    ck_assert(!proto(NULL, "wss"));
    ck_assert(!proto(NULL, "https x"));
    ck_assert(proto("203.0.113.7", " https "));
    /* One entry per hop, appended like X-Forwarded-For: the client's hop is
     * 0 from the right here, so a forged leftmost "https" is not it... */
    ck_assert(!proto("1.1.1.1, 203.0.113.7", "https, http"));
    /* ... and 1 from the right here, behind a second proxy. */
    ck_assert(proto("203.0.113.7, 10.0.0.2", "https, http"));
    /* Fewer entries than hops (one proxy set it for all): the leftmost. */
    ck_assert(proto("203.0.113.7, 10.0.0.2, 10.0.0.3", "https"));
    ck_assert(!proto("203.0.113.7, 10.0.0.2, 10.0.0.3", "http"));
    /* Forwarded without proto= in the chosen element: the same rule. */
    hdr("Forwarded", "for=203.0.113.7, for=10.0.0.2");
    hdr("X-Forwarded-Proto", "https, http");
    parse();
    ck_assert(fw.https);
    /* ... with proto=, X-Forwarded-Proto is not read. */
    hdr("Forwarded", "for=203.0.113.7;proto=http");
    hdr("X-Forwarded-Proto", "https");
    parse();
    ck_assert(!fw.https);
}
END_TEST

/* ---- srv_request_peer / srv_request_scheme ---------------------------------- */

static const struct srv_app app = {.trust_proxy = trust, .ntrust_proxy = NTRUST};
static struct srv__peer socket_peer;

static void request_from(const char *peer)
{
    fixture_begin();
    ck_assert(ip(peer, &socket_peer));
    fx_req.app = &app;
    fx_req.peer = &socket_peer;
}

START_TEST(a_trusted_peer_is_believed)
{
    request_from("10.0.0.1");
    fixture_header("X-Forwarded-For", "1.1.1.1, 203.0.113.7");
    fixture_header("X-Forwarded-Proto", "https");
    ck_assert_str_eq(srv_request_peer(&fx_req), "203.0.113.7");
    ck_assert_str_eq(srv_request_scheme(&fx_req), "https");
    ck_assert_str_eq(srv__peer_text(srv__request_peer(&fx_req)), "203.0.113.7");
    fixture_end();
}
END_TEST

START_TEST(an_untrusted_peer_is_not)
{
    request_from("203.0.113.50");
    fixture_header("X-Forwarded-For", "1.1.1.1");
    fixture_header("Forwarded", "for=1.1.1.1;proto=https");
    fixture_header("X-Forwarded-Proto", "https");
    ck_assert_str_eq(srv_request_peer(&fx_req), "203.0.113.50");
    ck_assert_str_eq(srv_request_scheme(&fx_req), "http");
    fixture_end();
}
END_TEST

START_TEST(malformed_headers_leave_the_socket_peer)
{
    request_from("::1");
    fixture_header("X-Forwarded-For", "not an address");
    ck_assert_str_eq(srv_request_peer(&fx_req), "::1");
    ck_assert_str_eq(srv_request_scheme(&fx_req), "http");
    fixture_end();
}
END_TEST

START_TEST(without_trust_proxy_the_headers_mean_nothing)
{
    static const struct srv_app plain = {0};
    fixture_begin();
    ck_assert(ip("10.0.0.1", &socket_peer));
    fx_req.app = &plain;
    fx_req.peer = &socket_peer;
    fixture_header("X-Forwarded-For", "203.0.113.7");
    fixture_header("X-Forwarded-Proto", "https");
    ck_assert_str_eq(srv_request_peer(&fx_req), "10.0.0.1");
    ck_assert_str_eq(srv_request_scheme(&fx_req), "http");
    ck_assert_ptr_null(fx_req.lazy); /* nothing was even looked at */
    fixture_end();
}
END_TEST

START_TEST(the_answer_is_made_once_per_request)
{
    request_from("10.0.0.1");
    fixture_header("X-Forwarded-For", "203.0.113.7");
    const char *a = srv_request_peer(&fx_req);
    fx_headers[0].value = "198.51.100.1"; /* not read again */
    fx_headers[0].value_len = 12;
    ck_assert_ptr_eq(srv_request_peer(&fx_req), a);
    ck_assert_str_eq(a, "203.0.113.7");
    /* The next request on the connection asks again. */
    fixture_next();
    fixture_header("X-Forwarded-For", "198.51.100.1");
    ck_assert_str_eq(srv_request_peer(&fx_req), "198.51.100.1");
    fixture_end();
}
END_TEST

static Suite *forwarded_suite(void)
{
    Suite *s = suite_create("runtime/forwarded");
    TCase *tc = tcase_create("addresses");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, parses_ipv4_dotted_decimal);
    tcase_add_test(tc, parses_ipv6_text_forms);
    tcase_add_test(tc, agrees_with_inet_pton);
    tcase_add_test(tc, ranges_match_by_prefix);
    tcase_add_test(tc, ipv4_mapped_addresses_match_ipv4_ranges);
    tcase_add_test(tc, a_zero_prefix_matches_its_whole_family);
    suite_add_tcase(s, tc);
    tc = tcase_create("x_forwarded_for");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, x_forwarded_for_names_the_rightmost_untrusted_hop);
    tcase_add_test(tc, x_forwarded_for_entries_forged_by_the_client_change_nothing);
    tcase_add_test(tc, x_forwarded_for_all_trusted_names_the_leftmost);
    tcase_add_test(tc, x_forwarded_for_lines_read_as_one_list);
    tcase_add_test(tc, x_forwarded_for_ports_and_brackets);
    tcase_add_test(tc, x_forwarded_for_malformed_where_the_walk_reaches_is_ignored);
    suite_add_tcase(s, tc);
    tc = tcase_create("forwarded");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, forwarded_reads_rfc_7239_examples);
    tcase_add_test(tc, forwarded_names_the_rightmost_untrusted_element);
    tcase_add_test(tc, forwarded_elements_forged_by_the_client_change_nothing);
    tcase_add_test(tc, forwarded_unknown_and_obfuscated_nodes_name_no_address);
    tcase_add_test(tc, forwarded_malformed_is_ignored_whole);
    tcase_add_test(tc, forwarded_comes_before_x_forwarded_for);
    tcase_add_test(tc, x_forwarded_proto_is_read_at_the_clients_hop);
    suite_add_tcase(s, tc);
    tc = tcase_create("request");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, a_trusted_peer_is_believed);
    tcase_add_test(tc, an_untrusted_peer_is_not);
    tcase_add_test(tc, malformed_headers_leave_the_socket_peer);
    tcase_add_test(tc, without_trust_proxy_the_headers_mean_nothing);
    tcase_add_test(tc, the_answer_is_made_once_per_request);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(forwarded_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
