/* Tests for runtime/ws_deflate.c: permessage-deflate (RFC 7692) both ways -
 * the RFC's examples inflated through the decoder (whole, cut at every
 * byte, byte by byte), compression and its tail, context takeover or not,
 * the window sizes, and a zip bomb stopped at the message limit. */
#include "ws_support.h"

#include <zlib.h>

static unsigned char sbuf[1 << 20];

static const struct srv__ws_pmd takeover = {.server_bits = 15, .client_bits = 15};
static const struct srv__ws_pmd no_takeover = {.server_no_takeover = true, .client_no_takeover = true,
                                               .server_bits = 15, .client_bits = 15};

static struct srv__ws_deflate *pmd_takeover(void)
{
    return srv__ws_deflate_new(&takeover, NULL);
}

static struct srv__ws_deflate *pmd_no_takeover(void)
{
    return srv__ws_deflate_new(&no_takeover, NULL);
}

/* Decodes S[0..N) every way with a fresh MAKE() each time: no error
 * allowed, the events in *O. */
static void inflates(const unsigned char *s, size_t n, struct srv__ws_deflate *(*make)(void),
                     const struct srv__ws_limits *lim, struct ws_out *o)
{
    size_t at = ws_check_cuts(s, n, lim, make, o);
    ck_assert_msg(o->error == 0, "error %d", o->error);
    ck_assert_uint_eq(at, n);
}

static void teardown(void)
{
    srv__ws_deflate_shutdown();
}

/* ---- RFC 7692 7.2.3's examples, sent by a client ---------------------------------- */

