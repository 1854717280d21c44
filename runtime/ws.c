/*
 * ws.c - the WebSocket protocol (RFC 6455) for the server side, without
 * sockets: the opening handshake decided from a parsed request head, the
 * decoder of the frames a client sends, and the encoder of the frames the
 * server sends.  It sits in L1 beside http_parse.c and is as pure: nothing
 * here reads, writes, logs or blocks; the decoder allocates only its
 * message buffer.  conn.c (L3) owns the connection and feeds the decoder
 * what it reads; ws_deflate.c does permessage-deflate (RFC 7692) for both.
 *
 * The decoder is a state machine over the byte stream, fed whatever a read
 * returned.  Its rules (RFC 6455 5.2-5.5) are checked on the header's
 * bytes as they arrive, so a frame is refused at the byte that breaks a
 * rule, before its payload is read: an unmasked client frame, RSV bits no
 * extension gave a meaning to, a reserved opcode, a fragmented or long
 * control frame, a continuation with no message to continue, a new message
 * inside a fragmented one, a length that is not in its shortest form or
 * has the top bit set (1002), a frame or message larger than the limits
 * (1009, from the length alone).  Text and close reasons are checked as
 * UTF-8 chunk by chunk (1007 at the first byte that cannot be part of
 * valid UTF-8, wherever the fragments and reads are cut).
 *
 * Speed: the usual frame - a whole small message within one read - takes
 * the fast path: its header is read in place, its payload unmasked in
 * place eight bytes at a time and handed out where it lies, with no copy
 * and no allocation.  Only a message cut by a read or fragmented by the
 * client is gathered in the decoder's buffer (unmasked as it is copied).
 */
#include "internal.h"

#include <nettle/base64.h>
#include <nettle/sha1.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ---- UTF-8 ------------------------------------------------------------------- */

/* A DFA over byte classes (the shape of Bjoern Hoehrmann's decoder): each
 * state knows which range the next byte must fall in, so overlong forms
 * (C0, C1, E0 80-9F, F0 80-8F), surrogates (ED A0-BF) and code points above
 * U+10FFFF (F4 90-BF, F5-FF) are refused at the byte that makes them so. */
enum { U_ACCEPT, U_REJECT, U_CONT1, U_CONT2, U_CONT3, U_E0, U_ED, U_F0, U_F4, U_STATES };

static const uint8_t utf8_class[256] = {
    /* 00-7F: 0 */
    [0x80] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,        /* 80-8F */
    [0x90] = 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,        /* 90-9F */
    [0xA0] = 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,        /* A0-BF */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    [0xC0] = 4, 4,                                                  /* C0-C1: overlong */
    [0xC2] = 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,              /* C2-DF */
    5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
    [0xE0] = 6,                                                     /* E0 */
    [0xE1] = 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,                    /* E1-EC */
    [0xED] = 8,                                                     /* ED */
    [0xEE] = 7, 7,                                                  /* EE-EF */
    [0xF0] = 9,                                                     /* F0 */
    [0xF1] = 10, 10, 10,                                            /* F1-F3 */
    [0xF4] = 11,                                                    /* F4 */
    [0xF5] = 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,                       /* F5-FF */
};

#define R U_REJECT
static const uint8_t utf8_next[U_STATES][12] = {
    /*            00   80   90   A0   bad  C2   E0    E1   ED    F0    F1   F4 */
    [U_ACCEPT] = {U_ACCEPT, R, R, R, R, U_CONT1, U_E0, U_CONT2, U_ED, U_F0, U_CONT3, U_F4},
    [U_REJECT] = {R, R, R, R, R, R, R, R, R, R, R, R},
    [U_CONT1] = {R, U_ACCEPT, U_ACCEPT, U_ACCEPT, R, R, R, R, R, R, R, R},
    [U_CONT2] = {R, U_CONT1, U_CONT1, U_CONT1, R, R, R, R, R, R, R, R},
    [U_CONT3] = {R, U_CONT2, U_CONT2, U_CONT2, R, R, R, R, R, R, R, R},
    [U_E0] = {R, R, R, U_CONT1, R, R, R, R, R, R, R, R},
    [U_ED] = {R, U_CONT1, U_CONT1, R, R, R, R, R, R, R, R, R},
    [U_F0] = {R, R, U_CONT2, U_CONT2, R, R, R, R, R, R, R, R},
    [U_F4] = {R, U_CONT2, R, R, R, R, R, R, R, R, R, R},
};
#undef R

