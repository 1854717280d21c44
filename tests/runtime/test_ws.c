/* Tests for runtime/ws.c: UTF-8, the opening handshake, the frame decoder
 * (every stream whole, cut in two at every byte and fed byte by byte, with
 * each error reported at the byte that decides it) and the frame encoder.
 * permessage-deflate has its own file, test_ws_deflate.c. */
#include "ws_support.h"

#include <stdio.h>

/* ---- UTF-8 ------------------------------------------------------------------- */

struct utf8_case {
    const char *s;
    size_t len;
    int bad; /* index of the byte that makes it invalid; -1 valid; -2 ends mid-character */
};
#define U(lit, bad) {lit, sizeof lit - 1, bad}

static const struct utf8_case utf8_cases[] = {
    U("", -1),
    U("a", -1),
    U("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", -1), /* κόσμε */
    U("\xc2\x80", -1),                                     /* U+0080 */
    U("\xdf\xbf", -1),                                     /* U+07FF */
    U("\xe0\xa0\x80", -1),                                 /* U+0800 */
    U("\xed\x9f\xbf", -1),                                 /* U+D7FF */
    U("\xee\x80\x80", -1),                                 /* U+E000 */
    U("\xef\xbf\xbf", -1),                                 /* U+FFFF */
    U("\xf0\x90\x80\x80", -1),                             /* U+10000 */
    U("\xf4\x8f\xbf\xbf", -1),                             /* U+10FFFF */
    U("\xef\xbb\xbf" "BOM", -1),
    U("0123456789abcdef\xc3\xa9\xc3\xa9 ascii runs around", -1),
    /* stray continuation bytes */
    U("\x80", 0),
    U("\xbf", 0),
    U("abc\x80", 3),
    /* overlong forms */
    U("\xc0\x80", 0),
    U("\xc1\xbf", 0),
    U("\xe0\x80\x80", 1),
    U("\xe0\x9f\xbf", 1),
    U("\xf0\x80\x80\x80", 1),
    U("\xf0\x8f\xbf\xbf", 1),
    /* surrogates */
    U("\xed\xa0\x80", 1),
    U("\xed\xbf\xbf", 1),
    U("\xed\xa0\x80\xed\xb0\x80", 1),
    /* above U+10FFFF */
    U("\xf4\x90\x80\x80", 1),
    U("\xf5\x80\x80\x80", 0),
    U("\xf8\x88\x80\x80\x80", 0),
    U("\xfe", 0),
    U("\xff", 0),
    /* a missing continuation */
    U("\xc2\x41", 1),
    U("\xe2\x82\x41", 2),
    U("a\xf0\x90\x80\x41", 4),
    U("\xe2\x82\xc2\xa2", 2),
    /* Autobahn 6.4.1: valid text, then a surrogate */
    U("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64", 12),
    /* truncated at the end */
    U("\xc2", -2),
    U("\xe2\x82", -2),
    U("\xf0\x90\x80", -2),
    U("ok\xf4\x8f\xbf", -2),
};
#define NUTF8 (sizeof utf8_cases / sizeof utf8_cases[0])

START_TEST(utf8_fails_at_the_exact_byte)
{
    for (unsigned i = 0; i < NUTF8; i++) {
        const struct utf8_case *c = &utf8_cases[i];
        /* whole */
        uint32_t st = 0;
        bool ok = srv__utf8_check(&st, c->s, c->len);
        if (c->bad >= 0)
            ck_assert_msg(!ok, "case %u accepted", i);
        else
            ck_assert_msg(ok && (st == 0) == (c->bad == -1), "case %u", i);
        /* byte by byte: the byte that fails is the one named */
        st = 0;
        int failed_at = -1;
        for (size_t k = 0; k < c->len; k++) {
            if (!srv__utf8_check(&st, c->s + k, 1)) {
                failed_at = (int)k;
                break;
            }
        }
        ck_assert_msg(failed_at == (c->bad >= 0 ? c->bad : -1), "case %u failed at %d", i,
                      failed_at);
        /* and in two chunks cut anywhere */
        for (size_t k = 0; k <= c->len; k++) {
            st = 0;
            bool a = srv__utf8_check(&st, c->s, k);
            bool b = a && srv__utf8_check(&st, c->s + k, c->len - k);
            ck_assert_msg(b == (c->bad < 0) && (!b || (st == 0) == (c->bad == -1)),
                          "case %u cut at %zu", i, k);
            if (c->bad >= 0)
                ck_assert_msg(a == ((int)k <= c->bad), "case %u cut at %zu", i, k);
        }
    }
}
END_TEST

START_TEST(utf8_checks_every_code_point)
{
    /* Every scalar value encodes to valid UTF-8; every surrogate to invalid. */
    for (uint32_t cp = 0; cp <= 0x10ffff; cp++) {
        unsigned char b[4];
        size_t n;
        if (cp < 0x80) {
            b[0] = (unsigned char)cp;
            n = 1;
        } else if (cp < 0x800) {
            b[0] = (unsigned char)(0xc0 | cp >> 6);
            b[1] = (unsigned char)(0x80 | (cp & 0x3f));
            n = 2;
        } else if (cp < 0x10000) {
            b[0] = (unsigned char)(0xe0 | cp >> 12);
            b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
            b[2] = (unsigned char)(0x80 | (cp & 0x3f));
            n = 3;
        } else {
            b[0] = (unsigned char)(0xf0 | cp >> 18);
            b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
            b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
            b[3] = (unsigned char)(0x80 | (cp & 0x3f));
            n = 4;
        }
        uint32_t st = 0;
        bool ok = srv__utf8_check(&st, (const char *)b, n) && st == 0;
        ck_assert_msg(ok == !(cp >= 0xd800 && cp <= 0xdfff), "U+%04X", cp);
    }
}
END_TEST

/* ---- Close codes -------------------------------------------------------------- */

START_TEST(close_codes_by_class)
{
    static const unsigned valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
                                     1012, 1013, 1014, 3000, 3999, 4000, 4999};
    static const unsigned invalid[] = {0,    1,    999,  1004, 1005, 1006, 1015, 1016,
                                       1100, 2000, 2999, 5000, 6000, 65535};
    for (unsigned i = 0; i < sizeof valid / sizeof valid[0]; i++)
        ck_assert_msg(srv__ws_close_code_valid(valid[i]), "%u", valid[i]);
    for (unsigned i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
        ck_assert_msg(!srv__ws_close_code_valid(invalid[i]), "%u", invalid[i]);
}
END_TEST

/* ---- Handshake ---------------------------------------------------------------- */

#define SAMPLE_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define SAMPLE_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

START_TEST(accept_key_of_the_rfc_sample)
{
    char out[SRV__WS_ACCEPT_LEN];
    srv__ws_accept_key(SAMPLE_KEY, strlen(SAMPLE_KEY), out);
    ck_assert(memcmp(out, SAMPLE_ACCEPT, SRV__WS_ACCEPT_LEN) == 0);
    ck_assert(srv__ws_key_valid(SAMPLE_KEY, strlen(SAMPLE_KEY)));
}
END_TEST

