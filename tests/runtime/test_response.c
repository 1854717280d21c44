/* Tests for runtime/response.c: the handler API, header checks, status
 * reasons and framing; and, over loopback, how conn.c puts responses on the
 * wire (keep-alive, pipelining, bodies, 100-continue, large bodies,
 * timeouts, drain). */
#include "internal.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct srv__arena arena;
static struct srv_response res;

static void setup(void)
{
    srv__arena_init(&arena, 512);
    srv__response_init(&res, &arena);
}

static void teardown(void)
{
    srv__arena_free(&arena);
}

static char head_buf[4096];

static const char *head(unsigned flags)
{
    size_t n = srv__response_head(&res, flags, head_buf);
    ck_assert_uint_le(n, srv__response_head_max(&res));
    head_buf[n] = '\0';
    return head_buf;
}

/* ---- Building ------------------------------------------------------------- */

START_TEST(defaults_are_200_and_empty)
{
    ck_assert_int_eq(res.status, 200);
    ck_assert_uint_eq(res.body_len, 0);
    ck_assert(!res.failed);
    const char *h = head(0);
    ck_assert_ptr_nonnull(strstr(h, "HTTP/1.1 200 OK\r\n"));
    ck_assert_ptr_nonnull(strstr(h, "Content-Length: 0\r\n"));
}
END_TEST

START_TEST(headers_are_copied_in_order)
{
    char v[] = "text/plain";
    srv_response_set_content_type(&res, v);
    v[0] = 'X';
    srv_response_add_header(&res, "Set-Cookie", "a=1");
    srv_response_add_header(&res, "Set-Cookie", "b=2");
    ck_assert(!res.failed);
    const char *h = head(0);
    const char *ct = strstr(h, "Content-Type: text/plain\r\n");
    const char *c1 = strstr(h, "Set-Cookie: a=1\r\n");
    const char *c2 = strstr(h, "Set-Cookie: b=2\r\n");
    ck_assert(ct && c1 && c2 && ct < c1 && c1 < c2);
}
END_TEST

START_TEST(many_headers_grow_the_block)
{
    for (int i = 0; i < 200; i++)
        srv_response_add_header(&res, "X-Long-Header-Name", "some value that is long enough");
    ck_assert(!res.failed);
    ck_assert_uint_eq(res.headers_len, 200 * strlen("X-Long-Header-Name: some value that is long enough\r\n"));
}
END_TEST

START_TEST(crlf_in_value_fails)
{
    srv_response_add_header(&res, "X-A", "x\r\nInjected: 1");
    ck_assert(res.failed);
    ck_assert_uint_eq(res.headers_len, 0);
    ck_assert_ptr_nonnull(strstr(res.failure, "X-A"));
}
END_TEST

START_TEST(bare_lf_in_value_fails)
{
    srv_response_add_header(&res, "X-A", "x\ny");
    ck_assert(res.failed);
}
END_TEST

START_TEST(invalid_name_fails)
{
    static const char *const bad[] = {"Bad Name", "Bad:Name", "", "X\r\nY", "é", "a(b)"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        srv__response_init(&res, &arena);
        srv_response_add_header(&res, bad[i], "v");
        ck_assert_msg(res.failed, "name '%s' accepted", bad[i]);
    }
}
END_TEST

START_TEST(server_owned_headers_fail)
{
    static const char *const owned[] = {"Content-Length", "date", "CONNECTION",
                                        "Transfer-Encoding"};
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) {
        srv__response_init(&res, &arena);
        srv_response_add_header(&res, owned[i], "1");
        ck_assert_msg(res.failed, "'%s' accepted", owned[i]);
    }
}
END_TEST

START_TEST(tab_and_obs_text_in_value_are_fine)
{
    srv_response_add_header(&res, "X-A", "a\tb \xc3\xa9");
    ck_assert(!res.failed);
}
END_TEST

START_TEST(control_bytes_are_found_anywhere_in_long_values)
{
    static const char bad[] = {'\r', '\n', 0x01, 0x1f, 0x7f};
    for (size_t pos = 0; pos < 40; pos++) {
        for (size_t b = 0; b < sizeof bad; b++) {
            char v[41];
            memset(v, 'v', 40);
            v[40] = '\0';
            v[pos] = bad[b];
            srv__response_init(&res, &arena);
            srv_response_add_header(&res, "X-Long", v);
            ck_assert_msg(res.failed, "byte 0x%02x at %zu accepted", bad[b], pos);
            srv__response_init(&res, &arena);
            srv_response_set_content_type(&res, v);
            ck_assert(res.failed);
        }
        char ok[41];
        memset(ok, 0xe9, 40);
        ok[40] = '\0';
        ok[pos] = '\t';
        srv__response_init(&res, &arena);
        srv_response_add_header(&res, "X-Long", ok);
        ck_assert_msg(!res.failed, "tab at %zu refused", pos);
        ck_assert_uint_eq(res.headers_len, strlen("X-Long: \r\n") + 40);
    }
}
END_TEST

