/*
 * forwarded.c - what a load balancer in front says about the client
 * (`trust_proxy`): IP addresses and ranges, and the three headers proxies
 * write, Forwarded (RFC 7239), X-Forwarded-For and X-Forwarded-Proto.
 * request.c asks once per request, lazily, and only when the connection's
 * peer is itself trusted; from any other peer the headers mean nothing.
 *
 * Each proxy adds one hop to the right of the list it received, so only the
 * right end of a list was written by proxies we trust: everything to the
 * left of the first hop that is not a trusted proxy came from the client
 * and may be forged.  The client is therefore the rightmost hop that is not
 * trusted (or the leftmost hop, when every one is).  X-Forwarded-For is read
 * from the right and only as far as that walk goes, so whatever a client
 * wrote beyond it - garbage included - changes nothing.  Forwarded cannot be
 * read from the right: a quoted string may hold a comma, so only a reading
 * from the left says where its elements end; it is therefore parsed whole
 * (and ignored whole when any of it is malformed), keeping the last
 * untrusted element seen.  A forged Forwarded that leaves a quote open
 * swallows what the proxies appended and makes the header malformed, never
 * something the client chose.
 *
 * Everything here is pure: views into header values, a few bytes of stack,
 * no allocation, no logging.  fuzz/fuzz_forwarded.c checks the address
 * parser against inet_pton and the walk's promises.
 */
#include "internal.h"

#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* ---- Addresses -------------------------------------------------------------- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Dotted decimal, four parts of 0..255 without leading zeros (which
 * inet_aton would read as octal: refusing them leaves no ambiguity). */
static bool parse_ipv4(const char *s, size_t len, uint8_t out[4])
{
    size_t i = 0;
    for (int k = 0; k < 4; k++) {
        if (k > 0) {
            if (i >= len || s[i] != '.')
                return false;
            i++;
        }
        size_t start = i;
        unsigned v = 0;
        while (i < len && is_digit(s[i]) && i - start < 3)
            v = v * 10 + (unsigned)(s[i++] - '0');
        if (i == start || v > 255 || (i - start > 1 && s[start] == '0'))
            return false;
        out[k] = (uint8_t)v;
    }
    return i == len;
}

/* RFC 4291 2.2: eight groups of 1-4 hex digits, one "::" standing for one
 * or more zero groups, the last 32 bits possibly in dotted decimal. */
static bool parse_ipv6(const char *s, size_t len, uint8_t out[16])
{
    uint8_t b[16];
    int n = 0;    /* bytes written */
    int gap = -1; /* where "::" stands, in bytes */
    size_t i = 0;
    if (len >= 2 && s[0] == ':' && s[1] == ':') {
        gap = 0;
        i = 2;
    } else if (len == 0 || s[0] == ':') {
        return false;
    }
    while (i < len) {
        size_t j = i;
        unsigned v = 0;
        while (j < len && j - i < 5 && hex_value(s[j]) >= 0)
            v = v * 16 + (unsigned)hex_value(s[j++]);
        if (j < len && s[j] == '.') {
            /* An IPv4 tail: the rest of the text, in the last 4 bytes. */
            if (n > 12 || !parse_ipv4(s + i, len - i, b + n))
                return false;
            n += 4;
            i = len;
            break;
        }
        if (j == i || j - i > 4 || n == 16)
            return false;
        b[n++] = (uint8_t)(v >> 8);
        b[n++] = (uint8_t)v;
        i = j;
        if (i == len)
            break;
        if (s[i] != ':' || i + 1 == len)
            return false; /* not a separator, or a trailing single ':' */
        i++;
        if (s[i] == ':') {
            if (gap >= 0)
                return false; /* a second "::" */
            gap = n;
            i++;
        }
    }
    if (gap < 0 ? n != 16 : n == 16)
        return false; /* too few groups, or a "::" that stands for none */
    memset(out, 0, 16);
    if (gap < 0) {
        memcpy(out, b, 16);
    } else {
        memcpy(out, b, (size_t)gap);
        memcpy(out + 16 - (n - gap), b + gap, (size_t)(n - gap));
    }
    return true;
}

static void peer_clear_text(struct srv__peer *p)
{
    p->text_len = 0;
    p->text[0] = '\0';
}

bool srv__ip_parse(const char *s, size_t len, struct srv__peer *out)
{
    peer_clear_text(out);
    if (memchr(s, ':', len) != NULL) {
        out->family = AF_INET6;
        return parse_ipv6(s, len, out->addr);
    }
    out->family = AF_INET;
    return parse_ipv4(s, len, out->addr);
}

