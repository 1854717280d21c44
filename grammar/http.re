/*
 * http.re - the HTTP/1.1 request grammar (RFC 9112 sections 2-3 and 5, RFC
 * 9110 field syntax, RFC 3986 for the request-target and Host), as re2c
 * rules.  runtime/http_parse.c calls these scanners and gives the pieces
 * their meaning; see runtime/http_scan.h for the interface.  Scanners only
 * read: they never write into the buffer.
 *
 * Policies chosen where RFC 9112 lets a server choose:
 * - Line endings are CRLF only.  A bare LF (allowed by RFC 9112 2.2 as a
 *   "MAY") is rejected with 400, as is a bare CR (a "MUST").  Lenient line
 *   ending handling is a classic smuggling ingredient when a proxy in front
 *   of us reads lines differently.
 * - Empty lines (CRLF) before the request line are skipped (RFC 9112 2.2
 *   "SHOULD ignore"); they count towards the request-line limit.
 * - The path follows RFC 3986 strictly (pchar), with valid percent-escapes
 *   only and never %00.  The query is passed on raw and allows any visible
 *   ASCII character except '#', since browsers send '{', '|', '^' etc. there
 *   unescaped.
 * - Absolute-form accepts the http and https schemes only, without
 *   userinfo (RFC 9110 4.2.4: userinfo is an error).
 * - Host must be a non-empty uri-host [":" port] (RFC 9110 4.2.1 forbids an
 *   empty host in an http URI).
 * - HTTP/1.2 to 1.9 are read as HTTP/1.1 (RFC 9110 2.5: a recipient SHOULD
 *   process a higher minor version as the highest it implements); other
 *   well-formed versions are unsupported (505).
 *
 * End of input: the head scanner reads with no bounds checks, since no
 * rule reads past an LF; before its rules read a line it makes sure the
 * line's LF has arrived.  When the bytes end with an LF (whole requests,
 * the usual case) that is all it needs to know; otherwise it looks for LFs
 * a window at a time (the last LF in the next 512 bytes, so one search
 * usually covers the whole head).  It looks only within the limits: the
 * request line must end within the request-line limit, the field lines
 * within the header-bytes limit.  A line whose LF has not arrived is
 * unfinished: "incomplete", or 414/431 when the limit is what cut it off,
 * unless its bytes can never become a valid line: then 400 at once (the
 * prefix check at the end of this file, which a caller can also resume
 * byte by byte as more arrives).  The windows keep the cost of a head
 * proportional to the head, however many pipelined requests or body bytes
 * follow it in the buffer.  The small scanners (chunk-size lines, trailers,
 * list values) read with a bounds-checked YYPEEK that yields 0 (invalid
 * everywhere) past the end.
 *
 * Speed: field lines are most of a head's bytes.  The usual ones go through
 * a fast path written by hand around two byte scanners (runtime/http_simd.h,
 * AVX2 when the CPU has it); any line it is not sure of is left to the
 * rules, which decide exactly as they would without it.
 */
#include "http_scan.h"
#include "http_simd.h"

#include <string.h>

/*!re2c
    re2c:api = custom;
    re2c:api:style = free-form;
    re2c:define:YYCTYPE = "unsigned char";
    re2c:define:YYPEEK = "PEEK()";
    re2c:define:YYSKIP = "++cur;";
    re2c:define:YYBACKUP = "mar = cur;";
    re2c:define:YYRESTORE = "cur = mar;";
    re2c:yyfill:enable = 0;
    re2c:flags:bit-vectors = 1;

    // RFC 9110 5.6.2: token = 1*tchar
    tchar      = [!#$%&'*+.^_`|~0-9A-Za-z-];
    token      = tchar+;
    // RFC 9110 5.5: field-vchar = VCHAR / obs-text; values may contain SP/HTAB
    field_char = [\x21-\x7e\x80-\xff \t];
    ows        = [ \t]*;
    hex        = [0-9A-Fa-f];
    // RFC 3986 2.1, minus %00 (an encoded NUL is never valid in a path here)
    pct        = "%" ([1-9A-Fa-f] hex | "0" [1-9A-Fa-f]);
    unreserved = [A-Za-z0-9._~-];
    sub_delims = [!$&'()*+,;=];
    pchar_lit  = unreserved | sub_delims | [:@];
    query_char = [\x21-\x7e] \ [#];
    // RFC 3986 3.2.2 (IPv6 checked for its alphabet only)
    reg_name   = (unreserved | pct | sub_delims)+;
    ip_literal = "[" ([0-9A-Fa-f:.]+ | [vV] hex+ "." (unreserved | sub_delims | ":")+) "]";
    uri_host   = reg_name | ip_literal;
    port       = [0-9]{0,5};
    // RFC 9112 7.1.1
    qdtext     = [\t \x21\x23-\x5b\x5d-\x7e\x80-\xff];
    quoted_pair = "\\" [\t \x21-\x7e\x80-\xff];
    quoted_str = "\"" (qdtext | quoted_pair)* "\"";
*/

/* How far the head scanner looks for LFs at a time: more than a typical
 * head, so one memrchr usually covers it. */
#define LINES_WINDOW 512