START_TEST(keys_must_encode_16_bytes)
{
    static const char *const good[] = {SAMPLE_KEY, "AAAAAAAAAAAAAAAAAAAAAA==", "/+/+/+/+/+/+/+/+/+/+/w==",
                                       "x3JJHMbDL1EzLkh9GBhXDw=="};
    static const char *const bad[] = {
        "",
        "dGhlIHNhbXBsZSBub25jZQ",      /* no padding */
        "dGhlIHNhbXBsZSBub25jZQ=",     /* short padding */
        "dGhlIHNhbXBsZSBub25jZR==",    /* not canonical: the last 4 bits set */
        "dGhlIHNhbXBsZSBub25jZQ===",
        "dGhlIHNhbXBsZSBub25j",        /* 15 bytes */
        "dGhlIHNhbXBsZSBub25jZQ0=",    /* 17 bytes' worth */
        "dGhlIHNhbXBsZSBub25jZQ0a",
        "dGhlIHNhbXBsZSBub25jZ-==",    /* base64url */
        "dGhlIHNhbXBsZSBub2 jZQ==",
        "dGhlIHNhbXBsZSBub=5jZQ==",
    };
    for (unsigned i = 0; i < sizeof good / sizeof good[0]; i++)
        ck_assert_msg(srv__ws_key_valid(good[i], strlen(good[i])), "%s", good[i]);
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!srv__ws_key_valid(bad[i], strlen(bad[i])), "%s", bad[i]);
}
END_TEST

/* A request head built by hand. */
static struct srv__header hs_fields[16];
static struct srv__head hs_head;

static void hs_begin(void)
{
    memset(&hs_head, 0, sizeof hs_head);
    hs_head.method = SRV_METHOD_GET;
    hs_head.method_name = "GET";
    hs_head.version_minor = 1;
    hs_head.headers = hs_fields;
}

static void hs_field(const char *name, const char *value)
{
    struct srv__header *h = &hs_fields[hs_head.nheaders++];
    h->name = name;
    h->name_len = (uint32_t)strlen(name);
    h->value = value;
    h->value_len = (uint32_t)strlen(value);
}

/* A valid upgrade request with KEY, plus nothing else. */
static void hs_valid(void)
{
    hs_begin();
    hs_field("Host", "example.com");
    hs_field("Upgrade", "websocket");
    hs_field("Connection", "Upgrade");
    hs_field("Sec-WebSocket-Key", SAMPLE_KEY);
    hs_field("Sec-WebSocket-Version", "13");
}

static struct srv__ws_handshake hs;

static int hs_run(const struct srv__ws_options *opts)
{
    static const struct srv__ws_options none;
    return srv__ws_handshake(&hs_head, opts ? opts : &none, &hs);
}

#define ck_headers(expect)                                                                   \
    do {                                                                                     \
        ck_assert_msg(hs.headers_len == strlen(expect) &&                                    \
                          memcmp(hs.headers, expect, hs.headers_len) == 0,                   \
                      "headers:\n%.*s", (int)hs.headers_len, hs.headers);                    \
    } while (0)

#define BASE_101                                                                             \
    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " SAMPLE_ACCEPT "\r\n"

START_TEST(upgrades_a_valid_request)
{
    hs_valid();
    ck_assert_int_eq(hs_run(NULL), 101);
    ck_headers(BASE_101);
    ck_assert_ptr_null(hs.protocol);
    ck_assert(!hs.deflate);
}
END_TEST

START_TEST(matches_upgrade_and_connection_tokens_in_lists)
{
    hs_begin();
    hs_field("upgrade", "h2c, WebSocket");
    hs_field("CONNECTION", "keep-alive");
    hs_field("connection", "  , UPGRADE ,");
    hs_field("sec-websocket-key", SAMPLE_KEY);
    hs_field("SEC-WEBSOCKET-VERSION", "13");
    ck_assert_int_eq(hs_run(NULL), 101);
    ck_headers(BASE_101);

    static const char *const connections[] = {"keep-alive", "upgrades", "up grade", "", "upgrade2"};
    for (unsigned i = 0; i < sizeof connections / sizeof connections[0]; i++) {
        hs_begin();
        hs_field("Upgrade", "websocket");
        hs_field("Connection", connections[i]);
        hs_field("Sec-WebSocket-Key", SAMPLE_KEY);
        hs_field("Sec-WebSocket-Version", "13");
        ck_assert_int_eq(hs_run(NULL), 426);
    }
    static const char *const upgrades[] = {"websockets", "h2c", "web socket", ""};
    for (unsigned i = 0; i < sizeof upgrades / sizeof upgrades[0]; i++) {
        hs_begin();
        hs_field("Upgrade", upgrades[i]);
        hs_field("Connection", "upgrade");
        hs_field("Sec-WebSocket-Key", SAMPLE_KEY);
        hs_field("Sec-WebSocket-Version", "13");
        ck_assert_int_eq(hs_run(NULL), 426);
    }
}
END_TEST