START_TEST(inflates_the_rfc_examples)
{
    static const unsigned char hello[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
    struct ws_out o;
    /* 7.2.3.1: "Hello" in one frame, then in two fragments */
    size_t n = ws_frame(sbuf, WF_FIN | WF_RSV1, SRV__WS_TEXT, hello, sizeof hello);
    n += ws_frame(sbuf + n, WF_RSV1, SRV__WS_TEXT, hello, 3);
    n += ws_frame(sbuf + n, WF_FIN, SRV__WS_CONT, hello + 3, 4);
    inflates(sbuf, n, pmd_no_takeover, NULL, &o);
    ck_assert_uint_eq(o.n, 2);
    ck_assert_str_eq(o.data[0], "Hello");
    ck_assert_str_eq(o.data[1], "Hello");
    ws_out_free(&o);

    /* 7.2.3.2: the second "Hello" refers back into the first */
    static const unsigned char again[] = {0xf2, 0x00, 0x11, 0x00, 0x00};
    n = ws_frame(sbuf, WF_FIN | WF_RSV1, SRV__WS_TEXT, hello, sizeof hello);
    n += ws_frame(sbuf + n, WF_FIN | WF_RSV1, SRV__WS_TEXT, again, sizeof again);
    inflates(sbuf, n, pmd_takeover, NULL, &o);
    ck_assert_uint_eq(o.n, 2);
    ck_assert_str_eq(o.data[1], "Hello");
    ws_out_free(&o);
    /* ... which a client without context takeover may not send */
    size_t at = ws_check_cuts(sbuf, n, NULL, pmd_no_takeover, &o);
    ck_assert_int_eq(o.error, -1007);
    ck_assert_uint_eq(o.n, 1);
    ck_assert_uint_gt(at, sizeof hello + 6);
    ws_out_free(&o);

    /* 7.2.3.3: a stored block */
    static const unsigned char stored[] = {0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00};
    n = ws_frame(sbuf, WF_FIN | WF_RSV1, SRV__WS_TEXT, stored, sizeof stored);
    /* 7.2.3.4: BFINAL set, then a message after it (context carried over) */
    static const unsigned char final[] = {0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00};
    n += ws_frame(sbuf + n, WF_FIN | WF_RSV1, SRV__WS_TEXT, final, sizeof final);
    n += ws_frame(sbuf + n, WF_FIN | WF_RSV1, SRV__WS_TEXT, again, sizeof again);
    /* 7.2.3.5: two DEFLATE blocks in one message */
    static const unsigned char two[] = {0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff,
                                        0xca, 0xc9, 0xc9, 0x07, 0x00};
    n += ws_frame(sbuf + n, WF_FIN | WF_RSV1, SRV__WS_BINARY, two, sizeof two);
    /* an uncompressed message between compressed ones */
    n += ws_frame(sbuf + n, WF_FIN, SRV__WS_TEXT, "plain", 5);
    inflates(sbuf, n, pmd_takeover, NULL, &o);
    ck_assert_uint_eq(o.n, 5);
    ck_assert_str_eq(o.data[0], "Hello");
    ck_assert_str_eq(o.data[1], "Hello");
    ck_assert_str_eq(o.data[2], "Hello");
    ck_assert_str_eq(o.data[3], "Hello");
    ck_assert_uint_eq(o.opcode[3], SRV__WS_BINARY);
    ck_assert_str_eq(o.data[4], "plain");
    ws_out_free(&o);

    /* BFINAL in the middle of a message: the rest may refer back to what
     * came before it, with or without context takeover */
    static const unsigned char final_then_more[] = {0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00,
                                                    0xf2, 0x00, 0x11, 0x00, 0x00};
    n = ws_frame(sbuf, WF_FIN | WF_RSV1, SRV__WS_TEXT, final_then_more, sizeof final_then_more);
    inflates(sbuf, n, pmd_no_takeover, NULL, &o);
    ck_assert_uint_eq(o.n, 1);
    ck_assert_str_eq(o.data[0], "HelloHello");
    ws_out_free(&o);

    /* 7.2.3.6: an empty message is a single 00 byte (an empty stored
     * block's start); and an empty payload is fine too */
    n = ws_frame(sbuf, WF_FIN | WF_RSV1, SRV__WS_TEXT, "\x00", 1);
    n += ws_frame(sbuf + n, WF_FIN | WF_RSV1, SRV__WS_BINARY, "", 0);
    inflates(sbuf, n, pmd_takeover, NULL, &o);
    ck_assert_uint_eq(o.n, 2);
    ck_assert_uint_eq(o.len[0], 0);
    ck_assert_uint_eq(o.len[1], 0);
    ws_out_free(&o);
}
END_TEST

START_TEST(compressed_frames_follow_the_rsv1_rules)
{
    static const unsigned char hello[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
    struct ws_out o;
    size_t n = ws_frame(sbuf, WF_RSV1, SRV__WS_TEXT, hello, 3);
    size_t second = n;
    n += ws_frame(sbuf + n, WF_FIN | WF_RSV1, SRV__WS_CONT, hello + 3, 4);
    size_t at = ws_check_cuts(sbuf, n, NULL, pmd_takeover, &o);
    ck_assert_int_eq(o.error, -1002); /* RSV1 on a continuation */
    ck_assert_uint_eq(at, second + 1);
    ws_out_free(&o);
    n = ws_frame(sbuf, WF_FIN | WF_RSV1, SRV__WS_PING, hello, sizeof hello);
    at = ws_check_cuts(sbuf, n, NULL, pmd_takeover, &o);
    ck_assert_int_eq(o.error, -1002); /* RSV1 on a control frame */
    ck_assert_uint_eq(at, 1);
    ws_out_free(&o);
    /* a ping between the fragments of a compressed message is not compressed */
    n = ws_frame(sbuf, WF_RSV1, SRV__WS_TEXT, hello, 3);
    n += ws_frame(sbuf + n, WF_FIN, SRV__WS_PING, "p", 1);
    n += ws_frame(sbuf + n, WF_FIN, SRV__WS_CONT, hello + 3, 4);
    inflates(sbuf, n, pmd_takeover, NULL, &o);
    ck_assert_uint_eq(o.n, 2);
    ck_assert_str_eq(o.data[0], "p");
    ck_assert_str_eq(o.data[1], "Hello");
    ws_out_free(&o);
}
END_TEST

START_TEST(bad_compressed_data_is_1007)
{
    struct ws_out o;
    static const unsigned char junk[] = {0xff, 0xff, 0xff, 0xff, 0x00};
    size_t n = ws_frame(sbuf, WF_FIN | WF_RSV1, SRV__WS_BINARY, junk, sizeof junk);
    ws_check_cuts(sbuf, n, NULL, pmd_takeover, &o);
    ck_assert_int_eq(o.error, -1007);
    ws_out_free(&o);
    /* compressed text that inflates to invalid UTF-8: at the byte that
     * makes it invalid, not at the end of the message */
    static const unsigned char bad_utf8[] = {0x00, 0x04, 0x00, 0xfb, 0xff, 'a', 0xed, 0xa0, 0x80};
    n = ws_frame(sbuf, WF_RSV1, SRV__WS_TEXT, bad_utf8, sizeof bad_utf8);
    n += ws_frame(sbuf + n, WF_FIN, SRV__WS_CONT, "", 0);
    size_t at = ws_check_cuts(sbuf, n, NULL, pmd_takeover, &o);
    ck_assert_int_eq(o.error, -1007);
    ck_assert_uint_eq(at, 6 + 7);
    ws_out_free(&o);
    /* compressed text that ends mid-character */
    static const unsigned char cut_utf8[] = {0x00, 0x02, 0x00, 0xfd, 0xff, 'a', 0xc3};
    n = ws_frame(sbuf, WF_FIN | WF_RSV1, SRV__WS_TEXT, cut_utf8, sizeof cut_utf8);
    at = ws_check_cuts(sbuf, n, NULL, pmd_takeover, &o);
    ck_assert_int_eq(o.error, -1007);
    ck_assert_uint_eq(at, n - 1);
    ws_out_free(&o);
}
END_TEST

/* Found by fuzz_ws: a message whose references reach further back than a
 * 9-bit window.  With the full window it inflates the same however it is
 * cut; with the small one zlib's verdict depends on the cuts, and either
 * verdict is safe. */
START_TEST(references_past_a_small_window)
{
    static const unsigned char frame[] = {
        /* "Hello" compressed (7.2.3.1), masked with zeros, then the message */
        0xc1, 0x87, 0, 0, 0, 0, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00,
        0xc1, 0xfa, 0x21, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82,
        0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x21,
        0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82,
        0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x21, 0xfe, 0x88, 0x88, 0x88,
        0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x9b, 0x88,
        0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88,
        0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88,
        0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x23, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88,
        0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88,
        0x88, 0x88
    };
    struct ws_out o;
    inflates(frame, sizeof frame, pmd_takeover, NULL, &o);
    ck_assert_uint_eq(o.n, 2);
    ck_assert_uint_eq(o.opcode[1], SRV__WS_TEXT);
    ck_assert_uint_eq(o.len[1], 2210);
    ws_out_free(&o);
    struct srv__ws_pmd small = {.server_bits = 15, .client_bits = 9};
    for (size_t step = 1; step <= sizeof frame; step += step < 8 ? 1 : 40) {
        size_t cuts[sizeof frame];
        size_t nc = 0;
        for (size_t at = step; at < sizeof frame; at += step)
            cuts[nc++] = at;
        struct srv__ws_deflate *z = srv__ws_deflate_new(&small, NULL);
        ws_run(frame, sizeof frame, cuts, nc, NULL, z, &o);
        srv__ws_deflate_free(z);
        ck_assert(o.n >= 1 && o.len[0] == 5);
        ck_assert(o.error == -1007 || (o.error == 0 && o.n == 2 && o.len[1] == 2210));
        ws_out_free(&o);
    }
}
END_TEST

/* Compresses LEN bytes of zeros with zlib, raw, sync-flushed, tail cut. */
static size_t bomb(unsigned char *out, size_t cap, size_t len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    ck_assert_int_eq(deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY), Z_OK);
    static unsigned char zeros[1 << 16];
    z.next_out = out;
    z.avail_out = (uInt)cap;
    for (size_t done = 0; done < len;) {
        size_t n = len - done < sizeof zeros ? len - done : sizeof zeros;
        z.next_in = zeros;
        z.avail_in = (uInt)n;
        ck_assert_int_eq(deflate(&z, done + n == len ? Z_SYNC_FLUSH : Z_NO_FLUSH), Z_OK);
        ck_assert_uint_eq(z.avail_in, 0);
        done += n;
    }
    size_t n = cap - z.avail_out;
    deflateEnd(&z);
    return n - 4;
}

START_TEST(a_zip_bomb_stops_at_the_limit)
{
    /* 64 MiB of zeros in ~64 KiB; the limit is 1 MiB */
    static unsigned char z[1 << 18];
    size_t zn = bomb(z, sizeof z, (size_t)64 << 20);
    ck_assert_uint_lt(zn, 1u << 17);
    struct srv__ws_limits lim = {.message = 1 << 20, .frame = 1 << 20};
    size_t n = ws_frame(sbuf, WF_FIN | WF_RSV1, SRV__WS_BINARY, z, zn);
    struct srv__ws_deflate *pmd = pmd_takeover();
    struct srv__ws_decoder d;
    srv__ws_decoder_init(&d, &lim, pmd);
    struct srv__ws_event ev;
    ck_assert_int_eq(srv__ws_decode(&d, (char *)sbuf, n, &ev), -1009);
    /* inflating stopped one byte past the limit */
    ck_assert_uint_le(d.msg_cap, (1u << 20) + 1);
    ck_assert_uint_eq(d.msg_len, (1u << 20) + 1);
    srv__ws_decoder_free(&d);
    srv__ws_deflate_free(pmd);

    /* fed a few bytes at a time, it fails as soon as the output passes the
     * limit: long before the compressed data ends (the frame is made
     * again: decoding unmasked it in place) */
    n = ws_frame(sbuf, WF_FIN | WF_RSV1, SRV__WS_BINARY, z, zn);
    pmd = pmd_takeover();
    srv__ws_decoder_init(&d, &lim, pmd);
    size_t off = 0;
    ssize_t r = 0;
    while (off < n && (r = srv__ws_decode(&d, (char *)sbuf + off, n - off < 64 ? n - off : 64, &ev)) >= 0)
        off += (size_t)r;
    ck_assert_int_eq(r, -1009);
    ck_assert_uint_lt(off, n / 8);
    srv__ws_decoder_free(&d);
    srv__ws_deflate_free(pmd);

    /* exactly at the limit is fine */
    zn = bomb(z, sizeof z, 1 << 20);
    n = ws_frame(sbuf, WF_FIN | WF_RSV1, SRV__WS_BINARY, z, zn);
    struct ws_out o;
    ws_run(sbuf, n, NULL, 0, &lim, pmd = pmd_takeover(), &o);
    srv__ws_deflate_free(pmd);
    ck_assert_int_eq(o.error, 0);
    ck_assert_uint_eq(o.len[0], 1u << 20);
    ws_out_free(&o);
    /* and one byte more is not */
    zn = bomb(z, sizeof z, (1 << 20) + 1);
    n = ws_frame(sbuf, WF_FIN | WF_RSV1, SRV__WS_BINARY, z, zn);
    ws_run(sbuf, n, NULL, 0, &lim, pmd = pmd_takeover(), &o);
    srv__ws_deflate_free(pmd);
    ck_assert_int_eq(o.error, -1009);
    ws_out_free(&o);
}
END_TEST

START_TEST(incompressible_data_at_the_limit_passes_whatever_the_memlevel)
{
    /* zlib's stored blocks are as small as its memLevel makes them, 5
     * bytes each: random bytes grow by up to ~4 % on the wire (2.5 per
     * thousand at python3-websockets' memLevel 5).  A message within the
     * limits passes, in one frame, with the frame limit at its default. */
    struct srv__ws_limits lim = {.message = 1 << 16};
    static unsigned char msg[1 << 16], z[(1 << 16) * 2];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof msg; i++) {
        x = x * 1103515245 + 12345;
        msg[i] = (unsigned char)(x >> 24);
    }
    for (int level = 1; level <= 9; level += 4) {
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        ck_assert_int_eq(deflateInit2(&zs, 6, Z_DEFLATED, -15, level, Z_DEFAULT_STRATEGY), Z_OK);
        zs.next_in = msg;
        zs.avail_in = sizeof msg;
        zs.next_out = z;
        zs.avail_out = sizeof z;
        ck_assert_int_eq(deflate(&zs, Z_SYNC_FLUSH), Z_OK);
        size_t zn = sizeof z - zs.avail_out - 4;
        deflateEnd(&zs);
        ck_assert_uint_gt(zn, sizeof msg);
        size_t n = ws_frame(sbuf, WF_FIN | WF_RSV1, SRV__WS_BINARY, z, zn);
        struct srv__ws_deflate *pmd = pmd_takeover();
        struct ws_out o;
        ws_run(sbuf, n, NULL, 0, &lim, pmd, &o);
        srv__ws_deflate_free(pmd);
        ck_assert_int_eq(o.error, 0);
        ck_assert_uint_eq(o.len[0], sizeof msg);
        ws_out_free(&o);
    }
}
END_TEST

