/* Tests for runtime/json_write.c: the JSON writer.  Every document it
 * writes here is also read back with jansson, so "valid JSON" is checked by
 * a real parser, not by our own eyes. */
#include "fixture.h"

#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>

static void setup(void)
{
    fixture_begin();
}

static void teardown(void)
{
    fixture_end();
}

/* The body the writer produced (and it must be one). */
static const char *body(void)
{
    ck_assert_msg(!fx_res.failed, "failed: %s", fx_res.failure ? fx_res.failure : "?");
    return fixture_res_body();
}

/* Parses TEXT with jansson (any top-level value, NULs allowed). */
static json_t *reparse(const char *text, size_t len)
{
    json_error_t err;
    json_t *j = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    ck_assert_msg(j != NULL, "invalid JSON (%s) at %d: %.200s", err.text, err.position, text);
    return j;
}

/* ---- Structure ------------------------------------------------------------ */

/* A message: its own memory, NUL-terminated text, long enough to grow the
 * buffer several times, and no response touched. */
START_TEST(a_message_has_its_own_memory)
{
    struct srv_json *j = srv_json_message();
    size_t len = 99;
    ck_assert_ptr_null(srv_json_text(j, &len)); /* not ended yet */
    ck_assert_uint_eq(len, 0);
    srv_json_object(j);
    srv_json_key(j, "type");
    srv_json_string(j, "message");
    srv_json_key(j, "text");
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    big[10] = '"';
    srv_json_string(j, big);
    srv_json_object_end(j);
    srv_json_end(j);
    const char *text = srv_json_text(j, &len);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(strlen(text), len);
    ck_assert_str_eq(text + len - 6, "xxxx\"}");
    json_t *doc = reparse(text, len);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "type")), "message");
    ck_assert_str_eq(json_string_value(json_object_get(doc, "text")), big);
    json_decref(doc);
    srv_json_free(j);
    ck_assert(!fx_res.failed);
    ck_assert_uint_eq(fx_res.body_len, 0);
}
END_TEST

/* A misuse in a message: no text, nothing sent, the response untouched. */
START_TEST(a_misused_message_has_no_text)
{
    struct srv_json *j = srv_json_message();
    srv_json_array(j);
    srv_json_key(j, "k"); /* a key in an array */
    srv_json_array_end(j);
    srv_json_end(j);
    size_t len = 5;
    ck_assert_ptr_null(srv_json_text(j, &len));
    ck_assert_uint_eq(len, 0);
    srv_json_free(j);
    srv_json_free(NULL);
    ck_assert(!fx_res.failed);
}
END_TEST

START_TEST(commas_and_colons_are_automatic)
{
    struct srv_json *j = srv_json_begin(&fx_res);
    srv_json_object(j);
    srv_json_key(j, "id");
    srv_json_int(j, 7);
    srv_json_key(j, "tags");
    srv_json_array(j);
    srv_json_string(j, "a");
    srv_json_string(j, "b");
    srv_json_array(j);
    srv_json_array_end(j);
    srv_json_object(j);
    srv_json_object_end(j);
    srv_json_null(j);
    srv_json_array_end(j);
    srv_json_key(j, "ok");
    srv_json_bool(j, true);
    srv_json_key(j, "no");
    srv_json_bool(j, false);
    srv_json_key(j, "inner");
    srv_json_object(j);
    srv_json_key(j, "x");
    srv_json_uint(j, 1);
    srv_json_object_end(j);
    srv_json_object_end(j);
    srv_json_end(j);
    ck_assert_str_eq(body(), "{\"id\":7,\"tags\":[\"a\",\"b\",[],{},null],\"ok\":true,"
                             "\"no\":false,\"inner\":{\"x\":1}}");
    ck_assert_str_eq(srv_response_header(&fx_res, "Content-Type"), "application/json");
}
END_TEST

