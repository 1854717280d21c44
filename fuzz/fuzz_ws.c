/* fuzz_ws.c - libFuzzer target for the WebSocket protocol core:
 * runtime/ws.c and runtime/ws_deflate.c.  The first input byte picks what
 * the rest is:
 *   - raw bytes fed to the frame decoder as a client's stream;
 *   - a script of frames (flags, opcode, length, payload; a payload may be
 *     compressed first with our own compressor, so valid compressed data
 *     reaches the inflater, not only noise), masked and strung together:
 *     mutated valid frames;
 *   - header values for the handshake (Sec-WebSocket-Extensions,
 *     Sec-WebSocket-Protocol, Sec-WebSocket-Key).
 * The same byte also picks permessage-deflate (with or without context
 * takeover), small or default limits, and the cuts.  Every stream is
 * decoded whole, cut at pseudo-random points, and (up to 4 KiB) a byte at a
 * time, each piece in a buffer of its exact size; the three must give the
 * same events and the same error.  Events are checked against the rules:
 * text and close reasons valid UTF-8, close codes valid, sizes within the
 * limits, errors only 1002/1007/1009. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static void check(bool ok)
{
    if (!ok)
        abort();
}

#define EVENTS_MAX 256
struct run {
    unsigned n;
    uint8_t opcode[EVENTS_MAX];
    uint16_t code[EVENTS_MAX];
    size_t len[EVENTS_MAX];
    uint32_t sum[EVENTS_MAX]; /* a checksum of the data, kept short */
    int error;
    bool more; /* events beyond EVENTS_MAX were seen */
};

static uint32_t checksum(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h;
}

struct config {
    bool deflate, takeover;
    struct srv__ws_limits lim;
    struct srv__ws_pmd pmd;
};

static void event(struct run *r, const struct srv__ws_event *ev, const struct config *c)
{
    check(ev->opcode == SRV__WS_TEXT || ev->opcode == SRV__WS_BINARY || ev->opcode == SRV__WS_PING ||
          ev->opcode == SRV__WS_PONG || ev->opcode == SRV__WS_CLOSE);
    check(ev->data != NULL || ev->len == 0);
    if (ev->opcode >= 8) {
        check(ev->len <= SRV__WS_CONTROL_MAX);
    } else {
        check(ev->len <= c->lim.message);
    }
    if (ev->opcode == SRV__WS_TEXT || ev->opcode == SRV__WS_CLOSE) {
        uint32_t st = 0;
        check(srv__utf8_check(&st, ev->data, ev->len) && st == 0);
    }
    if (ev->opcode == SRV__WS_CLOSE) {
        check(ev->code == 0 ? ev->len == 0 : srv__ws_close_code_valid(ev->code));
        check(ev->len <= SRV__WS_CONTROL_MAX - 2);
    }
    if (r->n == EVENTS_MAX) {
        r->more = true;
        return;
    }
    r->opcode[r->n] = (uint8_t)ev->opcode;
    r->code[r->n] = ev->code;
    r->len[r->n] = ev->len;
    r->sum[r->n] = checksum(ev->data, ev->len);
    r->n++;
}

/* Feeds S[0..N) to a fresh decoder in pieces ending at CUTS[0..NCUTS). */
static void run(const uint8_t *s, size_t n, const size_t *cuts, size_t ncuts,
                const struct config *c, struct run *r)
{
    memset(r, 0, sizeof *r);
    struct srv__ws_deflate *pmd = c->deflate ? srv__ws_deflate_new(&c->pmd, NULL) : NULL;
    struct srv__ws_decoder d;
    srv__ws_decoder_init(&d, &c->lim, pmd);
    size_t at = 0;
    for (size_t i = 0; i <= ncuts && !r->error; i++) {
        size_t to = i < ncuts ? cuts[i] : n;
        size_t len = to - at;
        char *piece = malloc(len ? len : 1);
        memcpy(piece, s + at, len);
        size_t off = 0;
        for (;;) {
            struct srv__ws_event ev;
            ssize_t k = srv__ws_decode(&d, piece + off, len - off, &ev);
            if (k < 0) {
                check(k == -1002 || k == -1007 || k == -1009);
                r->error = (int)k;
                /* a failed decoder stays failed */
                check(srv__ws_decode(&d, piece, len, &ev) == k && ev.opcode == 0);
                break;
            }
            check((size_t)k <= len - off);
            off += (size_t)k;
            if (!ev.opcode) {
                check(off == len);
                break;
            }
            event(r, &ev, c);
        }
        free(piece);
        at = to;
    }
    if (!r->error && !srv__ws_decoder_busy(&d))
        srv__ws_decoder_trim(&d);
    srv__ws_decoder_free(&d);
    srv__ws_deflate_free(pmd);
}