/* Where the complete lines in [P, LIMIT) that the scanner may read next
 * end: LIMIT itself when it follows an LF (what a read usually brings:
 * whole requests), else one past the last LF in the next window, or past
 * the first LF after the window when a line is longer than that; NULL when
 * no line ends before LIMIT. */
static inline const unsigned char *lines_end(const unsigned char *p,
                                            const unsigned char *limit)
{
    if (SRV__LIKELY(limit > p && limit[-1] == '\n'))
        return limit;
    size_t n = (size_t)(limit - p), w = n < LINES_WINDOW ? n : LINES_WINDOW;
    const unsigned char *lf = memrchr(p, '\n', w);
    if (!lf && (n == w || (lf = memchr(p + w, '\n', n - w)) == NULL))
        return NULL;
    return lf + 1;
}

/* The states of the prefix check (srv__http_prefix, at the end of this
 * file): where in a head the bytes checked so far end. */
enum {
    PF_LEAD,       /* before the request line: empty lines, then the method */
    PF_LEAD_LF,    /* the LF of an empty line */
    PF_METHOD,
    PF_TARGET,     /* the request-target's first byte */
    PF_ASTERISK,   /* after "*": its SP */
    PF_SCHEME,     /* 'http' 's'? "://", k bytes of it read */
    PF_HOST,       /* the first byte of an absolute-form host */
    PF_REG_NAME,
    PF_IP,         /* "[": the first byte of an IP literal */
    PF_IP_HEX,     /* inside "[" [0-9A-Fa-f:.]+ */
    PF_IP_V,       /* "[v": the first hex digit */
    PF_IP_V_HEX,   /* "[v" hex+ */
    PF_IP_V_DOT,   /* "[v" hex+ ".": the first byte after it */
    PF_IP_V_REST,  /* "[v" hex+ "." (unreserved / sub-delims / ":")+ */
    PF_HOST_END,   /* after "]" */
    PF_PORT,       /* k digits of the port read */
    PF_PATH,
    PF_PCT,        /* k bytes of a percent-escape read, then back to ret */
    PF_QUERY,
    PF_VERSION,    /* k bytes of "HTTP/" DIGIT "." DIGIT CRLF read */
    PF_FIELD,      /* a field line's first byte, or the empty line's CR */
    PF_NAME,
    PF_VALUE,
    PF_VALUE_LF,   /* the LF ending a field line */
    PF_END_LF,     /* the LF of the empty line */
    PF_DONE,       /* the head is complete: what follows is not ours */
};

/* The head scanner reads without bounds checks: [cur, end) is known to be
 * complete lines, and no rule reads past an LF (LF is in no character
 * class, and every rule that matches one ends there).  So only a line that
 * starts at END can be unfinished, and any failing rule is a real error. */
#define PEEK() (*cur)

/* request-line = method SP request-target SP HTTP-version CRLF, at CUR,
 * with an LF before END.  Fills the request-line fields of S.  Returns the
 * end of the line (past its CRLF), or NULL when it is malformed.  The
 * commonest method and version are tried first as whole words (the same
 * bytes the rules accept). */
static inline __attribute__((always_inline)) const unsigned char *
request_line(const unsigned char *cur, const unsigned char *end, const unsigned char *lo,
             struct srv__scan *s, const struct srv__simd *k, bool avx2)
{
    const unsigned char *mar = cur, *tok = cur;

    s->path_flags = 0;
    s->query = NULL;
    s->unsupported_version = false;
    if (SRV__LIKELY(end - cur >= 4) && memcmp(cur, "GET ", 4) == 0) {
        cur += 4;
        s->method_bit = SRV_METHOD_GET;
        goto target;
    }
    /*!re2c
        "GET "     { s->method_bit = SRV_METHOD_GET; goto target; }
        "HEAD "    { s->method_bit = SRV_METHOD_HEAD; goto target; }
        "POST "    { s->method_bit = SRV_METHOD_POST; goto target; }
        "PUT "     { s->method_bit = SRV_METHOD_PUT; goto target; }
        "DELETE "  { s->method_bit = SRV_METHOD_DELETE; goto target; }
        "PATCH "   { s->method_bit = SRV_METHOD_PATCH; goto target; }
        "OPTIONS " { s->method_bit = SRV_METHOD_OPTIONS; goto target; }
        token " "  { s->method_bit = 0; goto target; }
        *          { return NULL; }
    */

target:
    s->method = (const char *)tok;
    s->method_len = (uint32_t)(cur - tok - 1);
    s->target = (const char *)cur;
    tok = cur;
    /*!re2c
        "/"                  { cur = tok; s->form = SRV__T_ORIGIN; goto path_start; }
        "* "                 { s->form = SRV__T_ASTERISK; s->path = (const char *)tok;
                               s->path_len = 1; goto version; }
        'http' 's'? "://"    { s->form = SRV__T_ABSOLUTE; goto authority; }
        *                    { return NULL; }
    */

authority:
    tok = cur;
    /*!re2c
        uri_host (":" port)? { s->authority = (const char *)tok;
                               s->authority_len = (uint32_t)(cur - tok); goto after_authority; }
        *                    { return NULL; }
    */

after_authority:
    tok = cur;
    /*!re2c
        "/"  { cur = tok; goto path_start; }
        "?"  { s->path = (const char *)tok; s->path_len = 0; goto query; }
        " "  { s->path = (const char *)tok; s->path_len = 0; goto version; }
        *    { return NULL; }
    */