START_TEST(top_level_scalars_and_empty_containers)
{
    struct srv_json *j = srv_json_begin(&fx_res);
    srv_json_string(j, "just a string");
    srv_json_end(j);
    ck_assert_str_eq(body(), "\"just a string\"");
    j = srv_json_begin(&fx_res);
    srv_json_array(j);
    srv_json_array_end(j);
    srv_json_end(j);
    ck_assert_str_eq(body(), "[]");
    j = srv_json_begin(&fx_res);
    srv_json_string(j, NULL);
    srv_json_end(j);
    ck_assert_str_eq(body(), "null");
}
END_TEST

START_TEST(end_replaces_body_and_content_type)
{
    srv_response_set_content_type(&fx_res, "text/html");
    srv_response_text(&fx_res, "<p>old</p>");
    struct srv_json *j = srv_json_begin(&fx_res);
    srv_json_int(j, 1);
    srv_json_end(j);
    ck_assert_str_eq(body(), "1");
    ck_assert_str_eq(srv_response_header(&fx_res, "Content-Type"), "application/json");
    ck_assert_uint_eq(srv_response_remove_header(&fx_res, "Content-Type"), 1);
    ck_assert(srv_response_answered(&fx_res));
}
END_TEST

START_TEST(deep_nesting_up_to_64_levels)
{
    struct srv_json *j = srv_json_begin(&fx_res);
    for (int i = 0; i < 64; i++)
        srv_json_array(j);
    for (int i = 0; i < 64; i++)
        srv_json_array_end(j);
    srv_json_end(j);
    const char *b = body();
    ck_assert_uint_eq(strlen(b), 128);
    json_decref(reparse(b, 128));
}
END_TEST

/* Each misuse, after a valid prefix: the response must be failed. */
typedef void (*misuse_fn)(struct srv_json *j);
static void m_value_for_key(struct srv_json *j) { srv_json_object(j); srv_json_int(j, 1); }
static void m_key_in_array(struct srv_json *j) { srv_json_array(j); srv_json_key(j, "k"); }
static void m_key_at_top(struct srv_json *j) { srv_json_key(j, "k"); }
static void m_two_keys(struct srv_json *j) { srv_json_object(j); srv_json_key(j, "a"); srv_json_key(j, "b"); }
static void m_close_unopened(struct srv_json *j) { srv_json_object_end(j); }
static void m_close_wrong(struct srv_json *j) { srv_json_object(j); srv_json_array_end(j); }
static void m_close_after_key(struct srv_json *j) { srv_json_object(j); srv_json_key(j, "a"); srv_json_object_end(j); }
static void m_two_tops(struct srv_json *j) { srv_json_int(j, 1); srv_json_int(j, 2); }
static void m_end_open(struct srv_json *j) { srv_json_array(j); srv_json_end(j); }
static void m_end_open_object(struct srv_json *j) { srv_json_object(j); srv_json_end(j); }
static void m_end_empty(struct srv_json *j) { srv_json_end(j); }
static void m_after_end(struct srv_json *j) { srv_json_int(j, 1); srv_json_end(j); srv_json_int(j, 2); }
static void m_end_twice(struct srv_json *j) { srv_json_int(j, 1); srv_json_end(j); srv_json_end(j); }
static void m_nan(struct srv_json *j) { srv_json_double(j, NAN); }
static void m_inf(struct srv_json *j) { srv_json_array(j); srv_json_double(j, -INFINITY); }
static void m_null_key(struct srv_json *j) { srv_json_object(j); srv_json_key(j, NULL); }
static void m_too_deep(struct srv_json *j) { for (int i = 0; i < 65; i++) srv_json_array(j); }