bool srv__utf8_check(uint32_t *state, const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p, *end = s + n;
    uint32_t st = *state;
    while (s < end) {
        if (st == U_ACCEPT) {
            /* ASCII runs, the bulk of most text, eight bytes at a time. */
            while (end - s >= 8) {
                uint64_t w;
                memcpy(&w, s, 8);
                if (w & 0x8080808080808080u)
                    break;
                s += 8;
            }
            while (s < end && *s < 0x80)
                s++;
            if (s == end)
                break;
        }
        st = utf8_next[st][utf8_class[*s++]];
        if (st == U_REJECT) {
            *state = st;
            return false;
        }
    }
    *state = st;
    return true;
}

bool srv__ws_close_code_valid(unsigned code)
{
    /* 1004 is reserved, 1005 and 1006 must never be sent, 1015 is for TLS
     * failures reported locally; 1012-1014 are registered with IANA; the
     * rest of 1000-2999 is unassigned; 3000-4999 belong to libraries and
     * applications. */
    if (code >= 1000 && code <= 1014)
        return code != 1004 && code != 1005 && code != 1006;
    return code >= 3000 && code <= 4999;
}

/* ---- Handshake: header values ------------------------------------------------ */

static char lower(char c)
{
    return (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
}

/* Whether S[0..N) equals the lower-case WORD, ignoring case. */
static bool ieq(const char *s, size_t n, const char *word)
{
    size_t i = 0;
    for (; i < n && word[i]; i++) {
        if (lower(s[i]) != word[i])
            return false;
    }
    return i == n && word[i] == '\0';
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 9110 5.6.2: tchar. */
static bool is_tchar(unsigned char c)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    if ((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'))
        return true;
    return c != '\0' && memchr(extra, c, sizeof extra - 1) != NULL;
}

static bool is_token(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!is_tchar((unsigned char)s[i]))
            return false;
    }
    return true;
}

/* Calls the elements of the comma list V[0..N) (RFC 9110 5.6.1: OWS
 * around commas, empty elements skipped) one at a time: the next
 * element's span in [*E, *E + *ELEN) and true, or false at the end.  *POS
 * starts at 0. */
static bool list_next(const char *v, size_t n, size_t *pos, const char **e, size_t *elen)
{
    size_t i = *pos;
    for (;;) {
        while (i < n && (is_ows(v[i]) || v[i] == ','))
            i++;
        if (i == n) {
            *pos = i;
            return false;
        }
        size_t start = i;
        while (i < n && v[i] != ',')
            i++;
        size_t end = i;
        while (end > start && is_ows(v[end - 1]))
            end--;
        *e = v + start;
        *elen = end - start;
        *pos = i;
        return true;
    }
}

/* Whether some line named NAME in H has TOKEN (lower case) in its list. */
static bool has_token(const struct srv__head *h, const char *name, const char *token)
{
    for (uint32_t i = 0; i < h->nheaders; i++) {
        const struct srv__header *f = &h->headers[i];
        if (!ieq(f->name, f->name_len, name))
            continue;
        size_t pos = 0, elen;
        const char *e;
        while (list_next(f->value, f->value_len, &pos, &e, &elen)) {
            if (ieq(e, elen, token))
                return true;
        }
    }
    return false;
}

/* The value of the one line named NAME: returns how many lines H has with
 * that name, the value of the last in *V. */
static unsigned field(const struct srv__head *h, const char *name, const char **v, size_t *n)
{
    unsigned count = 0;
    for (uint32_t i = 0; i < h->nheaders; i++) {
        const struct srv__header *f = &h->headers[i];
        if (ieq(f->name, f->name_len, name)) {
            *v = f->value;
            *n = f->value_len;
            count++;
        }
    }
    return count;
}

/* ---- Handshake: the key -------------------------------------------------------- */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

bool srv__ws_key_valid(const char *key, size_t len)
{
    /* 16 bytes: 21 characters of 6 bits, one carrying the last 2 bits (its
     * low 4 bits zero in the canonical encoding), then "==". */
    if (len != 24 || key[22] != '=' || key[23] != '=')
        return false;
    for (int i = 0; i < 22; i++) {
        if (b64_value((unsigned char)key[i]) < 0)
            return false;
    }
    return (b64_value((unsigned char)key[21]) & 0xf) == 0;
}

void srv__ws_accept_key(const char *key, size_t len, char out[SRV__WS_ACCEPT_LEN])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    struct sha1_ctx ctx;
    uint8_t digest[SHA1_DIGEST_SIZE];
    sha1_init(&ctx);
    sha1_update(&ctx, len, (const uint8_t *)key);
    sha1_update(&ctx, sizeof guid - 1, (const uint8_t *)guid);
    sha1_digest(&ctx, sizeof digest, digest);
    base64_encode_raw(out, sizeof digest, digest);
}

/* ---- Handshake: permessage-deflate offers (RFC 7692 5, 7.1) ---------------- */

