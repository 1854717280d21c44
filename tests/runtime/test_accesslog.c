/* Tests for runtime/accesslog.c: the combined and JSON line formats, their
 * escaping (quotes, control bytes, invalid UTF-8), field truncation, the
 * buffering rules (nothing written until a flush, whole lines of at most
 * PIPE_BUF bytes per write on a pipe, a flush once a second) and reopening
 * a renamed file. */
#include "internal.h"

#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/srv-accesslog-XXXXXX";
static char path[256];

static void setup(void)
{
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/access.log", dir);
}

static void teardown(void)
{
    char old[300];
    snprintf(old, sizeof old, "%s.1", path);
    unlink(path);
    unlink(old);
    rmdir(dir);
    strcpy(dir, "/tmp/srv-accesslog-XXXXXX");
}

/* The whole file at P, NUL-terminated (static buffer). */
static const char *slurp(const char *p)
{
    static char buf[1 << 17];
    int fd = open(p, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    ck_assert_int_ge(n, 0);
    buf[n] = '\0';
    return buf;
}

static struct srv__access_entry entry(void)
{
    struct srv__access_entry e = {
        .peer = "192.0.2.7",
        .peer_len = 9,
        .method = "GET",
        .method_len = 3,
        .path = "/a b",
        .path_len = 4,
        .query = "x=1&y=\"2\"",
        .query_len = 9,
        .version_minor = 1,
        .status = 200,
        .bytes = 13,
        .referer = "http://example.com/",
        .referer_len = 19,
        .user_agent = "curl/8.0",
        .user_agent_len = 8,
        .duration_us = 42,
    };
    return e;
}

START_TEST(combined_line_has_every_field)
{
    struct srv__access_log l;
    ck_assert_int_eq(srv__access_log_open(&l, SRV_ACCESS_LOG_COMBINED, path), 0);
    struct srv__access_entry e = entry();
    srv__access_log_add(&l, &e);
    e.bytes = 0;
    e.referer = e.user_agent = NULL;
    e.query = NULL;
    e.version_minor = 0;
    e.status = 404;
    srv__access_log_add(&l, &e);
    ck_assert_str_eq(slurp(path), ""); /* buffered: nothing written yet */
    srv__access_log_close(&l);
    const char *got = slurp(path);
    /* 192.0.2.7 - - [30/Nov/2026:02:00:00 +0000] "GET /a b?x=1&y=\x222\x22 HTTP/1.1" 200 13 "http://example.com/" "curl/8.0" */
    char first[512], second[512];
    ck_assert_int_eq(sscanf(got, "%511[^\n]\n%511[^\n]", first, second), 2);
    ck_assert_msg(strncmp(first, "192.0.2.7 - - [", 15) == 0, "%s", first);
    ck_assert_msg(strlen(first) > 43 && first[17] == '/' && first[21] == '/' && first[26] == ':' &&
                  strncmp(first + 35, " +0000] ", 8) == 0, "%s", first);
    ck_assert_str_eq(first + 43, "\"GET /a b?x=1&y=\\x222\\x22 HTTP/1.1\" 200 13 "
                                 "\"http://example.com/\" \"curl/8.0\"");
    ck_assert_str_eq(second + 43, "\"GET /a b HTTP/1.0\" 404 - \"-\" \"-\"");
}
END_TEST

START_TEST(json_line_is_one_object)
{
    struct srv__access_log l;
    ck_assert_int_eq(srv__access_log_open(&l, SRV_ACCESS_LOG_JSON, path), 0);
    struct srv__access_entry e = entry();
    srv__access_log_add(&l, &e);
    srv__access_log_close(&l);
    const char *got = slurp(path);
    ck_assert_msg(strncmp(got, "{\"time\":\"", 9) == 0 && got[13] == '-' && got[28] == 'Z', "%s", got);
    ck_assert_str_eq(got + 29, "\",\"peer\":\"192.0.2.7\",\"method\":\"GET\",\"path\":\"/a b\","
                               "\"query\":\"x=1&y=\\\"2\\\"\",\"status\":200,\"bytes\":13,"
                               "\"duration_us\":42,\"user_agent\":\"curl/8.0\","
                               "\"referer\":\"http://example.com/\",\"worker\":0}\n");
}
END_TEST

START_TEST(bytes_that_could_break_a_line_are_escaped)
{
    struct srv__access_log l;
    struct srv__access_entry e = entry();
    /* A decoded path may hold anything but NUL. */
    e.path = "/\n\x01\"\\\x7f\xc3\xa9\xff\xe0\x80\x80";
    e.path_len = strlen(e.path);
    e.query = NULL;
    ck_assert_int_eq(srv__access_log_open(&l, SRV_ACCESS_LOG_JSON, path), 0);
    srv__access_log_add(&l, &e);
    srv__access_log_close(&l);
    ck_assert_msg(strstr(slurp(path), "\"path\":\"/\\u000a\\u0001\\\"\\\\\\u007f\xc3\xa9\\ufffd"
                                      "\\ufffd\\ufffd\\ufffd\"") != NULL, "%s", slurp(path));
    unlink(path);
    ck_assert_int_eq(srv__access_log_open(&l, SRV_ACCESS_LOG_COMBINED, path), 0);
    srv__access_log_add(&l, &e);
    srv__access_log_close(&l);
    ck_assert_msg(strstr(slurp(path), "\"GET /\\x0a\\x01\\x22\\x5c\\x7f\\xc3\\xa9\\xff\\xe0\\x80\\x80 "
                                      "HTTP/1.1\"") != NULL, "%s", slurp(path));
    /* One line each time. */
    const char *s = slurp(path);
    ck_assert_ptr_eq(strchr(s, '\n'), s + strlen(s) - 1);
}
END_TEST

/* Every byte value, in the middle of a path, against the rule written out. */
START_TEST(every_byte_is_escaped_by_the_rule)
{
    for (int fmt = 0; fmt < 2; fmt++) {
        for (unsigned c = 1; c < 256; c++) {
            char p[8] = {'/', 'a', (char)c, 'b', 0};
            struct srv__access_entry e = entry();
            e.path = p;
            e.path_len = 4;
            e.query = NULL;
            unlink(path);
            struct srv__access_log l;
            ck_assert_int_eq(srv__access_log_open(&l, fmt ? SRV_ACCESS_LOG_JSON
                                                          : SRV_ACCESS_LOG_COMBINED, path), 0);
            srv__access_log_add(&l, &e);
            srv__access_log_close(&l);
            char want[64];
            bool plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
            if (plain)
                snprintf(want, sizeof want, "/a%cb", c);
            else if (!fmt)
                snprintf(want, sizeof want, "/a\\x%02xb", c);
            else if (c == '"' || c == '\\')
                snprintf(want, sizeof want, "/a\\%cb", c);
            else if (c < 0x20 || c == 0x7f)
                snprintf(want, sizeof want, "/a\\u%04xb", c);
            else
                snprintf(want, sizeof want, "/a\\ufffdb"); /* a lone byte >= 0x80 */
            ck_assert_msg(strstr(slurp(path), want) != NULL, "byte 0x%02x, format %d: %s", c, fmt,
                          slurp(path));
        }
    }
}
END_TEST

/* The same rule for every byte at every place of a field long enough to be
 * scanned 8 bytes at a time (and its tail byte by byte): the one lines of
 * a log, in order, each against the path written out. */
START_TEST(every_byte_at_every_place_of_a_long_field)
{
    enum { LEN = 19 }; /* two words and a tail of 3 */
    for (int fmt = 0; fmt < 2; fmt++) {
        unlink(path);
        struct srv__access_log l;
        ck_assert_int_eq(srv__access_log_open(&l, fmt ? SRV_ACCESS_LOG_JSON
                                                      : SRV_ACCESS_LOG_COMBINED, path), 0);
        for (unsigned at = 1; at < LEN; at++) {
            for (unsigned c = 1; c < 256; c++) {
                char p[LEN + 1];
                memset(p, 'a', LEN);
                p[0] = '/';
                p[at] = (char)c;
                p[LEN] = '\0';
                struct srv__access_entry e = entry();
                e.path = p;
                e.path_len = LEN;
                e.query = NULL;
                srv__access_log_add(&l, &e);
            }
        }
        srv__access_log_close(&l);
        FILE *f = fopen(path, "r");
        ck_assert_ptr_nonnull(f);
        char line[512];
        for (unsigned at = 1; at < LEN; at++) {
            for (unsigned c = 1; c < 256; c++) {
                ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
                char one[16];
                bool plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
                if (plain)
                    snprintf(one, sizeof one, "%c", c);
                else if (!fmt)
                    snprintf(one, sizeof one, "\\x%02x", c);
                else if (c == '"' || c == '\\')
                    snprintf(one, sizeof one, "\\%c", c);
                else if (c < 0x20 || c == 0x7f)
                    snprintf(one, sizeof one, "\\u%04x", c);
                else
                    snprintf(one, sizeof one, "\\ufffd"); /* a lone byte >= 0x80 */
                char want[128];
                snprintf(want, sizeof want, "%s/%.*s%s%.*s%s", fmt ? "\"path\":\"" : "GET ",
                         (int)at - 1, "aaaaaaaaaaaaaaaaaaaa", one, (int)(LEN - at - 1),
                         "aaaaaaaaaaaaaaaaaaaa", fmt ? "\"" : " HTTP/1.1");
                ck_assert_msg(strstr(line, want) != NULL, "byte 0x%02x at %u, format %d: %s", c,
                              at, fmt, line);
            }
        }
        ck_assert_ptr_null(fgets(line, sizeof line, f));
        fclose(f);
    }
}
END_TEST

START_TEST(long_fields_are_cut)
{
    static char agent[10000];
    memset(agent, 'a', sizeof agent - 1);
    struct srv__access_log l;
    struct srv__access_entry e = entry();
    e.user_agent = agent;
    e.user_agent_len = strlen(agent);
    ck_assert_int_eq(srv__access_log_open(&l, SRV_ACCESS_LOG_COMBINED, path), 0);
    srv__access_log_add(&l, &e);
    srv__access_log_close(&l);
    size_t len = strlen(slurp(path));
    ck_assert_uint_lt(len, 1024 + 200);
    ck_assert_uint_gt(len, 1024);
}
END_TEST

/* On a pipe or a socket, each write is whole lines of at most PIPE_BUF
 * bytes.  A SOCK_SEQPACKET pair keeps write boundaries: one read, one write. */
START_TEST(pipe_writes_are_whole_lines_within_pipe_buf)
{
    int fds[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, fds), 0);
    int size = 1 << 20;
    setsockopt(fds[0], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    int saved = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    struct srv__access_log l;
    ck_assert_int_eq(srv__access_log_open(&l, SRV_ACCESS_LOG_COMBINED, NULL), 0);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    ck_assert(l.pipe_like);
    struct srv__access_entry e = entry();
    const int lines = 60;
    for (int i = 0; i < lines; i++)
        srv__access_log_add(&l, &e);
    srv__access_log_close(&l); /* flushes, closes the write end */
    static char buf[1 << 16];
    int nl = 0, writes = 0;
    for (;;) {
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n <= 0)
            break;
        writes++;
        ck_assert_int_le(n, PIPE_BUF);
        ck_assert_int_eq(buf[n - 1], '\n');
        for (ssize_t i = 0; i < n; i++)
            nl += buf[i] == '\n';
    }
    close(fds[0]);
    ck_assert_int_eq(nl, lines);
    ck_assert_int_gt(writes, 1); /* 60 lines of ~110 bytes do not fit one PIPE_BUF */
}
END_TEST

