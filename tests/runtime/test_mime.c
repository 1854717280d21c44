/* Tests for runtime/mime.c: Content-Type from the extension. */
#include "internal.h"

#include <check.h>
#include <string.h>

static const char *type(const char *path)
{
    return srv__mime_type(path, strlen(path));
}

START_TEST(table_is_sorted_for_binary_search)
{
    ck_assert(srv__mime_table_sorted());
}
END_TEST

START_TEST(what_a_web_site_ships)
{
    static const char *const cases[][2] = {
        {"index.html", "text/html; charset=utf-8"},
        {"a.htm", "text/html; charset=utf-8"},
        {"site.css", "text/css; charset=utf-8"},
        {"app.js", "text/javascript; charset=utf-8"},
        {"mod.mjs", "text/javascript; charset=utf-8"},
        {"data.json", "application/json; charset=utf-8"},
        {"app.js.map", "application/json; charset=utf-8"},
        {"logo.svg", "image/svg+xml; charset=utf-8"},
        {"a.png", "image/png"},
        {"a.jpg", "image/jpeg"},
        {"a.jpeg", "image/jpeg"},
        {"a.gif", "image/gif"},
        {"a.webp", "image/webp"},
        {"a.avif", "image/avif"},
        {"favicon.ico", "image/x-icon"},
        {"a.bmp", "image/bmp"},
        {"f.woff", "font/woff"},
        {"f.woff2", "font/woff2"},
        {"f.ttf", "font/ttf"},
        {"f.otf", "font/otf"},
        {"m.wasm", "application/wasm"},
        {"robots.txt", "text/plain; charset=utf-8"},
        {"README.md", "text/markdown; charset=utf-8"},
        {"sitemap.xml", "application/xml; charset=utf-8"},
        {"doc.pdf", "application/pdf"},
        {"v.mp4", "video/mp4"},
        {"v.webm", "video/webm"},
        {"a.ogg", "audio/ogg"},
        {"a.mp3", "audio/mpeg"},
        {"a.wav", "audio/wav"},
        {"x.zip", "application/zip"},
        {"x.tar.gz", "application/gzip"},
        {"t.csv", "text/csv; charset=utf-8"},
        {"site.webmanifest", "application/manifest+json; charset=utf-8"},
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_str_eq(type(cases[i][0]), cases[i][1]);
}
END_TEST

START_TEST(extensions_are_case_insensitive)
{
    ck_assert_str_eq(type("INDEX.HTML"), "text/html; charset=utf-8");
    ck_assert_str_eq(type("Photo.JpG"), "image/jpeg");
    ck_assert_str_eq(type("f.WOFF2"), "font/woff2");
}
END_TEST

START_TEST(unknown_or_no_extension_is_octet_stream)
{
    static const char *const cases[] = {
        "Makefile", "a.unknownext", "a.", "dir.d/file", ".profile", "dir/.hidden", "",
        "a.verylongextensionname", "a.h\xc3\xa9ml",
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_str_eq(type(cases[i]), "application/octet-stream");
}
END_TEST

START_TEST(only_the_last_segment_counts)
{
    ck_assert_str_eq(type("a.css/b.js"), "text/javascript; charset=utf-8");
    ck_assert_str_eq(type("v1.2/app"), "application/octet-stream");
    ck_assert_str_eq(type("dir/.well-known.json"), "application/json; charset=utf-8");
}
END_TEST

static Suite *mime_suite(void)
{
    Suite *s = suite_create("runtime/mime");
    TCase *tc = tcase_create("types");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, table_is_sorted_for_binary_search);
    tcase_add_test(tc, what_a_web_site_ships);
    tcase_add_test(tc, extensions_are_case_insensitive);
    tcase_add_test(tc, unknown_or_no_extension_is_octet_stream);
    tcase_add_test(tc, only_the_last_segment_counts);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(mime_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