/* What one offer asked for. */
struct offer {
    bool server_nct, client_nct;
    bool has_server_bits, has_client_bits;
    uint8_t server_bits, client_bits; /* client_bits 0: the parameter had no value */
    bool ok;                          /* well-formed, known parameters, no repeats */
};

/* A window-bits value, as a token or a quoted-string: 8 to 15, decimal,
 * no leading zero.  0 when invalid. */
static uint8_t window_bits(const char *v, size_t n, bool quoted)
{
    char buf[2];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (quoted && c == '\\' && i + 1 < n)
            c = v[++i];
        if (len == sizeof buf)
            return 0;
        buf[len++] = c;
    }
    if (len == 1 && buf[0] >= '8' && buf[0] <= '9')
        return (uint8_t)(buf[0] - '0');
    if (len == 2 && buf[0] == '1' && buf[1] >= '0' && buf[1] <= '5')
        return (uint8_t)(10 + buf[1] - '0');
    return 0;
}

/* One parameter of a permessage-deflate offer, NAME[0..NLEN) with the
 * value V[0..VLEN) (V NULL: none).  Marks the offer not ok when it is
 * unknown, repeated or has a bad value. */
static void offer_param(struct offer *o, const char *name, size_t nlen, const char *v,
                        size_t vlen, bool quoted)
{
    if (ieq(name, nlen, "server_no_context_takeover")) {
        if (o->server_nct || v)
            o->ok = false;
        o->server_nct = true;
    } else if (ieq(name, nlen, "client_no_context_takeover")) {
        if (o->client_nct || v)
            o->ok = false;
        o->client_nct = true;
    } else if (ieq(name, nlen, "server_max_window_bits")) {
        if (o->has_server_bits || !v)
            o->ok = false;
        o->has_server_bits = true;
        o->server_bits = v ? window_bits(v, vlen, quoted) : 0;
        if (!o->server_bits)
            o->ok = false;
    } else if (ieq(name, nlen, "client_max_window_bits")) {
        if (o->has_client_bits)
            o->ok = false;
        o->has_client_bits = true;
        if (v) {
            o->client_bits = window_bits(v, vlen, quoted);
            if (!o->client_bits)
                o->ok = false;
        }
    } else {
        o->ok = false;
    }
}

/* A cursor over a Sec-WebSocket-Extensions value (RFC 6455 9.1):
 *   extension-list = 1#( extension-token *( ";" extension-param ) )
 *   extension-param = token [ "=" ( token / quoted-string ) ]
 * with OWS around every separator. */
struct ext_scan {
    const char *p, *end;
};

static void skip_ows(struct ext_scan *s)
{
    while (s->p < s->end && is_ows(*s->p))
        s->p++;
}

static bool scan_token(struct ext_scan *s, const char **t, size_t *n)
{
    const char *start = s->p;
    while (s->p < s->end && is_tchar((unsigned char)*s->p))
        s->p++;
    *t = start;
    *n = (size_t)(s->p - start);
    return *n > 0;
}

/* A quoted-string at S->p (the opening quote): its contents, escapes left
 * in, in [*T, *T + *N). */
static bool scan_quoted(struct ext_scan *s, const char **t, size_t *n)
{
    const char *q = ++s->p;
    while (s->p < s->end && *s->p != '"') {
        unsigned char c = (unsigned char)*s->p;
        if (c == '\\') {
            if (++s->p == s->end)
                return false;
            c = (unsigned char)*s->p;
            if (c != '\t' && (c < 0x20 || c == 0x7f))
                return false;
        } else if (c != '\t' && (c < 0x20 || c == 0x7f)) {
            return false;
        }
        s->p++;
    }
    if (s->p == s->end)
        return false;
    *t = q;
    *n = (size_t)(s->p - q);
    s->p++;
    return true;
}

/* Reads the extension list V[0..N), finding the first acceptable
 * permessage-deflate offer (when WANT) into *FOUND.  Returns false when the
 * value is malformed. */
static bool scan_extensions(const char *v, size_t n, bool want, bool *have, struct offer *found)
{
    struct ext_scan s = {v, v + n};
    for (;;) {
        skip_ows(&s);
        if (s.p == s.end)
            return true;
        if (*s.p == ',') { /* an empty element */
            s.p++;
            continue;
        }
        const char *name;
        size_t nlen;
        if (!scan_token(&s, &name, &nlen))
            return false;
        bool pmd = ieq(name, nlen, "permessage-deflate");
        struct offer o = {.ok = true};
        for (;;) {
            skip_ows(&s);
            if (s.p == s.end || *s.p == ',')
                break;
            if (*s.p != ';')
                return false;
            s.p++;
            skip_ows(&s);
            const char *pn, *pv = NULL;
            size_t pnlen, pvlen = 0;
            bool quoted = false;
            if (!scan_token(&s, &pn, &pnlen))
                return false;
            skip_ows(&s);
            if (s.p < s.end && *s.p == '=') {
                s.p++;
                skip_ows(&s);
                if (s.p < s.end && *s.p == '"') {
                    quoted = true;
                    if (!scan_quoted(&s, &pv, &pvlen))
                        return false;
                } else if (!scan_token(&s, &pv, &pvlen)) {
                    return false;
                }
            }
            offer_param(&o, pn, pnlen, pv, pvlen, quoted);
        }
        if (want && pmd && o.ok && !*have) {
            *have = true;
            *found = o;
        }
        if (s.p < s.end)
            s.p++; /* the comma */
    }
}