    /* origin-form = absolute-path [ "?" query ]; absolute-path = 1*( "/" segment ).
     * The path starts with "/", so a "." is never its first byte; one right
     * after a "/" may start a dot-segment.  Slashes and the other literal
     * pchars are one loop, the common path needs no rule restarts. */
path_start:
    s->path = (const char *)cur;
path:
    if (avx2) /* the run the first rule takes, 32 bytes at a time */
        cur = srv__avx2_span(k, SRV__CLASS_PATH, cur, end, lo);
    tok = cur;
    /*!re2c
        ("/" | pchar_lit \ [.])+ { goto path; }
        "."         { if (tok[-1] == '/') s->path_flags |= SRV__PATH_DOT; goto path; }
        pct         { s->path_flags |= SRV__PATH_PCT; goto path; }
        "?"         { s->path_len = (uint32_t)(tok - (const unsigned char *)s->path); goto query; }
        " "         { s->path_len = (uint32_t)(tok - (const unsigned char *)s->path); goto version; }
        *           { return NULL; }
    */

query:
    s->query = (const char *)cur;
query_more:
    tok = cur;
    /*!re2c
        query_char+ { goto query_more; }
        " "         { s->query_len = (uint32_t)(tok - (const unsigned char *)s->query); goto version; }
        *           { return NULL; }
    */

    /* HTTP-version = "HTTP/" DIGIT "." DIGIT.  A higher minor version of 1
     * is read as 1.1, the highest we implement (RFC 9110 2.5: a recipient
     * SHOULD process it as the highest minor version it conforms to); any
     * other major version is unsupported (505). */
version:
    tok = cur;
    if (SRV__LIKELY(end - cur >= 10) && memcmp(cur, "HTTP/1.1\r\n", 10) == 0) {
        s->version_minor = 1;
        return cur + 10;
    }
    /*!re2c
        "HTTP/1.0\r\n"                  { s->version_minor = 0; return cur; }
        "HTTP/1." [1-9] "\r\n"          { s->version_minor = 1; return cur; }
        "HTTP/" [0-9] "." [0-9] "\r\n"  { s->version_minor = 1; s->unsupported_version = true;
                                          return cur; }
        *                               { return NULL; }
    */
}

/* ---- Field lines: the fast path ------------------------------------------- */

/* Field names compared without case: NAME is all tchars, and OR-ing a tchar
 * with 0x20 turns it into a lower-case letter or '-' only when it was that
 * letter in either case or '-' (0x0d would become '-', but CR is no tchar),
 * so these compare exactly. */
static inline bool lower4_is(const unsigned char *name, const char *lower)
{
    uint32_t a, b;
    memcpy(&a, name, 4);
    memcpy(&b, lower, 4);
    return (a | 0x20202020u) == b;
}

static inline bool lower8_is(const unsigned char *name, const char *lower)
{
    uint64_t a, b;
    memcpy(&a, name, 8);
    memcpy(&b, lower, 8);
    return (a | 0x2020202020202020u) == b;
}

/* The kind of the field named NAME[0..LEN), as the rules in
 * srv__http_scan_head() tell them apart.  Most names have neither the
 * length and the initial of one of these, which one lookup rules out. */
static inline unsigned field_kind(const unsigned char *name, size_t len)
{
    static const unsigned char initial[32] = {[4] = 'h', [6] = 'e', [10] = 'c', [14] = 'c',
                                              [17] = 't'};
    if (SRV__LIKELY(len >= 32 || initial[len] != (name[0] | 0x20)))
        return SRV__F_OTHER;
    switch (len) {
    case 4:
        return lower4_is(name, "host") ? SRV__F_HOST : SRV__F_OTHER;
    case 6:
        return lower4_is(name, "expe") && lower4_is(name + 2, "pect") ? SRV__F_EXPECT
                                                                       : SRV__F_OTHER;
    case 10:
        return lower8_is(name, "connecti") && lower8_is(name + 2, "nnection")
                   ? SRV__F_CONNECTION
                   : SRV__F_OTHER;
    case 14:
        return lower8_is(name, "content-") && lower8_is(name + 6, "t-length")
                   ? SRV__F_CONTENT_LENGTH
                   : SRV__F_OTHER;
    case 17:
        return lower8_is(name, "transfer") && lower8_is(name + 8, "-encodin") &&
                       lower8_is(name + 9, "encoding")
                   ? SRV__F_TRANSFER_ENCODING
                   : SRV__F_OTHER;
    default:
        return SRV__F_OTHER;
    }
}