/* Whether the first BITS bits of A and B are equal. */
static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return ((a[whole] ^ b[whole]) & mask) == 0;
}

bool srv__ip_trusted(const struct srv_cidr *list, unsigned n, const struct srv__peer *p)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    const uint8_t *v4 = NULL;
    if (p->family == AF_INET)
        v4 = p->addr;
    else if (p->family == AF_INET6 && memcmp(p->addr, mapped, 12) == 0)
        v4 = p->addr + 12;
    for (unsigned i = 0; i < n; i++) {
        const struct srv_cidr *c = &list[i];
        if (c->family == 4 && v4 != NULL && c->prefix <= 32 && prefix_equal(c->addr, v4, c->prefix))
            return true;
        if (c->family == 6 && p->family == AF_INET6 && c->prefix <= 128 &&
            prefix_equal(c->addr, p->addr, c->prefix))
            return true;
    }
    return false;
}

/* A port: 1-5 digits, at most 65535. */
static bool is_port(const char *s, size_t len)
{
    if (len == 0 || len > 5)
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!is_digit(s[i]))
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    return v <= 65535;
}

/* ---- Header lines ----------------------------------------------------------- */

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static bool header_is(const struct srv__header *h, const char *name, size_t len)
{
    return h->name_len == len && strncasecmp(h->name, name, len) == 0;
}

/* X-Forwarded-For and X-Forwarded-Proto: comma-separated lists, possibly
 * over several lines, read from the right.  The cursor walks the lines
 * named NAME from the last, and each line from its end. */
struct rlist {
    const struct srv__header *h;
    uint32_t line;       /* the line being read, + 1 (0: none left) */
    const char *name;
    size_t name_len;
    const char *lo, *hi; /* what is left of that line: [lo, hi) */
};

static void rlist_init(struct rlist *r, const struct srv__header *h, uint32_t n, const char *name)
{
    r->h = h;
    r->line = n;
    r->name = name;
    r->name_len = strlen(name);
    r->lo = r->hi = NULL;
}

/* The next item from the right, OWS trimmed, empty ones skipped; false at
 * the left end of the first line. */
static bool rlist_prev(struct rlist *r, const char **item, size_t *len)
{
    for (;;) {
        while (r->lo == NULL) {
            /* Next line to the left with that name. */
            do {
                if (r->line == 0)
                    return false;
                r->line--;
            } while (!header_is(&r->h[r->line], r->name, r->name_len));
            r->lo = r->h[r->line].value;
            r->hi = r->lo + r->h[r->line].value_len;
        }
        const char *end = r->hi, *start = end;
        while (start > r->lo && start[-1] != ',')
            start--;
        if (start == r->lo)
            r->lo = NULL; /* the line's first item: the next call moves left a line */
        else
            r->hi = start - 1; /* the comma before this item */
        while (start < end && is_ows(*start))
            start++;
        while (end > start && is_ows(end[-1]))
            end--;
        if (end > start) {
            *item = start;
            *len = (size_t)(end - start);
            return true;
        }
    }
}

/* One X-Forwarded-For item: an address, IPv6 possibly in brackets, either
 * one possibly followed by ":PORT" (some proxies write the port too). */
static bool parse_xff_item(const char *s, size_t len, struct srv__peer *out)
{
    size_t n = len;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL)
            return false;
        size_t after = (size_t)(close - s) + 1;
        if (after < len && (s[after] != ':' || !is_port(s + after + 1, len - after - 1)))
            return false;
        out->family = AF_INET6;
        peer_clear_text(out);
        return parse_ipv6(s + 1, (size_t)(close - s) - 1, out->addr);
    }
    const char *colon = memchr(s, ':', len);
    if (colon != NULL && memchr(colon + 1, ':', len - (size_t)(colon - s) - 1) == NULL) {
        /* One colon: IPv4 with a port ("1.2.3.4:5678"). */
        n = (size_t)(colon - s);
        if (!is_port(colon + 1, len - n - 1))
            return false;
        out->family = AF_INET;
        peer_clear_text(out);
        return parse_ipv4(s, n, out->addr);
    }
    return srv__ip_parse(s, n, out);
}

/* ---- Forwarded (RFC 7239) --------------------------------------------------- */

/* RFC 9110 5.6.2 tchar. */
static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit((char)c) ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Bytes of an unquoted for= or proto= value kept (longer: malformed). */
#define VALUE_MAX 256

enum { FOR_NONE, FOR_ADDR, FOR_HIDDEN }; /* no for=; an address; unknown or obfuscated */

