/* Tests for runtime/cookie.c: reading Cookie lines, writing Set-Cookie
 * lines, signed cookies and the secrets behind them.  Linked with
 * -Wl,--wrap=nettle_memeql_sec (tests/runtime/meson.build), so a test can
 * see that signatures are compared in constant time. */
#include "fixture.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* nettle's constant-time comparison, counted. */
static unsigned memeql_sec_calls;
int __real_nettle_memeql_sec(const void *a, const void *b, size_t n);
int __wrap_nettle_memeql_sec(const void *a, const void *b, size_t n);
int __wrap_nettle_memeql_sec(const void *a, const void *b, size_t n)
{
    memeql_sec_calls++;
    return __real_nettle_memeql_sec(a, b, n);
}

#define SECRET_A "secret-A-0123456789abcdefghijklmnopqrstuvwxyz"
#define SECRET_B "secret-B-0123456789abcdefghijklmnopqrstuvwxyz"

static void use_secrets(const char *first, const char *second)
{
    const char *s[2] = {first, second};
    size_t l[2] = {first ? strlen(first) : 0, second ? strlen(second) : 0};
    srv__secrets_set(s, l, first == NULL ? 0 : second == NULL ? 1 : 2);
}

static void setup(void)
{
    fixture_begin();
    use_secrets(SECRET_A, NULL);
}

static void teardown(void)
{
    fixture_end();
}

/* The value of the last Set-Cookie line set, or NULL. */
static const char *set_cookie_line(void)
{
    return srv_response_header(&fx_res, "Set-Cookie");
}

/* ---- Reading -------------------------------------------------------------- */

START_TEST(cookies_are_found_by_exact_name)
{
    fixture_header("Cookie", "a=1; b=two;c=3 ;  d = 4 ; e=\"quoted\"; f=; g=x=y; h=\"\"; i=\"");
    ck_assert_str_eq(srv_request_cookie(&fx_req, "a"), "1");
    ck_assert_str_eq(srv_request_cookie(&fx_req, "b"), "two");
    ck_assert_str_eq(srv_request_cookie(&fx_req, "c"), "3");
    ck_assert_str_eq(srv_request_cookie(&fx_req, "d"), "4");
    ck_assert_str_eq(srv_request_cookie(&fx_req, "e"), "quoted");
    ck_assert_str_eq(srv_request_cookie(&fx_req, "f"), "");
    ck_assert_str_eq(srv_request_cookie(&fx_req, "g"), "x=y");
    ck_assert_str_eq(srv_request_cookie(&fx_req, "h"), "");
    ck_assert_str_eq(srv_request_cookie(&fx_req, "i"), "\""); /* one quote is kept */
    ck_assert_ptr_null(srv_request_cookie(&fx_req, "A"));
    ck_assert_ptr_null(srv_request_cookie(&fx_req, "x"));
    ck_assert_ptr_null(srv_request_cookie(&fx_req, ""));
    ck_assert_ptr_null(srv_request_cookie(&fx_req, NULL));
}
END_TEST

START_TEST(first_match_wins_across_every_cookie_line)
{
    fixture_header("Cookie", "novalue; a=1");
    fixture_header("X-Other", "b=0");
    fixture_header("cookie", "b=2; a=3");
    fixture_header("COOKIE", "c=4");
    ck_assert_str_eq(srv_request_cookie(&fx_req, "a"), "1");
    ck_assert_str_eq(srv_request_cookie(&fx_req, "b"), "2");
    ck_assert_str_eq(srv_request_cookie(&fx_req, "c"), "4");
    ck_assert_ptr_null(srv_request_cookie(&fx_req, "novalue"));
}
END_TEST

START_TEST(no_cookie_header_means_no_cookie)
{
    ck_assert_ptr_null(srv_request_cookie(&fx_req, "a"));
    fixture_header("Cookie", "");
    ck_assert_ptr_null(srv_request_cookie(&fx_req, "a"));
}
END_TEST

/* ---- Writing -------------------------------------------------------------- */

START_TEST(defaults_make_a_safe_session_cookie)
{
    srv_response_set_cookie(&fx_res, "sid", "abc123", NULL);
    ck_assert(!fx_res.failed);
    ck_assert_str_eq(set_cookie_line(), "sid=abc123; Path=/; Secure; HttpOnly; SameSite=Lax");
    fixture_next();
    srv_response_set_cookie(&fx_res, "sid", "abc123", &(struct srv_cookie){0});
    ck_assert_str_eq(set_cookie_line(), "sid=abc123; Path=/; Secure; HttpOnly; SameSite=Lax");
}
END_TEST