/* The parameters agreed from offer O, and the extension's response line
 * at P; returns its end. */
static char *agree_deflate(const struct offer *o, const struct srv__ws_options *opts,
                           struct srv__ws_pmd *pmd, char *p)
{
    uint8_t ours = opts->server_window_bits ? opts->server_window_bits : 15;
    uint8_t client_want = opts->client_window_bits ? opts->client_window_bits : 15;
    pmd->server_no_takeover = o->server_nct || !opts->server_takeover;
    pmd->client_no_takeover = o->client_nct || opts->client_no_takeover;
    /* A window smaller than the client's limit is always safe: the client
     * inflates it with the window it has.  A limit of 8 is one zlib cannot
     * compress for (raw deflate starts at 9): the messages then go out
     * uncompressed, which the extension allows. */
    pmd->server_bits = o->has_server_bits && o->server_bits < ours ? o->server_bits : ours;
    /* The window we inflate with: the full 32 KiB unless we ask for less,
     * which only a client that offered client_max_window_bits can be asked
     * (its own value, a promise, may be lower still).  A client's promise
     * alone does not shrink our window: zlib refuses a reference beyond
     * the window only when it crosses what earlier calls produced, so a
     * client breaking it would get a verdict that depends on how reads cut
     * its data.  With the full window every reference is in reach. */
    uint8_t client = 15;
    if (o->has_client_bits && client_want < 15) {
        client = client_want;
        if (o->client_bits && o->client_bits < client)
            client = o->client_bits;
    }
    pmd->client_bits = client;

    static const char head[] = "Sec-WebSocket-Extensions: permessage-deflate";
    memcpy(p, head, sizeof head - 1);
    p += sizeof head - 1;
    if (pmd->server_no_takeover) {
        memcpy(p, "; server_no_context_takeover", 28);
        p += 28;
    }
    if (pmd->client_no_takeover) {
        memcpy(p, "; client_no_context_takeover", 28);
        p += 28;
    }
    if (o->has_server_bits) {
        memcpy(p, "; server_max_window_bits=", 25);
        p = srv__put_uint(p + 25, pmd->server_bits);
    }
    if (client < 15) {
        memcpy(p, "; client_max_window_bits=", 25);
        p = srv__put_uint(p + 25, client);
    }
    memcpy(p, "\r\n", 2);
    return p + 2;
}

/* ---- Handshake ---------------------------------------------------------------- */

static int answer(struct srv__ws_handshake *out, int status, const char *lines)
{
    out->status = status;
    out->headers_len = strlen(lines);
    memcpy(out->headers, lines, out->headers_len);
    return status;
}

/* The first of the server's protocols that a Sec-WebSocket-Protocol line
 * of H offers: its index, -1 when none is offered, -2 when a line is not a
 * list of tokens. */
static int choose_protocol(const struct srv__head *h, const struct srv__ws_options *opts)
{
    int best = -1;
    for (uint32_t i = 0; i < h->nheaders; i++) {
        const struct srv__header *f = &h->headers[i];
        if (!ieq(f->name, f->name_len, "sec-websocket-protocol"))
            continue;
        size_t pos = 0, elen;
        const char *e;
        bool any = false;
        while (list_next(f->value, f->value_len, &pos, &e, &elen)) {
            if (!is_token(e, elen))
                return -2;
            any = true;
            for (unsigned k = 0; k < opts->nprotocols && (best < 0 || (int)k < best); k++) {
                if (strlen(opts->protocols[k]) == elen && memcmp(opts->protocols[k], e, elen) == 0)
                    best = (int)k;
            }
        }
        if (!any)
            return -2;
    }
    return best;
}

int srv__ws_handshake(const struct srv__head *h, const struct srv__ws_options *opts,
                      struct srv__ws_handshake *out)
{
    out->protocol = NULL;
    out->deflate = false;
    memset(&out->pmd, 0, sizeof out->pmd);
    if (h->method != SRV_METHOD_GET)
        return answer(out, 405, "Allow: GET\r\n");