/* One forwarded-element, as far as the client walk needs it. */
struct element {
    uint8_t for_kind;
    int8_t proto;            /* -1: no proto=; 0: another scheme; 1: https */
    struct srv__peer addr;   /* FOR_ADDR */
};

/* obfnode / obfport after the '_': 1*( ALPHA / DIGIT / "." / "_" / "-" ). */
static bool is_obfuscated(const char *s, size_t len)
{
    if (len < 2 || s[0] != '_')
        return false;
    for (size_t i = 1; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '.' ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* node-port: a port (1*5DIGIT; past 65535 is none) or an obfuscated one. */
static bool is_node_port(const char *s, size_t len)
{
    return is_obfuscated(s, len) || is_port(s, len);
}

/* node = nodename [ ":" node-port ], nodename = IPv4address /
 * "[" IPv6address "]" / "unknown" / obfnode (RFC 7239 6). */
static bool parse_node(const char *s, size_t len, struct element *e)
{
    size_t name_len = len;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL)
            return false;
        name_len = (size_t)(close - s) + 1;
    } else {
        const char *colon = memchr(s, ':', len);
        if (colon != NULL)
            name_len = (size_t)(colon - s);
    }
    if (name_len < len && (s[name_len] != ':' || !is_node_port(s + name_len + 1,
                                                                 len - name_len - 1)))
        return false;
    if (name_len > 0 && s[0] == '[') {
        e->addr.family = AF_INET6;
        peer_clear_text(&e->addr);
        if (!parse_ipv6(s + 1, name_len - 2, e->addr.addr))
            return false;
        e->for_kind = FOR_ADDR;
        return true;
    }
    if ((name_len == 7 && strncasecmp(s, "unknown", 7) == 0) || is_obfuscated(s, name_len)) {
        e->for_kind = FOR_HIDDEN;
        return true;
    }
    e->addr.family = AF_INET;
    peer_clear_text(&e->addr);
    if (!parse_ipv4(s, name_len, e->addr.addr))
        return false;
    e->for_kind = FOR_ADDR;
    return true;
}

/* A value, token or quoted-string, starting at *P (END excluded): its
 * unquoted bytes into BUF (VALUE_MAX), their count in *LEN, *P past it.
 * False when malformed or too long. */
static bool parse_value(const char **p, const char *end, char *buf, size_t *len)
{
    const char *s = *p;
    size_t n = 0;
    if (s < end && *s == '"') {
        for (s++;; s++) {
            if (s == end)
                return false; /* unterminated */
            unsigned char c = (unsigned char)*s;
            if (c == '"')
                break;
            if (c == '\\') {
                if (++s == end)
                    return false;
                c = (unsigned char)*s;
                if (c != '\t' && (c < 0x20 || c == 0x7f))
                    return false;
            } else if (c != '\t' && (c < 0x20 || c == 0x7f)) {
                return false;
            }
            if (n == VALUE_MAX)
                return false;
            buf[n++] = (char)c;
        }
        *p = s + 1;
    } else {
        while (s < end && is_tchar((unsigned char)*s)) {
            if (n == VALUE_MAX)
                return false;
            buf[n++] = *s++;
        }
        if (n == 0)
            return false;
        *p = s;
    }
    *len = n;
    return true;
}

/* uri-scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 3.1). */
static bool is_scheme(const char *s, size_t len)
{
    if (len == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return false;
    for (size_t i = 1; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '+' ||
              c == '-' || c == '.'))
            return false;
    }
    return true;
}

/* The walk over Forwarded, from the left: the last element that is not a
 * trusted proxy, or the first element while there is none (so the
 * leftmost when every element is trusted). */
struct fwd_walk {
    const struct srv_cidr *trust;
    unsigned ntrust;
    unsigned elements;    /* seen so far */
    unsigned chosen_at;   /* CHOSEN's index from the left */
    struct element chosen;
};

static void walk_element(struct fwd_walk *w, const struct element *e)
{
    /* An unknown or obfuscated node cannot be checked: it is no proxy of ours. */
    bool trusted = e->for_kind == FOR_ADDR && srv__ip_trusted(w->trust, w->ntrust, &e->addr);
    if (!trusted || w->elements == 0) {
        w->chosen = *e;
        w->chosen_at = w->elements;
    }
    w->elements++;
}

/* forwarded-element *( OWS "," OWS forwarded-element ) over one line, with
 * OWS also allowed around ';' (proxies differ there; RFC 7239 has none).
 * Empty elements and empty pairs are skipped, as list rules allow.  False
 * when anything is malformed or a parameter repeats within an element. */