START_TEST(every_attribute_is_written)
{
    struct srv_cookie o = {.path = "/app", .domain = "example.com", .max_age = 3600,
                           .expires = 784111777, .same_site = SRV_SAME_SITE_STRICT};
    srv_response_set_cookie(&fx_res, "pref", "dark", &o);
    ck_assert_str_eq(set_cookie_line(),
                     "pref=dark; Path=/app; Domain=example.com; Max-Age=3600; "
                     "Expires=Sun, 06 Nov 1994 08:49:37 GMT; Secure; HttpOnly; SameSite=Strict");
    fixture_next();
    o = (struct srv_cookie){.insecure = true, .script_visible = true};
    srv_response_set_cookie(&fx_res, "dev", "1", &o);
    ck_assert_str_eq(set_cookie_line(), "dev=1; Path=/; SameSite=Lax");
    fixture_next();
    o = (struct srv_cookie){.same_site = SRV_SAME_SITE_NONE};
    srv_response_set_cookie(&fx_res, "embed", "1", &o);
    ck_assert_str_eq(set_cookie_line(), "embed=1; Path=/; Secure; HttpOnly; SameSite=None");
}
END_TEST

START_TEST(several_cookies_are_several_lines)
{
    srv_response_set_cookie(&fx_res, "a", "1", NULL);
    srv_response_set_cookie(&fx_res, "b", "2", NULL);
    ck_assert_ptr_nonnull(strstr(fx_res.headers, "Set-Cookie: a=1;"));
    ck_assert_ptr_nonnull(strstr(fx_res.headers, "Set-Cookie: b=2;"));
}
END_TEST

START_TEST(same_site_none_without_secure_is_refused_loudly)
{
    struct srv_cookie o = {.same_site = SRV_SAME_SITE_NONE, .insecure = true};
    srv_response_set_cookie(&fx_res, "embed", "1", &o);
    ck_assert(fx_res.failed);
    ck_assert_ptr_nonnull(strstr(fx_res.failure, "SameSite=None without Secure"));
    ck_assert_ptr_nonnull(strstr(fx_res.failure, "\"embed\""));
    ck_assert_ptr_null(set_cookie_line());
}
END_TEST

START_TEST(every_value_byte_is_a_cookie_octet_or_refused)
{
    for (unsigned b = 1; b < 256; b++) {
        fixture_next();
        char value[4] = {'a', (char)b, 'z', '\0'};
        srv_response_set_cookie(&fx_res, "c", value, NULL);
        bool octet = b >= 0x21 && b <= 0x7e && b != '"' && b != ',' && b != ';' && b != '\\';
        ck_assert_msg(fx_res.failed == !octet, "byte 0x%02x", b);
        if (octet)
            ck_assert(strncmp(set_cookie_line(), "c=", 2) == 0);
    }
    fixture_next();
    srv_response_set_cookie(&fx_res, "c", "", NULL);
    ck_assert_str_eq(set_cookie_line(), "c=; Path=/; Secure; HttpOnly; SameSite=Lax");
}
END_TEST

START_TEST(names_must_be_tokens)
{
    static const char *const bad[] = {"", "a b", "a=b", "a;b", "a\r\nX-Injected: 1", "a\"",
                                      "caf\xc3\xa9", "a,b", "(a)"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fixture_next();
        srv_response_set_cookie(&fx_res, bad[i], "v", NULL);
        ck_assert_msg(fx_res.failed, "%s", bad[i]);
        ck_assert_ptr_null(set_cookie_line());
    }
    fixture_next();
    srv_response_set_cookie(&fx_res, NULL, "v", NULL);
    ck_assert(fx_res.failed);
    fixture_next();
    srv_response_set_cookie(&fx_res, "a", NULL, NULL);
    ck_assert(fx_res.failed);
    fixture_next();
    srv_response_set_cookie(&fx_res, "!#$%&'*+-.^_`|~09AZaz", "v", NULL);
    ck_assert(!fx_res.failed);
}
END_TEST

START_TEST(attributes_are_checked)
{
    static const struct srv_cookie bad[] = {
        {.path = "app"},
        {.path = "/a;b"},
        {.path = "/a\r\nX: y"},
        {.path = "/caf\xc3\xa9"},
        {.domain = ""},
        {.domain = "ex ample.com"},
        {.domain = "example.com; Secure"},
        {.max_age = -1},
        {.expires = -5},
        {.same_site = (enum srv_same_site)7},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fixture_next();
        srv_response_set_cookie(&fx_res, "c", "v", &bad[i]);
        ck_assert_msg(fx_res.failed, "case %zu", i);
    }
}
END_TEST