/* The fast path reads the usual field lines, and leaves every other line to
 * the rules in srv__http_scan_head(), which decide exactly:
 *
 *   usual-line = 1*tchar ":" [ SP ] usual-char *( usual-char / SP ) CRLF
 *   usual-char = any byte from 0x21 but 0x7f (VCHAR / obs-text)
 *
 * So an empty value, OWS other than one SP, HTAB in a value, Host (whose
 * value has a grammar of its own), a line past the header_count limit, and
 * every malformed line go to the rules; the fast path stores what it reads
 * exactly as they would.  Each path stops at END, at the empty line, or at
 * the first line it leaves to the rules, and returns where it stopped.
 *
 * field_store() ends both: VSTART is the value's first byte, P the first
 * byte after it that the value scanner stopped at.  Stores the line in F
 * when it ends there with CRLF and is not Host, and returns whether it did. */
static inline __attribute__((always_inline)) bool
field_store(struct srv__head *h, struct srv__scan *s, struct srv__header *f,
            const unsigned char *name, const unsigned char *colon,
            const unsigned char *vstart, const unsigned char *p)
{
    if (memcmp(p, "\r\n", 2) != 0)
        return false;
    unsigned kind = field_kind(name, (size_t)(colon - name));
    if (SRV__UNLIKELY(kind != SRV__F_OTHER)) {
        if (kind == SRV__F_HOST)
            return false;
        if (s->count[kind]++ == 0)
            s->first[kind] = (uint32_t)(f - h->headers);
    }
    while (p[-1] == ' ') /* the SP before the value stops this */
        p--;
    f->name = (const char *)name;
    f->name_len = (uint32_t)(colon - name);
    f->value = (const char *)vstart;
    f->value_len = (uint32_t)(p - vstart);
    return true;
}

/* Both paths read [CUR, END), which is complete lines (CUR < END), and
 * store at most MAX - H->nheaders of them.  No scanner reaches END: each
 * line's LF stops them.  Values are scanned up to END - 1 only, so that P[1]
 * exists for field_store(): the LF there ends a line and is no value's end. */
static const unsigned char *fields_portable(const unsigned char *cur, const unsigned char *end,
                                            struct srv__head *h, struct srv__scan *s,
                                            uint32_t max)
{
    struct srv__header *f = h->headers + h->nheaders, *const f_end = h->headers + max;
    while (f < f_end) {
        const unsigned char *colon = srv__token_end(cur, end), *vstart, *p;
        if (*colon != ':' || colon == cur)
            break;
        vstart = colon + 1 + (colon[1] == ' ');
        if (*vstart <= ' ')
            break;
        p = srv__value_end(vstart, end - 1);
        if (p == end - 1 || !field_store(h, s, f, cur, colon, vstart, p))
            break;
        f++;
        cur = p + 2;
        if (cur == end || *cur == '\r')
            break;
    }
    h->nheaders = (uint32_t)(f - h->headers);
    return cur;
}

/* The same with the AVX2 scanners: the usual line fits one block, where one
 * load gives both the name's end and the value's. */
static inline SRV__AVX2 const unsigned char *
fields_avx2(const struct srv__simd *k, const unsigned char *cur, const unsigned char *end,
            const unsigned char *lo, struct srv__head *h, struct srv__scan *s, uint32_t max)
{
    struct srv__header *f = h->headers + h->nheaders, *const f_end = h->headers + max;
    if (SRV__UNLIKELY(end - lo <= 32)) /* (they need a buffer of a block before END - 1) */
        return fields_portable(cur, end, h, s, max);
    const unsigned char *const last = end - 33; /* the last block before END - 1 */
    while (f < f_end) {
        uint64_t name, stop;
        if (SRV__LIKELY(cur <= last))
            srv__avx2_line_bits(k, cur, &name, &stop);
        else if (cur < end - 1)
            srv__avx2_last_bits(k, cur, end - 1, &name, &stop);
        else /* END - 1 is an LF: a bare one, for the rules to refuse */
            break;
        /* The name ends at AT, within the block (1 to 31: 0 is no name, and
         * the 64 of an all-0 NAME is a name of 32 bytes or more). */
        size_t at = srv__ctz(name);
        if (at - 1 >= 31)
            break;
        const unsigned char *colon = cur + at, *vstart, *p;
        if (*colon != ':')
            break;
        vstart = colon + 1 + (colon[1] == ' ');
        if (*vstart <= ' ')
            break;
        stop >>= at + 1; /* (the SP before VSTART is no stop) */
        if (stop)
            p = colon + 1 + srv__ctz(stop);
        else if (cur > last || (p = srv__avx2_value_end(k, cur + 32, end - 1)) == end - 1)
            break;
        if (!field_store(h, s, f, cur, colon, vstart, p))
            break;
        f++;
        cur = p + 2;
        if (cur == end || *cur == '\r')
            break;
    }
    h->nheaders = (uint32_t)(f - h->headers);
    return cur;
}

enum srv__scan_path srv__http_scan_path = SRV__SCAN_PORTABLE;

__attribute__((constructor)) static void choose_scan_path(void)
{
    if (srv__simd_avx2())
        srv__http_scan_path = SRV__SCAN_AVX2;
}

/* ---- The head ------------------------------------------------------------------ */

/* The head ends in a line whose LF has not arrived, from CUR (where the
 * check starts in STATE) to LIMIT: -400 if those bytes can never become
 * that line, else RC.  Leaves the check's state in H->prefix, so a caller
 * can go on with the bytes that arrive next. */