START_TEST(other_versions_get_426_naming_13)
{
    static const char *const versions[] = {"8", "12", "14", "13, 8", " 13x", "013", ""};
    for (unsigned i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        hs_begin();
        hs_field("Upgrade", "websocket");
        hs_field("Connection", "Upgrade");
        hs_field("Sec-WebSocket-Key", SAMPLE_KEY);
        hs_field("Sec-WebSocket-Version", versions[i]);
        ck_assert_int_eq(hs_run(NULL), 426);
        ck_headers("Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
    }
    hs_valid();
    hs_field("Sec-WebSocket-Version", "13"); /* twice */
    ck_assert_int_eq(hs_run(NULL), 426);
    hs_begin();
    hs_field("Upgrade", "websocket");
    hs_field("Connection", "Upgrade");
    hs_field("Sec-WebSocket-Key", SAMPLE_KEY);
    ck_assert_int_eq(hs_run(NULL), 426); /* none */
    hs_valid();
    hs_head.version_minor = 0;
    ck_assert_int_eq(hs_run(NULL), 426);
    hs_begin();
    ck_assert_int_eq(hs_run(NULL), 426); /* a plain GET */
}
END_TEST

START_TEST(other_methods_get_405)
{
    hs_valid();
    hs_head.method = SRV_METHOD_POST;
    ck_assert_int_eq(hs_run(NULL), 405);
    ck_headers("Allow: GET\r\n");
    hs_head.method = SRV_METHOD_HEAD;
    ck_assert_int_eq(hs_run(NULL), 405);
}
END_TEST

START_TEST(bad_keys_get_400)
{
    hs_begin();
    hs_field("Upgrade", "websocket");
    hs_field("Connection", "Upgrade");
    hs_field("Sec-WebSocket-Version", "13");
    ck_assert_int_eq(hs_run(NULL), 400); /* missing */
    ck_assert_uint_eq(hs.headers_len, 0);
    hs_field("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ");
    ck_assert_int_eq(hs_run(NULL), 400);
    hs_valid();
    hs_field("Sec-WebSocket-Key", SAMPLE_KEY); /* twice */
    ck_assert_int_eq(hs_run(NULL), 400);
}
END_TEST

START_TEST(the_servers_protocol_order_wins)
{
    static const char *const protos[] = {"chat", "superchat", "v2.json"};
    struct srv__ws_options o = {.protocols = protos, .nprotocols = 3};

    hs_valid();
    hs_field("Sec-WebSocket-Protocol", "superchat, chat");
    ck_assert_int_eq(hs_run(&o), 101);
    ck_assert_str_eq(hs.protocol, "chat");
    ck_headers(BASE_101 "Sec-WebSocket-Protocol: chat\r\n");

    hs_valid();
    hs_field("Sec-WebSocket-Protocol", "v2.json");
    hs_field("Sec-WebSocket-Protocol", "foo, superchat");
    ck_assert_int_eq(hs_run(&o), 101);
    ck_assert_str_eq(hs.protocol, "superchat");

    hs_valid();
    hs_field("Sec-WebSocket-Protocol", "Chat, foo"); /* compared exactly */
    ck_assert_int_eq(hs_run(&o), 101);
    ck_assert_ptr_null(hs.protocol);
    ck_headers(BASE_101);

    hs_valid();
    hs_field("Sec-WebSocket-Protocol", "chat");
    ck_assert_int_eq(hs_run(NULL), 101); /* a server without protocols */
    ck_assert_ptr_null(hs.protocol);

    static const char *const malformed[] = {"", " , ", "chat;v=1", "a b", "\"chat\"", "chat, {x}"};
    for (unsigned i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        hs_valid();
        hs_field("Sec-WebSocket-Protocol", malformed[i]);
        ck_assert_msg(hs_run(&o) == 400, "\"%s\"", malformed[i]);
    }
}
END_TEST

#define EXT "Sec-WebSocket-Extensions: permessage-deflate"

/* The extension line answered to the offer VALUE with OPTS. */
static void offer(const char *value, const struct srv__ws_options *opts, const char *expect)
{
    hs_valid();
    hs_field("Sec-WebSocket-Extensions", value);
    ck_assert_int_eq(hs_run(opts), 101);
    const char *want = expect ? expect : "";
    size_t base = strlen(BASE_101);
    ck_assert_msg(hs.headers_len == base + strlen(want) &&
                      memcmp(hs.headers + base, want, strlen(want)) == 0,
                  "offer \"%s\": got \"%.*s\"", value, (int)(hs.headers_len - base),
                  hs.headers + base);
    ck_assert(hs.deflate == (expect != NULL));
}

START_TEST(accepts_permessage_deflate_offers)
{
    struct srv__ws_options o = {.deflate = true};
    offer("permessage-deflate", &o, EXT "; server_no_context_takeover\r\n");
    ck_assert(hs.pmd.server_no_takeover && !hs.pmd.client_no_takeover);
    ck_assert_int_eq(hs.pmd.server_bits, 15);
    ck_assert_int_eq(hs.pmd.client_bits, 15);
    offer("permessage-deflate; client_max_window_bits", &o, EXT "; server_no_context_takeover\r\n");
    offer("PerMessage-Deflate ;\tserver_no_context_takeover ; client_no_context_takeover", &o,
          EXT "; server_no_context_takeover; client_no_context_takeover\r\n");
    ck_assert(hs.pmd.client_no_takeover);
    offer("permessage-deflate; server_max_window_bits=10", &o,
          EXT "; server_no_context_takeover; server_max_window_bits=10\r\n");
    ck_assert_int_eq(hs.pmd.server_bits, 10);
    offer("permessage-deflate; server_max_window_bits=\"12\"", &o,
          EXT "; server_no_context_takeover; server_max_window_bits=12\r\n");
    /* a client's own limit is noted, not echoed: we inflate with 32 KiB */
    offer("permessage-deflate; client_max_window_bits=9", &o, EXT "; server_no_context_takeover\r\n");
    ck_assert_int_eq(hs.pmd.client_bits, 15);
    /* 8: accepted; our messages then go uncompressed */
    offer("permessage-deflate; server_max_window_bits=8", &o,
          EXT "; server_no_context_takeover; server_max_window_bits=8\r\n");
    ck_assert_int_eq(hs.pmd.server_bits, 8);

    o.server_takeover = true;
    offer("permessage-deflate", &o, EXT "\r\n");
    ck_assert(!hs.pmd.server_no_takeover);
    offer("permessage-deflate; server_no_context_takeover", &o, EXT "; server_no_context_takeover\r\n");

    /* our window limits and a client that allows them */
    struct srv__ws_options small = {.deflate = true, .server_takeover = true,
                                    .server_window_bits = 10, .client_window_bits = 11,
                                    .client_no_takeover = true};
    offer("permessage-deflate; client_max_window_bits; server_max_window_bits=12", &small,
          EXT "; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11\r\n");
    ck_assert_int_eq(hs.pmd.server_bits, 10);
    ck_assert_int_eq(hs.pmd.client_bits, 11);
    /* asked of a client that promised less: its value */
    offer("permessage-deflate; client_max_window_bits=9", &small,
          EXT "; client_no_context_takeover; client_max_window_bits=9\r\n");
    ck_assert_int_eq(hs.pmd.client_bits, 9);
    /* a client that did not offer client_max_window_bits cannot be told */
    offer("permessage-deflate", &small, EXT "; client_no_context_takeover\r\n");
    ck_assert_int_eq(hs.pmd.client_bits, 15);
    ck_assert_int_eq(hs.pmd.server_bits, 10);
}
END_TEST

START_TEST(declines_bad_offers_and_takes_the_first_good_one)
{
    struct srv__ws_options o = {.deflate = true};
    static const char *const bad[] = {
        "permessage-deflate; server_max_window_bits",        /* needs a value */
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; server_max_window_bits=+9",
        "permessage-deflate; client_max_window_bits=0",
        "permessage-deflate; client_max_window_bits=\"\"",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover=\"\"",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
        "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
        "permessage-deflate; mystery",
        "x-webkit-deflate-frame",
    };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++)
        offer(bad[i], &o, NULL);
    offer("permessage-deflate; server_max_window_bits=7, permessage-deflate; client_max_window_bits=10",
          &o, EXT "; server_no_context_takeover\r\n");
    offer("x-webkit-deflate-frame; no_context_takeover, permessage-deflate", &o,
          EXT "; server_no_context_takeover\r\n");
    /* across lines: the first line's offer is the first */
    hs_valid();
    hs_field("Sec-WebSocket-Extensions", "foo, permessage-deflate; server_max_window_bits=11");
    hs_field("Sec-WebSocket-Extensions", "permessage-deflate");
    ck_assert_int_eq(hs_run(&o), 101);
    ck_assert(hs.deflate);
    ck_assert_int_eq(hs.pmd.server_bits, 11);
    /* a malformed header declines everything */
    static const char *const malformed[] = {
        "permessage-deflate;",
        "permessage-deflate; =10",
        "permessage-deflate, ;x",
        "permessage-deflate; client_max_window_bits=\"10",
        "permessage-deflate; a=b=c",
        "permessage-deflate x",
        "permessage-deflate; client_max_window_bits=\"1\x01\"",
    };
    for (unsigned i = 0; i < sizeof malformed / sizeof malformed[0]; i++)
        offer(malformed[i], &o, NULL);
    hs_valid();
    hs_field("Sec-WebSocket-Extensions", "permessage-deflate");
    hs_field("Sec-WebSocket-Extensions", "foo;");
    ck_assert_int_eq(hs_run(&o), 101);
    ck_assert(!hs.deflate);
    /* empty elements are fine */
    offer(" , permessage-deflate ,, ", &o, EXT "; server_no_context_takeover\r\n");
    /* a server that does not want it */
    o.deflate = false;
    offer("permessage-deflate", &o, NULL);
}
END_TEST