START_TEST(tick_flushes_after_a_second)
{
    struct srv__access_log l;
    ck_assert_int_eq(srv__access_log_open(&l, SRV_ACCESS_LOG_COMBINED, path), 0);
    struct srv__access_entry e = entry();
    srv__access_log_add(&l, &e);
    l.flushed_ms = 5000;
    ck_assert_int_eq(srv__access_log_wait_ms(&l, 5400), 600);
    srv__access_log_tick(&l, 5999);
    ck_assert_str_eq(slurp(path), "");
    srv__access_log_tick(&l, 6000);
    ck_assert_ptr_nonnull(strstr(slurp(path), "\"GET /a b"));
    ck_assert_int_eq(srv__access_log_wait_ms(&l, 6000), -1);
    srv__access_log_close(&l);
}
END_TEST

START_TEST(reopen_follows_a_rename)
{
    char old[300];
    snprintf(old, sizeof old, "%s.1", path);
    struct srv__access_log l;
    ck_assert_int_eq(srv__access_log_open(&l, SRV_ACCESS_LOG_COMBINED, path), 0);
    struct srv__access_entry e = entry();
    srv__access_log_add(&l, &e);
    ck_assert_int_eq(rename(path, old), 0);
    e.status = 201;
    ck_assert_int_eq(srv__access_log_reopen(&l), 0); /* flushes the 200 into the old file */
    srv__access_log_add(&l, &e);
    srv__access_log_close(&l);
    ck_assert_ptr_nonnull(strstr(slurp(old), "\" 200 13 "));
    ck_assert_ptr_null(strstr(slurp(old), "\" 201 13 "));
    ck_assert_ptr_nonnull(strstr(slurp(path), "\" 201 13 "));
}
END_TEST

START_TEST(off_opens_nothing)
{
    struct srv__access_log l;
    ck_assert_int_eq(srv__access_log_open(&l, SRV_ACCESS_LOG_OFF, path), 0);
    ck_assert_int_eq(l.fd, -1);
    struct srv__access_entry e = entry();
    srv__access_log_add(&l, &e);
    srv__access_log_close(&l);
    ck_assert_int_eq(access(path, F_OK), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("runtime/accesslog");
    TCase *tc = tcase_create("log");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, combined_line_has_every_field);
    tcase_add_test(tc, json_line_is_one_object);
    tcase_add_test(tc, bytes_that_could_break_a_line_are_escaped);
    tcase_add_test(tc, long_fields_are_cut);
    tcase_add_test(tc, every_byte_is_escaped_by_the_rule);
    tcase_add_test(tc, every_byte_at_every_place_of_a_long_field);
    tcase_add_test(tc, pipe_writes_are_whole_lines_within_pipe_buf);
    tcase_add_test(tc, tick_flushes_after_a_second);
    tcase_add_test(tc, reopen_follows_a_rename);
    tcase_add_test(tc, off_opens_nothing);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