START_TEST(bad_status_fails)
{
    srv_response_set_status(&res, 42);
    ck_assert(res.failed);
    srv__response_init(&res, &arena);
    srv_response_set_status(&res, 600);
    ck_assert(res.failed);
    srv__response_init(&res, &arena);
    srv_response_set_status(&res, 201);
    ck_assert(!res.failed);
    ck_assert_int_eq(res.status, 201);
}
END_TEST

START_TEST(body_setters_replace_and_copy)
{
    char text[] = "hello";
    srv_response_text(&res, text);
    text[0] = 'j';
    ck_assert_uint_eq(res.body_len, 5);
    ck_assert_int_eq(memcmp(res.body, "hello", 5), 0);
    srv_response_body(&res, "a\0b", 3);
    ck_assert_uint_eq(res.body_len, 3);
    ck_assert_int_eq(memcmp(res.body, "a\0b", 3), 0);
    static const char st[] = "static";
    srv_response_body_static(&res, st, 6);
    ck_assert_ptr_eq(res.body, st);
    srv_response_printf(&res, "%d apples", 12);
    ck_assert_uint_eq(res.body_len, 9);
    ck_assert_int_eq(memcmp(res.body, "12 apples", 9), 0);
}
END_TEST

START_TEST(file_body_reads_back_as_null_and_every_setter_replaces_it)
{
    static const struct srv__seg seg = {"0123456789", 0, 10};
    for (int which = 0; which < 5; which++) {
        srv__response_init(&res, &arena);
        srv__response_file(&res, &seg, 1, -1, 10);
        ck_assert(srv_response_answered(&res));
        size_t len = 0;
        ck_assert_ptr_null(srv_response_get_body(&res, &len));
        ck_assert_uint_eq(len, 10);
        switch (which) {
        case 0: srv_response_text(&res, "new"); break;
        case 1: srv_response_body(&res, "new", 3); break;
        case 2: srv_response_body_static(&res, "new", 3); break;
        case 3: srv_response_printf(&res, "%s", "new"); break;
        default: srv__response_error(&res, 404, 0); break;
        }
        const char *b = srv_response_get_body(&res, &len);
        ck_assert_ptr_nonnull(b);
        if (which < 4)
            ck_assert_int_eq(memcmp(b, "new", 3), 0);
    }
}
END_TEST

/* ---- Redirects ------------------------------------------------------------ */

START_TEST(redirect_sets_status_location_and_a_short_body)
{
    static const int codes[] = {301, 302, 303, 307, 308};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        srv__response_init(&res, &arena);
        srv_response_add_header(&res, "Location", "/old");
        srv_response_redirect(&res, codes[i], "/next?a=1#frag");
        ck_assert(!res.failed);
        ck_assert_int_eq(res.status, codes[i]);
        ck_assert(srv_response_answered(&res));
        ck_assert_str_eq(srv_response_header(&res, "Location"), "/next?a=1#frag");
        ck_assert_uint_eq(srv_response_remove_header(&res, "Location"), 1); /* replaced */
        ck_assert_str_eq(srv_response_header(&res, "Content-Type"), "text/plain; charset=utf-8");
        char want[64];
        snprintf(want, sizeof want, "%d %s\n", codes[i], srv__status_reason(codes[i]));
        ck_assert_uint_eq(res.body_len, strlen(want));
        ck_assert(memcmp(res.body, want, res.body_len) == 0);
    }
}
END_TEST

START_TEST(server_lines_are_appended_after_the_handler_s)
{
    srv_response_add_header(&res, "X-A", "1");
    const char *lines = "ETag: \"x\"\r\nVary: Accept-Encoding\r\n";
    srv__response_add_lines(&res, lines, strlen(lines));
    ck_assert_str_eq(srv_response_header(&res, "etag"), "\"x\"");
    ck_assert_str_eq(srv_response_header(&res, "Vary"), "Accept-Encoding");
    ck_assert_str_eq(srv_response_header(&res, "X-A"), "1");
    char big[600];
    memset(big, 'a', sizeof big);
    memcpy(big, "X-Big: ", 7);
    memcpy(big + sizeof big - 2, "\r\n", 2);
    srv__response_add_lines(&res, big, sizeof big); /* grows the block */
    ck_assert_uint_eq(strlen(srv_response_header(&res, "X-Big")), sizeof big - 9);
}
END_TEST