/* ---- Decoder: valid streams ------------------------------------------------------ */

static unsigned char sbuf[(1 << 20) + 64];

/* Checks S[0..N) decodes, whole and cut anyhow, without error; returns
 * the events in *O (caller frees). */
static void decodes(const unsigned char *s, size_t n, const struct srv__ws_limits *lim,
                    struct ws_out *o)
{
    size_t at = ws_check_cuts(s, n, lim, NULL, o);
    ck_assert_msg(o->error == 0, "error %d", o->error);
    ck_assert_uint_eq(at, n);
}

START_TEST(decodes_the_rfc_examples)
{
    /* RFC 6455 5.7: a single-frame masked text message. */
    static const unsigned char hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f,
                                          0x9f, 0x4d, 0x51, 0x58};
    struct ws_out o;
    decodes(hello, sizeof hello, NULL, &o);
    ck_assert_uint_eq(o.n, 1);
    ck_assert_uint_eq(o.opcode[0], SRV__WS_TEXT);
    ck_assert_str_eq(o.data[0], "Hello");
    ws_out_free(&o);

    /* A fragmented text message, masked, and a masked ping "Hello". */
    size_t n = ws_frame(sbuf, 0, SRV__WS_TEXT, "Hel", 3);
    n += ws_frame(sbuf + n, WF_FIN, SRV__WS_CONT, "lo", 2);
    n += ws_frame(sbuf + n, WF_FIN, SRV__WS_PING, "Hello", 5);
    n += ws_frame(sbuf + n, WF_FIN, SRV__WS_PONG, "Hello", 5);
    decodes(sbuf, n, NULL, &o);
    ck_assert_uint_eq(o.n, 3);
    ck_assert_uint_eq(o.opcode[0], SRV__WS_TEXT);
    ck_assert_str_eq(o.data[0], "Hello");
    ck_assert_uint_eq(o.opcode[1], SRV__WS_PING);
    ck_assert_str_eq(o.data[1], "Hello");
    ck_assert_uint_eq(o.opcode[2], SRV__WS_PONG);
    ws_out_free(&o);
}
END_TEST

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)((i * 131 + seed * 7 + (i >> 8)) & 0xff);
}

START_TEST(decodes_the_three_length_forms)
{
    static const size_t sizes[] = {0, 1, 7, 8, 31, 32, 33, 125, 126, 127, 300, 65535, 65536, 100000};
    static unsigned char payload[100000];
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        fill(payload, sizes[i], i);
        size_t n = ws_frame(sbuf, WF_FIN, SRV__WS_BINARY, payload, sizes[i]);
        struct ws_out o;
        decodes(sbuf, n, NULL, &o);
        ck_assert_uint_eq(o.n, 1);
        ck_assert_uint_eq(o.opcode[0], SRV__WS_BINARY);
        ck_assert_uint_eq(o.len[0], sizes[i]);
        ck_assert(memcmp(o.data[0], payload, sizes[i]) == 0);
        ws_out_free(&o);
    }
}
END_TEST

START_TEST(reassembles_fragments_with_control_frames_between)
{
    static const char text[] = "fragments \xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 across frames";
    size_t len = sizeof text - 1;
    /* cut the text into three fragments at every pair of points, with a
     * ping and a pong between them and an empty fragment at the end */
    for (size_t a = 0; a <= len; a += 3) {
        for (size_t b = a; b <= len; b += 5) {
            size_t n = ws_frame(sbuf, 0, SRV__WS_TEXT, text, a);
            n += ws_frame(sbuf + n, WF_FIN, SRV__WS_PING, "p1", 2);
            n += ws_frame(sbuf + n, 0, SRV__WS_CONT, text + a, b - a);
            n += ws_frame(sbuf + n, WF_FIN, SRV__WS_PONG, "", 0);
            n += ws_frame(sbuf + n, 0, SRV__WS_CONT, text + b, len - b);
            n += ws_frame(sbuf + n, WF_FIN, SRV__WS_CONT, "", 0);
            n += ws_frame(sbuf + n, WF_FIN, SRV__WS_BINARY, "next", 4);
            struct ws_out o;
            decodes(sbuf, n, NULL, &o);
            ck_assert_uint_eq(o.n, 4);
            ck_assert_uint_eq(o.opcode[0], SRV__WS_PING);
            ck_assert_str_eq(o.data[0], "p1");
            ck_assert_uint_eq(o.opcode[1], SRV__WS_PONG);
            ck_assert_uint_eq(o.len[1], 0);
            ck_assert_uint_eq(o.opcode[2], SRV__WS_TEXT);
            ck_assert_str_eq(o.data[2], text);
            ck_assert_uint_eq(o.opcode[3], SRV__WS_BINARY);
            ck_assert_str_eq(o.data[3], "next");
            ws_out_free(&o);
        }
    }
}
END_TEST

START_TEST(delivers_empty_messages)
{
    size_t n = ws_frame(sbuf, WF_FIN, SRV__WS_TEXT, "", 0);
    n += ws_frame(sbuf + n, WF_FIN, SRV__WS_BINARY, "", 0);
    n += ws_frame(sbuf + n, 0, SRV__WS_TEXT, "", 0);
    n += ws_frame(sbuf + n, WF_FIN, SRV__WS_CONT, "", 0);
    n += ws_frame(sbuf + n, WF_FIN, SRV__WS_PING, "", 0);
    struct ws_out o;
    decodes(sbuf, n, NULL, &o);
    ck_assert_uint_eq(o.n, 4);
    ck_assert_uint_eq(o.opcode[0], SRV__WS_TEXT);
    ck_assert_uint_eq(o.opcode[1], SRV__WS_BINARY);
    ck_assert_uint_eq(o.opcode[2], SRV__WS_TEXT);
    ck_assert_uint_eq(o.opcode[3], SRV__WS_PING);
    for (unsigned i = 0; i < 4; i++)
        ck_assert_uint_eq(o.len[i], 0);
    ws_out_free(&o);
}
END_TEST

