/* Tests for runtime/http_parse.c and the grammar/http.re scanner: request
 * heads (whole, cut at every byte, with each class of bad byte), request
 * smuggling defences, limits, the prefix check of incomplete heads, the
 * request line for error pages, the byte scanners of http_simd.h (the
 * portable and the AVX2 ones give the same answers), and the incremental
 * chunked decoder.  Every input is copied into a malloc'd buffer of its
 * exact size, so ASan catches any read past the end.  The whole suite runs
 * once per way of reading a head (srv__http_scan_path: the rules alone, the
 * portable fast path, and the AVX2 one when the CPU has it). */
#include "http_scan.h"
#include "http_simd.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct srv_limits lim;
static struct srv__header hdrs[256];
static struct srv__head h;
static char *buf; /* the last parsed copy; its views stay valid until the next parse */

static void setup(void)
{
    srv__limits_resolve(&lim, NULL);
}

static void teardown(void)
{
    free(buf);
    buf = NULL;
}

static void check_every_prefix(const char *req, size_t len);

static int parse_n(const char *req, size_t len)
{
    free(buf);
    buf = malloc(len ? len : 1);
    memcpy(buf, req, len);
    memset(&h, 0xa5, sizeof h);
    h.headers = hdrs;
    int rc = srv__http_parse_head(buf, len, &lim, &h);
    if (rc > 0)
        check_every_prefix(req, (size_t)rc);
    return rc;
}

static int parse(const char *req)
{
    return parse_n(req, strlen(req));
}

#define HOST "Host: a\r\n"
#define WRK "GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"

/* ---- request line -------------------------------------------------------- */

START_TEST(parses_the_wrk_request)
{
    ck_assert_int_eq(parse(WRK), (int)strlen(WRK));
    ck_assert_uint_eq(h.method, SRV_METHOD_GET);
    ck_assert_str_eq(h.method_name, "GET");
    ck_assert_str_eq(h.path, "/plaintext");
    ck_assert_uint_eq(h.path_len, 10);
    ck_assert_ptr_null(h.query);
    ck_assert_str_eq(h.host, "127.0.0.1:8080");
    ck_assert_uint_eq(h.host_len, 14);
    ck_assert_uint_eq(h.version_minor, 1);
    ck_assert(h.keep_alive);
    ck_assert(!h.chunked && !h.has_content_length && !h.expect_continue);
    ck_assert_uint_eq(h.nheaders, 1);
    ck_assert_str_eq(h.headers[0].name, "Host");
}
END_TEST

START_TEST(fills_headers_in_order_with_trimmed_values)
{
    const char *r = "GET /a?x=1&y=%zz HTTP/1.1\r\nHost: h\r\nX-A:   one two \t\r\n"
                    "x-b:\r\nX-C:\t\xe2\x82\xac obs\r\nContent-Length: 0\r\n\r\nNEXT";
    ck_assert_int_eq(parse(r), (int)strlen(r) - 4);
    ck_assert_str_eq(h.path, "/a");
    ck_assert_str_eq(h.query, "x=1&y=%zz");
    ck_assert_uint_eq(h.query_len, 9);
    ck_assert_uint_eq(h.nheaders, 5);
    ck_assert_str_eq(h.headers[1].name, "X-A");
    ck_assert_str_eq(h.headers[1].value, "one two");
    ck_assert_uint_eq(h.headers[1].value_len, 7);
    ck_assert_str_eq(h.headers[2].name, "x-b");
    ck_assert_str_eq(h.headers[2].value, "");
    ck_assert_str_eq(h.headers[3].value, "\xe2\x82\xac obs");
    ck_assert(h.has_content_length);
    ck_assert_uint_eq(h.content_length, 0);
}
END_TEST

START_TEST(knows_each_method)
{
    static const struct { const char *name; unsigned bit; } m[] = {
        {"GET", SRV_METHOD_GET},       {"HEAD", SRV_METHOD_HEAD},
        {"POST", SRV_METHOD_POST},     {"PUT", SRV_METHOD_PUT},
        {"DELETE", SRV_METHOD_DELETE}, {"PATCH", SRV_METHOD_PATCH},
        {"OPTIONS", SRV_METHOD_OPTIONS},
    };
    for (size_t i = 0; i < sizeof m / sizeof *m; i++) {
        char r[128];
        snprintf(r, sizeof r, "%s / HTTP/1.1\r\n" HOST "\r\n", m[i].name);
        ck_assert_int_gt(parse(r), 0);
        ck_assert_uint_eq(h.method, m[i].bit);
        ck_assert_str_eq(h.method_name, m[i].name);
    }
}
END_TEST

START_TEST(answers_501_to_unknown_methods)
{
    ck_assert_int_eq(parse("CONNECT a:443 HTTP/1.1\r\n" HOST "\r\n"), -400); /* authority-form: malformed for us */
    ck_assert_int_eq(parse("TRACE / HTTP/1.1\r\n" HOST "\r\n"), -501);
    ck_assert_int_eq(parse("FOO / HTTP/1.1\r\n" HOST "\r\n"), -501);
    ck_assert_int_eq(parse("get / HTTP/1.1\r\n" HOST "\r\n"), -501);
    ck_assert_int_eq(parse("GETS / HTTP/1.1\r\n" HOST "\r\n"), -501);
}
END_TEST

START_TEST(answers_505_to_other_versions)
{
    static const char *other[] = {"2.0", "0.9", "3.1", "9.9", "0.0", "2.1"};
    for (size_t i = 0; i < sizeof other / sizeof *other; i++) {
        char r[64];
        snprintf(r, sizeof r, "GET / HTTP/%s\r\n" HOST "\r\n", other[i]);
        ck_assert_msg(parse(r) == -505, "HTTP/%s", other[i]);
    }
    /* Even while the field lines are incomplete. */
    ck_assert_int_eq(parse("GET / HTTP/2.0\r\nHost: a"), -505);
}
END_TEST

/* RFC 9110 2.5: a higher minor version is processed as the highest one we
 * implement, 1.1: keep-alive by default, Host required. */
START_TEST(reads_http_1_2_to_1_9_as_1_1)
{
    for (char minor = '2'; minor <= '9'; minor++) {
        char r[64];
        int n = snprintf(r, sizeof r, "GET /a HTTP/1.%c\r\n" HOST "\r\n", minor);
        ck_assert_msg(parse(r) == n, "HTTP/1.%c -> %d", minor, parse(r));
        ck_assert_uint_eq(h.version_minor, 1);
        ck_assert(h.keep_alive);
        ck_assert_str_eq(h.path, "/a");
        snprintf(r, sizeof r, "GET /a HTTP/1.%c\r\n\r\n", minor);
        ck_assert_msg(parse(r) == -400, "HTTP/1.%c without Host", minor);
        snprintf(r, sizeof r, "GET /a HTTP/1.%c\r\n" HOST "Connection: close\r\n\r\n", minor);
        ck_assert_int_gt(parse(r), 0);
        ck_assert(!h.keep_alive);
    }
    ck_assert_int_gt(parse("GET / HTTP/1.0\r\n\r\n"), 0);
    ck_assert_uint_eq(h.version_minor, 0);
    ck_assert_int_gt(parse("GET / HTTP/1.1\r\n" HOST "\r\n"), 0);
    ck_assert_uint_eq(h.version_minor, 1);
}
END_TEST