START_TEST(redirect_with_another_status_is_a_misuse)
{
    static const int codes[] = {200, 300, 304, 305, 306, 309, 400, 0, -301, 3010};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        srv__response_init(&res, &arena);
        srv_response_redirect(&res, codes[i], "/x");
        ck_assert_msg(res.failed, "%d", codes[i]);
        ck_assert_ptr_null(srv_response_header(&res, "Location"));
    }
}
END_TEST

START_TEST(redirect_location_is_checked_and_encoded)
{
    static const char *const bad[] = {"", "/a\x01b", "/a\tb", "/a\x7f", "/a\r\nSet-Cookie: x=1",
                                      "/\n", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        srv__response_init(&res, &arena);
        srv_response_redirect(&res, 302, bad[i]);
        ck_assert_msg(res.failed, "case %zu", i);
        ck_assert_ptr_null(srv_response_header(&res, "Location"));
        ck_assert_ptr_null(strstr(res.failure, "Set-Cookie")); /* not echoed into the log */
    }
    srv__response_init(&res, &arena);
    srv_response_redirect(&res, 303, "/a b/caf\xc3\xa9?q=x y&r=%20");
    ck_assert(!res.failed);
    ck_assert_str_eq(srv_response_header(&res, "Location"), "/a%20b/caf%C3%A9?q=x%20y&r=%20");
    srv__response_init(&res, &arena);
    srv_response_redirect(&res, 301, "https://example.com/path");
    ck_assert_str_eq(srv_response_header(&res, "Location"), "https://example.com/path");
}
END_TEST

/* ---- Status and framing --------------------------------------------------- */

START_TEST(status_reasons_come_from_the_table)
{
    ck_assert_str_eq(srv__status_reason(200), "OK");
    ck_assert_str_eq(srv__status_reason(404), "Not Found");
    ck_assert_str_eq(srv__status_reason(431), "Request Header Fields Too Large");
    ck_assert_str_eq(srv__status_reason(505), "HTTP Version Not Supported");
    ck_assert_str_eq(srv__status_reason(299), "Unknown");
    ck_assert_str_eq(srv__status_reason(-1), "Unknown");
    ck_assert_str_eq(srv__status_reason(1000), "Unknown");
}
END_TEST

START_TEST(unknown_status_still_has_a_status_line)
{
    srv_response_set_status(&res, 299);
    ck_assert(strncmp(head(0), "HTTP/1.1 299 Unknown\r\n", 22) == 0);
}
END_TEST

START_TEST(head_has_date_length_and_blank_line)
{
    srv_response_text(&res, "Hello, World!");
    const char *h = head(0);
    ck_assert(strncmp(h, "HTTP/1.1 200 OK\r\nDate: ", 23) == 0);
    ck_assert_ptr_nonnull(strstr(h, " GMT\r\n"));
    ck_assert_ptr_nonnull(strstr(h, "Content-Length: 13\r\n"));
    ck_assert_ptr_null(strstr(h, "Connection"));
    ck_assert_str_eq(h + strlen(h) - 4, "\r\n\r\n");
    ck_assert(srv__response_has_body(&res, 0));
}
END_TEST

START_TEST(no_content_and_not_modified_have_no_length_or_body)
{
    static const int codes[] = {204, 304, 100, 101};
    for (size_t i = 0; i < 4; i++) {
        srv__response_init(&res, &arena);
        srv_response_set_status(&res, codes[i]);
        srv_response_text(&res, "ignored");
        ck_assert_ptr_null(strstr(head(0), "Content-Length"));
        ck_assert(!srv__response_has_body(&res, 0));
    }
}
END_TEST

START_TEST(head_request_keeps_length_drops_body)
{
    srv_response_text(&res, "Hello, World!");
    ck_assert_ptr_nonnull(strstr(head(SRV__RESP_HEAD), "Content-Length: 13\r\n"));
    ck_assert(!srv__response_has_body(&res, SRV__RESP_HEAD));
}
END_TEST

START_TEST(connection_header_follows_flags)
{
    ck_assert_ptr_nonnull(strstr(head(SRV__RESP_CLOSE), "Connection: close\r\n"));
    ck_assert_ptr_nonnull(strstr(head(SRV__RESP_KEEPALIVE), "Connection: keep-alive\r\n"));
}
END_TEST

