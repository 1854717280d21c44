/* Tests for runtime/multipart.c: multipart/form-data bodies (RFC 7578) and
 * the boundary rules of RFC 2046.  Bodies are copied into buffers of their
 * exact size, so under ASan a read past the end is a failure; every valid
 * body is also parsed cut at every byte. */
#include "fixture.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>

static void setup(void)
{
    fixture_begin();
}

static void teardown(void)
{
    fixture_end();
}

/* ---- Boundaries ----------------------------------------------------------- */

/* The boundary of Content-Type CT, or NULL; *RC its srv__multipart_boundary() result. */
static const char *boundary(const char *ct, int *rc)
{
    static char out[71];
    struct srv__media m;
    if (srv__media_parse(ct, strlen(ct), &m) < 0) {
        *rc = -EINVAL;
        return NULL;
    }
    *rc = srv__multipart_boundary(&m, out);
    return *rc > 0 ? out : NULL;
}

START_TEST(boundary_token_or_quoted)
{
    int rc;
    ck_assert_str_eq(boundary("multipart/form-data; boundary=abc", &rc), "abc");
    ck_assert_int_eq(rc, 3);
    ck_assert_str_eq(boundary("Multipart/Form-Data; BOUNDARY=abc", &rc), "abc");
    ck_assert_str_eq(boundary("multipart/form-data; charset=x; boundary=\"a b\"", &rc), "a b");
    ck_assert_str_eq(boundary("multipart/form-data; boundary=\"'()+_,-./:=?\"", &rc),
                     "'()+_,-./:=?");
    ck_assert_str_eq(boundary("multipart/form-data; boundary=\"a\\b\"", &rc), "ab");
    ck_assert_str_eq(boundary("multipart/form-data; boundary=x", &rc), "x");
    char ct[200], b70[71];
    memset(b70, 'b', 70);
    b70[70] = '\0';
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=%s", b70);
    ck_assert_str_eq(boundary(ct, &rc), b70);
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=\"%s\"", b70);
    ck_assert_str_eq(boundary(ct, &rc), b70);
}
END_TEST

START_TEST(boundary_rules_are_enforced)
{
    int rc;
    static const char *const bad[] = {
        "multipart/form-data",                          /* missing */
        "multipart/form-data; boundary=\"\"",           /* empty */
        "multipart/form-data; boundary=\"ab \"",        /* ends with a space */
        "multipart/form-data; boundary=a!b",            /* '!' is a tchar, not a bchar */
        "multipart/form-data; boundary=\"a@b\"",        /* '@' is no bchar */
        "multipart/form-data; boundary=\"a\xc3\xa9\"",  /* nor is non-ASCII */
        "multipart/form-data; boundary=a; boundary=a",  /* repeated */
        "multipart/form-data; boundary=\"a",            /* unclosed */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(boundary(bad[i], &rc) == NULL, "%s", bad[i]);
        ck_assert_int_eq(rc, -EBADMSG);
    }
    char ct[200], b71[72];
    memset(b71, 'b', 71);
    b71[71] = '\0';
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=%s", b71);
    ck_assert_ptr_null(boundary(ct, &rc));
    ck_assert_int_eq(rc, -EBADMSG);
    ck_assert_ptr_null(boundary("multipart/mixed; boundary=x", &rc));
    ck_assert_int_eq(rc, -EMEDIUMTYPE);
    ck_assert_ptr_null(boundary("application/x-www-form-urlencoded", &rc));
    ck_assert_int_eq(rc, -EMEDIUMTYPE);
}
END_TEST

/* ---- Bodies --------------------------------------------------------------- */

static struct srv_part *parts;
static const char *why;
static unsigned max_parts = 128;
static size_t max_header = 8192;

/* Parses BODY[0..LEN) with boundary "XyZ" from a buffer of exactly LEN bytes. */
static int parse_n(const char *body, size_t len)
{
    char *copy = malloc(len ? len : 1);
    memcpy(copy, body, len);
    /* The parts point into the copy: keep it until the fixture ends. */
    free(fx_body);
    fx_body = copy;
    parts = NULL;
    why = NULL;
    return srv__multipart_parse(copy, len, "XyZ", 3, max_parts, max_header, &fx_arena, &parts,
                                &why);
}

