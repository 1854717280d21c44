/*
 * ws_deflate.c - permessage-deflate (RFC 7692) with zlib: the inflating of
 * the compressed messages a client sends, for ws.c's decoder, and the
 * compressing of the messages the server sends, for conn.c.  L1, beside
 * ws.c; no I/O.  ws.c negotiates the parameters in the handshake; this
 * file holds the zlib state they call for.
 *
 * A message is raw DEFLATE data ending in an empty stored block whose
 * last four bytes (00 00 ff ff) are left off on the wire (7.2.1).  To
 * inflate, the tail is put back and the data inflated with Z_SYNC_FLUSH;
 * to compress, a message is deflated with Z_SYNC_FLUSH and the tail cut.
 *
 * Memory: zlib's state is large (inflate ~7 KiB + its window; deflate
 * 2^(bits+2) + 2^(mem_level+9) bytes + ~6 KiB: 262 KiB at the defaults), so
 * nothing is made before it is needed: a connection that negotiated the
 * extension but never sends a compressed message never has an inflate
 * state.  Without server context takeover (our default: we ask for
 * server_no_context_takeover in every response), a message's compression
 * starts from nothing, so one compressor per window size serves every
 * connection of the worker, reset before each message: compression costs
 * a connection no memory at all.
 *
 * A zip bomb is stopped by the output: inflating writes into the decoder's
 * message buffer, which is never allowed past the message limit plus one
 * byte, and the moment the output fills it the message fails with 1009.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define LEVEL Z_DEFAULT_COMPRESSION
#define OUT_MIN 1024

/* A compressor and the buffer it writes a message into. */
struct compressor {
    z_stream z;
    bool ready;
    char *out;
    size_t cap;
};

struct srv__ws_deflate {
    struct srv__ws_pmd pmd;
    uint32_t compress_min;
    uint8_t mem_level;
    bool inflating;         /* INF has been initialised */
    z_stream inf;
    struct compressor *own; /* with server context takeover, once used */
};

/* The worker's compressors for connections without server context
 * takeover, one per window size (9 to 15 bits), made when first used. */
static struct compressor *shared[16];

static const unsigned char tail[4] = {0x00, 0x00, 0xff, 0xff};

struct srv__ws_deflate *srv__ws_deflate_new(const struct srv__ws_pmd *pmd,
                                            const struct srv__ws_options *opts)
{
    struct srv__ws_deflate *z = srv__xcalloc(1, sizeof *z);
    z->pmd = *pmd;
    z->compress_min = opts && opts->compress_min ? opts->compress_min : 64;
    z->mem_level = opts && opts->mem_level >= 1 && opts->mem_level <= 9 ? opts->mem_level : 8;
    return z;
}

static void compressor_free(struct compressor *c)
{
    if (!c)
        return;
    if (c->ready)
        deflateEnd(&c->z);
    free(c->out);
    free(c);
}

void srv__ws_deflate_free(struct srv__ws_deflate *z)
{
    if (!z)
        return;
    if (z->inflating)
        inflateEnd(&z->inf);
    compressor_free(z->own);
    free(z);
}

void srv__ws_deflate_shutdown(void)
{
    for (unsigned i = 0; i < sizeof shared / sizeof shared[0]; i++) {
        compressor_free(shared[i]);
        shared[i] = NULL;
    }
}

/* ---- Compressing --------------------------------------------------------------- */

/* The compressor for Z's next message, made on first use; NULL when zlib
 * has no memory for it. */
static struct compressor *compressor(struct srv__ws_deflate *z)
{
    bool own = !z->pmd.server_no_takeover;
    struct compressor **slot = own ? &z->own : &shared[z->pmd.server_bits];
    struct compressor *c = *slot;
    if (!c) {
        c = *slot = srv__xcalloc(1, sizeof *c);
        int level = own ? z->mem_level : 8;
        if (deflateInit2(&c->z, LEVEL, Z_DEFLATED, -(int)z->pmd.server_bits, level,
                         Z_DEFAULT_STRATEGY) != Z_OK) {
            free(c);
            *slot = NULL;
            return NULL;
        }
        c->ready = true;
    } else if (!own) {
        deflateReset(&c->z);
    }
    return c;
}

/* A compressor in an unknown state (zlib failed): never used again. */
static int broken(struct srv__ws_deflate *z, struct compressor *c)
{
    if (c == z->own) {
        z->own = NULL;
    } else {
        shared[z->pmd.server_bits] = NULL;
    }
    compressor_free(c);
    return -SRV__WS_INTERNAL;
}