START_TEST(rejects_malformed_request_lines)
{
    static const char *bad[] = {
        "GET  / HTTP/1.1\r\n" HOST "\r\n",  "GET /  HTTP/1.1\r\n" HOST "\r\n",
        "GET /\r\n\r\n",                    "GET / http/1.1\r\n" HOST "\r\n",
        "GET\t/ HTTP/1.1\r\n" HOST "\r\n",  "GET / HTTP/11\r\n" HOST "\r\n",
        "GET / HTTP/1.1 \r\n" HOST "\r\n",  " GET / HTTP/1.1\r\n" HOST "\r\n",
        "GET a HTTP/1.1\r\n" HOST "\r\n",   "GET / HTTP/1.10\r\n" HOST "\r\n",
        "GET /# HTTP/1.1\r\n" HOST "\r\n",  "GET /?a#b HTTP/1.1\r\n" HOST "\r\n",
        "GET * HTTP/1.1\r\n" HOST "\r\n",   "GET / HTTP/1.1\rX\n" HOST "\r\n",
        "GET ftp://a/ HTTP/1.1\r\n" HOST "\r\n", "GET http://u@a/ HTTP/1.1\r\n" HOST "\r\n",
        "GET http:/a/ HTTP/1.1\r\n" HOST "\r\n", "\r\n\r\nGET / HTTP/1.1\n" HOST "\r\n",
        "GET / HTTP/1.1\r\r\n" HOST "\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(parse(bad[i]) == -400, "case %zu: %s -> %d", i, bad[i], parse(bad[i]));
}
END_TEST

START_TEST(skips_empty_lines_before_the_request_line)
{
    const char *r = "\r\n\r\nGET / HTTP/1.1\r\n" HOST "\r\n";
    ck_assert_int_eq(parse(r), (int)strlen(r));
    ck_assert_str_eq(h.path, "/");
}
END_TEST

START_TEST(takes_the_host_from_an_absolute_form_target)
{
    const char *r = "GET http://example.com:8080/a/b?q=1 HTTP/1.1\r\nHost: other\r\n\r\n";
    ck_assert_int_eq(parse(r), (int)strlen(r));
    ck_assert_str_eq(h.host, "example.com:8080");
    ck_assert_uint_eq(h.host_len, 16);
    ck_assert_str_eq(h.path, "/a/b");
    ck_assert_str_eq(h.query, "q=1");
    ck_assert_int_gt(parse("GET HTTPS://[::1]/ HTTP/1.1\r\n" HOST "\r\n"), 0);
    ck_assert_str_eq(h.host, "[::1]");
    ck_assert_int_gt(parse("GET http://a.b HTTP/1.1\r\n" HOST "\r\n"), 0);
    ck_assert_str_eq(h.path, "/");
    ck_assert_str_eq(h.host, "a.b");
    ck_assert_int_gt(parse("GET http://a.b?x HTTP/1.1\r\n" HOST "\r\n"), 0);
    ck_assert_str_eq(h.path, "/");
    ck_assert_str_eq(h.query, "x");
    /* HTTP/1.1 still needs its Host line (RFC 9112 3.2). */
    ck_assert_int_eq(parse("GET http://a.b/ HTTP/1.1\r\n\r\n"), -400);
    ck_assert_int_gt(parse("GET http://a.b/ HTTP/1.0\r\n\r\n"), 0);
    ck_assert_str_eq(h.host, "a.b");
}
END_TEST

START_TEST(understands_options_asterisk)
{
    ck_assert_int_gt(parse("OPTIONS * HTTP/1.1\r\n" HOST "\r\n"), 0);
    ck_assert_uint_eq(h.method, SRV_METHOD_OPTIONS);
    ck_assert_str_eq(h.path, "*");
    ck_assert_uint_eq(h.path_len, 1);
}
END_TEST

/* ---- keep-alive ------------------------------------------------------------ */

START_TEST(http10_closes_unless_it_asks_for_keep_alive)
{
    ck_assert_int_gt(parse("GET / HTTP/1.0\r\n\r\n"), 0);
    ck_assert_uint_eq(h.version_minor, 0);
    ck_assert(!h.keep_alive);
    ck_assert_ptr_null(h.host);
    ck_assert_int_gt(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), 0);
    ck_assert(h.keep_alive);
}
END_TEST

START_TEST(reads_connection_as_a_token_list_across_lines)
{
    ck_assert_int_gt(parse("GET / HTTP/1.1\r\n" HOST "Connection: CLOSE\r\n\r\n"), 0);
    ck_assert(!h.keep_alive);
    ck_assert_int_gt(parse("GET / HTTP/1.1\r\n" HOST "Connection: upgrade, close\r\n\r\n"), 0);
    ck_assert(!h.keep_alive);
    ck_assert_int_gt(parse("GET / HTTP/1.1\r\n" HOST "Connection: te\r\nconnection: ,close,\r\n\r\n"), 0);
    ck_assert(!h.keep_alive);
    ck_assert_int_gt(parse("GET / HTTP/1.1\r\n" HOST "Connection: closed\r\n\r\n"), 0);
    ck_assert(h.keep_alive);
    ck_assert_int_gt(parse("GET / HTTP/1.0\r\nConnection: x\r\nConnection: keep-alive\r\n\r\n"), 0);
    ck_assert(h.keep_alive);
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\n" HOST "Connection: close keep-alive\r\n\r\n"), -400);
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\n" HOST "Connection: a/b\r\n\r\n"), -400);
}
END_TEST

/* ---- Host -------------------------------------------------------------------- */

START_TEST(http11_needs_exactly_one_valid_host)
{
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\n\r\n"), -400);
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), -400);
    ck_assert_int_eq(parse("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n"), -400);
    static const char *bad[] = {"", "a b", "a/b", "[::1", "a:b:c", "a@b", "a:123456", "%zz", "a,b:x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char r[128];
        snprintf(r, sizeof r, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", bad[i]);
        ck_assert_msg(parse(r) == -400, "Host: %s", bad[i]);
    }
    static const char *good[] = {"a", "EXAMPLE.com:80", "127.0.0.1:8080", "[::1]:8080", "a:", "x%41"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        char r[128];
        snprintf(r, sizeof r, "GET / HTTP/1.1\r\nhOsT:  %s \r\n\r\n", good[i]);
        ck_assert_msg(parse(r) > 0, "Host: %s", good[i]);
        ck_assert_str_eq(h.host, good[i]);
    }
}
END_TEST

/* ---- field syntax ------------------------------------------------------------ */

START_TEST(rejects_space_before_colon)
{
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), -400);
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\n" HOST "X-A\t: b\r\n\r\n"), -400);
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\n" HOST "Content-Length : 5\r\n\r\n"), -400);
}
END_TEST

START_TEST(rejects_obs_fold)
{
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\n" HOST "X-A: b\r\n c\r\n\r\n"), -400);
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\n" HOST "X-A: b\r\n\tc\r\n\r\n"), -400);
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\n X-A: b\r\n" HOST "\r\n"), -400);
}
END_TEST

START_TEST(rejects_bare_cr_and_bare_lf)
{
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\n" HOST "X-A: b\rc\r\n\r\n"), -400);
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\n" HOST "X-A: b\r\r\n\r\n"), -400);
    ck_assert_int_eq(parse("GET / HTTP/1.1\n" HOST "\r\n"), -400);
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\n" HOST "X-A: b\n\r\n"), -400);
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\nHost: a\n\n"), -400);
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\n" HOST "\n"), -400);
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\n" HOST "\r\r\n"), -400);
    /* (A head long enough for 32-byte blocks, a bare LF its last byte.) */
    ck_assert_int_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nng: ced\r\n\n"), -400);
    ck_assert_int_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nX-Long: abcdefghijklmn\n"), -400);
}
END_TEST

START_TEST(rejects_empty_field_names)
{
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\n" HOST ": b\r\n\r\n"), -400);
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\n" HOST "X-A b\r\n\r\n"), -400);
}
END_TEST

/* Each byte value in each part of a request gets the answer its grammar
 * class calls for. */