START_TEST(whole_messages_are_delivered_in_place)
{
    /* a message whole in the buffer is unmasked where it lies; one cut by
     * the end of the buffer is gathered in the decoder's */
    size_t n = ws_frame(sbuf, WF_FIN, SRV__WS_TEXT, "in place", 8);
    struct srv__ws_decoder d;
    srv__ws_decoder_init(&d, NULL, NULL);
    struct srv__ws_event ev;
    ck_assert_int_eq(srv__ws_decode(&d, (char *)sbuf, n, &ev), (ssize_t)n);
    ck_assert_uint_eq(ev.opcode, SRV__WS_TEXT);
    ck_assert_ptr_eq(ev.data, (char *)sbuf + 6);
    ck_assert(memcmp(ev.data, "in place", 8) == 0);
    ck_assert_ptr_null(d.msg); /* nothing allocated */
    ck_assert(!srv__ws_decoder_busy(&d));

    n = ws_frame(sbuf, WF_FIN, SRV__WS_TEXT, "cut here", 8);
    ck_assert_int_eq(srv__ws_decode(&d, (char *)sbuf, 9, &ev), 9);
    ck_assert_uint_eq(ev.opcode, 0);
    ck_assert(srv__ws_decoder_busy(&d));
    ck_assert_int_eq(srv__ws_decode(&d, (char *)sbuf + 9, n - 9, &ev), (ssize_t)(n - 9));
    ck_assert_uint_eq(ev.opcode, SRV__WS_TEXT);
    ck_assert_ptr_eq(ev.data, d.msg);
    ck_assert(memcmp(ev.data, "cut here", 8) == 0);
    /* the buffer is kept for the next message, and trimmed on request */
    ck_assert_ptr_nonnull(d.msg);
    srv__ws_decoder_trim(&d);
    ck_assert_ptr_null(d.msg);
    srv__ws_decoder_free(&d);
}
END_TEST

START_TEST(returns_one_event_per_call)
{
    size_t n = ws_frame(sbuf, WF_FIN, SRV__WS_TEXT, "one", 3);
    size_t first = n;
    n += ws_frame(sbuf + n, WF_FIN, SRV__WS_PING, "two", 3);
    n += ws_frame(sbuf + n, WF_FIN, SRV__WS_BINARY, "three", 5);
    struct srv__ws_decoder d;
    srv__ws_decoder_init(&d, NULL, NULL);
    struct srv__ws_event ev;
    ssize_t r = srv__ws_decode(&d, (char *)sbuf, n, &ev);
    ck_assert_int_eq(r, (ssize_t)first);
    ck_assert_uint_eq(ev.opcode, SRV__WS_TEXT);
    size_t off = (size_t)r;
    r = srv__ws_decode(&d, (char *)sbuf + off, n - off, &ev);
    ck_assert_uint_eq(ev.opcode, SRV__WS_PING);
    off += (size_t)r;
    r = srv__ws_decode(&d, (char *)sbuf + off, n - off, &ev);
    ck_assert_uint_eq(ev.opcode, SRV__WS_BINARY);
    off += (size_t)r;
    ck_assert_uint_eq(off, n);
    r = srv__ws_decode(&d, (char *)sbuf + off, 0, &ev);
    ck_assert_int_eq(r, 0);
    ck_assert_uint_eq(ev.opcode, 0);
    srv__ws_decoder_free(&d);
}
END_TEST

/* ---- Decoder: close frames --------------------------------------------------- */

static size_t close_frame(unsigned char *out, unsigned code, const char *reason, size_t rlen)
{
    unsigned char p[200];
    p[0] = (unsigned char)(code >> 8);
    p[1] = (unsigned char)code;
    memcpy(p + 2, reason, rlen);
    return ws_frame(out, WF_FIN, SRV__WS_CLOSE, p, 2 + rlen);
}

START_TEST(close_frames_with_valid_codes)
{
    static const unsigned codes[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
                                     1012, 1013, 1014, 3000, 4999};
    for (unsigned i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        size_t n = close_frame(sbuf, codes[i], "bye \xc3\xa9", 6);
        /* anything after a close is ignored */
        n += ws_frame(sbuf + n, WF_FIN, SRV__WS_TEXT, "after", 5);
        sbuf[n++] = 0xff;
        struct ws_out o;
        decodes(sbuf, n, NULL, &o);
        ck_assert_uint_eq(o.n, 1);
        ck_assert_uint_eq(o.opcode[0], SRV__WS_CLOSE);
        ck_assert_uint_eq(o.code[0], codes[i]);
        ck_assert_str_eq(o.data[0], "bye \xc3\xa9");
        ws_out_free(&o);
    }
    /* empty: no code */
    size_t n = ws_frame(sbuf, WF_FIN, SRV__WS_CLOSE, "", 0);
    struct ws_out o;
    decodes(sbuf, n, NULL, &o);
    ck_assert_uint_eq(o.n, 1);
    ck_assert_uint_eq(o.code[0], 0);
    ck_assert_uint_eq(o.len[0], 0);
    ws_out_free(&o);
    /* a code alone; a close inside a fragmented message */
    n = ws_frame(sbuf, 0, SRV__WS_TEXT, "part", 4);
    n += close_frame(sbuf + n, 1000, "", 0);
    decodes(sbuf, n, NULL, &o);
    ck_assert_uint_eq(o.n, 1);
    ck_assert_uint_eq(o.code[0], 1000);
    ck_assert_uint_eq(o.len[0], 0);
    ws_out_free(&o);
}
END_TEST

/* Checks S[0..N) fails with CODE whole and cut anyhow, at byte AT when fed
 * byte by byte. */
static void fails(const unsigned char *s, size_t n, const struct srv__ws_limits *lim, int code,
                  size_t at, const char *what)
{
    struct ws_out o;
    size_t got = ws_check_cuts(s, n, lim, NULL, &o);
    ck_assert_msg(o.error == -code, "%s: error %d, want -%d", what, o.error, code);
    ck_assert_msg(got == at, "%s: failed at byte %zu, want %zu", what, got, at);
    ws_out_free(&o);
}

START_TEST(close_frames_with_invalid_codes_or_reasons)
{
    static const unsigned codes[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535};
    for (unsigned i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        size_t n = close_frame(sbuf, codes[i], "x", 1);
        char what[32];
        snprintf(what, sizeof what, "code %u", codes[i]);
        fails(sbuf, n, NULL, 1002, 7, what); /* the code's second byte */
    }
    size_t n = ws_frame(sbuf, WF_FIN, SRV__WS_CLOSE, "\x03", 1);
    fails(sbuf, n, NULL, 1002, 6, "one byte");
    n = close_frame(sbuf, 1000, "ok\xed\xa0\x80", 5);
    fails(sbuf, n, NULL, 1007, 11, "surrogate in the reason");
    n = close_frame(sbuf, 1000, "ok\xe2\x82", 4);
    fails(sbuf, n, NULL, 1007, 11, "reason ends mid-character");
}
END_TEST

/* ---- Decoder: protocol errors ----------------------------------------------------- */