START_TEST(compressed_wire_bytes_have_a_limit_too)
{
    /* A compressed message may not be longer on the wire than the limit
     * and what deflate may add to incompressible data (zlib's bound: an
     * eighth, a sixty-fourth and 64 bytes). */
    struct srv__ws_limits lim = {.message = 10000, .frame = 20000};
    static unsigned char p[20000];
    size_t n = ws_frame(sbuf, WF_FIN | WF_RSV1, SRV__WS_BINARY, p,
                        10000 + 1250 + 156 + 64 + 1);
    struct ws_out o;
    size_t at = ws_check_cuts(sbuf, n, &lim, pmd_takeover, &o);
    ck_assert_int_eq(o.error, -1009);
    ck_assert_uint_eq(at, 3);
    ws_out_free(&o);
}
END_TEST

/* ---- Compressing ------------------------------------------------------------------ */

START_TEST(compresses_hello_as_the_rfc_does)
{
    struct srv__ws_options opts = {.compress_min = 1};
    struct srv__ws_deflate *z = srv__ws_deflate_new(&takeover, &opts);
    const char *out;
    size_t len;
    ck_assert_int_eq(srv__ws_deflate_message(z, "Hello", 5, &out, &len), 1);
    ck_assert_uint_eq(len, 7);
    ck_assert(memcmp(out, "\xf2\x48\xcd\xc9\xc9\x07\x00", 7) == 0);
    /* with context takeover the second refers to the first (7.2.3.2) */
    ck_assert_int_eq(srv__ws_deflate_message(z, "Hello", 5, &out, &len), 1);
    ck_assert_uint_eq(len, 5);
    ck_assert(memcmp(out, "\xf2\x00\x11\x00\x00", 5) == 0);
    srv__ws_deflate_free(z);

    /* without, each message stands alone: "Hello" does not get smaller, so
     * it goes uncompressed */
    z = srv__ws_deflate_new(&no_takeover, &opts);
    ck_assert_int_eq(srv__ws_deflate_message(z, "Hello", 5, &out, &len), 0);
    ck_assert_int_eq(srv__ws_deflate_message(z, "Hello Hello Hello Hello", 23, &out, &len), 1);
    ck_assert_uint_lt(len, 23);
    srv__ws_deflate_free(z);
}
END_TEST

