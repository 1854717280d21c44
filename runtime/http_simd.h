/*
 * http_simd.h - the byte scanners under the field-line fast path of
 * grammar/http.re, and the only machine-specific code in the parser.  Each
 * finds the first byte of a class in [P, END), or returns END:
 *
 *   token_end  the first byte that is not a tchar (RFC 9110 5.6.2): where a
 *              field name ends, normally at its ':'
 *   value_end  the first byte below 0x20 or equal to 0x7f: where a field
 *              value's run of VCHAR, obs-text and SP ends (at HTAB, CR, or
 *              an error)
 *   line_bits  (AVX2 only) both classes as bit masks, for the block of a
 *              field line: one load for its name and usually its value
 *   span       the first byte not in a class of ASCII bytes (path, Host)
 *
 * There are two versions with the same answers for every input: a portable
 * one, and an AVX2 one (32 bytes per step) on x86-64 with GCC or clang,
 * which http.re uses when the CPU has it (srv__simd_avx2()).  On other
 * machines the srv__avx2_* names are the portable code, so callers need no
 * #if.  tests/runtime/test_http_parse.c runs both on every byte value at
 * every position.
 *
 * Reads: only [P, END), except that the AVX2 versions read whole 32-byte
 * blocks: near END they read the buffer's last 32 bytes again (bytes before
 * P) rather than go byte by byte, so they need a buffer of at least 32 bytes
 * before END.  They also take the constants they work with, built once by
 * the caller (srv__simd_init()).
 */
#ifndef SRV_HTTP_SIMD_H
#define SRV_HTTP_SIMD_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* ---- Portable ------------------------------------------------------------ */

/* tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" /
 *         "_" / "`" / "|" / "~" / DIGIT / ALPHA */
static const unsigned char srv__tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
    ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1,  ['|'] = 1,
    ['~'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,  ['5'] = 1,
    ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['A'] = 1, ['B'] = 1,  ['C'] = 1,
    ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1,  ['J'] = 1,
    ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,  ['Q'] = 1,
    ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1,  ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1,  ['e'] = 1,
    ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1,  ['l'] = 1,
    ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,  ['s'] = 1,
    ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1,  ['z'] = 1,
};

/* Names are short: a table lookup per byte. */
static inline const unsigned char *srv__token_end(const unsigned char *p, const unsigned char *end)
{
    while (p < end && srv__tchar[*p])
        p++;
    return p;
}

/* Eight bytes at a time (SWAR).  In a hasless(x, 0x20) test, false
 * positives only ever appear above a true one, so the lowest flagged byte is
 * exact. */
static inline const unsigned char *srv__value_end(const unsigned char *p, const unsigned char *end)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    while (end - p >= 8) {
        uint64_t x, del;
        memcpy(&x, p, 8);
        del = x ^ (0x7f * ones);
        uint64_t stop = (((x - 0x20 * ones) & ~x) | ((del - ones) & ~del)) & highs;
        if (stop)
            return p + (__builtin_ctzll(stop) >> 3);
        p += 8;
    }
#endif
    while (p < end && *p >= 0x20 && *p != 0x7f)
        p++;
    return p;
}

/* Classes of ASCII bytes, as 16 rows of 8 bits (the AVX2 scanners look them
 * up by nibbles): bit H of row L is set when the byte 16*H + L is in the
 * class; bytes from 0x80 never are.  TCHAR: field names (as srv__tchar);
 * PATH: the bytes a path may hold literally, but '.', which the grammar
 * looks at (RFC 3986 pchar without pct-encoded, and '/'); REG_NAME: those
 * of a Host reg-name (unreserved / sub-delims). */
enum srv__class { SRV__CLASS_TCHAR, SRV__CLASS_PATH, SRV__CLASS_REG_NAME };
static const uint8_t srv__class_rows[3][16] = {
    {0xe8, 0xfc, 0xf8, 0xfc, 0xfc, 0xfc, 0xfc, 0xfc, 0xf8, 0xf8, 0xf4, 0x54, 0xd0, 0x54, 0xf4, 0x70},
    {0xb8, 0xfc, 0xf8, 0xf8, 0xfc, 0xf8, 0xfc, 0xfc, 0xfc, 0xfc, 0xfc, 0x5c, 0x54, 0x5c, 0xd0, 0x74},
    {0xa8, 0xfc, 0xf8, 0xf8, 0xfc, 0xf8, 0xfc, 0xfc, 0xfc, 0xfc, 0xf4, 0x5c, 0x54, 0x5c, 0xd4, 0x70},
};

static inline const unsigned char *srv__span(enum srv__class c, const unsigned char *p,
                                             const unsigned char *end)
{
    while (p < end && *p < 0x80 && (srv__class_rows[c][*p & 15] >> (*p >> 4) & 1))
        p++;
    return p;
}

