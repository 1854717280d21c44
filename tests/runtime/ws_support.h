/* ws_support.h - client frames built by hand and a decoder driver for the
 * WebSocket tests (test_ws.c, test_ws_deflate.c): a byte stream is fed to a
 * fresh decoder whole, cut in two at every byte, and a byte at a time,
 * each piece copied into a buffer of its exact size (so ASan sees a read
 * past it), and what came out - the events, the error, and (a byte at a
 * time) the index of the byte at which the error was reported - is
 * recorded so the three runs can be compared. */
#ifndef SRV_TEST_WS_SUPPORT_H
#define SRV_TEST_WS_SUPPORT_H

#include "internal.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char ws_key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Frame flags for ws_frame(). */
#define WF_FIN 0x80
#define WF_RSV1 0x40
#define WF_RSV2 0x20
#define WF_RSV3 0x10
#define WF_UNMASKED 0x100
#define WF_LEN16 0x200 /* the 16-bit length form whatever the length */
#define WF_LEN64 0x400 /* the 64-bit form */

/* Appends a client frame (masked with ws_key unless WF_UNMASKED) to OUT;
 * returns its length. */
static inline size_t ws_frame(unsigned char *out, unsigned flags, unsigned op, const void *payload,
                              size_t len)
{
    size_t h = 0;
    out[h++] = (unsigned char)((flags & 0xf0) | op);
    unsigned char m = flags & WF_UNMASKED ? 0 : 0x80;
    if ((len < 126 && !(flags & (WF_LEN16 | WF_LEN64)))) {
        out[h++] = (unsigned char)(m | len);
    } else if (len <= 0xffff && !(flags & WF_LEN64)) {
        out[h++] = m | 126;
        out[h++] = (unsigned char)(len >> 8);
        out[h++] = (unsigned char)len;
    } else {
        out[h++] = m | 127;
        for (int i = 7; i >= 0; i--)
            out[h++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    if (!(flags & WF_UNMASKED)) {
        memcpy(out + h, ws_key, 4);
        h += 4;
    }
    const unsigned char *p = payload;
    for (size_t i = 0; i < len; i++)
        out[h + i] = flags & WF_UNMASKED ? p[i] : p[i] ^ ws_key[i & 3];
    return h + len;
}

/* What a decoder made of a stream. */
#define WS_EVENTS_MAX 64
struct ws_out {
    unsigned n;
    unsigned opcode[WS_EVENTS_MAX];
    uint16_t code[WS_EVENTS_MAX];
    size_t len[WS_EVENTS_MAX];
    char *data[WS_EVENTS_MAX];
    int error;       /* 0 or -CODE */
    size_t error_at; /* the stream offset of the byte whose piece failed, byte by byte */
};

static inline void ws_out_free(struct ws_out *o)
{
    for (unsigned i = 0; i < o->n; i++)
        free(o->data[i]);
    memset(o, 0, sizeof *o);
}

/* Feeds the piece P[0..N) to D; false once D has failed. */
static inline bool ws_feed(struct srv__ws_decoder *d, const unsigned char *p, size_t n,
                           struct ws_out *o)
{
    char *buf = malloc(n ? n : 1);
    memcpy(buf, p, n);
    size_t off = 0;
    for (;;) {
        struct srv__ws_event ev;
        ssize_t r = srv__ws_decode(d, buf + off, n - off, &ev);
        if (r < 0) {
            o->error = (int)r;
            free(buf);
            return false;
        }
        ck_assert_uint_le((size_t)r, n - off);
        off += (size_t)r;
        if (!ev.opcode) {
            ck_assert_uint_eq(off, n);
            break;
        }
        ck_assert_uint_lt(o->n, WS_EVENTS_MAX);
        o->opcode[o->n] = ev.opcode;
        o->code[o->n] = ev.code;
        o->len[o->n] = ev.len;
        o->data[o->n] = malloc(ev.len + 1);
        memcpy(o->data[o->n], ev.data, ev.len);
        o->data[o->n][ev.len] = '\0';
        o->n++;
    }
    free(buf);
    return true;
}

/* Decodes S[0..N) cut at the offsets CUTS[0..NCUTS) (increasing). */
static inline void ws_run(const unsigned char *s, size_t n, const size_t *cuts, size_t ncuts,
                          const struct srv__ws_limits *lim, struct srv__ws_deflate *pmd,
                          struct ws_out *o)
{
    struct srv__ws_decoder d;
    srv__ws_decoder_init(&d, lim, pmd);
    memset(o, 0, sizeof *o);
    size_t at = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : n;
        if (!ws_feed(&d, s + at, to - at, o)) {
            o->error_at = to - 1;
            break;
        }
        at = to;
    }
    srv__ws_decoder_free(&d);
}

static inline void ws_same(const struct ws_out *a, const struct ws_out *b, const char *how)
{
    ck_assert_msg(a->error == b->error, "%s: error %d, whole %d", how, b->error, a->error);
    ck_assert_msg(a->n == b->n, "%s: %u events, whole %u", how, b->n, a->n);
    for (unsigned i = 0; i < a->n; i++) {
        ck_assert_uint_eq(a->opcode[i], b->opcode[i]);
        ck_assert_uint_eq(a->code[i], b->code[i]);
        ck_assert_uint_eq(a->len[i], b->len[i]);
        ck_assert(memcmp(a->data[i], b->data[i], a->len[i]) == 0);
    }
}

/* Decodes S[0..N) whole into *WHOLE, then checks that it decodes the same
 * cut in two at every byte (near the ends only, past 2 KiB) and fed a
 * byte at a time; returns the offset at
 * which the byte-at-a-time run failed (or N when it did not).  MAKE_PMD,
 * when not NULL, makes a fresh deflate state for each run. */
static inline size_t ws_check_cuts(const unsigned char *s, size_t n, const struct srv__ws_limits *lim,
                                   struct srv__ws_deflate *(*make_pmd)(void), struct ws_out *whole)
{
    struct srv__ws_deflate *pmd = make_pmd ? make_pmd() : NULL;
    ws_run(s, n, NULL, 0, lim, pmd, whole);
    srv__ws_deflate_free(pmd);
    for (size_t k = 1; k < n; k++) {
        /* Long streams: every cut near the ends, a sample in between. */
        if (n > 2048 && k > 256 && k < n - 256 && k % 97)
            continue;
        struct ws_out o;
        pmd = make_pmd ? make_pmd() : NULL;
        ws_run(s, n, &k, 1, lim, pmd, &o);
        srv__ws_deflate_free(pmd);
        ws_same(whole, &o, "cut in two");
        ws_out_free(&o);
    }
    size_t *cuts = malloc((n ? n : 1) * sizeof *cuts);
    for (size_t k = 0; k + 1 < n; k++)
        cuts[k] = k + 1;
    struct ws_out o;
    pmd = make_pmd ? make_pmd() : NULL;
    ws_run(s, n, cuts, n ? n - 1 : 0, lim, pmd, &o);
    srv__ws_deflate_free(pmd);
    free(cuts);
    ws_same(whole, &o, "byte by byte");
    size_t at = o.error ? o.error_at : n;
    ws_out_free(&o);
    return at;
}

#endif /* SRV_TEST_WS_SUPPORT_H */