START_TEST(protocol_errors_fail_at_the_deciding_byte)
{
    size_t n;
    n = ws_frame(sbuf, WF_FIN | WF_UNMASKED, SRV__WS_TEXT, "hi", 2);
    fails(sbuf, n, NULL, 1002, 1, "unmasked");
    n = ws_frame(sbuf, WF_FIN | WF_RSV1, SRV__WS_TEXT, "hi", 2);
    fails(sbuf, n, NULL, 1002, 1, "RSV1 without deflate");
    n = ws_frame(sbuf, WF_FIN | WF_RSV2, SRV__WS_TEXT, "hi", 2);
    fails(sbuf, n, NULL, 1002, 1, "RSV2");
    n = ws_frame(sbuf, WF_FIN | WF_RSV3, SRV__WS_BINARY, "hi", 2);
    fails(sbuf, n, NULL, 1002, 1, "RSV3");
    n = ws_frame(sbuf, WF_FIN | WF_RSV3, SRV__WS_PING, "hi", 2);
    fails(sbuf, n, NULL, 1002, 1, "RSV3 on a ping");
    static const unsigned reserved[] = {3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf};
    for (unsigned i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
        n = ws_frame(sbuf, WF_FIN, reserved[i], "hi", 2);
        fails(sbuf, n, NULL, 1002, 1, "reserved opcode");
    }
    n = ws_frame(sbuf, 0, SRV__WS_PING, "hi", 2);
    fails(sbuf, n, NULL, 1002, 1, "fragmented ping");
    n = ws_frame(sbuf, 0, SRV__WS_CLOSE, "", 0);
    fails(sbuf, n, NULL, 1002, 1, "fragmented close");
    static unsigned char big[126];
    n = ws_frame(sbuf, WF_FIN, SRV__WS_PING, big, 126);
    fails(sbuf, n, NULL, 1002, 1, "ping of 126 bytes");
    n = ws_frame(sbuf, WF_FIN, SRV__WS_PONG, big, 125);
    struct ws_out o;
    decodes(sbuf, n, NULL, &o); /* 125 is fine */
    ws_out_free(&o);
    n = ws_frame(sbuf, WF_FIN, SRV__WS_CONT, "hi", 2);
    fails(sbuf, n, NULL, 1002, 1, "continuation without a start");
    n = ws_frame(sbuf, 0, SRV__WS_CONT, "hi", 2);
    fails(sbuf, n, NULL, 1002, 1, "unfinished continuation without a start");
    n = ws_frame(sbuf, 0, SRV__WS_TEXT, "hi", 2);
    size_t second = n;
    n += ws_frame(sbuf + n, WF_FIN, SRV__WS_TEXT, "hi", 2);
    fails(sbuf, n, NULL, 1002, second + 1, "a new message inside a fragmented one");
    n = ws_frame(sbuf, 0, SRV__WS_BINARY, "hi", 2);
    second = n;
    n += ws_frame(sbuf + n, 0, SRV__WS_BINARY, "hi", 2);
    fails(sbuf, n, NULL, 1002, second + 1, "a new binary message inside one");
    n = ws_frame(sbuf, WF_FIN, SRV__WS_TEXT, "hi", 2);
    second = n;
    n += ws_frame(sbuf + n, WF_FIN, SRV__WS_CONT, "hi", 2);
    fails(sbuf, n, NULL, 1002, second + 1, "continuation after a finished message");
}
END_TEST