/* ---- AVX2 ------------------------------------------------------------------ */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

/* AVX2, and BMI1 for tzcnt (every CPU with AVX2 has it, but it is a flag
 * of its own, so it is checked too). */
#define SRV__AVX2 __attribute__((target("avx2,bmi")))

/* Whether this CPU (and OS) runs AVX2 code. */
static inline bool srv__simd_avx2(void)
{
    __builtin_cpu_init(); /* may run before libgcc's own constructor */
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi");
}

/* The constants, built once by a caller (fields_avx2() in http.re, once per
 * head) and passed to every scanner, so that a loop over lines does not
 * build them again for each line.  ROWS is the tchar class (see
 * srv__class_rows); BITS maps a high nibble H to bit H, and to 0 from 8
 * on, so bytes from 0x80 are in no class. */
struct srv__simd {
    __m256i rows, bits, nibble, ctl_max, del;
};

static inline SRV__AVX2 __m256i srv__avx2_rows(enum srv__class c)
{
    return _mm256_broadcastsi128_si256(
        _mm_loadu_si128((const __m128i *)(const void *)srv__class_rows[c]));
}

static inline SRV__AVX2 __m256i srv__avx2_bits(void)
{
    return _mm256_setr_epi8(1, 2, 4, 8, 16, 32, 64, (char)128, 0, 0, 0, 0, 0, 0, 0, 0,
                            1, 2, 4, 8, 16, 32, 64, (char)128, 0, 0, 0, 0, 0, 0, 0, 0);
}

static inline SRV__AVX2 void srv__simd_init(struct srv__simd *k)
{
    k->rows = srv__avx2_rows(SRV__CLASS_TCHAR);
    k->bits = srv__avx2_bits();
    k->nibble = _mm256_set1_epi8(0x0f);
    k->ctl_max = _mm256_set1_epi8(0x1f);
    k->del = _mm256_set1_epi8(0x7f);
    /* Opaque to the compiler from here on: otherwise it may build them again
     * in a loop (as constants, they look cheaper to rebuild than to keep). */
    __asm__("" : "+x"(k->rows), "+x"(k->bits), "+x"(k->nibble), "+x"(k->ctl_max), "+x"(k->del));
}

static inline SRV__AVX2 __m256i srv__avx2_load(const unsigned char *p)
{
    return _mm256_loadu_si256((const __m256i *)(const void *)p);
}

/* One bit per byte of V: set for the bytes that are not in the class of
 * ROWS. */
static inline SRV__AVX2 uint32_t srv__avx2_not_in(const struct srv__simd *k, __m256i class_rows,
                                                  __m256i v)
{
    __m256i rows = _mm256_shuffle_epi8(class_rows, _mm256_and_si256(v, k->nibble));
    __m256i bits = _mm256_shuffle_epi8(k->bits, _mm256_and_si256(_mm256_srli_epi16(v, 4), k->nibble));
    __m256i miss = _mm256_cmpeq_epi8(_mm256_and_si256(rows, bits), _mm256_setzero_si256());
    return (uint32_t)_mm256_movemask_epi8(miss);
}

/* One bit per byte of V: set for the bytes below 0x20 (min(x, 0x1f) == x)
 * and for 0x7f. */
static inline SRV__AVX2 uint32_t srv__avx2_ctl(const struct srv__simd *k, __m256i v)
{
    __m256i low = _mm256_cmpeq_epi8(_mm256_min_epu8(v, k->ctl_max), v);
    __m256i del = _mm256_cmpeq_epi8(v, k->del);
    return (uint32_t)_mm256_movemask_epi8(_mm256_or_si256(low, del));
}

/* The AVX2 scanners need a buffer of at least 32 bytes before END (so that
 * END - 32 is in it).  Each reads whole blocks from P, then the buffer's
 * last block with the bits of the bytes before P shifted out. */
static inline SRV__AVX2 const unsigned char *
srv__avx2_token_end(const struct srv__simd *k, const unsigned char *p, const unsigned char *end)
{
    for (const unsigned char *last = end - 32; p <= last; p += 32) {
        uint32_t m = srv__avx2_not_in(k, k->rows, srv__avx2_load(p));
        if (m)
            return p + (unsigned)__builtin_ctz(m);
    }
    if (p == end)
        return end;
    uint32_t m = srv__avx2_not_in(k, k->rows, srv__avx2_load(end - 32)) >> (32 - (end - p));
    return m ? p + (unsigned)__builtin_ctz(m) : end;
}