START_TEST(short_messages_and_8_bit_windows_go_uncompressed)
{
    const char *out;
    size_t len;
    struct srv__ws_deflate *z = srv__ws_deflate_new(&takeover, NULL);
    static char text[200];
    memset(text, 'a', sizeof text);
    ck_assert_int_eq(srv__ws_deflate_message(z, text, 63, &out, &len), 0); /* default minimum: 64 */
    ck_assert_int_eq(srv__ws_deflate_message(z, text, 64, &out, &len), 1);
    srv__ws_deflate_free(z);
    struct srv__ws_pmd eight = {.server_bits = 8, .client_bits = 15};
    z = srv__ws_deflate_new(&eight, NULL);
    ck_assert_int_eq(srv__ws_deflate_message(z, text, sizeof text, &out, &len), 0);
    srv__ws_deflate_free(z);
}
END_TEST

/* Text of N bytes that compresses somewhat (words from a small list). */
static void words(char *p, size_t n, unsigned seed)
{
    static const char *const w[] = {"socket ", "frame ", "message ", "deflate ", "window ",
                                    "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 ", "mask ", "42 "};
    size_t i = 0;
    uint32_t x = seed * 2654435761u + 1;
    while (i < n) {
        x = x * 1103515245u + 12345u;
        const char *s = w[(x >> 16) & 7];
        size_t k = strlen(s);
        if (k > n - i)
            k = n - i;
        memcpy(p + i, s, k);
        i += k;
    }
    /* keep it valid UTF-8 when a word was cut */
    while (n > 0 && ((unsigned char)p[n - 1] & 0x80))
        p[--n] = ' ';
}