START_TEST(error_responses_are_small_text)
{
    static const int codes[] = {400, 404, 408, 413, 414, 417, 431, 500, 501, 505};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        srv__response_init(&res, &arena);
        srv_response_add_header(&res, "X-Handler", "gone");
        srv__response_error(&res, codes[i], 0);
        char want[64];
        snprintf(want, sizeof want, "%d %s\n", codes[i], srv__status_reason(codes[i]));
        ck_assert_int_eq(res.status, codes[i]);
        ck_assert_uint_eq(res.body_len, strlen(want));
        ck_assert_int_eq(memcmp(res.body, want, res.body_len), 0);
        const char *h = head(SRV__RESP_CLOSE);
        ck_assert_ptr_nonnull(strstr(h, "Content-Type: text/plain"));
        ck_assert_ptr_null(strstr(h, "X-Handler"));
    }
}
END_TEST

START_TEST(error_405_carries_allow)
{
    srv__response_error(&res, 405, SRV_METHOD_GET | SRV_METHOD_HEAD | SRV_METHOD_POST);
    ck_assert_ptr_nonnull(strstr(head(0), "\r\nAllow: GET, HEAD, POST\r\n"));
}
END_TEST

/* ---- On the wire (conn.c) ------------------------------------------------- */

static void w_hello(struct srv_request *req, struct srv_response *res_)
{
    (void)req;
    srv_response_set_content_type(res_, "text/plain");
    srv_response_body_static(res_, "Hello, World!", 13);
}

static void w_echo(struct srv_request *req, struct srv_response *res_)
{
    size_t len;
    const char *b = srv_request_body(req, &len);
    ck_assert_int_eq(b[len], '\0');
    srv_response_body(res_, b, len);
}

#define BIG_LEN (3u * 1024 * 1024)
static char *big_body;

static void w_big(struct srv_request *req, struct srv_response *res_)
{
    (void)req;
    srv_response_body_static(res_, big_body, BIG_LEN);
}

static void w_bad(struct srv_request *req, struct srv_response *res_)
{
    (void)req;
    srv_response_add_header(res_, "Content-Length", "5");
}

static const struct srv_route w_routes[] = {
    {w_hello, SRV_METHOD_GET, "/plaintext", 0, NULL, NULL, NULL, 0},
    {w_echo, SRV_METHOD_POST, "/echo", 0, NULL, NULL, NULL, 0},
    {w_big, SRV_METHOD_GET, "/big", 0, NULL, NULL, NULL, 0},
    {w_bad, SRV_METHOD_GET, "/bad", 0, NULL, NULL, NULL, 0},
};

static int w_match(unsigned method, const char *path, size_t len, struct srv_match *m)
{
    m->nparams = 0;
    m->allow = 0;
    static const char *const paths[] = {"/plaintext", "/echo", "/big", "/bad"};
    for (int i = 0; i < 4; i++) {
        if (strlen(paths[i]) == len && memcmp(paths[i], path, len) == 0) {
            unsigned want = w_routes[i].methods;
            if (method & want || (method == SRV_METHOD_HEAD && (want & SRV_METHOD_GET)))
                return i;
            m->allow = want;
            return -1;
        }
    }
    return -1;
}

static struct srv_app w_app = {.match = w_match, .routes = w_routes, .nroutes = 4};
static struct srv__server srv;
static struct sockaddr_in srv_addr;

static void wire_setup(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(fd, 64), 0);
    socklen_t sl = sizeof srv_addr;
    getsockname(fd, (struct sockaddr *)&srv_addr, &sl);
    ck_assert_int_eq(srv__server_init(&srv, &w_app, fd), 0);
    big_body = malloc(BIG_LEN);
    for (size_t i = 0; i < BIG_LEN; i++)
        big_body[i] = (char)('a' + i % 26);
}

static void wire_teardown(void)
{
    srv__server_close(&srv);
    free(big_body);
}

static int client_rcvbuf(int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&srv_addr, sizeof srv_addr), 0);
    return fd;
}

static int client(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&srv_addr, sizeof srv_addr), 0);
    return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        ck_assert_int_gt(w, 0);
        s += w;
        n -= (size_t)w;
    }
}

struct got {
    char *buf;
    size_t len, cap;
    bool eof;
};

static size_t count(const struct got *g, const char *s)
{
    size_t n = 0, l = strlen(s);
    for (const char *p = g->buf; p && (p = memmem(p, g->len - (size_t)(p - g->buf), s, l)); p += l)
        n++;
    return n;
}

/* Runs the server and reads from FD until the received bytes contain UNTIL
 * N times (or, with UNTIL NULL, until EOF); fails after ~5 s. */