static int parse(const char *body)
{
    return parse_n(body, strlen(body));
}

#define CD "Content-Disposition: form-data; name="

START_TEST(fields_and_files_are_split_at_boundaries)
{
    int n = parse("--XyZ\r\n" CD "\"title\"\r\n\r\nHello\r\n"
                  "--XyZ\r\n" CD "\"upload\"; filename=\"a.txt\"\r\n"
                  "Content-Type: application/octet-stream\r\n\r\nline1\r\nline2\r\n"
                  "--XyZ--\r\n");
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(parts[0].name, "title");
    ck_assert_ptr_null(parts[0].filename);
    ck_assert_str_eq(parts[0].content_type, "text/plain");
    ck_assert_uint_eq(parts[0].len, 5);
    ck_assert(memcmp(parts[0].data, "Hello", 5) == 0);
    ck_assert_str_eq(parts[1].name, "upload");
    ck_assert_str_eq(parts[1].filename, "a.txt");
    ck_assert_str_eq(parts[1].content_type, "application/octet-stream");
    ck_assert_uint_eq(parts[1].len, 12);
    ck_assert(memcmp(parts[1].data, "line1\r\nline2", 12) == 0);
}
END_TEST

START_TEST(binary_data_with_nuls_and_near_boundaries_is_kept)
{
    /* NULs, CRLFs, "--XyZ" not after a CRLF, "\r\n--XY" (a prefix of the
     * boundary), "\r\n--XyY", "\r\n-XyZ". */
    static const char data[] = "\0\x01\xff\r\n\r\n--XyY\0\r\n--XY\r\n-XyZ\r--XyZ\n--XyZ\0--XyZ";
    size_t dlen = sizeof data - 1;
    char body[512];
    size_t n = 0;
    const char *head = "--XyZ\r\n" CD "\"f\"; filename=\"b.bin\"\r\n\r\n";
    memcpy(body, head, strlen(head));
    n += strlen(head);
    memcpy(body + n, data, dlen);
    n += dlen;
    memcpy(body + n, "\r\n--XyZ--", 9);
    n += 9;
    ck_assert_int_eq(parse_n(body, n), 1);
    ck_assert_uint_eq(parts[0].len, dlen);
    ck_assert(memcmp(parts[0].data, data, dlen) == 0);
    ck_assert(parts[0].data >= fx_body && parts[0].data + parts[0].len <= fx_body + n);
}
END_TEST

START_TEST(preamble_epilogue_and_padding_are_ignored)
{
    ck_assert_int_eq(parse("This is a preamble.\r\n--XyZ \t\r\n" CD "a\r\n\r\n1\r\n--XyZ-- \t\r\n"
                           "epilogue\r\n--XyZ\r\nnot a part"),
                     1);
    ck_assert_str_eq(parts[0].name, "a");
    ck_assert_uint_eq(parts[0].len, 1);
    /* A preamble line that only looks like the boundary is preamble. */
    ck_assert_int_eq(parse("--XY\r\n-XyZ\r\n--XyZ\r\n" CD "a\r\n\r\n1\r\n--XyZ--"), 1);
    /* No CRLF at all after the close delimiter. */
    ck_assert_int_eq(parse("--XyZ\r\n" CD "a\r\n\r\n1\r\n--XyZ--"), 1);
}
END_TEST

START_TEST(no_parts_at_all_is_fine)
{
    ck_assert_int_eq(parse("--XyZ--\r\n"), 0);
    ck_assert_int_eq(parse("--XyZ--"), 0);
    ck_assert_int_eq(parse("preamble\r\n--XyZ--"), 0);
}
END_TEST