static int unfinished(struct srv__head *h, unsigned state, const unsigned char *cur,
                      const unsigned char *limit, int rc)
{
    h->prefix = (struct srv__prefix){.state = (uint8_t)state};
    if (srv__http_prefix(&h->prefix, (const char *)cur, (size_t)(limit - cur)) < 0)
        return -400;
    return rc;
}

/* The head scanner is compiled twice, for srv__http_scan_path: with the
 * AVX2 scanners (AVX2, a constant in each copy), and with the portable ones
 * (FAST) or none (the rules alone).  K is the AVX2 scanners' constants. */
static inline __attribute__((always_inline)) int
scan_head(const char *buf, size_t len, const struct srv_limits *lim, struct srv__head *h,
          struct srv__scan *s, const struct srv__simd *k, bool avx2, bool fast)
{
    const unsigned char *const start = (const unsigned char *)buf;
    const unsigned char *const real_end = start + len;
    const unsigned char *cur = start, *mar = start, *tok = start, *end, *limit;
    const unsigned char *name, *colon, *vstart, *vend;
    unsigned kind = SRV__F_OTHER;
    size_t line_max = lim->request_line + 2;
    bool capped;

    /* RFC 9112 2.2: empty lines before the request line are skipped (they
     * count towards its limit). */
    limit = start + (len < line_max ? len : line_max);
    while (cur + 1 < limit && cur[0] == '\r' && cur[1] == '\n')
        cur += 2;
    end = lines_end(cur, limit);
    if (!end)
        return unfinished(h, PF_LEAD, cur, limit, len >= line_max ? -414 : 0);

    s->host_bad = false;
    memset(s->count, 0, sizeof s->count);
    h->nheaders = 0;

    cur = request_line(cur, end, start, s, k, avx2);
    if (!cur)
        return -400;
    if (s->unsupported_version)
        return -505;

    /* The field lines must end within the header-bytes limit; the lines
     * found with the request line may reach past it. */
    capped = (size_t)(real_end - cur) >= lim->header_bytes;
    limit = capped ? cur + lim->header_bytes : real_end;
    if (SRV__UNLIKELY(end > limit)) {
        end = lines_end(cur, limit);
        if (!end)
            end = cur;
    }

    /* field-line = field-name ":" OWS field-value OWS CRLF.  The empty line
     * and Host are tried first, then the fast path takes the usual lines;
     * the rules take what it leaves, one line at a time. */
field:
    if (cur == end) {
        end = cur < limit ? lines_end(cur, limit) : NULL;
        if (!end)
            return unfinished(h, PF_FIELD, cur, limit, capped ? -431 : 0);
    }
    if (*cur == '\r') { /* the empty line that ends the head, or an error */
        if (cur[1] == '\n')
            return (int)(cur + 2 - start);
        goto rules;
    }
    if (cur[0] == 'H' && end - cur >= 5 && memcmp(cur, "Host:", 5) == 0) {
        tok = cur;
        cur += 5;
        kind = SRV__F_HOST;
        if (SRV__LIKELY((avx2 || fast) && h->nheaders < lim->header_count)) {
            /* The usual Host, a reg-name of literal bytes alone, stored here
             * as the rules below would (part of the fast path). */
            const unsigned char *v = cur + (*cur == ' ');
            const unsigned char *q = avx2 ? srv__avx2_span(k, SRV__CLASS_REG_NAME, v, end, start)
                                          : srv__span(SRV__CLASS_REG_NAME, v, end);
            if (q > v && q[0] == '\r' && q[1] == '\n') {
                struct srv__header *f = &h->headers[h->nheaders];
                f->name = (const char *)tok;
                f->name_len = 4;
                f->value = (const char *)v;
                f->value_len = (uint32_t)(q - v);
                if (s->count[SRV__F_HOST]++ == 0)
                    s->first[SRV__F_HOST] = h->nheaders;
                h->nheaders++;
                cur = q + 2;
                goto field;
            }
        }
        goto host_value;
    }
    if (avx2)
        cur = fields_avx2(k, cur, end, start, h, s, lim->header_count);
    else if (fast)
        cur = fields_portable(cur, end, h, s, lim->header_count);
    if (cur == end)
        goto field;
rules:
    tok = cur;
    /*!re2c
        "\r\n"                     { return (int)(cur - start); }
        'host' ":"                 { kind = SRV__F_HOST; goto host_value; }
        'content-length' ":"       { kind = SRV__F_CONTENT_LENGTH; goto value; }
        'transfer-encoding' ":"    { kind = SRV__F_TRANSFER_ENCODING; goto value; }
        'connection' ":"           { kind = SRV__F_CONNECTION; goto value; }
        'expect' ":"               { kind = SRV__F_EXPECT; goto value; }
        token ":"                  { kind = SRV__F_OTHER; goto value; }
        *                          { goto fail; }
    */