    const char *v = NULL;
    size_t vlen = 0;
    if (h->version_minor < 1 || !has_token(h, "upgrade", "websocket") ||
        !has_token(h, "connection", "upgrade") ||
        field(h, "sec-websocket-version", &v, &vlen) != 1 || vlen != 2 || memcmp(v, "13", 2) != 0)
        return answer(out, 426, "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");

    const char *key = NULL;
    size_t klen = 0;
    if (field(h, "sec-websocket-key", &key, &klen) != 1 || !srv__ws_key_valid(key, klen))
        return answer(out, 400, "");
    int proto = choose_protocol(h, opts);
    if (proto == -2)
        return answer(out, 400, "");

    static const char head[] = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ";
    char *p = out->headers;
    memcpy(p, head, sizeof head - 1);
    p += sizeof head - 1;
    srv__ws_accept_key(key, klen, p);
    p += SRV__WS_ACCEPT_LEN;
    memcpy(p, "\r\n", 2);
    p += 2;
    if (proto >= 0) {
        const char *name = opts->protocols[proto];
        size_t n = strlen(name);
        /* The server's own names: the compiler has checked them. */
        if (n > SRV__WS_PROTOCOL_NAME_MAX)
            abort();
        memcpy(p, "Sec-WebSocket-Protocol: ", 24);
        memcpy(p + 24, name, n);
        memcpy(p + 24 + n, "\r\n", 2);
        p += 24 + n + 2;
        out->protocol = name;
    }

    if (opts->deflate) {
        bool have = false, ok = true;
        struct offer o = {.ok = false};
        for (uint32_t i = 0; i < h->nheaders && ok; i++) {
            const struct srv__header *f = &h->headers[i];
            if (ieq(f->name, f->name_len, "sec-websocket-extensions"))
                ok = scan_extensions(f->value, f->value_len, true, &have, &o);
        }
        if (ok && have) {
            p = agree_deflate(&o, opts, &out->pmd, p);
            out->deflate = true;
        }
    }
    out->headers_len = (size_t)(p - out->headers);
    out->status = 101;
    return 101;
}

/* ---- Unmasking ----------------------------------------------------------------- */

/* The mask as a 64-bit word starting at byte OFF of the key. */
static uint64_t mask_word(const unsigned char mask[4], unsigned off)
{
    unsigned char m[8];
    for (int i = 0; i < 8; i++)
        m[i] = mask[(off + (unsigned)i) & 3];
    uint64_t w;
    memcpy(&w, m, 8);
    return w;
}

/* DST[0..N) = SRC[0..N) ^ the mask from byte OFF of the key (DST may be
 * SRC): 32 bytes per iteration in four word-sized loads and stores, which
 * compilers keep in registers; memory speed on any size that matters. */
static void unmask(unsigned char *dst, const unsigned char *src, size_t n,
                   const unsigned char mask[4], unsigned off)
{
    uint64_t m = mask_word(mask, off);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        uint64_t a, b, c, d;
        memcpy(&a, src + i, 8);
        memcpy(&b, src + i + 8, 8);
        memcpy(&c, src + i + 16, 8);
        memcpy(&d, src + i + 24, 8);
        a ^= m, b ^= m, c ^= m, d ^= m;
        memcpy(dst + i, &a, 8);
        memcpy(dst + i + 8, &b, 8);
        memcpy(dst + i + 16, &c, 8);
        memcpy(dst + i + 24, &d, 8);
    }
    for (; i + 8 <= n; i += 8) {
        uint64_t a;
        memcpy(&a, src + i, 8);
        a ^= m;
        memcpy(dst + i, &a, 8);
    }
    for (; i < n; i++)
        dst[i] = src[i] ^ mask[(off + i) & 3];
}

/* ---- The decoder ----------------------------------------------------------------- */

enum { ST_HEADER, ST_PAYLOAD, ST_CLOSED, ST_FAILED };

#define MESSAGE_DEFAULT (1024u * 1024)
#define MSG_MIN_CAP 256

void srv__ws_decoder_init(struct srv__ws_decoder *d, const struct srv__ws_limits *lim,
                          struct srv__ws_deflate *pmd)
{
    memset(d, 0, sizeof *d);
    d->message_max = lim && lim->message ? lim->message : MESSAGE_DEFAULT;
    d->frame_max = lim && lim->frame ? lim->frame : d->message_max;
    d->pmd = pmd;
}

void srv__ws_decoder_free(struct srv__ws_decoder *d)
{
    free(d->msg);
    d->msg = NULL;
    d->msg_cap = d->msg_len = 0;
}

bool srv__ws_decoder_busy(const struct srv__ws_decoder *d)
{
    return d->msg_op != 0 || d->state == ST_PAYLOAD || d->hlen != 0;
}

void srv__ws_decoder_trim(struct srv__ws_decoder *d)
{
    if (!srv__ws_decoder_busy(d))
        srv__ws_decoder_free(d);
}