static inline SRV__AVX2 const unsigned char *
srv__avx2_value_end(const struct srv__simd *k, const unsigned char *p, const unsigned char *end)
{
    for (const unsigned char *last = end - 32; p <= last; p += 32) {
        uint32_t m = srv__avx2_ctl(k, srv__avx2_load(p));
        if (m)
            return p + (unsigned)__builtin_ctz(m);
    }
    if (p == end)
        return end;
    uint32_t m = srv__avx2_ctl(k, srv__avx2_load(end - 32)) >> (32 - (end - p));
    return m ? p + (unsigned)__builtin_ctz(m) : end;
}

/* For a field line at P: one bit per byte from P in *NAME for the bytes that
 * are not tchars, in *STOP for the control bytes (value_end()'s class).
 * srv__avx2_line_bits() reads the 32 bytes from P (P + 32 <= END);
 * srv__avx2_last_bits() the bytes from P to END, 1 to 31 of them (bits past
 * END are 0). */
static inline SRV__AVX2 void srv__avx2_line_bits(const struct srv__simd *k, const unsigned char *p,
                                                 uint64_t *name, uint64_t *stop)
{
    __m256i v = srv__avx2_load(p);
    *name = srv__avx2_not_in(k, k->rows, v);
    *stop = srv__avx2_ctl(k, v);
}

static inline SRV__AVX2 void srv__avx2_last_bits(const struct srv__simd *k, const unsigned char *p,
                                                 const unsigned char *end, uint64_t *name,
                                                 uint64_t *stop)
{
    unsigned shift = 32 - (unsigned)(end - p);
    __m256i v = srv__avx2_load(end - 32);
    *name = srv__avx2_not_in(k, k->rows, v) >> shift;
    *stop = srv__avx2_ctl(k, v) >> shift;
}

/* The index of the lowest set bit of X, 64 when X is 0 (tzcnt), as a
 * size_t from the start: __builtin_ctzll's int would cost a sign extension
 * at every use. */
static inline SRV__AVX2 size_t srv__ctz(uint64_t x)
{
    return (size_t)_tzcnt_u64(x);
}

/* srv__span(), with a buffer of any length before END (LO is its start). */
static inline SRV__AVX2 const unsigned char *
srv__avx2_span(const struct srv__simd *k, enum srv__class c, const unsigned char *p,
               const unsigned char *end, const unsigned char *lo)
{
    if (end - lo < 32)
        return srv__span(c, p, end);
    __m256i rows = srv__avx2_rows(c);
    for (const unsigned char *last = end - 32; p <= last; p += 32) {
        uint32_t m = srv__avx2_not_in(k, rows, srv__avx2_load(p));
        if (m)
            return p + (unsigned)__builtin_ctz(m);
    }
    if (p == end)
        return end;
    uint32_t m = srv__avx2_not_in(k, rows, srv__avx2_load(end - 32)) >> (32 - (end - p));
    return m ? p + (unsigned)__builtin_ctz(m) : end;
}

#else /* no AVX2 code for this machine or compiler: the portable scanners */

#define SRV__AVX2

static inline bool srv__simd_avx2(void)
{
    return false;
}

struct srv__simd {
    char none;
};

static inline void srv__simd_init(struct srv__simd *k)
{
    k->none = 0;
}

static inline const unsigned char *
srv__avx2_token_end(const struct srv__simd *k, const unsigned char *p, const unsigned char *end)
{
    (void)k;
    return srv__token_end(p, end);
}

static inline const unsigned char *
srv__avx2_value_end(const struct srv__simd *k, const unsigned char *p, const unsigned char *end)
{
    (void)k;
    return srv__value_end(p, end);
}

static inline void srv__avx2_last_bits(const struct srv__simd *k, const unsigned char *p,
                                       const unsigned char *end, uint64_t *name, uint64_t *stop)
{
    (void)k;
    *name = *stop = 0;
    for (unsigned i = 0; i < 32 && p < end; i++, p++) {
        *name |= (uint64_t)!srv__tchar[*p] << i;
        *stop |= (uint64_t)(*p < 0x20 || *p == 0x7f) << i;
    }
}

static inline void srv__avx2_line_bits(const struct srv__simd *k, const unsigned char *p,
                                       uint64_t *name, uint64_t *stop)
{
    srv__avx2_last_bits(k, p, p + 32, name, stop);
}

static inline size_t srv__ctz(uint64_t x)
{
    return x ? (size_t)(unsigned)__builtin_ctzll(x) : 64;
}

static inline const unsigned char *srv__avx2_span(const struct srv__simd *k, enum srv__class c,
                                                  const unsigned char *p,
                                                  const unsigned char *end,
                                                  const unsigned char *lo)
{
    (void)k;
    (void)lo;
    return srv__span(c, p, end);
}

#endif

#endif /* SRV_HTTP_SIMD_H */