    /* Host = uri-host [ ":" port ] (RFC 9110 7.2), checked here, where the
     * bytes are hot and need no bounds checks; a value that is not one is
     * still scanned as a field value, and marked bad for http_parse.c to
     * reject.  reg-name is read as runs of its literal characters and
     * single escapes, so the usual name is one tight loop. */
host_value:
    name = tok;
    colon = cur - 1;
    if (SRV__UNLIKELY(h->nheaders == lim->header_count))
        return -431;
    cur += *cur == ' ';
    if (SRV__UNLIKELY(*cur == ' ' || *cur == '\t'))
        while (*cur == ' ' || *cur == '\t')
            cur++;
    vstart = cur;
    tok = cur;
    /*!re2c
        ip_literal { goto host_port; }
        ""         { goto reg_name; }
    */
reg_name:
    if (avx2) /* the run the first rule takes, 32 bytes at a time */
        cur = srv__avx2_span(k, SRV__CLASS_REG_NAME, cur, end, start);
    tok = cur;
    /*!re2c
        (unreserved | sub_delims)+ { goto reg_name; }
        pct                        { goto reg_name; }
        ""                         { if (cur == vstart) goto host_bad; goto host_port; }
    */
host_port:
    tok = cur;
    /*!re2c
        (":" port)? [ \t]* "\r\n" { tok = cur - 2; goto value_done; }
        *                         { goto host_bad; }
    */
host_bad:
    cur = vstart;
    s->host_bad = true;
    goto value_more;

value:
    name = tok;
    colon = cur - 1;
    if (SRV__UNLIKELY(h->nheaders == lim->header_count))
        return -431;
    while (*cur == ' ' || *cur == '\t')
        cur++;
    vstart = cur;
value_more:
    cur = srv__value_end(cur, end);
    tok = cur;
    /*!re2c
        field_char+ { goto value_more; }
        "\r\n"      { goto value_done; }
        *           { goto fail; }
    */

value_done:
    vend = tok;
    while (vend > vstart && (vend[-1] == ' ' || vend[-1] == '\t'))
        vend--;
    {
        struct srv__header *f = &h->headers[h->nheaders];
        f->name = (const char *)name;
        f->name_len = (uint32_t)(colon - name);
        f->value = (const char *)vstart;
        f->value_len = (uint32_t)(vend - vstart);
        if (s->count[kind]++ == 0)
            s->first[kind] = h->nheaders;
        h->nheaders++;
    }
    goto field;

fail:
    return -400;
}

static SRV__AVX2 int scan_head_avx2(const char *buf, size_t len, const struct srv_limits *lim,
                                    struct srv__head *h, struct srv__scan *s)
{
    struct srv__simd k;
    srv__simd_init(&k);
    return scan_head(buf, len, lim, h, s, &k, true, true);
}

static __attribute__((noinline)) int scan_head_portable(const char *buf, size_t len,
                                                        const struct srv_limits *lim,
                                                        struct srv__head *h,
                                                        struct srv__scan *s, bool fast)
{
    return scan_head(buf, len, lim, h, s, NULL, false, fast);
}

int srv__http_scan_head(const char *buf, size_t len, const struct srv_limits *lim,
                        struct srv__head *h, struct srv__scan *s)
{
    if (SRV__LIKELY(srv__http_scan_path == SRV__SCAN_AVX2))
        return scan_head_avx2(buf, len, lim, h, s);
    return scan_head_portable(buf, len, lim, h, s, srv__http_scan_path == SRV__SCAN_PORTABLE);
}

int srv__http_scan_request_line(const char *buf, size_t len, const struct srv_limits *lim,
                                struct srv__scan *s)
{
    const unsigned char *const start = (const unsigned char *)buf;
    size_t line_max = lim->request_line + 2;
    const unsigned char *cur = start, *limit = start + (len < line_max ? len : line_max);

    while (cur + 1 < limit && cur[0] == '\r' && cur[1] == '\n')
        cur += 2;
    const unsigned char *lf = memchr(cur, '\n', (size_t)(limit - cur));
    if (!lf)
        return len >= line_max ? -414 : 0;
    const unsigned char *line_end = request_line(cur, lf + 1, start, s, NULL, false);
    return line_end ? (int)(line_end - start) : -400;
}

/* The small scanners below see a value or a line whose end may not have
 * arrived: past END, YYPEEK yields 0 (invalid everywhere) and notes that it
 * ran out.  A line scanner that ran out and then failed is "incomplete"
 * even when the failing rule is a later one: a rule may have looked ahead
 * to the end for a longer match (";x" then "=...") and settled for less.
 * Such a line is finished by more bytes or by the caller's length bound. */
#undef PEEK
#define PEEK() (cur < end ? *cur : (hit = tok, 0))

int srv__http_scan_field_line(const char *p, size_t len)
{
    const unsigned char *const start = (const unsigned char *)p;
    const unsigned char *const end = start + len;
    const unsigned char *cur = start, *mar = start, *tok = start, *hit = NULL;

    /*!re2c
        "\r\n"                     { return 2; }
        token ":" field_char* "\r\n" { return (int)(cur - start); }
        *                          { return hit ? 0 : -400; }
    */
}

/* chunk = chunk-size [ chunk-ext ] CRLF ...
 * chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ) */