START_TEST(empty_data_and_parts_ending_with_their_headers)
{
    ck_assert_int_eq(parse("--XyZ\r\n" CD "a\r\n\r\n\r\n--XyZ\r\n" CD "b\r\n\r\n--XyZ--"), 2);
    ck_assert_uint_eq(parts[0].len, 0);
    ck_assert_str_eq(parts[1].name, "b");
    ck_assert_uint_eq(parts[1].len, 0);
}
END_TEST

START_TEST(disposition_parameters_are_unquoted)
{
    ck_assert_int_eq(parse("--XyZ\r\ncontent-disposition: Form-Data; name=\"a\\\"b\\\\c\"; "
                           "filename=\"C:\\\\dir\\\\f \\\"1\\\".txt\"; filename*=UTF-8''x%20y\r\n"
                           "\r\nv\r\n--XyZ--"),
                     1);
    ck_assert_str_eq(parts[0].name, "a\"b\\c");
    ck_assert_str_eq(parts[0].filename, "C:\\dir\\f \"1\".txt");
    /* Token values, an empty filename, UTF-8 in a quoted one, HTML's %22 kept. */
    ck_assert_int_eq(parse("--XyZ\r\n" CD "tok;filename=\"\"\r\n\r\n\r\n"
                           "--XyZ\r\n" CD "\"a%22b\"; filename=\"caf\xc3\xa9.txt\"; x=y\r\n\r\n\r\n"
                           "--XyZ--"),
                     2);
    ck_assert_str_eq(parts[0].name, "tok");
    ck_assert_str_eq(parts[0].filename, "");
    ck_assert_str_eq(parts[1].name, "a%22b");
    ck_assert_str_eq(parts[1].filename, "caf\xc3\xa9.txt");
}
END_TEST

START_TEST(other_headers_are_ignored_and_content_type_kept)
{
    ck_assert_int_eq(parse("--XyZ\r\nX-Other: 1\r\nContent-Type:image/png ; q=1 \r\n"
                           "Content-Transfer-Encoding: binary\r\n" CD "a\r\n\r\n\x89PNG\r\n--XyZ--"),
                     1);
    ck_assert_str_eq(parts[0].content_type, "image/png ; q=1");
    ck_assert_uint_eq(parts[0].len, 4);
}
END_TEST