static bool is_tchar(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

START_TEST(answers_each_byte_class_in_field_values)
{
    for (int c = 0; c < 256; c++) {
        char r[64];
        int n = snprintf(r, sizeof r, "GET / HTTP/1.1\r\nHost: a\r\nX: a%cb\r\n\r\n", 'Z');
        r[n - 6] = (char)c;
        bool ok = c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
        int rc = parse_n(r, (size_t)n);
        ck_assert_msg(ok ? rc == n : rc == -400, "byte %#x -> %d", c, rc);
    }
}
END_TEST

START_TEST(answers_each_byte_class_in_field_names)
{
    for (int c = 0; c < 256; c++) {
        char r[64];
        int n = snprintf(r, sizeof r, "GET / HTTP/1.1\r\nHost: a\r\nXZY: v\r\n\r\n");
        r[n - 9] = (char)c;
        if (c == ':')
            continue; /* "X:Y: v" is the field X with value "Y: v" */
        int rc = parse_n(r, (size_t)n);
        ck_assert_msg(is_tchar(c) ? rc == n : rc == -400, "byte %#x -> %d", c, rc);
    }
}
END_TEST

START_TEST(answers_each_byte_class_in_the_path_and_query)
{
    for (int c = 0; c < 256; c++) {
        char r[64];
        int n = snprintf(r, sizeof r, "GET /aZb?xZy HTTP/1.1\r\nHost: a\r\n\r\n");
        bool pchar = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                     (c && strchr("-._~!$&'()*+,;=:@/", c));
        r[6] = (char)c;
        int rc = parse_n(r, (size_t)n);
        ck_assert_msg((pchar || c == '?') ? rc == n : rc == -400, "path byte %#x -> %d", c, rc);
        n = snprintf(r, sizeof r, "GET /aZb?xZy HTTP/1.1\r\nHost: a\r\n\r\n");
        r[10] = (char)c;
        rc = parse_n(r, (size_t)n);
        bool qchar = c >= 0x21 && c <= 0x7e && c != '#';
        ck_assert_msg(qchar ? rc == n : rc == -400, "query byte %#x -> %d", c, rc);
    }
}
END_TEST

START_TEST(answers_each_byte_class_in_the_method)
{
    for (int c = 0; c < 256; c++) {
        char r[64];
        int n = snprintf(r, sizeof r, "GZT / HTTP/1.1\r\nHost: a\r\n\r\n");
        r[1] = (char)c;
        int rc = parse_n(r, (size_t)n);
        int want = c == 'E' ? n : is_tchar(c) ? -501 : -400;
        ck_assert_msg(rc == want, "byte %#x -> %d", c, rc);
    }
}
END_TEST

START_TEST(rejects_control_characters_and_nul_in_fields)
{
    ck_assert_int_eq(parse_n("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", 30), -400);
    ck_assert_int_eq(parse_n("GET / HTTP/1.1\r\nHo\0st: a\r\n\r\n", 29), -400);
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\n" HOST "X: \x7f\r\n\r\n"), -400);
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\n" HOST "X: \x1b[0m\r\n\r\n"), -400);
}
END_TEST

/* ---- path ---------------------------------------------------------------------- */

static const char *path_of(const char *target)
{
    char r[256];
    snprintf(r, sizeof r, "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", target);
    int rc = parse(r);
    if (rc < 0)
        return rc == -400 ? "(400)" : "(error)";
    ck_assert_uint_eq(strlen(h.path), h.path_len);
    return h.path;
}

START_TEST(decodes_percent_escapes_in_place)
{
    ck_assert_str_eq(path_of("/a%20b/%41%7e"), "/a b/A~");
    ck_assert_str_eq(path_of("/caf%C3%A9"), "/caf\xc3\xa9");
    ck_assert_str_eq(path_of("/a%2Fb"), "/a/b");
    ck_assert_str_eq(path_of("/a%2fb?x=%41"), "/a/b");
    ck_assert_str_eq(h.query, "x=%41");
}
END_TEST

START_TEST(rejects_invalid_percent_escapes_and_encoded_nul)
{
    static const char *bad[] = {"/%", "/%4", "/%zz", "/%4g", "/a%00b", "/%0", "/%%41"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(strcmp(path_of(bad[i]), "(400)") == 0, "%s", bad[i]);
    ck_assert_str_eq(path_of("/%01"), "/\x01");
}
END_TEST

START_TEST(removes_dot_segments)
{
    ck_assert_str_eq(path_of("/a/./b"), "/a/b");
    ck_assert_str_eq(path_of("/a/../b"), "/b");
    ck_assert_str_eq(path_of("/a/b/.."), "/a/");
    ck_assert_str_eq(path_of("/a/."), "/a/");
    ck_assert_str_eq(path_of("/."), "/");
    ck_assert_str_eq(path_of("/a/.."), "/");
    ck_assert_str_eq(path_of("/a/b/../../c"), "/c");
    ck_assert_str_eq(path_of("//.."), "/");
    ck_assert_str_eq(path_of("/a/%2e%2E/b"), "/b");
    ck_assert_str_eq(path_of("/.well-known/x"), "/.well-known/x");
    ck_assert_str_eq(path_of("/a/..b/c."), "/a/..b/c.");
    ck_assert_str_eq(path_of("/a/...?q"), "/a/...");
}
END_TEST

START_TEST(rejects_dot_dot_above_the_root)
{
    static const char *bad[] = {"/..", "/../", "/../a", "/a/../..", "/a/./../../b",
                                "/%2e%2e/etc", "/a%2f..%2f..%2fetc", "/.%2e"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(strcmp(path_of(bad[i]), "(400)") == 0, "%s", bad[i]);
}
END_TEST

/* ---- smuggling ------------------------------------------------------------------ */

static int with_fields(const char *fields)
{
    char r[512];
    snprintf(r, sizeof r, "POST / HTTP/1.1\r\nHost: a\r\n%s\r\n", fields);
    return parse(r);
}

START_TEST(reads_a_valid_content_length)
{
    ck_assert_int_gt(with_fields("Content-Length: 42\r\n"), 0);
    ck_assert(h.has_content_length);
    ck_assert_uint_eq(h.content_length, 42);
    ck_assert_int_gt(with_fields("content-length:  007 \r\n"), 0);
    ck_assert_uint_eq(h.content_length, 7);
}
END_TEST

START_TEST(rejects_content_length_with_transfer_encoding)
{
    ck_assert_int_eq(with_fields("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), -400);
    ck_assert_int_eq(with_fields("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), -400);
    ck_assert_int_eq(with_fields("Transfer-Encoding: gzip\r\nContent-Length: 5\r\n"), -400);
}
END_TEST

START_TEST(rejects_repeated_or_differing_content_length)
{
    ck_assert_int_eq(with_fields("Content-Length: 5\r\nContent-Length: 6\r\n"), -400);
    ck_assert_int_eq(with_fields("Content-Length: 5\r\nContent-Length: 5\r\n"), -400);
    ck_assert_int_eq(with_fields("Content-Length: 5, 6\r\n"), -400);
    ck_assert_int_eq(with_fields("Content-Length: 5, 5\r\n"), -400);
    ck_assert_int_eq(with_fields("Content-Length: 5,5\r\n"), -400);
}
END_TEST

START_TEST(rejects_malformed_content_length)
{
    static const char *bad[] = {"", "+5", "-5", "5a", "0x5", "5 5", "5.0", " ",
                                "18446744073709551616", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char f[128];
        snprintf(f, sizeof f, "Content-Length: %s\r\n", bad[i]);
        ck_assert_msg(with_fields(f) == -400, "Content-Length: %s", bad[i]);
    }
}
END_TEST

START_TEST(answers_413_to_a_content_length_over_the_limit)
{
    lim.body = 100;
    ck_assert_int_gt(with_fields("Content-Length: 100\r\n"), 0);
    ck_assert_int_eq(with_fields("Content-Length: 101\r\n"), -413);
    ck_assert_int_eq(with_fields("Content-Length: 18446744073709551615\r\n"), -413);
}
END_TEST

START_TEST(accepts_only_a_final_chunked)
{
    ck_assert_int_gt(with_fields("Transfer-Encoding: chunked\r\n"), 0);
    ck_assert(h.chunked);
    ck_assert(!h.has_content_length);
    ck_assert_int_gt(with_fields("transfer-encoding: Chunked \r\n"), 0);
    ck_assert(h.chunked);
    /* Framed correctly (chunked last), but a coding we do not decode: 501. */
    ck_assert_int_eq(with_fields("Transfer-Encoding: gzip, chunked\r\n"), -501);
    ck_assert_int_eq(with_fields("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"), -501);
    ck_assert_int_eq(with_fields("Transfer-Encoding: x;a=b, chunked\r\n"), -501);
    /* RFC 9112 6.3: chunked not the final coding of a request: 400. */
    ck_assert_int_eq(with_fields("Transfer-Encoding: gzip\r\n"), -400);
    ck_assert_int_eq(with_fields("Transfer-Encoding: identity\r\n"), -400);
    ck_assert_int_eq(with_fields("Transfer-Encoding: xchunked\r\n"), -400);
    ck_assert_int_eq(with_fields("Transfer-Encoding: chunked2\r\n"), -400);
    ck_assert_int_eq(with_fields("Transfer-Encoding: gzip, deflate\r\n"), -400);
    ck_assert_int_eq(with_fields("Transfer-Encoding: chunked, gzip\r\n"), -400);
    ck_assert_int_eq(with_fields("Transfer-Encoding: chunked, chunked\r\n"), -400);
    ck_assert_int_eq(with_fields("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), -400);
    ck_assert_int_eq(with_fields("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n"), -400);
    ck_assert_int_eq(with_fields("Transfer-Encoding: \r\n"), -400);
    ck_assert_int_eq(with_fields("Transfer-Encoding: ,\r\n"), -400);
    ck_assert_int_eq(with_fields("Transfer-Encoding: chunked;a=b\r\n"), -400);
    ck_assert_int_eq(with_fields("Transfer-Encoding: \"chunked\"\r\n"), -400);
    ck_assert_int_eq(with_fields("Transfer-Encoding: chunked x\r\n"), -400);
    ck_assert_int_eq(with_fields("Transfer-Encoding : chunked\r\n"), -400);
    ck_assert_int_eq(with_fields("Transfer-Encoding:\tchunked\x0b\r\n"), -400);
}
END_TEST

START_TEST(rejects_transfer_encoding_in_http10)
{
    ck_assert_int_eq(parse("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), -400);
}
END_TEST

/* ---- Expect -------------------------------------------------------------------- */

START_TEST(flags_expect_100_continue)
{
    ck_assert_int_gt(with_fields("Expect: 100-continue\r\nContent-Length: 3\r\n"), 0);
    ck_assert(h.expect_continue);
    ck_assert_int_gt(with_fields("expect: 100-CONTINUE\r\n"), 0);
    ck_assert(h.expect_continue);
    ck_assert_int_gt(parse("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n"), 0);
    ck_assert(!h.expect_continue);
}
END_TEST

START_TEST(answers_417_to_other_expectations)
{
    ck_assert_int_eq(with_fields("Expect: 200-ok\r\n"), -417);
    ck_assert_int_eq(with_fields("Expect: 100-continue, x\r\n"), -417);
    ck_assert_int_eq(with_fields("Expect: 100-continue\r\nExpect: foo\r\n"), -417);
    ck_assert_int_eq(with_fields("Expect: \r\n"), -417);
}
END_TEST

/* ---- limits -------------------------------------------------------------------- */

static char *request_with_target(size_t target_len)
{
    static const char tail[] = " HTTP/1.1\r\nHost: a\r\n\r\n";
    char *r = malloc(4 + target_len + sizeof tail);
    memcpy(r, "GET ", 4);
    r[4] = '/';
    memset(r + 5, 'a', target_len - 1);
    memcpy(r + 4 + target_len, tail, sizeof tail);
    return r;
}

START_TEST(answers_414_to_a_long_request_line_even_while_incomplete)
{
    lim.request_line = 100; /* "GET " + target + " HTTP/1.1" = 13 + target */
    char *ok = request_with_target(87), *bad = request_with_target(88);
    ck_assert_int_gt(parse(ok), 0);
    ck_assert_int_eq(parse(bad), -414);
    ck_assert_int_eq(parse_n(bad, 102), -414);
    ck_assert_int_eq(parse_n(bad, 101), 0);
    ck_assert_int_eq(parse_n(ok, 101), 0);
    free(ok);
    free(bad);
}
END_TEST

START_TEST(answers_431_to_a_large_header_block_even_while_incomplete)
{
    lim.header_bytes = 64; /* after the request line, through the empty line */
    const char *line = "GET / HTTP/1.1\r\n";
    char r[256];
    /* "Host: a\r\n" (9) + "X: " + v + "\r\n" (5 + v) + "\r\n" (2) = 64 for v = 48 */
    snprintf(r, sizeof r, "%sHost: a\r\nX: %.*s\r\n\r\n", line, 48,
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    ck_assert_int_eq(parse(r), (int)strlen(r));
    snprintf(r, sizeof r, "%sHost: a\r\nX: %.*s\r\n\r\n", line, 49,
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    ck_assert_int_eq(parse(r), -431);
    ck_assert_int_eq(parse_n(r, strlen(line) + 64), -431);
    ck_assert_int_eq(parse_n(r, strlen(line) + 63), 0);
}
END_TEST

START_TEST(answers_431_to_too_many_fields_even_while_incomplete)
{
    lim.header_count = 3;
    ck_assert_int_gt(parse("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n"), 0);
    ck_assert_uint_eq(h.nheaders, 3);
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), -431);
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n"), -431);
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nHost: 3\r\n"), -431);
}
END_TEST

/* ---- incomplete input ------------------------------------------------------------ */

static const char *const valid[] = {
    WRK,
    "\r\nGET /a/%41/../b?q=1 HTTP/1.1\r\nHost: [::1]:80\r\nX:\r\nY:  y y  \r\n\r\n",
    ("POST http://h:1/p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
     "Connection: close\r\nExpect: 100-continue\r\n\r\n"),
    "OPTIONS * HTTP/1.0\r\nContent-Length: 12\r\n\r\n",
};

START_TEST(is_incomplete_when_cut_at_any_byte)
{
    for (size_t v = 0; v < sizeof valid / sizeof *valid; v++) {
        size_t len = strlen(valid[v]);
        ck_assert_int_eq(parse(valid[v]), (int)len);
        for (size_t cut = 0; cut < len; cut++) {
            int rc = parse_n(valid[v], cut);
            ck_assert_msg(rc == 0, "request %zu cut at %zu -> %d", v, cut, rc);
            ck_assert_msg(memcmp(buf, valid[v], cut) == 0, "request %zu cut at %zu: buffer changed", v, cut);
        }
    }
}
END_TEST

START_TEST(leaves_the_buffer_alone_on_errors)
{
    const char *r = "GET /a%20b/.. HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n";
    ck_assert_int_eq(parse(r), -400);
    ck_assert(memcmp(buf, r, strlen(r)) == 0);
    r = "GET /a%20b/../.. HTTP/1.1\r\nHost: a\r\n\r\n";
    ck_assert_int_eq(parse(r), -400);
    ck_assert(memcmp(buf, r, strlen(r)) == 0);
}
END_TEST

/* ---- the prefix check of incomplete heads ------------------------------------------ */

/* Every prefix of a valid head is incomplete to the parser and passes the
 * prefix check: fed whole, a byte at a time, and from where an incomplete
 * parse left it.  parse_n() runs this on every head it finds valid, so it
 * covers every valid request in this file. */
static void check_every_prefix(const char *req, size_t len)
{
    static struct srv__header sub_hdrs[256];
    struct srv__head sub;
    struct srv__prefix bytewise = {0};
    /* (Plain tests and ck_abort_msg in loops like this one: every passing
     * ck_assert costs Check a write to its runner.) */
    for (size_t cut = 0; cut < len; cut++) {
        char *b = malloc(cut ? cut : 1);
        memcpy(b, req, cut);
        struct srv__prefix whole = {0};
        if (srv__http_prefix(&whole, b, cut) != 0)
            ck_abort_msg("prefix check fails at %zu of %.*s", cut, (int)len, req);
        sub.headers = sub_hdrs;
        int rc = srv__http_parse_head(b, cut, &lim, &sub);
        if (rc != 0)
            ck_abort_msg("cut at %zu -> %d: %.*s", cut, rc, (int)len, req);
        struct srv__prefix resumed = sub.prefix;
        for (size_t i = cut; i < len; i++)
            if (srv__http_prefix(&resumed, req + i, 1) != 0)
                ck_abort_msg("resumed at %zu fails at %zu: %.*s", cut, i, (int)len, req);
        if (srv__http_prefix(&bytewise, req + cut, 1) != 0)
            ck_abort_msg("fed a byte at a time, fails at %zu: %.*s", cut, (int)len, req);
        free(b);
    }
}

/* Where feeding R[0..LEN) a byte at a time first fails, or LEN. */
static size_t prefix_fails_at(const char *r, size_t len)
{
    struct srv__prefix st = {0};
    for (size_t i = 0; i < len; i++) {
        char *b = malloc(1);
        b[0] = r[i];
        int rc = srv__http_prefix(&st, b, 1);
        free(b);
        if (rc < 0)
            return i;
    }
    return len;
}

/* The start of a TLS 1.2/1.3 ClientHello record, as a browser sends it to a
 * port it takes for HTTPS. */
static const unsigned char client_hello[] = {
    0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x5e, 0x9a, 0x0a, 0x1b,
    0x2c, 0x3d, 0x4e, 0x5f, 0x60, 0x71, 0x82, 0x93, 0xa4, 0xb5, 0xc6, 0xd7, 0xe8, 0xf9, 0x0a,
    0x1b, 0x2c, 0x3d, 0x4e, 0x5f, 0x60, 0x71, 0x82, 0x93, 0xa4, 0xb5, 0x20, 0x13, 0x01, 0x13,
    0x02, 0x13, 0x03, 0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x00, 0x00, 0x0e, 0x00, 0x0c, 0x00, 0x00,
    0x09, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't',
};

START_TEST(rejects_a_tls_client_hello_at_once)
{
    const char *r = (const char *)client_hello;
    ck_assert_uint_eq(prefix_fails_at(r, sizeof client_hello), 0);
    for (size_t cut = 1; cut <= sizeof client_hello; cut++)
        ck_assert_msg(parse_n(r, cut) == -400, "cut at %zu -> %d", cut, parse_n(r, cut));
    ck_assert(memcmp(buf, client_hello, sizeof client_hello) == 0);
}
END_TEST

/* Each case fails at its first bad byte, and not before: the parser says
 * "incomplete" up to that byte and 400 from it on, whatever follows. */
START_TEST(rejects_bytes_no_request_could_continue_with)
{
    static const struct { const char *r; size_t len; size_t bad; } cases[] = {
#define CASE(lit, bad) {lit, sizeof lit - 1, bad}
        CASE("\0", 0), CASE("\xff", 0), CASE("\n", 0), CASE(" GET", 0), CASE("\r\r", 1),
        CASE("\r\n\r\nG\x01", 5), CASE("GET\t/", 3), CASE("GET  /", 4), CASE("GET a", 4),
        CASE("GET /\x7f", 5), CASE("GET /a b", 7), CASE("GET /#", 5), CASE("GET /a%zz", 7),
        CASE("GET /a%0", 8), CASE("GET /%00", 7), CASE("GET /?a#", 7), CASE("GET /?\x80", 6),
        CASE("GET / http/1.1", 6), CASE("GET / HTTP/1.1 ", 14), CASE("GET / HTTP/11", 12),
        CASE("GET / HTTP/1.1\n", 14), CASE("GET / HTTP/1.1\r\r", 15), CASE("POST *x", 6),
        CASE("GET ftp://a/", 4), CASE("GET http:/a", 10), CASE("GET http://u@a/", 12),
        CASE("GET http:///", 11), CASE("GET http://a:123456/", 18), CASE("GET http://[::1", 15),
        CASE("GET http://[::1]x", 16), CASE("GET http://[vx", 13), CASE("GET http://a%g", 13),
        CASE("GET / HTTP/1.1\r\n a", 16), CASE("GET / HTTP/1.1\r\nHost : a", 20),
        CASE("GET / HTTP/1.1\r\n: a", 16), CASE("GET / HTTP/1.1\r\nX: a\0b", 20),
        CASE("GET / HTTP/1.1\r\nX: a\rb", 21), CASE("GET / HTTP/1.1\r\nX: a\x1b", 20),
        CASE("GET / HTTP/1.1\r\nX: a\x7f", 20), CASE("GET / HTTP/1.1\r\nX: a\n", 20),
        CASE("GET / HTTP/1.1\r\nHost: a\r\n\r", 26), CASE("GET / HTTP/1.1\r\nX:\r\n\x01", 20),
#undef CASE
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *r = cases[i].r;
        size_t len = cases[i].len, bad = cases[i].bad;
        ck_assert_msg(prefix_fails_at(r, len) == bad, "case %zu fails at %zu, not %zu", i,
                      prefix_fails_at(r, len), bad);
        for (size_t cut = 0; cut <= len; cut++) {
            int rc = parse_n(r, cut);
            ck_assert_msg(cut <= bad ? rc == 0 : rc == -400, "case %zu cut at %zu -> %d", i, cut, rc);
        }
    }
}
END_TEST

START_TEST(goes_on_from_where_an_incomplete_parse_stopped)
{
    const char *r = "GET /a HTTP/1.1\r\nHost: a\r\nX-Long: abc";
    for (size_t cut = 0; cut <= strlen(r); cut++) {
        ck_assert_int_eq(parse_n(r, cut), 0);
        struct srv__prefix st = h.prefix;
        ck_assert_int_eq(srv__http_prefix(&st, r + cut, strlen(r) - cut), 0);
        ck_assert_int_eq(srv__http_prefix(&st, "def  \t", 6), 0);
        struct srv__prefix bad = st;
        ck_assert_int_eq(srv__http_prefix(&bad, "\x01", 1), -400);
        ck_assert_int_eq(srv__http_prefix(&st, "\r\n\r\nanything\0\xff", 14), 0);
    }
    /* Whatever follows a complete head is not the head's. */
    struct srv__prefix st = {0};
    ck_assert_int_eq(srv__http_prefix(&st, WRK "\0\x16\x03", sizeof WRK + 2), 0);
}
END_TEST

/* The prefix check and the parser read the same grammar: on every head made
 * by putting each byte value at each position of one of these, the check
 * fails exactly when the scanner says malformed (the limits are not hit,
 * and a bad Host value is a matter of meaning, not syntax). */
static void check_agrees(const char *r, size_t len)
{
    struct srv__header sub_hdrs[256];
    struct srv__head sub = {.headers = sub_hdrs};
    struct srv__scan sc;
    char *b = malloc(len);
    memcpy(b, r, len);
    struct srv__prefix st = {0};
    bool fails = srv__http_prefix(&st, b, len) < 0;
    int rc = srv__http_scan_head(b, len, &lim, &sub, &sc);
    if (fails != (rc == -400))
        ck_abort_msg("prefix check %s, scanner %d: %.*s", fails ? "fails" : "passes", rc,
                     (int)len, r);
    free(b);
}

START_TEST(the_prefix_check_reads_the_parsers_grammar)
{
    static const char *const heads[] = {
        "GET /a/%41.b?q=1&r HTTP/1.1\r\nHost: x:1\r\nX-A: b\tc \r\n\r\n",
        "POST http://[v1f.a:b]:80/p?q HTTP/1.0\r\nA:\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: [::1]\r\n\r\n",
        "\r\nPUT https://a%2f.b-c~ HTTP/1.1\r\nB: \x80\xff\r\n\r\n",
        "X http://a:/ HTTP/1.1\r\n\r\n",
        "GET http://a.b:12345./p?x HTTP/1.1\r\n\r\n", /* (a sixth digit: malformed) */
        "GET HTTP://[::1]:65535/%7E HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof heads / sizeof *heads; i++) {
        size_t len = strlen(heads[i]);
        char *r = malloc(len);
        for (size_t at = 0; at < len; at++) {
            for (int c = 0; c < 256; c++) {
                memcpy(r, heads[i], len);
                r[at] = (char)c;
                check_agrees(r, len);
            }
        }
        free(r);
    }
}
END_TEST

/* ---- the request line, for error responses ------------------------------------------ */

static struct srv__head rl;

static int request_line_n(const char *req, size_t len)
{
    free(buf);
    buf = malloc(len ? len : 1);
    memcpy(buf, req, len);
    memset(&rl, 0xa5, sizeof rl);
    return srv__http_parse_request_line(buf, len, &lim, &rl);
}

static int request_line(const char *req)
{
    return request_line_n(req, strlen(req));
}

START_TEST(reads_the_request_line_of_a_rejected_head)
{
    const char *r = "GET /a/../b%20c?x=1 HTTP/1.1\r\nContent-Length: x\r\n\r\n";
    ck_assert_int_eq(parse(r), -400);
    ck_assert_int_eq(srv__http_parse_request_line(buf, strlen(r), &lim, &rl), 30);
    ck_assert_uint_eq(rl.method, SRV_METHOD_GET);
    ck_assert_str_eq(rl.method_name, "GET");
    ck_assert_str_eq(rl.path, "/b c");
    ck_assert_uint_eq(rl.path_len, 4);
    ck_assert_str_eq(rl.query, "x=1");
    ck_assert_uint_eq(rl.query_len, 3);
    ck_assert_uint_eq(rl.version_minor, 1);
    ck_assert_uint_eq(rl.nheaders, 0);
    ck_assert_ptr_null(rl.host);
    /* A head cut off after its request line (a timeout), and one over a limit. */
    ck_assert_int_eq(request_line("DELETE /x HTTP/1.0\r\nHost: a\r\nX: y"), 20);
    ck_assert_uint_eq(rl.method, SRV_METHOD_DELETE);
    ck_assert_str_eq(rl.path, "/x");
    ck_assert_ptr_null(rl.query);
    ck_assert_uint_eq(rl.version_minor, 0);
    lim.header_count = 1;
    r = "GET /y HTTP/1.1\r\nHost: a\r\nA: 1\r\n\r\n";
    ck_assert_int_eq(parse(r), -431);
    ck_assert_int_eq(srv__http_parse_request_line(buf, strlen(r), &lim, &rl), 17);
    ck_assert_str_eq(rl.path, "/y");
}
END_TEST

START_TEST(reads_any_well_formed_request_line)
{
    ck_assert_int_eq(request_line("BREW /pot HTTP/1.1\r\n"), 20);
    ck_assert_uint_eq(rl.method, 0);
    ck_assert_str_eq(rl.method_name, "BREW");
    ck_assert_int_eq(request_line("\r\n\r\nGET http://a.b:80 HTTP/1.1\r\n"), 32);
    ck_assert_str_eq(rl.path, "/");
    ck_assert_ptr_null(rl.host);
    ck_assert_int_gt(request_line("GET HTTP://a/x/./y?z HTTP/1.1\r\n"), 0);
    ck_assert_str_eq(rl.path, "/x/y");
    ck_assert_str_eq(rl.query, "z");
    ck_assert_int_gt(request_line("GET * HTTP/1.1\r\n"), 0); /* 400 for a head, fine here */
    ck_assert_str_eq(rl.path, "*");
    ck_assert_int_gt(request_line("GET / HTTP/1.7\r\n"), 0);
    ck_assert_uint_eq(rl.version_minor, 1);
    ck_assert_int_gt(request_line("GET / HTTP/2.0\r\n"), 0);
    ck_assert_uint_eq(rl.version_minor, 1);
}
END_TEST

START_TEST(finds_no_request_line_where_there_is_none)
{
    ck_assert_int_eq(request_line(""), 0);
    ck_assert_int_eq(request_line("\r\n"), 0);
    ck_assert_int_eq(request_line("GET / HTTP/1.1"), 0);
    ck_assert_int_eq(request_line("GET / HTTP/1.1\r"), 0);
    ck_assert_int_eq(request_line("GET /# HTTP/1.1\r\n"), -400);
    ck_assert_int_eq(request_line("GET / HTTP/1.1\n"), -400);
    ck_assert_int_eq(request_line("GET /../x HTTP/1.1\r\n"), -400);
    ck_assert_int_eq(request_line("GET /%2e%2e HTTP/1.1\r\n"), -400);
    ck_assert_int_eq(request_line_n("\x16\x03\x01\x02\x00\n", 6), -400);
    lim.request_line = 20; /* "GET " + target + " HTTP/1.1" */
    char *ok = request_with_target(7), *bad = request_with_target(8);
    ck_assert_int_gt(request_line(ok), 0);
    ck_assert_int_eq(request_line(bad), -414);
    free(ok);
    free(bad);
}
END_TEST

START_TEST(reads_the_request_line_exactly_as_the_head)
{
    const char *const heads[] = {
        WRK, valid[1], valid[2], valid[3],
        "PATCH http://x:9?a=%zz HTTP/1.1\r\nHost: y\r\n\r\n",
        "GET /a/b/../../c/./%7e?%20 HTTP/1.0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof heads / sizeof *heads; i++) {
        ck_assert_int_gt(parse(heads[i]), 0);
        struct srv__head whole = h;
        char *first = buf;
        buf = NULL;
        ck_assert_int_gt(request_line(heads[i]), 0);
        ck_assert_uint_eq(rl.method, whole.method);
        ck_assert_str_eq(rl.method_name, whole.method_name);
        ck_assert_str_eq(rl.path, whole.path);
        ck_assert_uint_eq(rl.path_len, whole.path_len);
        ck_assert(whole.query ? rl.query && strcmp(rl.query, whole.query) == 0 : !rl.query);
        ck_assert_uint_eq(rl.query_len, whole.query_len);
        ck_assert_uint_eq(rl.version_minor, whole.version_minor);
        free(first);
    }
}
END_TEST

/* ---- the byte scanners (http_simd.h) ---------------------------------------------- */

/* References written from the grammar, not from the scanners' tables. */
static bool ref_tchar(int c)
{
    return c > 0 && c < 0x80 && is_tchar(c);
}

static bool ref_stop(int c)
{
    return c < 0x20 || c == 0x7f;
}

static bool ref_in(enum srv__class cl, int c)
{
    bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (cl == SRV__CLASS_TCHAR)
        return ref_tchar(c);
    if (cl == SRV__CLASS_PATH)
        return c > 0 && (alnum || strchr("-_~!$&'()*+,;=:@/", c));
    return c > 0 && (alnum || strchr("-._~!$&'()*+,;=", c));
}

/* The AVX2 scanners, called from AVX2 code (they take its constants). */
static SRV__AVX2 const unsigned char *avx2_token_end(const unsigned char *p, const unsigned char *e)
{
    struct srv__simd k;
    srv__simd_init(&k);
    return srv__avx2_token_end(&k, p, e);
}

static SRV__AVX2 const unsigned char *avx2_value_end(const unsigned char *p, const unsigned char *e)
{
    struct srv__simd k;
    srv__simd_init(&k);
    return srv__avx2_value_end(&k, p, e);
}

static SRV__AVX2 const unsigned char *avx2_span(enum srv__class c, const unsigned char *p,
                                                const unsigned char *e, const unsigned char *lo)
{
    struct srv__simd k;
    srv__simd_init(&k);
    return srv__avx2_span(&k, c, p, e, lo);
}

static SRV__AVX2 void avx2_line_bits(const unsigned char *p, const unsigned char *e,
                                     uint64_t *name, uint64_t *stop)
{
    struct srv__simd k;
    srv__simd_init(&k);
    if (e - p >= 32)
        srv__avx2_line_bits(&k, p, name, stop);
    else
        srv__avx2_last_bits(&k, p, e, name, stop);
}

/* Checks every scanner on [P, E) of a buffer starting at LO (E - LO >= 32). */
#define EXPECT(got, want, what)                                                                   \
    do {                                                                                          \
        size_t got_ = (size_t)(got), want_ = (want);                                              \
        if (got_ != want_)                                                                        \
            ck_abort_msg("%s: %zu, not %zu, on %zu bytes", what, got_, want_, n);                 \
    } while (0)

static void check_scanners(const unsigned char *lo, const unsigned char *p, const unsigned char *e)
{
    size_t n = (size_t)(e - p), want;
    for (want = 0; want < n && ref_tchar(p[want]); want++)
        ;
    EXPECT(srv__token_end(p, e) - p, want, "token_end");
    EXPECT(avx2_token_end(p, e) - p, want, "avx2 token_end");
    for (want = 0; want < n && !ref_stop(p[want]); want++)
        ;
    EXPECT(srv__value_end(p, e) - p, want, "value_end");
    EXPECT(avx2_value_end(p, e) - p, want, "avx2 value_end");
    for (int c = SRV__CLASS_TCHAR; c <= SRV__CLASS_REG_NAME; c++) {
        for (want = 0; want < n && ref_in((enum srv__class)c, p[want]); want++)
            ;
        EXPECT(srv__span((enum srv__class)c, p, e) - p, want, "span");
        EXPECT(avx2_span((enum srv__class)c, p, e, lo) - p, want, "avx2 span");
    }
    if (n == 0)
        return;
    uint64_t name, stop, want_name = 0, want_stop = 0;
    for (size_t i = 0; i < n && i < 32; i++) {
        want_name |= (uint64_t)!ref_tchar(p[i]) << i;
        want_stop |= (uint64_t)ref_stop(p[i]) << i;
    }
    avx2_line_bits(p, e, &name, &stop);
    if (name != want_name || stop != want_stop)
        ck_abort_msg("line bits on %zu bytes: %llx %llx, not %llx %llx", n,
                     (unsigned long long)name, (unsigned long long)stop,
                     (unsigned long long)want_name, (unsigned long long)want_stop);
}
#undef EXPECT

START_TEST(the_avx2_scanners_agree_with_the_portable_ones)
{
    if (!srv__simd_avx2())
        return; /* the "AVX2" names are the portable code: nothing to compare */
    /* Values of every length 0..70, each byte value at each position, with
     * room before them and with none (then only from one block on). */
    for (size_t pad = 0; pad <= 40; pad += 40) {
        for (size_t n = 0; n <= 70; n++) {
            if (pad + n < 32)
                continue;
            for (size_t at = 0; at < (n ? n : 1); at++) {
                for (int c = 0; c < 256; c++) {
                    unsigned char *b = malloc(pad + n + 1);
                    memset(b, 'a', pad + n);
                    if (n)
                        b[pad + at] = (unsigned char)c;
                    check_scanners(b, b + pad, b + pad + n);
                    if (n > 1) { /* and on a run of spaces, which values hold */
                        memset(b + pad, ' ', n);
                        b[pad + at] = (unsigned char)c;
                        check_scanners(b, b + pad, b + pad + n);
                    }
                    free(b);
                    if (!n)
                        break;
                }
            }
        }
    }
}
END_TEST

/* Every way of reading a head gives the same answer and the same pieces:
 * the rules alone, the portable fast path, the AVX2 one.  On heads made by
 * putting bytes that matter to the fast path at each position of realistic
 * ones, and on each of their prefixes. */
struct outcome {
    int rc;
    char text[2048]; /* the pieces, written out */
};

static void outcome_of(enum srv__scan_path path, const char *r, size_t len, struct outcome *o)
{
    static struct srv__header oh[256];
    struct srv__head hh = {.headers = oh};
    char *b = malloc(len ? len : 1);
    memcpy(b, r, len);
    enum srv__scan_path saved = srv__http_scan_path;
    srv__http_scan_path = path;
    o->rc = srv__http_parse_head(b, len, &lim, &hh);
    srv__http_scan_path = saved;
    o->text[0] = '\0';
    if (o->rc > 0) {
        size_t at = (size_t)snprintf(o->text, sizeof o->text, "%u %s %s|%s %u %d%d%d%d %llu %s|",
                                     hh.method, hh.method_name, hh.path, hh.query ? hh.query : "-",
                                     hh.version_minor, hh.keep_alive, hh.chunked,
                                     hh.expect_continue, hh.has_content_length,
                                     (unsigned long long)hh.content_length,
                                     hh.host ? hh.host : "-");
        for (uint32_t i = 0; i < hh.nheaders && at < sizeof o->text; i++)
            at += (size_t)snprintf(o->text + at, sizeof o->text - at, "%s=%u:%s=%u;",
                                   hh.headers[i].name, hh.headers[i].name_len,
                                   hh.headers[i].value, hh.headers[i].value_len);
    } else if (memcmp(b, r, len) != 0) {
        ck_abort_msg("buffer changed on %d", o->rc);
    }
    free(b);
}

static void check_paths_agree(const char *r, size_t len)
{
    struct outcome rules, fast;
    outcome_of(SRV__SCAN_RULES, r, len, &rules);
    outcome_of(SRV__SCAN_PORTABLE, r, len, &fast);
    if (rules.rc != fast.rc || strcmp(rules.text, fast.text) != 0)
        ck_abort_msg("portable: %d %s, rules: %d %s: %.*s", fast.rc, fast.text, rules.rc,
                     rules.text, (int)len, r);
    if (srv__simd_avx2()) {
        outcome_of(SRV__SCAN_AVX2, r, len, &fast);
        if (rules.rc != fast.rc || strcmp(rules.text, fast.text) != 0)
            ck_abort_msg("avx2: %d %s, rules: %d %s: %.*s", fast.rc, fast.text, rules.rc,
                         rules.text, (int)len, r);
    }
}

#define BROWSER                                                                                   \
    "GET /index.html?a=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"                                    \
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "         \
    "Chrome/131.0.0.0 Safari/537.36\r\n"                                                          \
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"                 \
    "Accept-Encoding: gzip, deflate, br\r\nCookie: a=b; c=d\r\nconnection: keep-alive\r\n"         \
    "Cache-Control: max-age=0\r\n\r\n"

START_TEST(every_scan_path_reads_heads_alike)
{
    static const char *const heads[] = {
        BROWSER,
        WRK,
        "GET / HTTP/1.1\r\nHost: a\r\nX:y\r\nX-B:  two  spaces  \r\nX-C:\t tab\t\r\nE:\r\n\r\n",
        "POST /p HTTP/1.1\r\nhost: h\r\nContent-Length: 3\r\nTRANSFER-ENCODING: chunked\r\n"
        "Expect: 100-continue\r\nCONNECTION: close\r\n\r\n",
        "GET /a HTTP/1.0\r\nAn-Extremely-Long-Field-Name-Of-More-Than-32-Bytes: v\r\nHost: a\r\n"
        "Host: b\r\n\r\n",
    };
    static const char bytes[] = {'\0', '\t', '\n', '\r', ' ', ':', 'A', 'h', '%', '/',
                                 '.',  '[',  '"',  0x7f, (char)0x80, (char)0xff};
    for (size_t i = 0; i < sizeof heads / sizeof *heads; i++) {
        size_t len = strlen(heads[i]);
        char *r = malloc(len);
        for (size_t cut = 0; cut <= len; cut++)
            check_paths_agree(heads[i], cut);
        for (size_t at = 0; at < len; at++) {
            for (size_t c = 0; c < sizeof bytes; c++) {
                memcpy(r, heads[i], len);
                r[at] = bytes[c];
                check_paths_agree(r, len);
            }
        }
        free(r);
    }
    /* A head of each length, so its last lines fall at every offset of a
     * block, and fewer than 32 bytes. */
    for (size_t pad = 0; pad < 64; pad++) {
        char r[256];
        int n = snprintf(r, sizeof r, "GET / HTTP/1.1\r\nHost: a\r\nX: %.*s\r\nYY: z \r\n\r\n",
                         (int)pad, "0123456789012345678901234567890123456789012345678901234567890123");
        check_paths_agree(r, (size_t)n);
        check_paths_agree("GET / HTTP/1.1\r\nA: b\r\n\r\n" + pad % 17, 24 - pad % 17);
    }
}
END_TEST

/* ---- chunked ---------------------------------------------------------------------- */

static int dechunk(const char *raw, size_t len, struct srv__chunked *c, uint64_t limit)
{
    free(buf);
    buf = malloc(len ? len : 1);
    memcpy(buf, raw, len);
    memset(c, 0, sizeof *c);
    return srv__http_parse_chunked(c, buf, len, limit);
}

START_TEST(decodes_chunks_extensions_and_trailers)
{
    struct srv__chunked c;
    const char *raw = "5\r\nhello\r\n1;a=b ; c = \"q\\\"x\" ;d\r\n \r\nA\r\n0123456789\r\n"
                      "0\r\nX-T: 1\r\nY: \r\n\r\nGET /";
    ck_assert_int_eq(dechunk(raw, strlen(raw), &c, 100), 1);
    ck_assert_uint_eq(c.out, 16);
    ck_assert(memcmp(buf, "hello 0123456789", 16) == 0);
    ck_assert_uint_eq(c.raw, strlen(raw) - 5);
    ck_assert_int_eq(dechunk("0\r\n\r\n", 5, &c, 0), 1);
    ck_assert_uint_eq(c.out, 0);
    ck_assert_uint_eq(c.raw, 5);
    ck_assert_int_eq(dechunk("00Ff\r\n", 6, &c, 1000), 0);
    ck_assert_uint_eq(c.remaining, 255);
}
END_TEST

START_TEST(decodes_chunks_split_at_every_byte)
{
    const char *raw = "3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\n";
    size_t len = strlen(raw);
    for (size_t cut = 0; cut <= len; cut++) {
        struct srv__chunked c = {0};
        char *b = malloc(len);
        memcpy(b, raw, cut);
        int rc = srv__http_parse_chunked(&c, b, cut, 100);
        ck_assert_msg(cut == len ? rc == 1 : rc == 0, "first part %zu -> %d", cut, rc);
        memcpy(b + cut, raw + cut, len - cut);
        if (cut < len)
            rc = srv__http_parse_chunked(&c, b, len, 100);
        ck_assert_int_eq(rc, 1);
        ck_assert_uint_eq(c.out, 19);
        ck_assert_uint_eq(c.raw, len);
        ck_assert(memcmp(b, "abc0123456789abcdef", 19) == 0);
        free(b);
    }
    /* and fed one byte at a time */
    struct srv__chunked c = {0};
    char *b = malloc(len);
    int rc = 0;
    for (size_t n = 1; n <= len; n++) {
        b[n - 1] = raw[n - 1];
        rc = srv__http_parse_chunked(&c, b, n, 100);
        ck_assert_int_eq(rc, n == len ? 1 : 0);
    }
    ck_assert(memcmp(b, "abc0123456789abcdef", 19) == 0);
    free(b);
}
END_TEST

START_TEST(rejects_malformed_chunks)
{
    static const char *bad[] = {
        "x\r\n",          "5\r\nhelloX\r\n",  "5\r\nhello\rX",      "5\nhello\r\n0\r\n\r\n",
        "-1\r\n",         " 5\r\n",           "5 x\r\n",            "5;\r\n",
        "5;a=\"b\r\n",    "0\r\nbad line\r\n", "0\r\n\r\r",          "0\r\nX : y\r\n\r\n",
        "5\r\nhello\r\n0\n\n", "0x5\r\n",     "5\r\nhello\n",        "0\r\n\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct srv__chunked c;
        int rc = dechunk(bad[i], strlen(bad[i]), &c, 100);
        ck_assert_msg(rc == -400, "case %zu -> %d", i, rc);
    }
}
END_TEST

START_TEST(rejects_chunk_sizes_that_overflow)
{
    struct srv__chunked c;
    const char *r = "10000000000000000\r\n";
    ck_assert_int_eq(dechunk(r, strlen(r), &c, UINT64_MAX), -400);
    r = "0000000000000000000000001\r\nx\r\n0\r\n\r\n";
    ck_assert_int_eq(dechunk(r, strlen(r), &c, UINT64_MAX), 1);
    r = "FFFFFFFFFFFFFFFF\r\n";
    ck_assert_int_eq(dechunk(r, strlen(r), &c, 100), -413);
}
END_TEST

START_TEST(answers_413_when_the_decoded_body_exceeds_the_limit)
{
    struct srv__chunked c;
    const char *r = "5\r\nhello\r\n6\r\nworld!\r\n0\r\n\r\n";
    ck_assert_int_eq(dechunk(r, strlen(r), &c, 10), -413);
    ck_assert_int_eq(dechunk(r, strlen(r), &c, 11), 1);
}
END_TEST

START_TEST(bounds_chunk_extensions_and_trailers)
{
    struct srv__chunked c;
    size_t n = 5000;
    char *r = malloc(n);
    memcpy(r, "1;a=", 4);
    memset(r + 4, 'x', n - 4);
    ck_assert_int_eq(dechunk(r, n, &c, 100), -400);
    ck_assert_int_eq(dechunk(r, 4000, &c, 100), 0);
    free(r);
    n = 40000;
    r = malloc(n);
    memcpy(r, "0\r\nX: ", 6);
    memset(r + 6, 'v', n - 6);
    ck_assert_int_eq(dechunk(r, n, &c, 100), -431);
    free(r);
}
END_TEST

/* The suite runs once per way of reading a head; an unchecked fixture (run
 * in the runner, before each case's tests fork) picks it. */
static void path_rules(void)
{
    srv__http_scan_path = SRV__SCAN_RULES;
}

static void path_portable(void)
{
    srv__http_scan_path = SRV__SCAN_PORTABLE;
}

static void path_avx2(void)
{
    srv__http_scan_path = SRV__SCAN_AVX2;
}

static Suite *http_parse_suite(const char *name, void (*path)(void), bool with_scanners)
{
    Suite *s = suite_create(name);
    struct {
        const char *name;
        const TTest *tests[16];
    } cases[] = {
        {"request_line", {parses_the_wrk_request, fills_headers_in_order_with_trimmed_values,
                          knows_each_method, answers_501_to_unknown_methods,
                          answers_505_to_other_versions, reads_http_1_2_to_1_9_as_1_1,
                          rejects_malformed_request_lines,
                          skips_empty_lines_before_the_request_line,
                          takes_the_host_from_an_absolute_form_target, understands_options_asterisk}},
        {"keep_alive", {http10_closes_unless_it_asks_for_keep_alive,
                        reads_connection_as_a_token_list_across_lines}},
        {"host", {http11_needs_exactly_one_valid_host}},
        {"fields", {rejects_space_before_colon, rejects_obs_fold, rejects_bare_cr_and_bare_lf,
                    rejects_empty_field_names, rejects_control_characters_and_nul_in_fields}},
        {"byte_classes", {answers_each_byte_class_in_field_values,
                          answers_each_byte_class_in_field_names,
                          answers_each_byte_class_in_the_path_and_query,
                          answers_each_byte_class_in_the_method}},
        {"path", {decodes_percent_escapes_in_place, rejects_invalid_percent_escapes_and_encoded_nul,
                  removes_dot_segments, rejects_dot_dot_above_the_root}},
        {"smuggling", {reads_a_valid_content_length, rejects_content_length_with_transfer_encoding,
                       rejects_repeated_or_differing_content_length, rejects_malformed_content_length,
                       answers_413_to_a_content_length_over_the_limit, accepts_only_a_final_chunked,
                       rejects_transfer_encoding_in_http10}},
        {"expect", {flags_expect_100_continue, answers_417_to_other_expectations}},
        {"limits", {answers_414_to_a_long_request_line_even_while_incomplete,
                    answers_431_to_a_large_header_block_even_while_incomplete,
                    answers_431_to_too_many_fields_even_while_incomplete}},
        {"incomplete", {is_incomplete_when_cut_at_any_byte, leaves_the_buffer_alone_on_errors}},
        {"prefix", {rejects_a_tls_client_hello_at_once, rejects_bytes_no_request_could_continue_with,
                    goes_on_from_where_an_incomplete_parse_stopped,
                    the_prefix_check_reads_the_parsers_grammar}},
        {"request_line_for_errors", {reads_the_request_line_of_a_rejected_head,
                                     reads_any_well_formed_request_line,
                                     finds_no_request_line_where_there_is_none,
                                     reads_the_request_line_exactly_as_the_head}},
        {"scanners", {the_avx2_scanners_agree_with_the_portable_ones,
                      every_scan_path_reads_heads_alike}},
        {"chunked", {decodes_chunks_extensions_and_trailers, decodes_chunks_split_at_every_byte,
                     rejects_malformed_chunks, rejects_chunk_sizes_that_overflow,
                     answers_413_when_the_decoded_body_exceeds_the_limit,
                     bounds_chunk_extensions_and_trailers}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        if (!with_scanners && strcmp(cases[i].name, "scanners") == 0)
            continue; /* (they pick the paths themselves: once is enough) */
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_unchecked_fixture(tc, path, NULL);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        for (size_t j = 0; j < 16 && cases[i].tests[j]; j++)
            tcase_add_test(tc, cases[i].tests[j]);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(http_parse_suite("runtime/http_parse (rules)", path_rules, true));
    srunner_add_suite(sr, http_parse_suite("runtime/http_parse (portable)", path_portable, false));
    if (srv__simd_avx2())
        srunner_add_suite(sr, http_parse_suite("runtime/http_parse (avx2)", path_avx2, false));
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