static void same(const struct run *a, const struct run *b)
{
    check(a->error == b->error);
    check(a->n == b->n && a->more == b->more);
    for (unsigned i = 0; i < a->n; i++) {
        check(a->opcode[i] == b->opcode[i] && a->code[i] == b->code[i]);
        check(a->len[i] == b->len[i] && a->sum[i] == b->sum[i]);
    }
}

static void decode_every_way(const uint8_t *s, size_t n, uint32_t seed, const struct config *c)
{
    struct run whole, other;
    run(s, n, NULL, 0, c, &whole);

    /* pseudo-random cuts */
    size_t *cuts = malloc((n ? n : 1) * sizeof *cuts);
    size_t nc = 0;
    uint32_t x = seed | 1;
    for (size_t at = 0;;) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        at += 1 + x % (x & 0x100 ? 7 : 97);
        if (at >= n)
            break;
        cuts[nc++] = at;
    }
    /* With an inflate window below 32 KiB, a stream that refers beyond it
     * may be accepted or refused depending on the cuts (zlib checks the
     * distance against its window and what the current call produced):
     * such runs must only be safe, not agree. */
    bool agree = !c->deflate || c->pmd.client_bits == 15;
    run(s, n, cuts, nc, c, &other);
    if (agree)
        same(&whole, &other);

    if (n <= 4096) {
        for (size_t k = 0; k + 1 < n; k++)
            cuts[k] = k + 1;
        run(s, n, cuts, n ? n - 1 : 0, c, &other);
        if (agree)
            same(&whole, &other);
    }
    free(cuts);
}

/* A script of frames: each is [flags][len][payload...], flags holding
 * FIN (0x80), RSV bits (0x70), the opcode (0x0f); len's top bit asks for
 * the payload to be compressed first (with deflate on), its low bits the
 * payload's length (0-127). */
static size_t build_frames(const uint8_t *s, size_t n, uint8_t *out, const struct config *c)
{
    static const uint8_t key[4] = {0xa5, 0x3c, 0x0f, 0x99};
    struct srv__ws_pmd pmd = c->pmd;
    pmd.server_no_takeover = pmd.client_no_takeover;
    pmd.server_bits = pmd.client_bits;
    struct srv__ws_options opts = {.compress_min = 1};
    struct srv__ws_deflate *z = c->deflate ? srv__ws_deflate_new(&pmd, &opts) : NULL;
    size_t o = 0;
    size_t i = 0;
    while (i + 2 <= n) {
        uint8_t flags = s[i], lenb = s[i + 1];
        i += 2;
        size_t len = lenb & 0x7f;
        if (len > n - i)
            len = n - i;
        const uint8_t *payload = s + i;
        i += len;
        const char *zout = NULL;
        size_t zlen = 0;
        if ((lenb & 0x80) && z &&
            srv__ws_deflate_message(z, (const char *)payload, len, &zout, &zlen) == 1) {
            payload = (const uint8_t *)zout;
            len = zlen;
            flags |= 0x40;
        }
        out[o++] = flags;
        if (len < 126) {
            out[o++] = (uint8_t)(0x80 | len);
        } else {
            out[o++] = 0x80 | 126;
            out[o++] = (uint8_t)(len >> 8);
            out[o++] = (uint8_t)len;
        }
        memcpy(out + o, key, 4);
        o += 4;
        for (size_t k = 0; k < len; k++)
            out[o + k] = payload[k] ^ key[k & 3];
        o += len;
    }
    srv__ws_deflate_free(z);
    return o;
}