/* Bodies that break a rule, with the rule. */
static const struct {
    const char *body, *rule;
} malformed[] = {
    {"", "empty body"},
    {"no boundary here", "no boundary"},
    {"--XyZ\r\n" CD "a\r\n\r\nvalue", "missing final boundary"},
    {"--XyZ\r\n" CD "a\r\n\r\nvalue\r\n--XyZ", "delimiter, then the end"},
    {"--XyZ\r\n" CD "a\r\n\r\nvalue\r\n--XyZ\r\n", "delimiter, then nothing"},
    {"--XyZ\r\n" CD "a\r\n\r\nvalue\r\n--XyZ-", "half a close delimiter"},
    {"--XyZ\r\n" CD "a\r\n\r\nv\r\n--XyZ--junk", "text after the close delimiter"},
    {"--XyZ\r\n" CD "a\r\n\r\nv\r\n--XyZ-- x\r\n", "text in the close padding"},
    {"--XyZ\r\n" CD "a\r\n\r\nv\r\n--XyZabc\r\n" CD "b\r\n\r\nw\r\n--XyZ--", "delimiter prefix"},
    {"--XyZx\r\n" CD "a\r\n\r\nv\r\n--XyZ--", "first boundary with a suffix"},
    {"--XyZ\n" CD "a\r\n\r\nv\r\n--XyZ--", "boundary line ended by LF"},
    {"--XyZ\r\n" CD "a\n\r\nv\r\n--XyZ--", "header ended by LF"},
    {"--XyZ\r\n" CD "a\r\n\nv\r\n--XyZ--", "empty line is a bare LF"},
    {"--XyZ\r\n" CD "a\rb\r\n\r\nv\r\n--XyZ--", "bare CR in a header"},
    {"--XyZ\r\n\r\nv\r\n--XyZ--", "no headers"},
    {"--XyZ\r\nContent-Type: text/plain\r\n\r\nv\r\n--XyZ--", "no Content-Disposition"},
    {"--XyZ\r\nContent-Disposition: attachment; name=a\r\n\r\nv\r\n--XyZ--", "not form-data"},
    {"--XyZ\r\nContent-Disposition: form-data\r\n\r\nv\r\n--XyZ--", "no name"},
    {"--XyZ\r\nContent-Disposition: form-data; filename=x\r\n\r\nv\r\n--XyZ--", "filename only"},
    {"--XyZ\r\n" CD "a; name=b\r\n\r\nv\r\n--XyZ--", "name twice"},
    {"--XyZ\r\n" CD "a; filename=x; filename=y\r\n\r\nv\r\n--XyZ--", "filename twice"},
    {"--XyZ\r\n" CD "a\r\n" CD "b\r\n\r\nv\r\n--XyZ--", "Content-Disposition twice"},
    {"--XyZ\r\n" CD "\"a\r\n\r\nv\r\n--XyZ--", "unclosed quote"},
    {"--XyZ\r\n" CD "a b\r\n\r\nv\r\n--XyZ--", "space in a token"},
    {"--XyZ\r\n" CD "a\r\n b\r\n\r\nv\r\n--XyZ--", "obs-fold"},
    {"--XyZ\r\n" CD "a\r\nX-Y : z\r\n\r\nv\r\n--XyZ--", "space before the colon"},
    {"--XyZ\r\n" CD "a\r\nX-Y z\r\n\r\nv\r\n--XyZ--", "header without a colon"},
    {"--XyZ\r\n" CD "a\r\nX-Y: a\x01z\r\n\r\nv\r\n--XyZ--", "control character"},
    {"--XyZ\r\n" CD "a\r\nContent-Type: text\r\n\r\nv\r\n--XyZ--", "bad Content-Type"},
    {"--XyZ\r\n" CD "a\r\nContent-Type: a/b\r\nContent-Type: a/b\r\n\r\nv\r\n--XyZ--",
     "Content-Type twice"},
    {"--XyZ\r\n" CD "a\r\n\r\nv\r\n--XyZ\r\nX: y\r\n--XyZ--", "headers run into the close"},
};

START_TEST(malformed_bodies_are_rejected)
{
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        int rc = parse(malformed[i].body);
        ck_assert_msg(rc == -EBADMSG, "%s: got %d", malformed[i].rule, rc);
        ck_assert_ptr_nonnull(why);
    }
}
END_TEST

START_TEST(part_count_limit)
{
    char body[4096];
    size_t n = 0;
    for (int i = 0; i < 5; i++)
        n += (size_t)snprintf(body + n, sizeof body - n, "--XyZ\r\n" CD "p%d\r\n\r\n%d\r\n", i, i);
    n += (size_t)snprintf(body + n, sizeof body - n, "--XyZ--");
    max_parts = 5;
    ck_assert_int_eq(parse_n(body, n), 5);
    max_parts = 4;
    ck_assert_int_eq(parse_n(body, n), -E2BIG);
    max_parts = 128;
}
END_TEST

START_TEST(part_header_limit)
{
    const char *body = "--XyZ\r\n" CD "a\r\n\r\nv\r\n--XyZ--";
    size_t block = strlen(CD "a\r\n\r\n");
    max_header = block;
    ck_assert_int_eq(parse(body), 1);
    max_header = block - 1;
    ck_assert_int_eq(parse(body), -E2BIG);
    max_header = 10;
    ck_assert_int_eq(parse(body), -E2BIG);
    /* A cut inside the headers, within the limit, is malformed, not too big. */
    max_header = 8192;
    ck_assert_int_eq(parse("--XyZ\r\n" CD "a\r\n"), -EBADMSG);
}
END_TEST