/* Room for N more bytes in the message buffer (the message stays within
 * the limit), doubling so a message gathered a read at a time is copied a
 * bounded number of times. */
static void reserve(struct srv__ws_decoder *d, size_t n)
{
    size_t need = d->msg_len + n;
    if (need <= d->msg_cap)
        return;
    size_t cap = d->msg_cap < MSG_MIN_CAP ? MSG_MIN_CAP : d->msg_cap;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    /* Never more than the largest message needs. */
    if (d->message_max < cap && need <= d->message_max)
        cap = (size_t)d->message_max;
    /* One byte more than the capacity: conn.c ends a message with a NUL
     * for the `message` block. */
    d->msg = srv__xrealloc(d->msg, cap + 1);
    d->msg_cap = cap;
}

static ssize_t fail(struct srv__ws_decoder *d, int code)
{
    d->state = ST_FAILED;
    d->error = code;
    return code;
}

/* The rules the first two header bytes decide (RFC 6455 5.2, 5.4, 5.5,
 * 7692 6): 0 or -1002.  Sets the frame's opcode and FIN and the header's
 * length. */
static int check_start(struct srv__ws_decoder *d, unsigned char b0, unsigned char b1)
{
    unsigned op = b0 & 0x0f, len7 = b1 & 0x7f;
    bool fin = b0 & 0x80, rsv1 = b0 & 0x40;
    if (b0 & 0x30)
        return -SRV__WS_PROTOCOL; /* RSV2, RSV3: no extension of ours uses them */
    if (op >= 8) {
        if ((op != SRV__WS_CLOSE && op != SRV__WS_PING && op != SRV__WS_PONG) || !fin ||
            len7 > SRV__WS_CONTROL_MAX || rsv1)
            return -SRV__WS_PROTOCOL;
    } else if (op == SRV__WS_CONT) {
        if (!d->msg_op || rsv1)
            return -SRV__WS_PROTOCOL;
    } else {
        /* RSV1 marks a compressed message on its first frame only. */
        if (op > SRV__WS_BINARY || d->msg_op || (rsv1 && !d->pmd))
            return -SRV__WS_PROTOCOL;
        d->compressed = rsv1; /* the message's, kept for its continuations */
    }
    if (!(b1 & 0x80))
        return -SRV__WS_PROTOCOL; /* a client frame must be masked (5.1) */
    d->op = (uint8_t)op;
    d->fin = fin;
    d->hneed = (uint8_t)(2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4);
    return 0;
}

/* The most wire bytes N bytes of a message may take: N, or when
 * COMPRESSED what deflate may make of N incompressible bytes. */
static uint64_t deflate_bound(uint64_t n, bool compressed)
{
    if (!compressed)
        return n;
    return n > UINT64_MAX / 2 ? UINT64_MAX : n + (n >> 3) + (n >> 6) + 64;
}

/* The rules the length decides, once its bytes in H are all there: 0,
 * -1002 (not the shortest form, top bit set) or -1009. */
static int check_length(struct srv__ws_decoder *d, const unsigned char *h)
{
    unsigned len7 = h[1] & 0x7f;
    uint64_t len = len7;
    if (len7 == 126) {
        len = (uint64_t)h[2] << 8 | h[3];
        if (len < 126)
            return -SRV__WS_PROTOCOL;
    } else if (len7 == 127) {
        len = 0;
        for (int i = 2; i < 10; i++)
            len = len << 8 | h[i];
        if (len >> 63 || len <= 0xffff)
            return -SRV__WS_PROTOCOL;
    }
    if (d->op < 8) {
        uint64_t before = d->op == SRV__WS_CONT ? d->wire : 0;
        /* A compressed message's wire bytes are bounded by the limits too,
         * with room for what deflate adds to incompressible data, so that
         * it still passes just under them.  That is 5 bytes a stored
         * block, and zlib's blocks are as small as its memLevel makes them:
         * python3-websockets (memLevel 5) sends 64 KiB of random bytes as
         * 65,698, past the 65,664 an allowance of 5 bytes per 64 KiB gave,
         * and past the frame limit, which had no allowance (1009 for a
         * message within the limits).  The allowance is zlib's bound for
         * any memLevel (deflateBound without its parameters). */
        uint64_t wire_max = deflate_bound(d->message_max, d->compressed);
        uint64_t frame_max = deflate_bound(d->frame_max, d->compressed);
        if (len > frame_max || len > wire_max - before)
            return -SRV__WS_TOO_BIG;
    }
    d->remaining = len;
    return 0;
}

/* Gathers the header from *PP: 1 when it is complete (*PP after it), 0
 * when every byte up to END was taken and more are needed, or -CODE. */
