/*
 * static_headers.c - the request headers a static file response depends on,
 * parsed from the ABNF of RFC 9110: HTTP-dates (all three forms), entity-tag
 * lists (If-Match, If-None-Match), If-Range, Range, and Accept-Encoding
 * negotiation.  Pure functions of their input (L2, no I/O, no allocation),
 * so they are unit-tested and fuzzed on their own; static.c decides what
 * the answers mean for a response.
 *
 * The rule wherever a value is malformed: fall back to the answer that
 * sends the full, current representation.  A bad Range or If-Range is
 * ignored (200, whole file), a bad date is ignored, a bad If-None-Match
 * matches nothing (200).  The one exception is If-Match, where "matches
 * nothing" means 412: a client that sent a precondition we cannot read
 * must not have its request treated as if the precondition held.
 */
#include "internal.h"

#include <string.h>

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

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

/* ---- HTTP-date (RFC 9110 5.6.7) ------------------------------------------ */

static const char short_days[7][4] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const long_days[7] = {"Monday", "Tuesday", "Wednesday", "Thursday",
                                         "Friday", "Saturday", "Sunday"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* The names are case-sensitive (%s"Jan" in the ABNF). */
static int month_of(const char *s)
{
    for (int i = 0; i < 12; i++) {
        if (memcmp(s, months[i], 3) == 0)
            return i + 1;
    }
    return -1;
}

static bool short_day(const char *s)
{
    for (int i = 0; i < 7; i++) {
        if (memcmp(s, short_days[i], 3) == 0)
            return true;
    }
    return false;
}

static int digits(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* "HH:MM:SS" at S: seconds into the day, or -1.  A leap second (:60) is
 * allowed by the grammar and read as :59. */
static int64_t time_of_day(const char *s)
{
    if (s[2] != ':' || s[5] != ':')
        return -1;
    int h = digits(s, 2), m = digits(s + 3, 2), sec = digits(s + 6, 2);
    if (h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 60)
        return -1;
    if (sec == 60)
        sec = 59;
    return h * 3600 + m * 60 + sec;
}

static bool leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days since 1970-01-01 of a valid civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool make_time(int64_t y, int mon, int day, int64_t tod, int64_t *out)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mon < 1 || day < 1 || tod < 0)
        return false;
    if (day > mdays[mon - 1] + (mon == 2 && leap(y)))
        return false;
    *out = days_from_civil(y, mon, day) * 86400 + tod;
    return true;
}

bool srv__http_date_parse(const char *s, size_t len, int64_t now, int64_t *out)
{
    /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
    if (len == 29 && s[3] == ',' && s[4] == ' ' && s[7] == ' ' && s[11] == ' ' &&
        s[16] == ' ' && s[25] == ' ' && memcmp(s + 26, "GMT", 3) == 0) {
        int year = digits(s + 12, 4);
        return short_day(s) && year >= 0 &&
               make_time(year, month_of(s + 8), digits(s + 5, 2), time_of_day(s + 17), out);
    }
    /* asctime: "Sun Nov  6 08:49:37 1994" (the day is 2DIGIT or SP DIGIT) */
    if (len == 24 && s[3] == ' ' && s[7] == ' ' && s[10] == ' ' && s[19] == ' ') {
        int day = s[8] == ' ' ? digits(s + 9, 1) : digits(s + 8, 2);
        int year = digits(s + 20, 4);
        return short_day(s) && year >= 0 &&
               make_time(year, month_of(s + 4), day, time_of_day(s + 11), out);
    }
    /* rfc850-date: "Sunday, 06-Nov-94 08:49:37 GMT" */
    for (int i = 0; i < 7; i++) {
        size_t n = strlen(long_days[i]);
        if (len != n + 24 || memcmp(s, long_days[i], n) != 0)
            continue;
        const char *p = s + n;
        if (p[0] != ',' || p[1] != ' ' || p[4] != '-' || p[8] != '-' || p[11] != ' ' ||
            p[20] != ' ' || memcmp(p + 21, "GMT", 3) != 0)
            return false;
        int yy = digits(p + 9, 2);
        if (yy < 0)
            return false;
        /* A two-digit year more than 50 years in the future is the most
         * recent past year with those digits (RFC 9110 5.6.7). */
        int64_t this_year = 1970 + now / 31556952; /* mean Gregorian year; near enough */
        int64_t year = this_year - this_year % 100 + yy;
        if (year > this_year + 50)
            year -= 100;
        return make_time(year, month_of(p + 5), digits(p + 2, 2), time_of_day(p + 12), out);
    }
    return false;
}

/* ---- Entity tags (RFC 9110 8.8.3) ---------------------------------------- */

/* One entity-tag at S (before END): its end, with the opaque-tag (quotes
 * included) in [*OPQ, *OPQ_END) and *WEAK; NULL when there is none. */