int srv__http_scan_chunk_line(const char *p, size_t len, uint64_t *size)
{
    const unsigned char *const start = (const unsigned char *)p;
    const unsigned char *const end = start + len;
    const unsigned char *cur = start, *mar = start, *tok = start, *hit = NULL;
    uint64_t n = 0;

    /*!re2c
        hex+ { goto digits; }
        *    { return hit ? 0 : -400; }
    */
digits:
    for (const unsigned char *d = tok; d < cur; d++) {
        unsigned c = *d, v = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
        if (n >> 60)
            return -400; /* the size does not fit in 64 bits */
        n = n << 4 | v;
    }
    *size = n;
ext:
    tok = cur;
    /*!re2c
        ows ";" ows token (ows "=" ows (token | quoted_str))? { goto ext; }
        "\r\n" { return (int)(cur - start); }
        *      { return hit ? 0 : -400; }
    */
}

/* Connection = #connection-option; connection-option = token.  Empty list
 * elements are allowed (RFC 9110 5.6.1). */
int srv__http_scan_connection(const char *p, size_t len, unsigned *tokens)
{
    const unsigned char *const end = (const unsigned char *)p + len;
    const unsigned char *cur = (const unsigned char *)p, *mar = cur, *tok = cur, *hit = NULL;

    (void)hit;
    (void)mar;
loop:
    tok = cur;
    if (cur == end)
        return 0;
    /*!re2c
        [ \t,]+           { goto loop; }
        'close'           { *tokens |= SRV__CONN_CLOSE; goto sep; }
        'keep-alive'      { *tokens |= SRV__CONN_KEEP_ALIVE; goto sep; }
        token             { goto sep; }
        *                 { return -400; }
    */
sep: /* a token ends the element: OWS, then ',' or the end */
    while (cur < end && (*cur == ' ' || *cur == '\t'))
        cur++;
    if (cur == end)
        return 0;
    if (*cur++ == ',')
        goto loop;
    return -400;
}

/* Transfer-Encoding = #transfer-coding;
 * transfer-coding = token *( OWS ";" OWS transfer-parameter ) */
int srv__http_scan_te(const char *p, size_t len, struct srv__te *te)
{
    const unsigned char *const end = (const unsigned char *)p + len;
    const unsigned char *cur = (const unsigned char *)p, *mar = cur, *tok = cur, *hit = NULL;
    bool chunked;

    (void)hit;
loop:
    tok = cur;
    if (cur == end)
        return 0;
    /*!re2c
        [ \t,]+     { goto loop; }
        'chunked'   { chunked = true; goto params; }
        token       { chunked = false; goto params; }
        *           { return -400; }
    */
params:
    if (te->last_chunked)
        te->chunked_early = true;
    te->n++;
    te->last_chunked = chunked;
    if (!chunked)
        te->unknown = true;
param:
    tok = cur;
    if (cur == end)
        return 0;
    /*!re2c
        ows ";" ows token ows "=" ows (token | quoted_str) { if (chunked) return -400; goto param; }
        ows ","     { goto loop; }
        [ \t]+     { goto param; }
        *           { return -400; }
    */
}

/* ---- Can an incomplete head still become valid? ---------------------------
 * The same grammar as the head scanner's rules, one byte at a time, so the
 * check can stop anywhere and go on when more bytes arrive: the state says
 * where in the head the last byte was (PF_*), K counts bytes inside a
 * fixed-length part, RET is the state a percent-escape returns to.  Runs of
 * one class are a rule each, which stops at END (PEEK yields 0 there, in no
 * class: a run never takes it, and every other rule is one byte long). */
#undef PEEK
#define PEEK() (cur < end ? *cur : 0)