/* Sends messages of the SIZES through our compressor with PMD, then
 * decodes them as client frames with the same parameters (the client's
 * side of the agreement mirrors ours). */
static void round_trip(const struct srv__ws_pmd *pmd, const struct srv__ws_options *opts,
                       const size_t *sizes, unsigned nsizes)
{
    static char text[300000];
    struct srv__ws_deflate *z = srv__ws_deflate_new(pmd, opts);
    struct srv__ws_pmd mirror = *pmd;
    mirror.client_no_takeover = pmd->server_no_takeover;
    mirror.client_bits = pmd->server_bits;
    struct srv__ws_deflate *in = srv__ws_deflate_new(&mirror, NULL);
    struct srv__ws_limits lim = {.message = sizeof text};
    struct srv__ws_decoder d;
    srv__ws_decoder_init(&d, &lim, in);
    for (unsigned i = 0; i < nsizes; i++) {
        words(text, sizes[i], i);
        const char *out;
        size_t len;
        int c = srv__ws_deflate_message(z, text, sizes[i], &out, &len);
        ck_assert_int_ge(c, 0);
        size_t n = ws_frame(sbuf, WF_FIN | (c ? WF_RSV1 : 0), SRV__WS_TEXT, c ? out : text,
                            c ? len : sizes[i]);
        struct srv__ws_event ev;
        size_t off = 0;
        do {
            ssize_t r = srv__ws_decode(&d, (char *)sbuf + off, n - off, &ev);
            ck_assert_msg(r >= 0, "message %u (%zu bytes): %zd", i, sizes[i], r);
            off += (size_t)r;
        } while (!ev.opcode);
        ck_assert_uint_eq(off, n);
        ck_assert_uint_eq(ev.len, sizes[i]);
        ck_assert(memcmp(ev.data, text, sizes[i]) == 0);
    }
    srv__ws_decoder_free(&d);
    srv__ws_deflate_free(in);
    srv__ws_deflate_free(z);
}