static const char *entity_tag(const char *s, const char *end, bool *weak, const char **opq)
{
    *weak = false;
    if (end - s >= 2 && s[0] == 'W' && s[1] == '/') {
        *weak = true;
        s += 2;
    }
    if (s == end || *s != '"')
        return NULL;
    *opq = s++;
    /* etagc = %x21 / %x23-7E / obs-text */
    while (s < end && *s != '"') {
        unsigned char c = (unsigned char)*s;
        if (c < 0x21 || c == 0x7f)
            return NULL;
        s++;
    }
    return s < end ? s + 1 : NULL;
}

bool srv__etag_match(const char *list, size_t len, const char *etag, size_t elen, bool strong)
{
    const char *p = list, *end = list + len;
    while (p < end && is_ows(*p))
        p++;
    while (end > p && is_ows(end[-1]))
        end--;
    if (end - p == 1 && *p == '*')
        return true; /* the representation exists */
    bool matched = false, any = false;
    while (p < end) {
        if (*p == ',' || is_ows(*p)) {
            p++;
            continue;
        }
        bool weak;
        const char *opq, *q = entity_tag(p, end, &weak, &opq);
        if (q == NULL)
            return false;
        any = true;
        if (!(strong && weak) && (size_t)(q - opq) == elen && memcmp(opq, etag, elen) == 0)
            matched = true;
        while (q < end && is_ows(*q))
            q++;
        if (q < end && *q != ',')
            return false;
        p = q;
    }
    return any && matched;
}

bool srv__if_range_ok(const char *val, size_t len, const char *etag, size_t elen,
                      int64_t mtime, int64_t now)
{
    if (len > 0 && (val[0] == '"' || val[0] == 'W')) {
        bool weak;
        const char *opq, *end = entity_tag(val, val + len, &weak, &opq);
        /* Exactly one strong tag, equal to ours (strong comparison). */
        return end == val + len && !weak && (size_t)(end - opq) == elen &&
               memcmp(opq, etag, elen) == 0;
    }
    int64_t t;
    /* A date validates only as an exact match of a strong Last-Modified:
     * one at least a second older than now (RFC 9110 13.1.5, 8.8.2.2). */
    return srv__http_date_parse(val, len, now, &t) && t == mtime && mtime < now;
}

/* ---- Range (RFC 9110 14.1, 14.2) ----------------------------------------- */

/* Ranges closer than this are sent as one: a part's own header lines cost
 * about as much (RFC 9110 14.1.1 allows coalescing such a gap). */
#define RANGE_GAP 80

/* Reads 1*DIGIT at *P, saturating at UINT64_MAX; false if there is none. */
static bool number(const char **p, const char *end, uint64_t *v)
{
    const char *s = *p;
    uint64_t n = 0;
    while (s < end && is_digit(*s)) {
        unsigned d = (unsigned)(*s - '0');
        n = n > (UINT64_MAX - d) / 10 ? UINT64_MAX : n * 10 + d;
        s++;
    }
    if (s == *p)
        return false;
    *p = s;
    *v = n;
    return true;
}

/* Sorts R[0..N) by first byte and merges the ones that overlap or are
 * within RANGE_GAP of each other; returns the new count. */
static unsigned coalesce(struct srv__range *r, unsigned n)
{
    for (unsigned i = 1; i < n; i++) {
        struct srv__range x = r[i];
        unsigned j = i;
        for (; j > 0 && r[j - 1].first > x.first; j--)
            r[j] = r[j - 1];
        r[j] = x;
    }
    unsigned w = 0;
    for (unsigned i = 1; i < n; i++) {
        if (r[i].first <= r[w].last || r[i].first - r[w].last <= RANGE_GAP) {
            if (r[i].last > r[w].last)
                r[w].last = r[i].last;
        } else {
            r[++w] = r[i];
        }
    }
    return n ? w + 1 : 0;
}