START_TEST(every_cut_is_malformed_or_valid_and_in_bounds)
{
    static const char *const bodies[] = {
        "pre\r\n--XyZ \r\n" CD "\"a\\\"\"; filename=\"f\"\r\nContent-Type: a/b; c=\"d\"\r\n\r\n"
        "v\r\n--XyZ\r\n" CD "b\r\n\r\n\r\n--XyZ-- \r\nepilogue",
        "--XyZ\r\n" CD "a\r\n\r\n--XyZ--",
        "--XyZ--",
    };
    for (size_t b = 0; b < sizeof bodies / sizeof bodies[0]; b++) {
        const char *full = bodies[b];
        size_t len = strlen(full);
        ck_assert_int_ge(parse(full), 0);
        const char *close = strstr(full, "--XyZ--");
        size_t close_end = (size_t)(close - full) + 7;
        for (size_t cut = 0; cut < len; cut++) {
            int rc = parse_n(full, cut);
            if (cut >= close_end) {
                /* After the close delimiter: padding, then CRLF or the end. */
                ck_assert_msg(rc >= 0 || rc == -EBADMSG, "body %zu cut %zu: %d", b, cut, rc);
            } else {
                ck_assert_msg(rc == -EBADMSG, "body %zu cut %zu: %d", b, cut, rc);
            }
            for (int i = 0; i < rc; i++)
                ck_assert(parts[i].data >= fx_body && parts[i].data + parts[i].len <= fx_body + cut);
        }
    }
}
END_TEST

START_TEST(every_byte_replaced_by_a_delimiter_byte_stays_in_bounds)
{
    const char *full = "--XyZ\r\n" CD "\"a\"; filename=\"f\"\r\n\r\nv\r\n--XyZ--\r\n";
    size_t len = strlen(full);
    static const char evil[] = {'\r', '\n', '\0', '"', '-', '\\', ';', ' ', 'X'};
    char *body = malloc(len);
    for (size_t i = 0; i < len; i++) {
        for (size_t e = 0; e < sizeof evil; e++) {
            memcpy(body, full, len);
            body[i] = evil[e];
            int rc = parse_n(body, len);
            ck_assert(rc == -EBADMSG || rc == -E2BIG || rc >= 0);
            for (int k = 0; k < rc; k++) {
                ck_assert(parts[k].data >= fx_body && parts[k].data + parts[k].len <= fx_body + len);
                ck_assert_ptr_nonnull(parts[k].name);
                ck_assert_ptr_nonnull(parts[k].content_type);
            }
        }
    }
    free(body);
}
END_TEST

/* ---- Through the request -------------------------------------------------- */

static struct srv_app app;

static void multipart_request(const char *ct, const char *body)
{
    fixture_next();
    fixture_header("Content-Type", ct);
    fixture_text(body);
}

START_TEST(request_parts_and_lookup)
{
    multipart_request("multipart/form-data; boundary=XyZ",
                      "--XyZ\r\n" CD "a\r\n\r\n1\r\n--XyZ\r\n" CD "b\r\n\r\n2\r\n"
                      "--XyZ\r\n" CD "a\r\n\r\n3\r\n--XyZ--\r\n");
    const struct srv_part *p;
    ck_assert_int_eq(srv_request_parts(&fx_req, &fx_res, &p), 3);
    ck_assert(!srv_response_answered(&fx_res));
    ck_assert_ptr_eq(srv_request_part(&fx_req, "a"), &p[0]);
    ck_assert_ptr_eq(srv_request_part(&fx_req, "b"), &p[1]);
    ck_assert_ptr_null(srv_request_part(&fx_req, "c"));
    ck_assert_ptr_null(srv_request_part(&fx_req, NULL));
    /* Data points into the request body: no copy. */
    ck_assert(p[2].data >= fx_req.body && p[2].data < fx_req.body + fx_req.body_len);
    const struct srv_part *again;
    ck_assert_int_eq(srv_request_parts(&fx_req, NULL, &again), 3);
    ck_assert_ptr_eq(again, p);
}
END_TEST