int srv__ws_deflate_message(struct srv__ws_deflate *z, const char *p, size_t len,
                            const char **out, size_t *out_len)
{
    /* zlib's raw deflate has no 8-bit window; a client that allows no more
     * gets every message uncompressed. */
    if (len < z->compress_min || z->pmd.server_bits < 9 || len > UINT32_MAX)
        return 0;
    struct compressor *c = compressor(z);
    if (!c)
        return -SRV__WS_INTERNAL;
    /* deflateBound is for Z_FINISH; a sync flush adds an empty stored
     * block (5 bytes) and at most a byte to finish the last one.  The loop
     * grows the buffer should that ever not be enough. */
    size_t need = deflateBound(&c->z, (uLong)len) + 16;
    if (need > c->cap) {
        size_t cap = c->cap ? c->cap : OUT_MIN;
        while (cap < need)
            cap *= 2;
        free(c->out);
        c->out = srv__xmalloc(cap);
        c->cap = cap;
    }
    c->z.next_in = (Bytef *)(uintptr_t)p;
    c->z.avail_in = (uInt)len;
    size_t n = 0;
    for (;;) {
        size_t room = c->cap - n;
        uInt avail = room < UINT32_MAX ? (uInt)room : UINT32_MAX;
        c->z.next_out = (Bytef *)c->out + n;
        c->z.avail_out = avail;
        int r = deflate(&c->z, Z_SYNC_FLUSH);
        n += avail - c->z.avail_out;
        if (r != Z_OK && r != Z_BUF_ERROR)
            return broken(z, c);
        if (c->z.avail_in == 0 && c->z.avail_out != 0)
            break;
        c->out = srv__xrealloc(c->out, c->cap * 2);
        c->cap *= 2;
    }
    if (n < 4 || memcmp(c->out + n - 4, tail, 4) != 0)
        return broken(z, c);
    n -= 4;
    /* Without context takeover nothing depends on this message having been
     * compressed, so it may go as it is when that is no longer. */
    if (z->pmd.server_no_takeover && n >= len)
        return 0;
    *out = c->out;
    *out_len = n;
    return 1;
}

/* ---- Inflating ----------------------------------------------------------------- */

/* Restarts the inflate stream after the client ended one with a final
 * block (BFINAL), which 7.2.3.4 allows.  What was inflated so far stays in
 * the window as a preset dictionary: the rest of the message, and with
 * context takeover the next ones, may refer to it (without takeover the
 * message's end resets the stream anyway). */
static int restart(struct srv__ws_deflate *z)
{
    static unsigned char window[1u << 15];
    uInt n = 0;
    if (inflateGetDictionary(&z->inf, window, &n) != Z_OK || inflateReset(&z->inf) != Z_OK)
        return -SRV__WS_INTERNAL;
    if (n && inflateSetDictionary(&z->inf, window, n) != Z_OK)
        return -SRV__WS_INTERNAL;
    return 0;
}

int srv__ws_inflate(struct srv__ws_decoder *d, const char *in, size_t n, bool end)
{
    struct srv__ws_deflate *z = d->pmd;
    if (!z->inflating) {
        /* zlib inflates a window of 2^bits with any window at least as
         * large; 9 bits is the least some clients' zlib will use even
         * when told 8. */
        int bits = z->pmd.client_bits < 9 ? 9 : z->pmd.client_bits;
        memset(&z->inf, 0, sizeof z->inf);
        if (inflateInit2(&z->inf, -bits) != Z_OK)
            return -SRV__WS_INTERNAL;
        z->inflating = true;
    }
    if (end) {
        in = (const char *)tail;
        n = sizeof tail;
    }
    /* The output never goes past the limit by more than one byte. */
    size_t out_max = d->message_max < SIZE_MAX - 1 ? (size_t)d->message_max + 1 : SIZE_MAX;
    z->inf.next_in = (Bytef *)(uintptr_t)in;
    for (;;) {
        uInt chunk = n < UINT32_MAX ? (uInt)n : UINT32_MAX;
        z->inf.avail_in = chunk;
        if (d->msg_len == d->msg_cap) {
            if (d->msg_cap >= out_max)
                return -SRV__WS_TOO_BIG;
            size_t cap = d->msg_cap < 4096 ? 4096 : d->msg_cap * 2;
            if (cap > out_max || cap < d->msg_cap)
                cap = out_max;
            d->msg = srv__xrealloc(d->msg, cap);
            d->msg_cap = cap;
        }
        size_t room = d->msg_cap - d->msg_len;
        uInt avail = room < UINT32_MAX ? (uInt)room : UINT32_MAX;
        z->inf.next_out = (Bytef *)d->msg + d->msg_len;
        z->inf.avail_out = avail;
        int r = inflate(&z->inf, Z_SYNC_FLUSH);
        n -= chunk - z->inf.avail_in;
        d->msg_len += avail - z->inf.avail_out;
        if (d->msg_len > d->message_max)
            return -SRV__WS_TOO_BIG;
        if (r == Z_STREAM_END) {
            int e = restart(z);
            if (e < 0)
                return e;
            if (n == 0)
                break;
            continue;
        }
        if (r == Z_DATA_ERROR || r == Z_NEED_DICT || r == Z_STREAM_ERROR)
            return -SRV__WS_INVALID_DATA;
        if (r == Z_MEM_ERROR)
            return -SRV__WS_INTERNAL;
        /* Z_OK or Z_BUF_ERROR: done when the input is used up and zlib
         * stopped with room to spare (nothing left inside it to flush);
         * Z_BUF_ERROR with room to spare means it can make no progress. */
        if ((n == 0 || r == Z_BUF_ERROR) && z->inf.avail_out != 0)
            break;
    }
    if (end && z->pmd.client_no_takeover)
        inflateReset(&z->inf);
    return 0;
}