static void pump_n(int fd, struct got *g, const char *until, size_t n)
{
    for (int spins = 0; spins < 5000; spins++) {
        if (until ? count(g, until) >= n : g->eof)
            return;
        srv__server_run_once(&srv, 1);
        struct pollfd pfd = {fd, POLLIN, 0};
        while (!g->eof && poll(&pfd, 1, 0) == 1) {
            if (g->cap - g->len < 65536) {
                g->cap = g->cap * 2 + 65536;
                g->buf = realloc(g->buf, g->cap + 1);
            }
            ssize_t n = recv(fd, g->buf + g->len, g->cap - g->len, 0);
            if (n <= 0) {
                g->eof = true;
                break;
            }
            g->len += (size_t)n;
            g->buf[g->len] = '\0';
        }
    }
    ck_abort_msg("timed out waiting for %s; got %zu bytes: %.300s", until ? until : "EOF",
                 g->len, g->buf ? g->buf : "");
}

static void pump(int fd, struct got *g, const char *until)
{
    pump_n(fd, g, until, 1);
}

#define GET_PLAIN "GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"

START_TEST(keep_alive_serves_sequential_requests)
{
    int fd = client();
    struct got g = {0};
    for (int i = 1; i <= 3; i++) {
        send_all(fd, GET_PLAIN, strlen(GET_PLAIN));
        pump_n(fd, &g, "Hello, World!", (size_t)i);
    }
    ck_assert_uint_eq(count(&g, "HTTP/1.1 200 OK\r\n"), 3);
    ck_assert_uint_eq(count(&g, "Content-Length: 13\r\n"), 3);
    ck_assert_uint_eq(count(&g, "Content-Type: text/plain\r\n"), 3);
    ck_assert_uint_eq(srv.nconns, 1);
    close(fd);
    free(g.buf);
}
END_TEST

START_TEST(pipelined_requests_are_answered_in_order)
{
    int fd = client();
    const char req[] = GET_PLAIN "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                       "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde"
                       "HEAD /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    send_all(fd, req, sizeof req - 1);
    struct got g = {0};
    pump(fd, &g, NULL);
    const char *a = strstr(g.buf, "Hello, World!");
    const char *b = strstr(g.buf, "404 Not Found\n");
    const char *c = strstr(g.buf, "\r\n\r\nabcde");
    const char *d = strstr(c ? c : g.buf, "Content-Length: 13\r\n");
    const char *e = strstr(d ? d + 1 : g.buf, "Connection: close\r\n");
    ck_assert_msg(a && b && c && d && e && a < b && b < c && c < d && d < e, "%s", g.buf);
    ck_assert_uint_eq(count(&g, "Hello, World!"), 2); /* the HEAD got no body */
    ck_assert_uint_eq(count(&g, "HTTP/1.1 "), 5);
    close(fd);
    free(g.buf);
}
END_TEST

START_TEST(request_split_across_reads_is_served)
{
    int fd = client();
    struct got g = {0};
    const char *req = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world";
    for (size_t i = 0; req[i]; i++) {
        send_all(fd, req + i, 1);
        srv__server_run_once(&srv, 0);
    }
    pump(fd, &g, "hello world");
    ck_assert_ptr_nonnull(strstr(g.buf, "Content-Length: 11\r\n"));
    close(fd);
    free(g.buf);
}
END_TEST