static bool is_hex(unsigned c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

int srv__http_prefix(struct srv__prefix *st, const char *p, size_t n)
{
    const unsigned char *cur = (const unsigned char *)p;
    const unsigned char *const end = cur + n;
    unsigned state = st->state, k = st->k, ret = st->ret, c;

    while (cur < end) {
        switch (state) {
        case PF_LEAD:
            /*!re2c
                "\r"  { state = PF_LEAD_LF; continue; }
                tchar { state = PF_METHOD; continue; }
                *     { goto bad; }
            */
        case PF_LEAD_LF:
            /*!re2c
                "\n"  { state = PF_LEAD; continue; }
                *     { goto bad; }
            */
        case PF_METHOD:
            /*!re2c
                tchar+ { continue; }
                " "    { state = PF_TARGET; continue; }
                *      { goto bad; }
            */
        case PF_TARGET:
            /*!re2c
                "/"    { state = PF_PATH; continue; }
                "*"    { state = PF_ASTERISK; continue; }
                [hH]   { state = PF_SCHEME; k = 1; continue; }
                *      { goto bad; }
            */
        case PF_ASTERISK:
            /*!re2c
                " "    { state = PF_VERSION; k = 0; continue; }
                *      { goto bad; }
            */
        case PF_SCHEME: /* 'http' 's'? "://" from its second byte */
            c = *cur++;
            if (k < 4 && (c | 0x20) == (unsigned char)"http"[k])
                k++;
            else if (k == 4 && (c | 0x20) == 's')
                k = 5;
            else if ((k == 4 || k == 5) && c == ':')
                k = 6;
            else if (k == 6 && c == '/')
                k = 7;
            else if (k == 7 && c == '/')
                state = PF_HOST;
            else
                goto bad;
            continue;
        case PF_HOST:
            /*!re2c
                "["                       { state = PF_IP; continue; }
                (unreserved | sub_delims) { state = PF_REG_NAME; continue; }
                "%"                       { state = PF_PCT; k = 0; ret = PF_REG_NAME; continue; }
                *                         { goto bad; }
            */
        case PF_REG_NAME:
            /*!re2c
                (unreserved | sub_delims)+ { continue; }
                "%"    { state = PF_PCT; k = 0; ret = PF_REG_NAME; continue; }
                ":"    { state = PF_PORT; k = 0; continue; }
                "/"    { state = PF_PATH; continue; }
                "?"    { state = PF_QUERY; continue; }
                " "    { state = PF_VERSION; k = 0; continue; }
                *      { goto bad; }
            */
        case PF_IP:
            /*!re2c
                [0-9A-Fa-f:.] { state = PF_IP_HEX; continue; }
                [vV]          { state = PF_IP_V; continue; }
                *             { goto bad; }
            */
        case PF_IP_HEX:
            /*!re2c
                [0-9A-Fa-f:.]+ { continue; }
                "]"            { state = PF_HOST_END; continue; }
                *              { goto bad; }
            */
        case PF_IP_V:
            /*!re2c
                hex    { state = PF_IP_V_HEX; continue; }
                *      { goto bad; }
            */
        case PF_IP_V_HEX:
            /*!re2c
                hex+   { continue; }
                "."    { state = PF_IP_V_DOT; continue; }
                *      { goto bad; }
            */
        case PF_IP_V_DOT:
            /*!re2c
                unreserved | sub_delims | ":" { state = PF_IP_V_REST; continue; }
                *                             { goto bad; }
            */
        case PF_IP_V_REST:
            /*!re2c
                (unreserved | sub_delims | ":")+ { continue; }
                "]"                              { state = PF_HOST_END; continue; }
                *                                { goto bad; }
            */
        case PF_HOST_END:
            /*!re2c
                ":"    { state = PF_PORT; k = 0; continue; }
                "/"    { state = PF_PATH; continue; }
                "?"    { state = PF_QUERY; continue; }
                " "    { state = PF_VERSION; k = 0; continue; }
                *      { goto bad; }
            */
        case PF_PORT: /* port = 0*5DIGIT */
            /*!re2c
                [0-9]  { if (++k > 5) goto bad; continue; }
                "/"    { state = PF_PATH; continue; }
                "?"    { state = PF_QUERY; continue; }
                " "    { state = PF_VERSION; k = 0; continue; }
                *      { goto bad; }
            */
        case PF_PATH:
            /*!re2c
                ("/" | pchar_lit)+ { continue; }
                "%"    { state = PF_PCT; k = 0; ret = PF_PATH; continue; }
                "?"    { state = PF_QUERY; continue; }
                " "    { state = PF_VERSION; k = 0; continue; }
                *      { goto bad; }
            */
        case PF_PCT: /* "%" ([1-9A-Fa-f] hex | "0" [1-9A-Fa-f]): k = 1 after a
                      * first digit other than 0, 2 after a 0 */
            c = *cur++;
            if (!is_hex(c) || (k == 2 && c == '0'))
                goto bad;
            if (k == 0)
                k = c == '0' ? 2 : 1;
            else
                state = ret;
            continue;
        case PF_QUERY:
            /*!re2c
                query_char+ { continue; }
                " "         { state = PF_VERSION; k = 0; continue; }
                *           { goto bad; }
            */
        case PF_VERSION: {
            static const char version[] = "HTTP/#.#\r\n"; /* '#': a DIGIT */
            c = *cur++;
            if (version[k] == '#' ? !(c >= '0' && c <= '9') : c != (unsigned char)version[k])
                goto bad;
            if (++k == sizeof version - 1)
                state = PF_FIELD;
            continue;
        }
        case PF_FIELD:
            /*!re2c
                "\r"   { state = PF_END_LF; continue; }
                tchar  { state = PF_NAME; continue; }
                *      { goto bad; }
            */
        case PF_NAME:
            /*!re2c
                tchar+ { continue; }
                ":"    { state = PF_VALUE; continue; }
                *      { goto bad; }
            */
        case PF_VALUE:
            /*!re2c
                field_char+ { continue; }
                "\r"        { state = PF_VALUE_LF; continue; }
                *           { goto bad; }
            */
        case PF_VALUE_LF:
            /*!re2c
                "\n"   { state = PF_FIELD; continue; }
                *      { goto bad; }
            */
        case PF_END_LF:
            /*!re2c
                "\n"   { state = PF_DONE; continue; }
                *      { goto bad; }
            */
        default: /* PF_DONE */
            cur = end;
            break;
        }
    }
    st->state = (uint8_t)state;
    st->k = (uint8_t)k;
    st->ret = (uint8_t)ret;
    return 0;
bad:
    return -400;
}