START_TEST(request_errors_are_answered_with_their_status)
{
    static const struct {
        const char *ct, *body;
        int rc, status;
    } cases[] = {
        {"multipart/form-data; boundary=XyZ", "--XyZ\r\n" CD "a\r\n\r\n1", -EBADMSG, 400},
        {"multipart/form-data", "--XyZ--", -EBADMSG, 400},
        {"multipart/form-data; boundary=\"a \"", "--XyZ--", -EBADMSG, 400},
        {"application/x-www-form-urlencoded", "a=1", -EMEDIUMTYPE, 415},
        {"multipart/form-data\xc2\xa0; boundary=XyZ", "--XyZ--", -EMEDIUMTYPE, 415},
        {"multipart/form-data; boundary=XyZ",
         "--XyZ\r\n" CD "a\r\n\r\n\r\n--XyZ\r\n" CD "b\r\n\r\n\r\n--XyZ\r\n" CD "c\r\n\r\n\r\n--XyZ--",
         -E2BIG, 413},
    };
    app.limits.multipart_parts = 2;
    fx_req.app = &app;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        multipart_request(cases[i].ct, cases[i].body);
        const struct srv_part *p = NULL;
        ck_assert_int_eq(srv_request_parts(&fx_req, &fx_res, &p), cases[i].rc);
        ck_assert_ptr_nonnull(p); /* an empty array, never NULL */
        ck_assert_int_eq(fx_res.status, cases[i].status);
        ck_assert(srv_response_answered(&fx_res));
        ck_assert_ptr_null(srv_request_part(&fx_req, "a"));
    }
    /* No Content-Type at all; RES NULL answers nothing. */
    fixture_next();
    fixture_text("--XyZ--");
    ck_assert_int_eq(srv_request_parts(&fx_req, NULL, NULL), -EMEDIUMTYPE);
    ck_assert_int_eq(fx_res.status, 200);
    ck_assert(!srv_response_answered(&fx_res));
}
END_TEST

START_TEST(request_part_header_limit_comes_from_the_app)
{
    app.limits.multipart_header = 16;
    fx_req.app = &app;
    multipart_request("multipart/form-data; boundary=XyZ",
                      "--XyZ\r\n" CD "a\r\n\r\n1\r\n--XyZ--");
    ck_assert_int_eq(srv_request_parts(&fx_req, &fx_res, NULL), -E2BIG);
    ck_assert_int_eq(fx_res.status, 413);
}
END_TEST

START_TEST(limits_default_to_128_parts_and_8k_headers)
{
    struct srv_limits lim;
    srv__limits_resolve(&lim, NULL);
    ck_assert_uint_eq(lim.multipart_parts, 128);
    ck_assert_uint_eq(lim.multipart_header, 8192);
}
END_TEST

static Suite *multipart_suite(void)
{
    Suite *s = suite_create("runtime/multipart");
    TCase *tc = tcase_create("boundary");
    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, boundary_token_or_quoted);
    tcase_add_test(tc, boundary_rules_are_enforced);
    suite_add_tcase(s, tc);
    tc = tcase_create("body");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, fields_and_files_are_split_at_boundaries);
    tcase_add_test(tc, binary_data_with_nuls_and_near_boundaries_is_kept);
    tcase_add_test(tc, preamble_epilogue_and_padding_are_ignored);
    tcase_add_test(tc, no_parts_at_all_is_fine);
    tcase_add_test(tc, empty_data_and_parts_ending_with_their_headers);
    tcase_add_test(tc, disposition_parameters_are_unquoted);
    tcase_add_test(tc, other_headers_are_ignored_and_content_type_kept);
    tcase_add_test(tc, malformed_bodies_are_rejected);
    tcase_add_test(tc, part_count_limit);
    tcase_add_test(tc, part_header_limit);
    tcase_add_test(tc, every_cut_is_malformed_or_valid_and_in_bounds);
    tcase_add_test(tc, every_byte_replaced_by_a_delimiter_byte_stays_in_bounds);
    suite_add_tcase(s, tc);
    tc = tcase_create("request");
    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, request_parts_and_lookup);
    tcase_add_test(tc, request_errors_are_answered_with_their_status);
    tcase_add_test(tc, request_part_header_limit_comes_from_the_app);
    tcase_add_test(tc, limits_default_to_128_parts_and_8k_headers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(multipart_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