START_TEST(trickled_head_is_parsed_again_only_when_a_line_ends)
{
    int fd = client();
    struct got g = {0};
    char value[301];
    memset(value, 'v', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    const char *start = "GET /plaintext HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    send_all(fd, start, strlen(start));
    srv__server_run_once(&srv, 50);
    unsigned long before = srv__incomplete_parses;
    /* One byte per read: without an LF nothing can change but the length. */
    for (size_t i = 0; value[i]; i++) {
        send_all(fd, value + i, 1);
        srv__server_run_once(&srv, 50);
    }
    ck_assert_uint_le(srv__incomplete_parses - before, 2);
    send_all(fd, "\r", 1);
    srv__server_run_once(&srv, 50);
    send_all(fd, "\n", 1);
    srv__server_run_once(&srv, 50);
    ck_assert_uint_le(srv__incomplete_parses - before, 3); /* the LF: parsed once more */
    send_all(fd, "\r\n", 2);
    pump(fd, &g, "Hello, World!");
    ck_assert(strncmp(g.buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
    close(fd);
    free(g.buf);
}
END_TEST

START_TEST(trickled_request_line_still_gets_414_at_its_limit)
{
    wire_teardown();
    w_app.limits.request_line = 100;
    wire_setup();
    int fd = client();
    struct got g = {0};
    send_all(fd, "GET /", 5);
    for (int i = 0; i < 200 && !g.eof; i++) {
        send_all(fd, "a", 1);
        srv__server_run_once(&srv, 50);
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, 0) == 1)
            break;
    }
    pump(fd, &g, NULL);
    ck_assert_msg(strncmp(g.buf, "HTTP/1.1 414 URI Too Long\r\n", 27) == 0, "%s", g.buf);
    close(fd);
    free(g.buf);
    w_app.limits.request_line = 0;
}
END_TEST

START_TEST(chunked_body_is_decoded_for_the_handler)
{
    int fd = client();
    const char req[] = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    send_all(fd, req, sizeof req - 1);
    struct got g = {0};
    pump(fd, &g, "hello world");
    ck_assert_ptr_nonnull(strstr(g.buf, "Content-Length: 11\r\n"));
    close(fd);
    free(g.buf);
}
END_TEST

START_TEST(large_request_body_grows_the_buffer)
{
    int fd = client();
    size_t n = 200000;
    char hdr[128];
    int hl = snprintf(hdr, sizeof hdr,
                      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", n);
    send_all(fd, hdr, (size_t)hl);
    struct got g = {0};
    for (size_t off = 0; off < n;) {
        char chunk[8192];
        size_t k = n - off < sizeof chunk ? n - off : sizeof chunk;
        memset(chunk, 'q', k);
        send_all(fd, chunk, k);
        off += k;
        srv__server_run_once(&srv, 0);
    }
    pump(fd, &g, "Content-Length: 200000\r\n");
    pump_n(fd, &g, "qqqqqqqqqq", n / 10);
    close(fd);
    free(g.buf);
}
END_TEST

START_TEST(body_over_limit_is_413_before_reading_it)
{
    int fd = client();
    const char req[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n";
    send_all(fd, req, sizeof req - 1);
    struct got g = {0};
    pump(fd, &g, NULL);
    ck_assert(strncmp(g.buf, "HTTP/1.1 413 ", 13) == 0);
    ck_assert_ptr_nonnull(strstr(g.buf, "Connection: close\r\n"));
    ck_assert_ptr_nonnull(strstr(g.buf, "413 Content Too Large\n"));
    close(fd);
    free(g.buf);
}
END_TEST

START_TEST(expect_continue_gets_interim_response)
{
    int fd = client();
    const char req[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                       "Expect: 100-continue\r\n\r\n";
    send_all(fd, req, sizeof req - 1);
    struct got g = {0};
    pump(fd, &g, "HTTP/1.1 100 Continue\r\n\r\n");
    ck_assert_ptr_null(strstr(g.buf, "200 OK"));
    send_all(fd, "xyz", 3);
    pump(fd, &g, "xyz");
    ck_assert(strncmp(g.buf, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", 42) == 0);
    ck_assert_uint_eq(count(&g, "100 Continue"), 1);
    close(fd);
    free(g.buf);
}
END_TEST

START_TEST(rejected_request_gets_no_interim_response)
{
    int fd = client();
    const char req[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n"
                       "Expect: 100-continue\r\n\r\n";
    send_all(fd, req, sizeof req - 1);
    struct got g = {0};
    pump(fd, &g, NULL);
    ck_assert_ptr_null(strstr(g.buf, "100 Continue"));
    ck_assert(strncmp(g.buf, "HTTP/1.1 413 ", 13) == 0);
    close(fd);
    free(g.buf);
}
END_TEST

START_TEST(large_response_is_sent_whole_while_others_are_served)
{
    int slow = client_rcvbuf(4096); /* forces writes across EPOLLOUT events */
    const char req[] = "GET /big HTTP/1.1\r\nHost: x\r\n\r\n" GET_PLAIN;
    send_all(slow, req, sizeof req - 1);
    /* The slow client does not read: the server must stay responsive. */
    for (int i = 0; i < 20; i++)
        srv__server_run_once(&srv, 0);
    int fast = client();
    send_all(fast, GET_PLAIN, strlen(GET_PLAIN));
    struct got f = {0};
    pump(fast, &f, "Hello, World!");
    close(fast);
    free(f.buf);

    struct got g = {0};
    pump(slow, &g, "Hello, World!");
    const char *body = strstr(g.buf, "\r\n\r\n") + 4;
    ck_assert_ptr_nonnull(strstr(g.buf, "Content-Length: 3145728\r\n"));
    ck_assert_int_eq(memcmp(body, big_body, BIG_LEN), 0);
    ck_assert(strncmp(body + BIG_LEN, "HTTP/1.1 200 OK\r\n", 17) == 0);
    close(slow);
    free(g.buf);
}
END_TEST

START_TEST(handler_misuse_is_answered_500)
{
    int fd = client();
    const char req[] = "GET /bad HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    send_all(fd, req, sizeof req - 1);
    struct got g = {0};
    pump(fd, &g, NULL);
    ck_assert(strncmp(g.buf, "HTTP/1.1 500 Internal Server Error\r\n", 36) == 0);
    ck_assert_uint_eq(count(&g, "Content-Length"), 1);
    close(fd);
    free(g.buf);
}
END_TEST

START_TEST(http10_closes_unless_keep_alive)
{
    int fd = client();
    const char req[] = "GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    send_all(fd, req, sizeof req - 1);
    struct got g = {0};
    pump(fd, &g, "Hello, World!");
    ck_assert_ptr_nonnull(strstr(g.buf, "Connection: keep-alive\r\n"));
    const char req2[] = "GET /plaintext HTTP/1.0\r\n\r\n";
    send_all(fd, req2, sizeof req2 - 1);
    pump(fd, &g, NULL);
    ck_assert_uint_eq(count(&g, "Hello, World!"), 2);
    close(fd);
    free(g.buf);
}
END_TEST

START_TEST(drain_closes_idle_and_finishes_in_flight)
{
    int idle = client(), busy = client(), again = client();
    struct got gi = {0}, gb = {0}, ga = {0};
    send_all(idle, GET_PLAIN, strlen(GET_PLAIN));
    pump(idle, &gi, "Hello, World!");
    send_all(again, GET_PLAIN, strlen(GET_PLAIN));
    pump(again, &ga, "Hello, World!");
    const char part[] = "GET /plaintext HTTP/1.1\r\nHost";
    send_all(busy, part, sizeof part - 1);
    for (int i = 0; i < 5; i++)
        srv__server_run_once(&srv, 0);
    ck_assert_uint_eq(srv.nconns, 3);
    uint64_t drain_start = srv__clock_ms();
    srv__server_drain(&srv);
    ck_assert_int_eq(srv.listeners[0].io.fd, -1);
    /* An idle connection that sends its next request within the grace gets
     * it answered, with Connection: close, then closed. */
    free(ga.buf);
    memset(&ga, 0, sizeof ga);
    send_all(again, GET_PLAIN, strlen(GET_PLAIN));
    pump(again, &ga, NULL);
    ck_assert_ptr_nonnull(strstr(ga.buf, "Connection: close\r\n"));
    ck_assert_ptr_nonnull(strstr(ga.buf, "Hello, World!"));
    /* One that stays idle is closed once the grace is over. */
    pump(idle, &gi, NULL);
    ck_assert_uint_ge(srv__clock_ms() - drain_start, 400);
    ck_assert(!srv__server_drained(&srv));
    send_all(busy, ": x\r\n\r\n", 7);
    pump(busy, &gb, NULL);
    ck_assert_ptr_nonnull(strstr(gb.buf, "Connection: close\r\n"));
    ck_assert_ptr_nonnull(strstr(gb.buf, "Hello, World!"));
    ck_assert(srv__server_drained(&srv));
    close(idle);
    close(busy);
    close(again);
    free(gi.buf);
    free(gb.buf);
    free(ga.buf);
}
END_TEST

START_TEST(trickling_header_times_out_with_408)
{
    wire_teardown();
    w_app.limits.header_timeout_ms = 300;
    wire_setup();
    int fd = client();
    const char req[] = "GET /plaintext HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    struct got g = {0};
    uint64_t start = 0;
    /* One byte every ~20 ms: the deadline counts from the first byte. */
    for (size_t i = 0; i < sizeof req - 1 && !g.eof; i++) {
        send_all(fd, req + i, 1);
        srv__server_run_once(&srv, 20);
        if (start == 0)
            start = srv__now_ms();
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, 0) == 1)
            break;
    }
    pump(fd, &g, NULL);
    uint64_t took = srv__now_ms() - start;
    ck_assert(strncmp(g.buf, "HTTP/1.1 408 Request Timeout\r\n", 30) == 0);
    ck_assert_uint_ge(took, 250);
    ck_assert_uint_lt(took, 1500);
    close(fd);
    free(g.buf);
    w_app.limits.header_timeout_ms = 0;
}
END_TEST

START_TEST(idle_connection_is_closed_quietly)
{
    wire_teardown();
    w_app.limits.idle_timeout_ms = 200;
    wire_setup();
    int fd = client();
    struct got g = {0};
    send_all(fd, GET_PLAIN, strlen(GET_PLAIN));
    pump(fd, &g, "Hello, World!");
    size_t before = g.len;
    pump(fd, &g, NULL);
    ck_assert_uint_eq(g.len, before); /* no 408 for an idle connection */
    ck_assert_uint_eq(srv.nconns, 0);
    close(fd);
    free(g.buf);
    w_app.limits.idle_timeout_ms = 0;
}
END_TEST

START_TEST(put_uint_writes_every_magnitude)
{
    uint64_t v = 0;
    for (int k = 0; k < 21; k++) {
        uint64_t tests[] = {v, v + 1, v ? v - 1 : 0, v * 7 + 3};
        for (int j = 0; j < 4; j++) {
            char got[32], want[32];
            char *end = srv__put_uint(got, tests[j]);
            *end = '\0';
            snprintf(want, sizeof want, "%llu", (unsigned long long)tests[j]);
            ck_assert_str_eq(got, want);
        }
        v = v ? (v > UINT64_MAX / 10 ? UINT64_MAX : v * 10) : 1;
    }
    char got[32];
    *srv__put_uint(got, UINT64_MAX) = '\0';
    ck_assert_str_eq(got, "18446744073709551615");
}
END_TEST

static Suite *response_suite(void)
{
    Suite *s = suite_create("runtime/response");
    TCase *tc = tcase_create("build");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, defaults_are_200_and_empty);
    tcase_add_test(tc, put_uint_writes_every_magnitude);
    tcase_add_test(tc, headers_are_copied_in_order);
    tcase_add_test(tc, many_headers_grow_the_block);
    tcase_add_test(tc, crlf_in_value_fails);
    tcase_add_test(tc, bare_lf_in_value_fails);
    tcase_add_test(tc, invalid_name_fails);
    tcase_add_test(tc, server_owned_headers_fail);
    tcase_add_test(tc, tab_and_obs_text_in_value_are_fine);
    tcase_add_test(tc, control_bytes_are_found_anywhere_in_long_values);
    tcase_add_test(tc, bad_status_fails);
    tcase_add_test(tc, body_setters_replace_and_copy);
    tcase_add_test(tc, file_body_reads_back_as_null_and_every_setter_replaces_it);
    tcase_add_test(tc, server_lines_are_appended_after_the_handler_s);
    tcase_add_test(tc, redirect_sets_status_location_and_a_short_body);
    tcase_add_test(tc, redirect_with_another_status_is_a_misuse);
    tcase_add_test(tc, redirect_location_is_checked_and_encoded);
    suite_add_tcase(s, tc);
    tc = tcase_create("framing");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, status_reasons_come_from_the_table);
    tcase_add_test(tc, unknown_status_still_has_a_status_line);
    tcase_add_test(tc, head_has_date_length_and_blank_line);
    tcase_add_test(tc, no_content_and_not_modified_have_no_length_or_body);
    tcase_add_test(tc, head_request_keeps_length_drops_body);
    tcase_add_test(tc, connection_header_follows_flags);
    tcase_add_test(tc, error_responses_are_small_text);
    tcase_add_test(tc, error_405_carries_allow);
    suite_add_tcase(s, tc);
    tc = tcase_create("wire");
    tcase_add_checked_fixture(tc, wire_setup, wire_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, keep_alive_serves_sequential_requests);
    tcase_add_test(tc, pipelined_requests_are_answered_in_order);
    tcase_add_test(tc, request_split_across_reads_is_served);
    tcase_add_test(tc, trickled_head_is_parsed_again_only_when_a_line_ends);
    tcase_add_test(tc, trickled_request_line_still_gets_414_at_its_limit);
    tcase_add_test(tc, chunked_body_is_decoded_for_the_handler);
    tcase_add_test(tc, large_request_body_grows_the_buffer);
    tcase_add_test(tc, body_over_limit_is_413_before_reading_it);
    tcase_add_test(tc, expect_continue_gets_interim_response);
    tcase_add_test(tc, rejected_request_gets_no_interim_response);
    tcase_add_test(tc, large_response_is_sent_whole_while_others_are_served);
    tcase_add_test(tc, handler_misuse_is_answered_500);
    tcase_add_test(tc, http10_closes_unless_keep_alive);
    tcase_add_test(tc, drain_closes_idle_and_finishes_in_flight);
    tcase_add_test(tc, trickling_header_times_out_with_408);
    tcase_add_test(tc, idle_connection_is_closed_quietly);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(response_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