static const size_t sizes[] = {64, 100, 1000, 5000, 64, 70000, 300000, 65, 4096, 200, 200, 200};
#define NSIZES (sizeof sizes / sizeof sizes[0])

START_TEST(round_trips_with_and_without_context_takeover)
{
    struct srv__ws_options opts = {.compress_min = 1};
    round_trip(&takeover, &opts, sizes, NSIZES);
    round_trip(&no_takeover, &opts, sizes, NSIZES);
    for (uint8_t bits = 9; bits <= 15; bits++) {
        struct srv__ws_pmd p = {.server_bits = bits, .client_bits = bits};
        round_trip(&p, NULL, sizes, NSIZES);
        p.server_no_takeover = true;
        round_trip(&p, NULL, sizes, NSIZES);
    }
    struct srv__ws_options small = {.mem_level = 1};
    round_trip(&takeover, &small, sizes, NSIZES);
}
END_TEST

START_TEST(connections_share_a_compressor_without_takeover)
{
    /* two connections interleaving: each message stands alone, so a fresh
     * inflater reads each */
    struct srv__ws_deflate *a = srv__ws_deflate_new(&no_takeover, NULL);
    struct srv__ws_deflate *b = srv__ws_deflate_new(&no_takeover, NULL);
    static char text[5000];
    for (int i = 0; i < 6; i++) {
        words(text, sizeof text, (unsigned)i);
        const char *out;
        size_t len;
        ck_assert_int_eq(srv__ws_deflate_message(i & 1 ? a : b, text, sizeof text, &out, &len), 1);
        size_t n = ws_frame(sbuf, WF_FIN | WF_RSV1, SRV__WS_TEXT, out, len);
        struct ws_out o;
        struct srv__ws_deflate *in = srv__ws_deflate_new(&no_takeover, NULL);
        ws_run(sbuf, n, NULL, 0, NULL, in, &o);
        srv__ws_deflate_free(in);
        ck_assert_int_eq(o.error, 0);
        ck_assert_uint_eq(o.len[0], sizeof text);
        ck_assert(memcmp(o.data[0], text, sizeof text) == 0);
        ws_out_free(&o);
    }
    srv__ws_deflate_free(a);
    srv__ws_deflate_free(b);
}
END_TEST