START_TEST(prefixed_names_get_their_rules)
{
    static const struct {
        const char *name;
        struct srv_cookie o;
        bool ok;
    } cases[] = {
        {"__Secure-id", {0}, true},
        {"__Secure-id", {.insecure = true}, false},
        {"__secure-id", {.insecure = true}, false},
        {"__Host-id", {0}, true},
        {"__Host-id", {.path = "/"}, true},
        {"__Host-id", {.insecure = true}, false},
        {"__Host-id", {.domain = "example.com"}, false},
        {"__Host-id", {.path = "/app"}, false},
        {"__HOST-id", {.path = "/app"}, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fixture_next();
        srv_response_set_cookie(&fx_res, cases[i].name, "v", &cases[i].o);
        ck_assert_msg(fx_res.failed == !cases[i].ok, "case %zu", i);
    }
}
END_TEST

START_TEST(clearing_writes_max_age_0_and_a_past_expires)
{
    srv_response_clear_cookie(&fx_res, "sid", NULL);
    ck_assert_str_eq(set_cookie_line(), "sid=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 "
                                        "00:00:00 GMT; Secure; HttpOnly; SameSite=Lax");
    fixture_next();
    struct srv_cookie o = {.path = "/app", .domain = "example.com", .max_age = 99,
                           .expires = 99};
    srv_response_clear_cookie(&fx_res, "sid", &o);
    ck_assert_str_eq(set_cookie_line(),
                     "sid=; Path=/app; Domain=example.com; Max-Age=0; Expires=Thu, 01 Jan 1970 "
                     "00:00:00 GMT; Secure; HttpOnly; SameSite=Lax");
}
END_TEST

/* ---- Signed cookies ------------------------------------------------------- */

/* Signs NAME=VALUE with the current secrets; returns the cookie's value as
 * it would come back (VALUE.SIG), in the arena. */
static char *signed_value(const char *name, const char *value)
{
    srv_response_set_signed_cookie(&fx_res, name, value, NULL);
    ck_assert_msg(!fx_res.failed, "%s", fx_res.failure ? fx_res.failure : "");
    const char *line = set_cookie_line();
    const char *v = strchr(line, '=') + 1;
    size_t n = strcspn(v, ";");
    char *out = srv__arena_alloc(&fx_arena, n + 1);
    memcpy(out, v, n);
    out[n] = '\0';
    srv_response_remove_header(&fx_res, "Set-Cookie");
    return out;
}

/* Reads signed cookie NAME from a request carrying "Cookie: NAME=VALUE". */
static const char *read_signed(const char *name, const char *value)
{
    char *line = srv__arena_alloc(&fx_arena, strlen(name) + strlen(value) + 2);
    sprintf(line, "%s=%s", name, value);
    fx_req.head.nheaders = 0;
    fixture_header("Cookie", line);
    return srv_request_signed_cookie(&fx_req, name);
}

START_TEST(signed_value_format_is_value_dot_43_base64url)
{
    srv_response_set_signed_cookie(&fx_res, "sid", "user.42", NULL);
    ck_assert_ptr_nonnull(strstr(set_cookie_line(), "; Path=/; Secure; HttpOnly; SameSite=Lax"));
    srv_response_remove_header(&fx_res, "Set-Cookie");
    char *v = signed_value("sid", "user.42");
    size_t n = strlen(v);
    ck_assert_uint_eq(n, 7 + 1 + 43);
    ck_assert(strncmp(v, "user.42.", 8) == 0);
    ck_assert_uint_eq(strspn(v + 8, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                    "0123456789-_"),
                      43);
    /* Known answer: HMAC-SHA256(SECRET_A, "sid=user.42") as Python's
     * base64.urlsafe_b64encode(hmac.new(key, msg, "sha256").digest()) gives
     * it, without the '=' padding. */
    ck_assert_str_eq(v, "user.42.2DIcxInNJBUkkJBgXbrYXMdF69EDAhBKDg9urCpanyk");
    ck_assert_str_eq(read_signed("sid", v), "user.42");
}
END_TEST

START_TEST(signed_round_trip_for_values_with_dots_and_empty)
{
    static const char *const values[] = {"", "a", "a.b.c", "..", "x.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char *v = signed_value("s", values[i]);
        ck_assert_str_eq(read_signed("s", v), values[i]);
    }
}
END_TEST

START_TEST(tampered_truncated_and_moved_signatures_read_as_absent)
{
    char *v = signed_value("sid", "user42");
    size_t n = strlen(v);
    /* Every single-byte change anywhere. */
    for (size_t i = 0; i < n; i++) {
        char *t = srv__arena_alloc(&fx_arena, n + 1);
        memcpy(t, v, n + 1);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        ck_assert_msg(read_signed("sid", t) == NULL, "changed byte %zu", i);
    }
    /* Every truncation, and every extension. */
    for (size_t cut = 0; cut < n; cut++) {
        char *t = srv__arena_alloc(&fx_arena, n + 1);
        memcpy(t, v, cut);
        t[cut] = '\0';
        ck_assert_msg(read_signed("sid", t) == NULL, "cut at %zu", cut);
    }
    char *longer = srv__arena_alloc(&fx_arena, n + 2);
    sprintf(longer, "%sA", v);
    ck_assert_ptr_null(read_signed("sid", longer));
    /* The signature is bound to the name. */
    ck_assert_ptr_null(read_signed("admin", v));
    ck_assert_ptr_null(read_signed("sid2", v));
    /* The value alone, or with a signature for another value. */
    ck_assert_ptr_null(read_signed("sid", "user42"));
    char *other = signed_value("sid", "user43");
    memcpy(other, "user42", 6);
    ck_assert_ptr_null(read_signed("sid", other));
    /* The plain reader sees the raw value; nothing more. */
    read_signed("sid", v);
    ck_assert_str_eq(srv_request_cookie(&fx_req, "sid"), v);
}
END_TEST

START_TEST(foreign_secret_and_rotation)
{
    char *by_a = signed_value("sid", "u1");
    use_secrets(SECRET_B, NULL);
    ck_assert_ptr_null(read_signed("sid", by_a)); /* foreign */
    char *by_b = signed_value("sid", "u1");
    ck_assert_str_ne(by_a, by_b);
    /* Rotation: B signs, A still verifies. */
    use_secrets(SECRET_B, SECRET_A);
    ck_assert_str_eq(read_signed("sid", by_a), "u1");
    ck_assert_str_eq(read_signed("sid", by_b), "u1");
    ck_assert_str_eq(signed_value("sid", "u1"), by_b);
    /* A retired: its cookies are gone. */
    use_secrets(SECRET_B, NULL);
    ck_assert_ptr_null(read_signed("sid", by_a));
    ck_assert_str_eq(read_signed("sid", by_b), "u1");
}
END_TEST

START_TEST(verification_compares_in_constant_time_with_every_secret)
{
    use_secrets(SECRET_B, SECRET_A);
    char *v = signed_value("sid", "u1");
    memeql_sec_calls = 0;
    ck_assert_str_eq(read_signed("sid", v), "u1");
    ck_assert_uint_eq(memeql_sec_calls, 2);
    v[strlen(v) - 1] ^= 1;
    memeql_sec_calls = 0;
    ck_assert_ptr_null(read_signed("sid", v));
    ck_assert_uint_eq(memeql_sec_calls, 2);
}
END_TEST

START_TEST(without_a_secret_signing_fails_and_reading_finds_nothing)
{
    char *v = signed_value("sid", "u1");
    use_secrets(NULL, NULL);
    ck_assert_ptr_null(read_signed("sid", v));
    srv_response_set_signed_cookie(&fx_res, "sid", "u1", NULL);
    ck_assert(fx_res.failed);
    ck_assert_ptr_nonnull(strstr(fx_res.failure, "no secret"));
}
END_TEST

START_TEST(signed_cookie_checks_name_and_value_like_any_cookie)
{
    srv_response_set_signed_cookie(&fx_res, "sid", "has space", NULL);
    ck_assert(fx_res.failed);
    fixture_next();
    srv_response_set_signed_cookie(&fx_res, "s;d", "v", NULL);
    ck_assert(fx_res.failed);
}
END_TEST

/* ---- Loading secrets ------------------------------------------------------ */

/* Runs srv__secrets_load() for the variable names NAMES; returns its
 * result and what it printed on stderr in OUT. */
static int load(const char *const *names, unsigned n, char *out, size_t cap)
{
    struct srv_app app = {.secret_env = names, .nsecret_env = n};
    FILE *tmp = tmpfile();
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    int rc = srv__secrets_load(&app);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    size_t got = fread(out, 1, cap - 1, tmp);
    out[got] = '\0';
    fclose(tmp);
    return rc;
}

START_TEST(secrets_are_read_from_the_environment)
{
    char out[512];
    srv__progname = "app";
    static const char *const names[] = {"SRV_TEST_SECRET", "SRV_TEST_SECRET_OLD"};
    unsetenv("SRV_TEST_SECRET");
    unsetenv("SRV_TEST_SECRET_OLD");
    ck_assert_int_eq(load(names, 2, out, sizeof out), -1);
    ck_assert_str_eq(out, "app: secret env SRV_TEST_SECRET is not set\n");
    setenv("SRV_TEST_SECRET", "twelve bytes", 1);
    ck_assert_int_eq(load(names, 2, out, sizeof out), -1);
    ck_assert_str_eq(out, "app: secret env SRV_TEST_SECRET is 12 bytes; at least 32 are needed\n");
    setenv("SRV_TEST_SECRET", "", 1);
    ck_assert_int_eq(load(names, 2, out, sizeof out), -1);
    ck_assert_str_eq(out, "app: secret env SRV_TEST_SECRET is 0 bytes; at least 32 are needed\n");

    /* The first alone is enough; an old one may be unset or empty. */
    setenv("SRV_TEST_SECRET", SECRET_B, 1);
    ck_assert_int_eq(load(names, 2, out, sizeof out), 0);
    ck_assert_str_eq(out, "");
    setenv("SRV_TEST_SECRET_OLD", "", 1);
    ck_assert_int_eq(load(names, 2, out, sizeof out), 0);
    setenv("SRV_TEST_SECRET_OLD", "short", 1);
    ck_assert_int_eq(load(names, 2, out, sizeof out), -1);
    ck_assert_str_eq(out, "app: secret env SRV_TEST_SECRET_OLD is 5 bytes; at least 32 are needed\n");

    /* Loaded: B signs, A verifies. */
    setenv("SRV_TEST_SECRET_OLD", SECRET_A, 1);
    ck_assert_int_eq(load(names, 2, out, sizeof out), 0);
    use_secrets(SECRET_A, NULL);
    char *by_a = signed_value("sid", "u");
    ck_assert_int_eq(load(names, 2, out, sizeof out), 0);
    ck_assert_str_eq(read_signed("sid", by_a), "u");
    char *by_b = signed_value("sid", "u");
    use_secrets(SECRET_B, NULL);
    ck_assert_str_eq(read_signed("sid", by_b), "u");

    /* No secret named: nothing to load, nothing to sign with. */
    ck_assert_int_eq(load(NULL, 0, out, sizeof out), 0);
    srv_response_set_signed_cookie(&fx_res, "sid", "u", NULL);
    ck_assert(fx_res.failed);
}
END_TEST

static Suite *cookie_suite(void)
{
    Suite *s = suite_create("runtime/cookie");
    TCase *tc = tcase_create("read");
    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, cookies_are_found_by_exact_name);
    tcase_add_test(tc, first_match_wins_across_every_cookie_line);
    tcase_add_test(tc, no_cookie_header_means_no_cookie);
    suite_add_tcase(s, tc);
    tc = tcase_create("write");
    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, defaults_make_a_safe_session_cookie);
    tcase_add_test(tc, every_attribute_is_written);
    tcase_add_test(tc, several_cookies_are_several_lines);
    tcase_add_test(tc, same_site_none_without_secure_is_refused_loudly);
    tcase_add_test(tc, every_value_byte_is_a_cookie_octet_or_refused);
    tcase_add_test(tc, names_must_be_tokens);
    tcase_add_test(tc, attributes_are_checked);
    tcase_add_test(tc, prefixed_names_get_their_rules);
    tcase_add_test(tc, clearing_writes_max_age_0_and_a_past_expires);
    suite_add_tcase(s, tc);
    tc = tcase_create("signed");
    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, signed_value_format_is_value_dot_43_base64url);
    tcase_add_test(tc, signed_round_trip_for_values_with_dots_and_empty);
    tcase_add_test(tc, tampered_truncated_and_moved_signatures_read_as_absent);
    tcase_add_test(tc, foreign_secret_and_rotation);
    tcase_add_test(tc, verification_compares_in_constant_time_with_every_secret);
    tcase_add_test(tc, without_a_secret_signing_fails_and_reading_finds_nothing);
    tcase_add_test(tc, signed_cookie_checks_name_and_value_like_any_cookie);
    tcase_add_test(tc, secrets_are_read_from_the_environment);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cookie_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