static int read_header(struct srv__ws_decoder *d, const unsigned char **pp,
                       const unsigned char *end)
{
    const unsigned char *p = *pp;
    int r;
    if (d->hlen == 0 && end - p >= 2) {
        /* The usual case: the whole header is here; read it in place. */
        unsigned len7 = p[1] & 0x7f;
        long need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
        if (end - p >= need) {
            if ((r = check_start(d, p[0], p[1])) < 0 || (r = check_length(d, p)) < 0)
                return r;
            memcpy(d->mask, p + need - 4, 4);
            *pp = p + need;
            return 1;
        }
    }
    while (p < end) {
        d->hdr[d->hlen++] = *p++;
        if (d->hlen == 2) {
            if ((r = check_start(d, d->hdr[0], d->hdr[1])) < 0)
                return r;
        }
        if (d->hlen >= 2 && d->hlen == d->hneed - 4) {
            if ((r = check_length(d, d->hdr)) < 0)
                return r;
        }
        if (d->hlen >= 2 && d->hlen == d->hneed) {
            memcpy(d->mask, d->hdr + d->hneed - 4, 4);
            d->hlen = 0;
            *pp = p;
            return 1;
        }
    }
    *pp = p;
    return 0;
}

/* The next N payload bytes of a control frame, at P (already unmasked).  A
 * close frame's code is checked at its second byte, its reason as UTF-8
 * byte by byte. */
static int control_bytes(struct srv__ws_decoder *d, const char *p, size_t n)
{
    size_t at = d->ctl_len;
    memcpy(d->ctl + at, p, n);
    d->ctl_len = (uint8_t)(at + n);
    if (d->op != SRV__WS_CLOSE)
        return 0;
    if (at < 2 && d->ctl_len >= 2) {
        unsigned code = (unsigned char)d->ctl[0] << 8 | (unsigned char)d->ctl[1];
        if (!srv__ws_close_code_valid(code))
            return -SRV__WS_PROTOCOL;
    }
    if (d->ctl_len > 2) {
        size_t from = at < 2 ? 2 : at;
        if (!srv__utf8_check(&d->ctl_utf8, d->ctl + from, d->ctl_len - from))
            return -SRV__WS_INVALID_DATA;
    }
    return 0;
}

/* Whether the message's bytes from BEFORE on continue valid UTF-8, for a
 * text message (anything else is not checked). */
static bool text_ok(struct srv__ws_decoder *d, size_t before)
{
    if (d->msg_op != SRV__WS_TEXT || d->msg_len == before)
        return true;
    return srv__utf8_check(&d->utf8, d->msg + before, d->msg_len - before);
}

/* The next N payload bytes of a data frame, at P (still masked). */
static int data_bytes(struct srv__ws_decoder *d, unsigned char *p, size_t n)
{
    size_t before = d->msg_len;
    if (d->compressed) {
        unmask(p, p, n, d->mask, d->mask_off);
        int r = srv__ws_inflate(d, (const char *)p, n, false);
        /* What came out before any error is checked first, so the answer
         * does not depend on how the input was cut. */
        return text_ok(d, before) ? r : -SRV__WS_INVALID_DATA;
    }
    /* Grown by what arrives, not by what a header announces: a client
     * cannot make us hold a buffer of the limit's size for 14 bytes. */
    reserve(d, n);
    unmask((unsigned char *)d->msg + before, p, n, d->mask, d->mask_off);
    d->msg_len += n;
    if (d->msg_op == SRV__WS_TEXT && !srv__utf8_check(&d->utf8, d->msg + before, n))
        return -SRV__WS_INVALID_DATA;
    return 0;
}

/* The current frame has been read whole: the event it completes, if any. */
static int frame_end(struct srv__ws_decoder *d, struct srv__ws_event *ev)
{
    d->state = ST_HEADER;
    if (d->op >= 8) {
        ev->opcode = d->op;
        ev->data = d->ctl;
        ev->len = d->ctl_len;
        if (d->op == SRV__WS_CLOSE) {
            if (d->ctl_len == 1)
                return -SRV__WS_PROTOCOL;
            if (d->ctl_utf8 != 0)
                return -SRV__WS_INVALID_DATA;
            if (d->ctl_len >= 2) {
                ev->code = (uint16_t)((unsigned char)d->ctl[0] << 8 | (unsigned char)d->ctl[1]);
                ev->data = d->ctl + 2;
                ev->len = d->ctl_len - 2u;
            }
            d->state = ST_CLOSED;
        }
        return 0;
    }
    if (!d->fin)
        return 0;
    if (d->compressed) {
        size_t before = d->msg_len;
        int r = srv__ws_inflate(d, NULL, 0, true);
        if (!text_ok(d, before))
            return -SRV__WS_INVALID_DATA;
        if (r < 0)
            return r;
    }
    if (d->msg_op == SRV__WS_TEXT && d->utf8 != 0)
        return -SRV__WS_INVALID_DATA; /* ends inside a character */
    ev->opcode = d->msg_op;
    ev->data = d->msg ? d->msg : "";
    ev->len = d->msg_len;
    d->msg_op = 0;
    return 0;
}