static bool walk_line(struct fwd_walk *w, const char *p, const char *end)
{
    char buf[VALUE_MAX];
    struct element e = {FOR_NONE, -1, {0}};
    bool any = false;         /* the element has a pair */
    unsigned seen = 0;        /* bits: for, by, host, proto */
    for (;;) {
        while (p < end && is_ows(*p))
            p++;
        if (p == end || *p == ',') {
            if (any)
                walk_element(w, &e);
            if (p == end)
                return true;
            p++;
            e = (struct element){FOR_NONE, -1, {0}};
            any = false;
            seen = 0;
            continue;
        }
        if (*p == ';') {
            p++;
            continue;
        }
        const char *name = p;
        while (p < end && is_tchar((unsigned char)*p))
            p++;
        size_t name_len = (size_t)(p - name);
        if (name_len == 0 || p == end || *p != '=')
            return false;
        p++;
        size_t len;
        if (!parse_value(&p, end, buf, &len))
            return false;
        while (p < end && is_ows(*p))
            p++;
        if (p < end && *p != ';' && *p != ',')
            return false;
        static const char *const known[] = {"for", "by", "host", "proto"};
        unsigned k = 0;
        while (k < 4 && !(strlen(known[k]) == name_len &&
                          strncasecmp(name, known[k], name_len) == 0))
            k++;
        if (k < 4) {
            if (seen & (1u << k))
                return false; /* RFC 7239 4: at most once per element */
            seen |= 1u << k;
        }
        if (k == 0 && !parse_node(buf, len, &e))
            return false;
        if (k == 3) {
            if (!is_scheme(buf, len))
                return false;
            e.proto = len == 5 && strncasecmp(buf, "https", 5) == 0;
        }
        any = true;
    }
}

/* ---- The client ------------------------------------------------------------- */

/* X-Forwarded-Proto's entry at HOP from the right (its leftmost when it
 * has fewer): whether it says https; false without the header. */
static bool xfp_https(const struct srv__header *h, uint32_t n, unsigned hop)
{
    struct rlist r;
    rlist_init(&r, h, n, "x-forwarded-proto");
    const char *item = NULL, *s;
    size_t len = 0, slen;
    for (unsigned i = 0; i <= hop && rlist_prev(&r, &s, &slen); i++) {
        item = s;
        len = slen;
    }
    return item != NULL && len == 5 && strncasecmp(item, "https", 5) == 0;
}

/* X-Forwarded-For from the right.  Returns the hop of the client counted
 * from the right, with its address in OUT, or -1 when the header is
 * missing or malformed where the walk reached. */
static int xff_client(const struct srv__header *h, uint32_t n, const struct srv_cidr *trust,
                      unsigned ntrust, struct srv__peer *out)
{
    struct rlist r;
    rlist_init(&r, h, n, "x-forwarded-for");
    const char *item;
    size_t len;
    int hop = -1;
    struct srv__peer p;
    while (rlist_prev(&r, &item, &len)) {
        if (!parse_xff_item(item, len, &p))
            return -1;
        *out = p;
        hop++;
        if (!srv__ip_trusted(trust, ntrust, &p))
            break;
    }
    return hop;
}

void srv__forwarded_parse(const struct srv__header *h, uint32_t n, const struct srv_cidr *trust,
                          unsigned ntrust, struct srv__forwarded *out)
{
    memset(out, 0, sizeof *out);
    int hop = -1;
    bool has_forwarded = false;
    struct fwd_walk w = {.trust = trust, .ntrust = ntrust};
    bool ok = true;
    for (uint32_t i = 0; i < n && ok; i++) {
        if (header_is(&h[i], "forwarded", 9)) {
            has_forwarded = true;
            ok = walk_line(&w, h[i].value, h[i].value + h[i].value_len);
        }
    }
    if (has_forwarded) {
        if (ok && w.elements > 0) {
            hop = (int)(w.elements - 1 - w.chosen_at);
            if (w.chosen.for_kind == FOR_ADDR) {
                out->client = w.chosen.addr;
                out->source = "forwarded";
            }
            if (w.chosen.proto >= 0) {
                out->https = w.chosen.proto == 1;
                return;
            }
        }
    } else {
        hop = xff_client(h, n, trust, ntrust, &out->client);
        if (hop >= 0)
            out->source = "x-forwarded-for";
        else
            out->client.family = 0;
    }
    out->https = xfp_https(h, n, hop < 0 ? 0 : (unsigned)hop);
}