int srv__range_parse(const char *s, size_t len, uint64_t size, struct srv__range *out)
{
    const char *p = s, *end = s + len;
    if (len < 6 || !ieq(s, 5, "bytes") || s[5] != '=' || size == 0)
        return 0;
    p += 6;
    unsigned specs = 0, n = 0;
    while (p < end) {
        if (*p == ',' || is_ows(*p)) {
            p++;
            continue;
        }
        uint64_t first, last;
        if (*p == '-') {
            /* suffix-range: the last N bytes */
            p++;
            uint64_t suffix;
            if (!number(&p, end, &suffix))
                return 0;
            first = suffix >= size ? 0 : size - suffix;
            last = suffix == 0 ? 0 : size - 1;
            if (suffix == 0)
                first = size; /* "-0" is never satisfiable */
        } else {
            if (!number(&p, end, &first) || p == end || *p != '-')
                return 0;
            p++;
            last = UINT64_MAX;
            if (p < end && is_digit(*p)) {
                number(&p, end, &last);
                if (last < first)
                    return 0; /* invalid: the whole field is ignored */
            }
        }
        while (p < end && is_ows(*p))
            p++;
        if (p < end && *p != ',')
            return 0;
        if (++specs > SRV__RANGE_SPECS_MAX)
            return 0; /* an abuse, or a broken client: send the whole file */
        if (first < size)
            out[n++] = (struct srv__range){first, last < size ? last : size - 1};
    }
    if (specs == 0)
        return 0;
    if (n == 0)
        return -1;
    /* Parts go out in the order asked for (RFC 9110 14.6 SHOULD); only when
     * some overlap or nearly touch are they sorted and merged, so the
     * response is never larger than the file plus one part's overhead per
     * part. */
    for (unsigned i = 0; i < n; i++) {
        for (unsigned j = i + 1; j < n; j++) {
            const struct srv__range *a = &out[i], *b = &out[j];
            const struct srv__range *lo = a->first <= b->first ? a : b, *hi = lo == a ? b : a;
            if (hi->first <= lo->last || hi->first - lo->last <= RANGE_GAP)
                return (int)coalesce(out, n);
        }
    }
    return (int)n;
}

/* ---- Accept-Encoding (RFC 9110 12.5.3) ----------------------------------- */

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in
 * thousandths; -1 when malformed. */
static int qvalue(const char *s, size_t n)
{
    if (n == 0 || (s[0] != '0' && s[0] != '1'))
        return -1;
    int v = (s[0] - '0') * 1000;
    if (n == 1)
        return v;
    if (s[1] != '.' || n > 5)
        return -1;
    int scale = 100;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (!is_digit(s[i]) || (v == 1000 && s[i] != '0'))
            return -1;
        v += (s[i] - '0') * scale;
    }
    return v;
}

enum { AE_STAR = SRV__CODINGS, AE_COUNT };

int srv__accept_encoding(const char *s, size_t len, unsigned available)
{
    if (s == NULL)
        return SRV__CODING_IDENTITY; /* no preference: send it as it is */
    int q[AE_COUNT];
    for (int i = 0; i < AE_COUNT; i++)
        q[i] = -1;
    const char *p = s, *end = s + len;
    while (p < end) {
        const char *m = p;
        while (p < end && *p != ',')
            p++;
        const char *mend = p;
        if (p < end)
            p++;
        while (m < mend && is_ows(*m))
            m++;
        while (mend > m && is_ows(mend[-1]))
            mend--;
        const char *t = m;
        while (t < mend && *t != ';' && !is_ows(*t))
            t++;
        size_t tlen = (size_t)(t - m);
        int which = ieq(m, tlen, "br")                                      ? SRV__CODING_BR
                    : ieq(m, tlen, "zstd")                                  ? SRV__CODING_ZSTD
                    : ieq(m, tlen, "gzip") || ieq(m, tlen, "x-gzip")       ? SRV__CODING_GZIP
                    : ieq(m, tlen, "identity")                              ? SRV__CODING_IDENTITY
                    : (tlen == 1 && *m == '*')                              ? AE_STAR
                                                                            : -1;
        /* weight = OWS ";" OWS "q=" qvalue; anything else makes the member
         * malformed, and it is skipped. */
        int weight = 1000;
        while (t < mend && is_ows(*t))
            t++;
        if (t < mend) {
            if (*t != ';')
                continue;
            t++;
            while (t < mend && is_ows(*t))
                t++;
            if (mend - t < 2 || lower(t[0]) != 'q' || t[1] != '=')
                continue;
            weight = qvalue(t + 2, (size_t)(mend - t - 2));
            if (weight < 0)
                continue;
        }
        if (which >= 0 && q[which] < 0)
            q[which] = weight; /* the first mention counts */
    }
    /* Codings not mentioned take the weight of "*", or are unacceptable. */
    int best = -1, best_q = 0;
    static const int order[] = {SRV__CODING_BR, SRV__CODING_ZSTD, SRV__CODING_GZIP};
    for (unsigned i = 0; i < sizeof order / sizeof order[0]; i++) {
        int c = order[i];
        if (!(available & (1u << c)))
            continue;
        int w = q[c] >= 0 ? q[c] : q[AE_STAR] >= 0 ? q[AE_STAR] : 0;
        if (w > best_q) {
            best = c;
            best_q = w;
        }
    }
    /* Identity is acceptable unless excluded (identity;q=0, or *;q=0 with no
     * identity entry), but as the last choice unless it is named. */
    int id = q[SRV__CODING_IDENTITY] >= 0 ? q[SRV__CODING_IDENTITY]
             : q[AE_STAR] == 0            ? 0
                                          : 1;
    if (best >= 0 && best_q >= id)
        return best;
    return id > 0 ? SRV__CODING_IDENTITY : -1;
}