/* A frame's header has been read: sets up for its payload. */
static void frame_begin(struct srv__ws_decoder *d)
{
    d->mask_off = 0;
    if (d->op >= 8) {
        d->ctl_len = 0;
        d->ctl_utf8 = 0;
        return;
    }
    if (d->op != SRV__WS_CONT) {
        d->msg_op = d->op;
        d->wire = 0;
        d->msg_len = 0;
        d->utf8 = 0;
    }
    d->wire += d->remaining;
}

ssize_t srv__ws_decode(struct srv__ws_decoder *d, char *buf, size_t len,
                       struct srv__ws_event *ev)
{
    ev->opcode = 0;
    ev->data = NULL;
    ev->len = 0;
    ev->code = 0;
    if (d->state == ST_FAILED)
        return d->error;
    if (d->state == ST_CLOSED)
        return (ssize_t)len;
    if (len > SSIZE_MAX)
        len = SSIZE_MAX;
    unsigned char *start = (unsigned char *)buf, *p = start, *end = p + len;
    int r;
    for (;;) {
        if (d->state == ST_HEADER) {
            if (p == end)
                return (ssize_t)len;
            r = read_header(d, (const unsigned char **)&p, end);
            if (r < 0)
                return fail(d, r);
            if (r == 0)
                return (ssize_t)len;
            if (d->op == SRV__WS_TEXT || d->op == SRV__WS_BINARY) {
                if (d->fin && !d->compressed && d->remaining <= (uint64_t)(end - p)) {
                    /* A whole message in the caller's buffer: delivered
                     * where it lies. */
                    size_t n = (size_t)d->remaining;
                    unmask(p, p, n, d->mask, 0);
                    if (d->op == SRV__WS_TEXT) {
                        uint32_t st = 0;
                        if (!srv__utf8_check(&st, (const char *)p, n) || st != 0)
                            return fail(d, -SRV__WS_INVALID_DATA);
                    }
                    ev->opcode = d->op;
                    ev->data = (const char *)p;
                    ev->len = n;
                    return p + n - start;
                }
            }
            frame_begin(d);
            d->state = ST_PAYLOAD;
        }
        /* ST_PAYLOAD */
        size_t n = (size_t)(d->remaining < (uint64_t)(end - p) ? d->remaining : (uint64_t)(end - p));
        if (n) {
            if (d->op >= 8) {
                unmask(p, p, n, d->mask, d->mask_off);
                r = control_bytes(d, (const char *)p, n);
            } else {
                r = data_bytes(d, p, n);
            }
            if (r < 0)
                return fail(d, r);
            d->mask_off = (uint8_t)((d->mask_off + n) & 3);
            d->remaining -= n;
            p += n;
        }
        if (d->remaining)
            return (ssize_t)len;
        if ((r = frame_end(d, ev)) < 0)
            return fail(d, r);
        if (ev->opcode)
            return d->state == ST_CLOSED ? (ssize_t)len : p - start;
    }
}

/* ---- The encoder ------------------------------------------------------------------ */

size_t srv__ws_frame_header(char *out, unsigned opcode, bool compressed, uint64_t len)
{
    unsigned char *h = (unsigned char *)out;
    h[0] = (unsigned char)(0x80 | (compressed ? 0x40 : 0) | (opcode & 0x0f));
    if (len < 126) {
        h[1] = (unsigned char)len;
        return 2;
    }
    if (len <= 0xffff) {
        h[1] = 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        return 4;
    }
    h[1] = 127;
    for (int i = 0; i < 8; i++)
        h[2 + i] = (unsigned char)(len >> (56 - 8 * i));
    return 10;
}

size_t srv__ws_close_frame(char *out, unsigned code, const char *reason, size_t len)
{
    if (code == 0)
        return srv__ws_frame_header(out, SRV__WS_CLOSE, false, 0);
    size_t n = len < SRV__WS_CONTROL_MAX - 2 ? len : SRV__WS_CONTROL_MAX - 2;
    /* Cut before a continuation byte, so a valid reason stays valid. */
    if (n < len) {
        while (n > 0 && ((unsigned char)reason[n] & 0xc0) == 0x80)
            n--;
    }
    size_t h = srv__ws_frame_header(out, SRV__WS_CLOSE, false, 2 + n);
    out[h] = (char)(code >> 8);
    out[h + 1] = (char)code;
    if (n)
        memcpy(out + h + 2, reason, n);
    return h + 2 + n;
}