START_TEST(a_fragmented_compressed_message_cut_anywhere)
{
    /* our own compressed output as a client would send it: in three
     * fragments, with a pong between them */
    static char text[3000];
    words(text, sizeof text, 7);
    struct srv__ws_options opts = {.compress_min = 1};
    struct srv__ws_deflate *z = srv__ws_deflate_new(&no_takeover, &opts);
    const char *out;
    size_t len;
    ck_assert_int_eq(srv__ws_deflate_message(z, text, sizeof text, &out, &len), 1);
    size_t n = ws_frame(sbuf, WF_RSV1, SRV__WS_TEXT, out, len / 3);
    n += ws_frame(sbuf + n, WF_FIN, SRV__WS_PONG, "", 0);
    n += ws_frame(sbuf + n, 0, SRV__WS_CONT, out + len / 3, len / 3);
    n += ws_frame(sbuf + n, WF_FIN, SRV__WS_CONT, out + 2 * (len / 3), len - 2 * (len / 3));
    srv__ws_deflate_free(z);
    struct ws_out o;
    inflates(sbuf, n, pmd_no_takeover, NULL, &o);
    ck_assert_uint_eq(o.n, 2);
    ck_assert_uint_eq(o.len[1], sizeof text);
    ck_assert(memcmp(o.data[1], text, sizeof text) == 0);
    ws_out_free(&o);
}
END_TEST

Suite *ws_deflate_suite(void);

Suite *ws_deflate_suite(void)
{
    Suite *s = suite_create("runtime/ws_deflate");
    TCase *t = tcase_create("inflate");
    tcase_set_timeout(t, 120);
    tcase_add_checked_fixture(t, NULL, teardown);
    tcase_add_test(t, inflates_the_rfc_examples);
    tcase_add_test(t, compressed_frames_follow_the_rsv1_rules);
    tcase_add_test(t, bad_compressed_data_is_1007);
    tcase_add_test(t, references_past_a_small_window);
    tcase_add_test(t, a_zip_bomb_stops_at_the_limit);
    tcase_add_test(t, compressed_wire_bytes_have_a_limit_too);
    tcase_add_test(t, incompressible_data_at_the_limit_passes_whatever_the_memlevel);
    suite_add_tcase(s, t);
    t = tcase_create("deflate");
    tcase_set_timeout(t, 120);
    tcase_add_checked_fixture(t, NULL, teardown);
    tcase_add_test(t, compresses_hello_as_the_rfc_does);
    tcase_add_test(t, short_messages_and_8_bit_windows_go_uncompressed);
    tcase_add_test(t, round_trips_with_and_without_context_takeover);
    tcase_add_test(t, connections_share_a_compressor_without_takeover);
    tcase_add_test(t, a_fragmented_compressed_message_cut_anywhere);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ws_deflate_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