START_TEST(lengths_must_be_minimal_and_below_2_63)
{
    size_t n = ws_frame(sbuf, WF_FIN | WF_LEN16, SRV__WS_BINARY, "hi", 2);
    fails(sbuf, n, NULL, 1002, 3, "16-bit form for 2 bytes");
    static unsigned char p[200];
    n = ws_frame(sbuf, WF_FIN | WF_LEN16, SRV__WS_BINARY, p, 125);
    fails(sbuf, n, NULL, 1002, 3, "16-bit form for 125 bytes");
    n = ws_frame(sbuf, WF_FIN | WF_LEN16, SRV__WS_BINARY, p, 126);
    struct ws_out o;
    decodes(sbuf, n, NULL, &o);
    ws_out_free(&o);
    n = ws_frame(sbuf, WF_FIN | WF_LEN64, SRV__WS_BINARY, p, 200);
    fails(sbuf, n, NULL, 1002, 9, "64-bit form for 200 bytes");
    n = ws_frame(sbuf, WF_FIN | WF_LEN64, SRV__WS_BINARY, p, 0);
    fails(sbuf, n, NULL, 1002, 9, "64-bit form for nothing");
    /* 0xffff in the 64-bit form is not minimal; 0x10000 is */
    unsigned char h[] = {0x82, 0xff, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4};
    fails(h, sizeof h, NULL, 1002, 9, "64-bit form for 65535");
    unsigned char top[] = {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
    fails(top, sizeof top, NULL, 1002, 9, "top bit");
    struct srv__ws_limits huge = {.message = UINT64_MAX, .frame = UINT64_MAX};
    fails(top, sizeof top, &huge, 1002, 9, "top bit without limits");
    unsigned char max[] = {0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4};
    fails(max, sizeof max, NULL, 1009, 9, "2^63 - 1 bytes");
}
END_TEST

/* ---- Decoder: limits ---------------------------------------------------------------- */

START_TEST(limits_are_decided_from_the_header)
{
    static unsigned char p[70000];
    struct srv__ws_limits lim = {.message = 100, .frame = 60};
    size_t n = ws_frame(sbuf, WF_FIN, SRV__WS_BINARY, p, 60);
    struct ws_out o;
    decodes(sbuf, n, &lim, &o);
    ws_out_free(&o);
    n = ws_frame(sbuf, WF_FIN, SRV__WS_BINARY, p, 61);
    fails(sbuf, n, &lim, 1009, 1, "frame over the frame limit");
    /* 50 + 50 fits; one more byte does not, known at the third header */
    n = ws_frame(sbuf, 0, SRV__WS_BINARY, p, 50);
    n += ws_frame(sbuf + n, 0, SRV__WS_CONT, p, 50);
    size_t third = n;
    n += ws_frame(sbuf + n, WF_FIN, SRV__WS_CONT, p, 1);
    fails(sbuf, n, &lim, 1009, third + 1, "fragments over the message limit");
    n = ws_frame(sbuf, 0, SRV__WS_TEXT, p, 50);
    n += ws_frame(sbuf + n, WF_FIN, SRV__WS_CONT, p, 50);
    decodes(sbuf, n, &lim, &o);
    ck_assert_uint_eq(o.len[0], 100);
    ws_out_free(&o);
    /* 16- and 64-bit lengths: at their last byte, before any payload */
    struct srv__ws_limits mib = {.message = 65535};
    n = ws_frame(sbuf, WF_FIN, SRV__WS_BINARY, p, 65536);
    fails(sbuf, n, &mib, 1009, 9, "64-bit length over the limit");
    struct srv__ws_limits small = {.message = 1000};
    n = ws_frame(sbuf, WF_FIN, SRV__WS_BINARY, p, 1001);
    fails(sbuf, n, &small, 1009, 3, "16-bit length over the limit");
    /* control frames do not count */
    n = ws_frame(sbuf, 0, SRV__WS_BINARY, p, 50);
    n += ws_frame(sbuf + n, WF_FIN, SRV__WS_PING, p, 125);
    n += ws_frame(sbuf + n, WF_FIN, SRV__WS_CONT, p, 50);
    decodes(sbuf, n, &lim, &o);
    ws_out_free(&o);
}
END_TEST

START_TEST(the_message_buffer_stays_within_the_limit)
{
    static unsigned char p[4096];
    struct srv__ws_limits lim = {.message = 3000};
    struct srv__ws_decoder d;
    srv__ws_decoder_init(&d, &lim, NULL);
    size_t n = ws_frame(sbuf, 0, SRV__WS_BINARY, p, 1000);
    n += ws_frame(sbuf + n, 0, SRV__WS_CONT, p, 1000);
    n += ws_frame(sbuf + n, WF_FIN, SRV__WS_CONT, p, 1000);
    struct srv__ws_event ev;
    size_t off = 0;
    while (off < n) {
        ssize_t r = srv__ws_decode(&d, (char *)sbuf + off, n - off, &ev);
        ck_assert_int_ge(r, 0);
        off += (size_t)r;
    }
    ck_assert_uint_eq(ev.opcode, SRV__WS_BINARY);
    ck_assert_uint_eq(ev.len, 3000);
    ck_assert_uint_le(d.msg_cap, 3000);
    srv__ws_decoder_free(&d);
}
END_TEST

START_TEST(buffers_grow_with_what_arrives_not_what_is_announced)
{
    /* a header announcing 1 MiB, then 10 bytes: no 1 MiB buffer */
    static unsigned char p[1 << 20];
    size_t n = ws_frame(sbuf, WF_FIN, SRV__WS_BINARY, p, sizeof p);
    struct srv__ws_decoder d;
    srv__ws_decoder_init(&d, NULL, NULL);
    struct srv__ws_event ev;
    ck_assert_int_eq(srv__ws_decode(&d, (char *)sbuf, 14 + 10, &ev), 24);
    ck_assert_uint_le(d.msg_cap, 256);
    /* the rest in reads of 4 KiB: the buffer doubles to the message */
    size_t off = 24;
    while (off < n) {
        size_t k = n - off < 4096 ? n - off : 4096;
        ck_assert_int_eq(srv__ws_decode(&d, (char *)sbuf + off, k, &ev), (ssize_t)k);
        off += k;
    }
    ck_assert_uint_eq(ev.opcode, SRV__WS_BINARY);
    ck_assert_uint_eq(ev.len, sizeof p);
    ck_assert_uint_eq(d.msg_cap, sizeof p);
    /* reused by the next message that needs it */
    const char *buf = d.msg;
    n = ws_frame(sbuf, 0, SRV__WS_TEXT, "re", 2);
    n += ws_frame(sbuf + n, WF_FIN, SRV__WS_CONT, "used", 4);
    ck_assert_int_eq(srv__ws_decode(&d, (char *)sbuf, n, &ev), (ssize_t)n);
    ck_assert_ptr_eq(ev.data, buf);
    ck_assert(ev.len == 6 && memcmp(ev.data, "reused", 6) == 0);
    srv__ws_decoder_free(&d);
}
END_TEST

/* ---- Decoder: UTF-8 in text messages ------------------------------------------ */

START_TEST(text_must_be_utf8_failing_at_once)
{
    for (unsigned i = 0; i < NUTF8; i++) {
        const struct utf8_case *c = &utf8_cases[i];
        /* one frame */
        size_t n = ws_frame(sbuf, WF_FIN, SRV__WS_TEXT, c->s, c->len);
        struct ws_out o;
        size_t at = ws_check_cuts(sbuf, n, NULL, NULL, &o);
        if (c->bad == -1) {
            ck_assert_msg(o.error == 0 && o.n == 1 && o.len[0] == c->len, "case %u", i);
        } else {
            ck_assert_msg(o.error == -1007, "case %u: %d", i, o.error);
            size_t want = c->bad >= 0 ? 6 + (size_t)c->bad : n - 1;
            ck_assert_msg(at == want, "case %u: at %zu, want %zu", i, at, want);
        }
        ws_out_free(&o);
        /* two fragments, cut at every byte of the text; the second may be
         * announced by an empty FIN frame */
        for (size_t k = 0; k <= c->len; k++) {
            n = ws_frame(sbuf, 0, SRV__WS_TEXT, c->s, k);
            size_t second = n;
            n += ws_frame(sbuf + n, 0, SRV__WS_CONT, c->s + k, c->len - k);
            size_t last = n;
            n += ws_frame(sbuf + n, WF_FIN, SRV__WS_CONT, "", 0);
            at = ws_check_cuts(sbuf, n, NULL, NULL, &o);
            if (c->bad == -1) {
                ck_assert_msg(o.error == 0 && o.n == 1 && o.len[0] == c->len, "case %u", i);
                ck_assert(memcmp(o.data[0], c->s, c->len) == 0);
            } else {
                ck_assert_msg(o.error == -1007, "case %u cut %zu: %d", i, k, o.error);
                size_t want = c->bad < 0    ? last + 5 /* the empty FIN frame's mask */
                              : (size_t)c->bad < k ? 6 + (size_t)c->bad
                                                   : second + 6 + (size_t)c->bad - k;
                ck_assert_msg(at == want, "case %u cut %zu: at %zu, want %zu", i, k, at, want);
            }
            ws_out_free(&o);
        }
    }
}
END_TEST

START_TEST(binary_is_not_checked)
{
    size_t n = ws_frame(sbuf, WF_FIN, SRV__WS_BINARY, "\xff\xfe\xc0", 3);
    n += ws_frame(sbuf + n, WF_FIN, SRV__WS_PING, "\xff", 1);
    struct ws_out o;
    decodes(sbuf, n, NULL, &o);
    ck_assert_uint_eq(o.n, 2);
    ws_out_free(&o);
}
END_TEST

START_TEST(a_failed_decoder_stays_failed)
{
    size_t n = ws_frame(sbuf, WF_FIN | WF_UNMASKED, SRV__WS_TEXT, "hi", 2);
    struct srv__ws_decoder d;
    srv__ws_decoder_init(&d, NULL, NULL);
    struct srv__ws_event ev;
    ck_assert_int_eq(srv__ws_decode(&d, (char *)sbuf, n, &ev), -1002);
    size_t m = ws_frame(sbuf, WF_FIN, SRV__WS_TEXT, "hi", 2);
    ck_assert_int_eq(srv__ws_decode(&d, (char *)sbuf, m, &ev), -1002);
    ck_assert_uint_eq(ev.opcode, 0);
    srv__ws_decoder_free(&d);
}
END_TEST

/* ---- Encoder -------------------------------------------------------------------------- */

START_TEST(frame_headers_in_the_shortest_form)
{
    char h[SRV__WS_HEADER_MAX];
    ck_assert_uint_eq(srv__ws_frame_header(h, SRV__WS_TEXT, false, 0), 2);
    ck_assert(memcmp(h, "\x81\x00", 2) == 0);
    ck_assert_uint_eq(srv__ws_frame_header(h, SRV__WS_BINARY, false, 125), 2);
    ck_assert(memcmp(h, "\x82\x7d", 2) == 0);
    ck_assert_uint_eq(srv__ws_frame_header(h, SRV__WS_TEXT, true, 126), 4);
    ck_assert(memcmp(h, "\xc1\x7e\x00\x7e", 4) == 0);
    ck_assert_uint_eq(srv__ws_frame_header(h, SRV__WS_BINARY, false, 65535), 4);
    ck_assert(memcmp(h, "\x82\x7e\xff\xff", 4) == 0);
    ck_assert_uint_eq(srv__ws_frame_header(h, SRV__WS_BINARY, false, 65536), 10);
    ck_assert(memcmp(h, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10) == 0);
    ck_assert_uint_eq(srv__ws_frame_header(h, SRV__WS_PING, false, 5), 2);
    ck_assert(memcmp(h, "\x89\x05", 2) == 0);
    ck_assert_uint_eq(srv__ws_frame_header(h, SRV__WS_PONG, false, 0), 2);
    ck_assert(memcmp(h, "\x8a\x00", 2) == 0);
    ck_assert_uint_eq(srv__ws_frame_header(h, SRV__WS_BINARY, false, 0x0102030405060708u), 10);
    ck_assert(memcmp(h, "\x82\x7f\x01\x02\x03\x04\x05\x06\x07\x08", 10) == 0);
}
END_TEST

/* A server frame, masked as a client would, goes back through the decoder. */
static void round_trip_close(const char *f, size_t n, unsigned code, const char *reason,
                             size_t rlen)
{
    unsigned char in[200];
    ck_assert_uint_ge(n, 2);
    size_t m = ws_frame(in, f[0] & 0xf0, (unsigned)f[0] & 0x0f, f + 2, n - 2);
    struct ws_out o;
    decodes(in, m, NULL, &o);
    ck_assert_uint_eq(o.n, 1);
    ck_assert_uint_eq(o.opcode[0], SRV__WS_CLOSE);
    ck_assert_uint_eq(o.code[0], code);
    ck_assert_uint_eq(o.len[0], rlen);
    ck_assert(memcmp(o.data[0], reason, rlen) == 0);
    ws_out_free(&o);
}

START_TEST(close_frames_cut_their_reason_at_a_character)
{
    char f[SRV__WS_CLOSE_FRAME_MAX];
    size_t n = srv__ws_close_frame(f, 0, NULL, 0);
    ck_assert_uint_eq(n, 2);
    ck_assert(memcmp(f, "\x88\x00", 2) == 0);
    n = srv__ws_close_frame(f, 1000, "bye", 3);
    ck_assert_uint_eq(n, 7);
    ck_assert(memcmp(f, "\x88\x05\x03\xe8" "bye", 7) == 0);
    round_trip_close(f, n, 1000, "bye", 3);
    n = srv__ws_close_frame(f, 1009, "", 0);
    ck_assert(memcmp(f, "\x88\x02\x03\xf1", 4) == 0);

    char reason[300];
    memset(reason, 'a', sizeof reason);
    n = srv__ws_close_frame(f, 1001, reason, 300);
    ck_assert_uint_eq(n, 2 + 125);
    round_trip_close(f, n, 1001, reason, 123);
    /* "é" (2 bytes) across the 123rd byte: cut before it */
    memset(reason, 'a', 122);
    memcpy(reason + 122, "\xc3\xa9", 2);
    n = srv__ws_close_frame(f, 1000, reason, 124);
    ck_assert_uint_eq(n, 2 + 2 + 122);
    round_trip_close(f, n, 1000, reason, 122);
    /* "😀" (4 bytes) starting at 121: cut before it */
    memset(reason, 'b', 121);
    memcpy(reason + 121, "\xf0\x9f\x98\x80xyz", 7);
    n = srv__ws_close_frame(f, 4000, reason, 128);
    ck_assert_uint_eq(n, 2 + 2 + 121);
    round_trip_close(f, n, 4000, reason, 121);
    /* exactly 123 with a character at the end: kept whole */
    memset(reason, 'c', 120);
    memcpy(reason + 120, "\xe2\x82\xac", 3);
    n = srv__ws_close_frame(f, 1000, reason, 123);
    ck_assert_uint_eq(n, 2 + 2 + 123);
    round_trip_close(f, n, 1000, reason, 123);
}
END_TEST

Suite *ws_suite(void);

Suite *ws_suite(void)
{
    Suite *s = suite_create("runtime/ws");
    TCase *t = tcase_create("utf8");
    tcase_add_test(t, utf8_fails_at_the_exact_byte);
    tcase_add_test(t, utf8_checks_every_code_point);
    tcase_add_test(t, close_codes_by_class);
    suite_add_tcase(s, t);

    t = tcase_create("handshake");
    tcase_add_test(t, accept_key_of_the_rfc_sample);
    tcase_add_test(t, keys_must_encode_16_bytes);
    tcase_add_test(t, upgrades_a_valid_request);
    tcase_add_test(t, matches_upgrade_and_connection_tokens_in_lists);
    tcase_add_test(t, other_versions_get_426_naming_13);
    tcase_add_test(t, other_methods_get_405);
    tcase_add_test(t, bad_keys_get_400);
    tcase_add_test(t, the_servers_protocol_order_wins);
    tcase_add_test(t, accepts_permessage_deflate_offers);
    tcase_add_test(t, declines_bad_offers_and_takes_the_first_good_one);
    suite_add_tcase(s, t);

    t = tcase_create("decoder");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, decodes_the_rfc_examples);
    tcase_add_test(t, decodes_the_three_length_forms);
    tcase_add_test(t, reassembles_fragments_with_control_frames_between);
    tcase_add_test(t, delivers_empty_messages);
    tcase_add_test(t, whole_messages_are_delivered_in_place);
    tcase_add_test(t, returns_one_event_per_call);
    tcase_add_test(t, close_frames_with_valid_codes);
    tcase_add_test(t, close_frames_with_invalid_codes_or_reasons);
    tcase_add_test(t, protocol_errors_fail_at_the_deciding_byte);
    tcase_add_test(t, lengths_must_be_minimal_and_below_2_63);
    tcase_add_test(t, limits_are_decided_from_the_header);
    tcase_add_test(t, the_message_buffer_stays_within_the_limit);
    tcase_add_test(t, buffers_grow_with_what_arrives_not_what_is_announced);
    tcase_add_test(t, text_must_be_utf8_failing_at_once);
    tcase_add_test(t, binary_is_not_checked);
    tcase_add_test(t, a_failed_decoder_stays_failed);
    suite_add_tcase(s, t);

    t = tcase_create("encoder");
    tcase_add_test(t, frame_headers_in_the_shortest_form);
    tcase_add_test(t, close_frames_cut_their_reason_at_a_character);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ws_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