static void fuzz_handshake(const uint8_t *s, size_t n, uint8_t sel)
{
    /* three values cut out of the input at its first two 0 bytes */
    const char *v[3] = {"", "", ""};
    size_t vl[3] = {0, 0, 0};
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= n && k < 3; i++) {
        if (i == n || s[i] == 0) {
            v[k] = (const char *)s + start;
            vl[k] = i - start;
            k++;
            start = i + 1;
        }
    }
    struct srv__header f[6] = {
        {"Upgrade", "websocket", 7, 9},
        {"Connection", "Upgrade", 10, 7},
        {"Sec-WebSocket-Version", "13", 21, 2},
        {"Sec-WebSocket-Extensions", v[0], 24, (uint32_t)vl[0]},
        {"Sec-WebSocket-Protocol", v[1], 22, (uint32_t)vl[1]},
        /* the input's key, or the sample key so that the rest is reached */
        sel & 1 ? (struct srv__header){"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", 17, 24}
                : (struct srv__header){"Sec-WebSocket-Key", v[2], 17, (uint32_t)vl[2]},
    };
    struct srv__head h;
    memset(&h, 0, sizeof h);
    h.method = SRV_METHOD_GET;
    h.version_minor = 1;
    h.headers = f;
    h.nheaders = 6;
    static const char *const protos[] = {"chat", "superchat", "v2"};
    struct srv__ws_options o = {.protocols = protos, .nprotocols = 3, .deflate = true,
                                .server_takeover = sel & 2, .client_no_takeover = sel & 4,
                                .server_window_bits = (uint8_t)(9 + (sel >> 4) % 7),
                                .client_window_bits = (uint8_t)(9 + (sel >> 1) % 7)};
    struct srv__ws_handshake hs;
    int st = srv__ws_handshake(&h, &o, &hs);
    check(st == 101 || st == 400 || st == 426);
    check(hs.headers_len <= SRV__WS_HEADERS_MAX);
    if (st == 101) {
        /* header lines only: printable text, each ending in CRLF */
        check(hs.headers_len >= 2 && memcmp(hs.headers + hs.headers_len - 2, "\r\n", 2) == 0);
        for (size_t i = 0; i < hs.headers_len; i++) {
            unsigned char ch = (unsigned char)hs.headers[i];
            check((ch >= 0x20 && ch < 0x7f) ||
                  (ch == '\r' && hs.headers[i + 1] == '\n') || (ch == '\n' && hs.headers[i - 1] == '\r'));
        }
        if (hs.deflate) {
            check(hs.pmd.server_bits >= 8 && hs.pmd.server_bits <= 15);
            check(hs.pmd.client_bits >= 8 && hs.pmd.client_bits <= 15);
            struct srv__ws_deflate *z = srv__ws_deflate_new(&hs.pmd, &o);
            const char *out;
            size_t len;
            check(srv__ws_deflate_message(z, (const char *)s, n, &out, &len) >= 0);
            srv__ws_deflate_free(z);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t sel = data[0], sel2 = data[1];
    data += 2;
    size -= 2;
    if ((sel & 3) == 3) {
        fuzz_handshake(data, size, sel2);
        return 0;
    }
    struct config c;
    memset(&c, 0, sizeof c);
    c.deflate = sel & 4;
    c.pmd.client_no_takeover = sel & 8;
    c.pmd.server_no_takeover = true;
    /* the full window (runs must agree) unless asked for a small one */
    c.pmd.client_bits = (uint8_t)(sel2 & 4 ? 15 : 8 + (sel2 & 7));
    c.pmd.server_bits = 15;
    if (sel & 16) {
        c.lim.message = 1 + (sel2 >> 3) * 37u;
        c.lim.frame = sel & 32 ? c.lim.message / 2 + 1 : 0;
    }
    if (!c.lim.message)
        c.lim.message = 1024 * 1024;
    if (!c.lim.frame)
        c.lim.frame = c.lim.message;
    uint32_t seed = (uint32_t)sel << 8 | sel2;

    if ((sel & 3) == 0 || (sel & 3) == 1) {
        if (sel & 1) {
            /* frames: at most 2 + 4 bytes of header and 127 bytes of
             * payload per 2 input bytes of script (compression can
             * only add a few bytes to 127) */
            uint8_t *frames = malloc((size / 2 + 1) * (8 + 256));
            size_t n = build_frames(data, size, frames, &c);
            decode_every_way(frames, n, seed, &c);
            free(frames);
        } else {
            decode_every_way(data, size, seed, &c);
        }
    } else {
        /* raw, with a valid compressed message in front to warm the
         * inflater up */
        static const uint8_t hello[] = {0xc1, 0x87, 0, 0, 0, 0, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
        uint8_t *s = malloc(sizeof hello + size);
        memcpy(s, hello, sizeof hello);
        memcpy(s + sizeof hello, data, size);
        decode_every_way(s, sizeof hello + size, seed, &c);
        free(s);
    }
    srv__ws_deflate_shutdown();
    return 0;
}