START_TEST(misuse_fails_the_response)
{
    static const struct {
        misuse_fn fn;
        const char *name;
    } cases[] = {
        {m_value_for_key, "value for key"},   {m_key_in_array, "key in array"},
        {m_key_at_top, "key at top"},         {m_two_keys, "two keys"},
        {m_close_unopened, "close unopened"}, {m_close_wrong, "close wrong kind"},
        {m_close_after_key, "close after key"}, {m_two_tops, "two top-level values"},
        {m_end_open, "end with open array"},  {m_end_open_object, "end with open object"},
        {m_end_empty, "end with nothing"},    {m_after_end, "value after end"},
        {m_end_twice, "end twice"},           {m_nan, "NaN"},
        {m_inf, "infinity"},                  {m_null_key, "NULL key"},
        {m_too_deep, "65 levels"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fixture_next();
        struct srv_json *j = srv_json_begin(&fx_res);
        cases[i].fn(j);
        /* Whatever follows does not undo the failure. */
        srv_json_end(j);
        ck_assert_msg(fx_res.failed, "%s", cases[i].name);
        ck_assert_ptr_nonnull(fx_res.failure);
        ck_assert_ptr_nonnull(strstr(fx_res.failure, "JSON writer"));
    }
}
END_TEST

/* ---- Numbers -------------------------------------------------------------- */

START_TEST(integers_cover_their_whole_range)
{
    struct srv_json *j = srv_json_begin(&fx_res);
    srv_json_array(j);
    srv_json_int(j, 0);
    srv_json_int(j, -1);
    srv_json_int(j, INT64_MAX);
    srv_json_int(j, INT64_MIN);
    srv_json_uint(j, UINT64_MAX);
    srv_json_uint(j, 10);
    srv_json_array_end(j);
    srv_json_end(j);
    ck_assert_str_eq(body(), "[0,-1,9223372036854775807,-9223372036854775808,"
                             "18446744073709551615,10]");
}
END_TEST

START_TEST(doubles_are_shortest_and_read_back_exactly)
{
    static const double values[] = {0.1, 1.5, -2.25, 1e300, -1e-300, 5e-324, 1.0 / 3,
                                    2.0 / 3, 123456789012345678.0, 0.0, 3.0,
                                    1.7976931348623157e308, 4.35, 100.0, 1e21};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        fixture_next();
        struct srv_json *j = srv_json_begin(&fx_res);
        srv_json_double(j, values[i]);
        srv_json_end(j);
        const char *b = body();
        json_t *back = reparse(b, strlen(b));
        double got = json_is_real(back) ? json_real_value(back) : (double)json_integer_value(back);
        ck_assert_msg(got == values[i], "%s", b);
        json_decref(back);
    }
    fixture_next();
    struct srv_json *j = srv_json_begin(&fx_res);
    srv_json_array(j);
    srv_json_double(j, 0.1);
    srv_json_double(j, 3.0);
    srv_json_double(j, -0.0);
    srv_json_double(j, 1e300);
    srv_json_array_end(j);
    srv_json_end(j);
    /* -0 keeps its sign (jansson would read it back as the integer 0). */
    ck_assert_str_eq(body(), "[0.1,3,-0,1e+300]");
}
END_TEST

/* ---- Strings -------------------------------------------------------------- */

/* The writer's string for S[0..LEN). */
static const char *quoted(const char *s, size_t len)
{
    fixture_next();
    struct srv_json *j = srv_json_begin(&fx_res);
    srv_json_string_n(j, s, len);
    srv_json_end(j);
    return body();
}

START_TEST(every_single_byte_is_escaped_or_replaced)
{
    for (unsigned b = 0; b < 256; b++) {
        char in = (char)b, want[16];
        if (b == '"')
            strcpy(want, "\"\\\"\"");
        else if (b == '\\')
            strcpy(want, "\"\\\\\"");
        else if (b == '\b')
            strcpy(want, "\"\\b\"");
        else if (b == '\f')
            strcpy(want, "\"\\f\"");
        else if (b == '\n')
            strcpy(want, "\"\\n\"");
        else if (b == '\r')
            strcpy(want, "\"\\r\"");
        else if (b == '\t')
            strcpy(want, "\"\\t\"");
        else if (b < 0x20)
            snprintf(want, sizeof want, "\"\\u%04x\"", b);
        else if (b < 0x80)
            snprintf(want, sizeof want, "\"%c\"", b);
        else
            strcpy(want, "\"\xef\xbf\xbd\""); /* a lone byte >= 0x80 is never UTF-8 */
        const char *got = quoted(&in, 1);
        ck_assert_msg(strcmp(got, want) == 0, "byte 0x%02x: %s", b, got);
        json_t *back = reparse(got, strlen(got));
        ck_assert(json_is_string(back));
        if (b < 0x80) {
            ck_assert_uint_eq(json_string_length(back), 1);
            ck_assert_int_eq((unsigned char)json_string_value(back)[0], b);
        }
        json_decref(back);
    }
}
END_TEST

START_TEST(invalid_utf8_becomes_replacement_characters_per_byte)
{
#define R "\xef\xbf\xbd"
    static const struct {
        const char *in, *out, *what;
    } cases[] = {
        {"caf\xc3\xa9", "caf\xc3\xa9", "2-byte"},
        {"\xe2\x82\xac", "\xe2\x82\xac", "3-byte"},
        {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80", "4-byte"},
        {"\xef\xbf\xbf", "\xef\xbf\xbf", "U+FFFF"},
        {"\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf", "U+10FFFF"},
        {"\xed\x9f\xbf", "\xed\x9f\xbf", "U+D7FF"},
        {"\xee\x80\x80", "\xee\x80\x80", "U+E000"},
        {"\xc0\x80", R R, "overlong NUL"},
        {"\xc1\xbf", R R, "overlong 2-byte"},
        {"\xe0\x80\x80", R R R, "overlong 3-byte"},
        {"\xe0\x9f\xbf", R R R, "overlong 3-byte, top"},
        {"\xf0\x80\x80\x80", R R R R, "overlong 4-byte"},
        {"\xf0\x8f\xbf\xbf", R R R R, "overlong 4-byte, top"},
        {"\xed\xa0\x80", R R R, "high surrogate"},
        {"\xed\xbf\xbf", R R R, "low surrogate"},
        {"\xed\xa0\xbd\xed\xb8\x80", R R R R R R, "CESU-8 pair"},
        {"\xf4\x90\x80\x80", R R R R, "past U+10FFFF"},
        {"\xf5\x80\x80\x80", R R R R, "F5 lead"},
        {"\xff\xfe", R R, "FF FE"},
        {"\x80x", R "x", "stray continuation"},
        {"\xe2\x82", R R, "cut 3-byte at the end"},
        {"\xe2\x82x", R R "x", "cut 3-byte before ASCII"},
        {"\xf0\x9f\x98", R R R, "cut 4-byte"},
        {"\xc3", R, "cut 2-byte"},
        {"\xc3\xc3\xa9", R "\xc3\xa9", "lead then a sequence"},
        {"a\"b\\c\x01", "a\\\"b\\\\c\\u0001", "mixed escapes"},
    };
#undef R
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = quoted(cases[i].in, strlen(cases[i].in));
        size_t n = strlen(got);
        ck_assert_msg(n >= 2 && strncmp(got + 1, cases[i].out, n - 2) == 0 &&
                          strlen(cases[i].out) == n - 2,
                      "%s: %s", cases[i].what, got);
        json_decref(reparse(got, n));
    }
}
END_TEST

START_TEST(nul_bytes_and_keys_are_escaped)
{
    fixture_next();
    struct srv_json *j = srv_json_begin(&fx_res);
    srv_json_object(j);
    srv_json_key_n(j, "k\0\"", 3);
    srv_json_string_n(j, "a\0b", 3);
    srv_json_object_end(j);
    srv_json_end(j);
    ck_assert_str_eq(body(), "{\"k\\u0000\\\"\":\"a\\u0000b\"}");
}
END_TEST

/* A reference for what the writer must produce from arbitrary bytes: the
 * decoded string jansson must read back. */
static size_t expected(const unsigned char *in, size_t n, unsigned char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        unsigned c = in[i];
        size_t k = 0;
        uint32_t cp = 0, min = 0;
        if (c < 0x80) {
            out[o++] = (unsigned char)c;
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0)
            k = 2, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0)
            k = 3, cp = c & 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0)
            k = 4, cp = c & 0x07, min = 0x10000;
        bool ok = k > 0 && i + k <= n;
        for (size_t m = 1; ok && m < k; m++) {
            ok = (in[i + m] & 0xc0) == 0x80;
            cp = cp << 6 | (in[i + m] & 0x3f);
        }
        ok = ok && cp >= min && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
        if (ok) {
            memcpy(out + o, in + i, k);
            o += k;
            i += k;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    return o;
}

START_TEST(random_bytes_read_back_as_the_documented_rule)
{
    srand(12345);
    unsigned char in[300], want[900];
    for (int round = 0; round < 3000; round++) {
        size_t n = (size_t)(rand() % 300);
        for (size_t i = 0; i < n; i++) {
            /* Mostly bytes around UTF-8's edges. */
            static const unsigned char pick[] = {0x00, 0x1f, 0x20, 0x22, 0x5c, 0x7f, 0x80, 0x8f,
                                                 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0,
                                                 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 'a'};
            in[i] = rand() % 2 ? pick[rand() % sizeof pick] : (unsigned char)rand();
        }
        size_t wn = expected(in, n, want);
        const char *got = quoted((const char *)in, n);
        json_t *back = reparse(got, strlen(got));
        ck_assert_uint_eq(json_string_length(back), wn);
        ck_assert(memcmp(json_string_value(back), want, wn) == 0);
        json_decref(back);
    }
}
END_TEST

START_TEST(long_strings_grow_the_buffer_correctly)
{
    size_t n = 1 << 20;
    char *in = malloc(n);
    for (size_t i = 0; i < n; i++)
        in[i] = (char)(i % 7 == 0 ? '\n' : i % 13 == 0 ? 0xff : 'a' + i % 26);
    const char *got = quoted(in, n);
    char *ref = malloc(srv__json_quoted_max(n));
    char *end = srv__json_quote(ref, in, n);
    ck_assert_uint_eq(strlen(got), (size_t)(end - ref));
    ck_assert(memcmp(got, ref, (size_t)(end - ref)) == 0);
    json_decref(reparse(got, strlen(got)));
    free(ref);
    free(in);
}
END_TEST

static Suite *json_write_suite(void)
{
    Suite *s = suite_create("runtime/json_write");
    TCase *tc = tcase_create("structure");
    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, commas_and_colons_are_automatic);
    tcase_add_test(tc, top_level_scalars_and_empty_containers);
    tcase_add_test(tc, end_replaces_body_and_content_type);
    tcase_add_test(tc, deep_nesting_up_to_64_levels);
    tcase_add_test(tc, misuse_fails_the_response);
    tcase_add_test(tc, a_message_has_its_own_memory);
    tcase_add_test(tc, a_misused_message_has_no_text);
    suite_add_tcase(s, tc);
    tc = tcase_create("numbers");
    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, integers_cover_their_whole_range);
    tcase_add_test(tc, doubles_are_shortest_and_read_back_exactly);
    suite_add_tcase(s, tc);
    tc = tcase_create("strings");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, every_single_byte_is_escaped_or_replaced);
    tcase_add_test(tc, invalid_utf8_becomes_replacement_characters_per_byte);
    tcase_add_test(tc, nul_bytes_and_keys_are_escaped);
    tcase_add_test(tc, random_bytes_read_back_as_the_documented_rule);
    tcase_add_test(tc, long_strings_grow_the_buffer_correctly);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(json_write_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
