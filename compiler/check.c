/*
 * check.c - the fourth pass: whole-file checks on the AST the parser built.
 * Validates every value (port, workers, limits, timeouts), every name
 * (methods, handler names, parameter names) and every route pattern, which
 * it splits into segments for routes.c.  It reports every error it finds
 * and resolves values into the Server (port_value, workers_value,
 * limit_values) so codegen never parses text again.
 */
#include "srvc.h"
#include "srv.tab.h"

#include <string.h>

const char *const check_method_names[M_COUNT] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "ANY",
};

enum { MAX_WORKERS = 4096 };

/* C11 keywords, C23's new ones, GNU's `asm`, and the macros srv.h's own
 * includes define: any of these as a generated variable name breaks the
 * generated C in a way the user could not see. */
static const char *const c_keywords[] = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double",
    "else", "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long",
    "register", "restrict", "return", "short", "signed", "sizeof", "static", "struct",
    "switch", "typedef", "union", "unsigned", "void", "volatile", "while", "_Alignas",
    "_Alignof", "_Atomic", "_Bool", "_Complex", "_Generic", "_Imaginary", "_Noreturn",
    "_Static_assert", "_Thread_local", "alignas", "alignof", "bool", "constexpr",
    "false", "nullptr", "static_assert", "thread_local", "true", "typeof",
    "typeof_unqual", "asm", "NULL", "offsetof",
};

bool check_is_c_keyword(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof c_keywords / sizeof c_keywords[0]; i++)
        if (strlen(c_keywords[i]) == len && memcmp(c_keywords[i], name, len) == 0)
            return true;
    return false;
}

static bool is_c_identifier(const char *p, size_t n)
{
    if (n == 0 || !((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= 'A' && p[0] <= 'Z') ||
                    p[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

/* Names the generated code or srv.h own. */
static bool has_reserved_prefix(const char *p, size_t n)
{
    return (n >= 4 && (memcmp(p, "srv_", 4) == 0 || memcmp(p, "SRV_", 4) == 0)) ||
           (n >= 4 && memcmp(p, "srvg", 4) == 0);
}

static bool text_is(Token t, const char *s)
{
    return t.len == strlen(s) && memcmp(t.ptr, s, t.len) == 0;
}

/* Byte I of a string token, located exactly when the string has no escapes
 * (otherwise the whole string). */
static Loc string_loc(Token t, size_t i, size_t len)
{
    if (!t.exact)
        return t.loc;
    Loc l = {t.loc.off + 1 + i, len};
    return l;
}

static const char *show_byte(unsigned char c, char buf[8])
{
    if (c >= 0x20 && c < 0x7f)
        snprintf(buf, 8, "%c", c);
    else
        snprintf(buf, 8, "\\x%02x", c);
    return buf;
}

/* Parses a leading run of decimal digits; *end is where it stopped.  Values
 * past 2^62 saturate, which every range check then rejects. */
static uint64_t parse_digits(const char *p, size_t n, size_t *end)
{
    uint64_t v = 0;
    size_t i = 0;
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++)
        v = v > (UINT64_C(1) << 62) / 10 ? UINT64_C(1) << 62 : v * 10 + (uint64_t)(p[i] - '0');
    *end = i;
    return v;
}

/* --- server values ------------------------------------------------------ */

static void check_host(Server *s, Diag *d)
{
    if (s->host.len == 0) {
        diag_error(d, s->host.loc, "host must not be empty");
        return;
    }
    for (size_t i = 0; i < s->host.len; i++) {
        unsigned char c = (unsigned char)s->host.ptr[i];
        if (c <= 0x20 || c >= 0x7f) {
            char b[8];
            diag_error(d, string_loc(s->host, i, 1), "bad character '%s' in host",
                       show_byte(c, b));
            return;
        }
    }
}

static void check_port(Server *s, Diag *d)
{
    Token t = s->port;
    size_t end;
    bool neg = t.len > 0 && t.ptr[0] == '-';
    uint64_t v = parse_digits(t.ptr + neg, t.len - neg, &end);
    if (end == 0 || end != t.len - neg) {
        diag_error(d, t.loc, "invalid port '%.*s'", (int)t.len, t.ptr);
        return;
    }
    if (neg || v > 65535) {
        diag_error(d, t.loc, "port %.*s is outside 0-65535", (int)t.len, t.ptr);
        return;
    }
    s->port_value = (int)v;
}

static void check_workers(Server *s, Diag *d)
{
    Token t = s->workers;
    s->workers_value = 0;
    if (!s->workers_kw.kind)
        return;
    if (t.kind == T_IDENT && text_is(t, "auto")) {
        s->workers_value = -1;
        return;
    }
    size_t end;
    uint64_t v = t.kind == T_NUMBER ? parse_digits(t.ptr, t.len, &end) : 0;
    if (t.kind != T_NUMBER || end == 0 || end != t.len || v > MAX_WORKERS) {
        diag_error(d, t.loc, "'workers' must be a number from 0 to %d or 'auto'", MAX_WORKERS);
        return;
    }
    s->workers_value = (int)v;
}

/* --- limits and timeouts ------------------------------------------------ */

typedef enum {
    VK_SIZE,     // bytes, optional K or M suffix
    VK_COUNT,    // plain number
    VK_DURATION, // ms, s or m suffix required
} ValueKind;

static const struct {
    SettingGroup group;
    const char *name;
    ValueKind kind;
    int index;     /* LIM_* */
    uint64_t max;  /* in bytes, fields or ms */
} settings[] = {
    {SG_LIMITS, "request_line", VK_SIZE, LIM_REQUEST_LINE, UINT64_C(1) << 30},
    {SG_LIMITS, "header_bytes", VK_SIZE, LIM_HEADER_BYTES, UINT64_C(1) << 30},
    {SG_LIMITS, "header_count", VK_COUNT, LIM_HEADER_COUNT, 100000},
    {SG_LIMITS, "body", VK_SIZE, LIM_BODY, UINT64_C(1) << 30},
    {SG_TIMEOUTS, "header", VK_DURATION, LIM_HEADER_TIMEOUT, 86400000},
    {SG_TIMEOUTS, "body", VK_DURATION, LIM_BODY_TIMEOUT, 86400000},
    {SG_TIMEOUTS, "idle", VK_DURATION, LIM_IDLE_TIMEOUT, 86400000},
    {SG_TIMEOUTS, "shutdown", VK_DURATION, LIM_SHUTDOWN_TIMEOUT, 86400000},
};

enum { NSETTINGS = sizeof settings / sizeof settings[0] };

static const char *const max_text[] = {
    [VK_SIZE] = "1024M", [VK_COUNT] = "100000", [VK_DURATION] = "1440m",
};

/* Value of setting I in its unit (bytes/fields/ms), or 0 after an error. */
static uint64_t setting_value(int i, Token name, Token t, Diag *d)
{
    ValueKind kind = settings[i].kind;
    int nl = (int)name.len;
    if (t.kind != T_NUMBER) {
        diag_error(d, t.loc, "'%.*s' needs a number", nl, name.ptr);
        return 0;
    }
    if (t.ptr[0] == '-') {
        diag_error(d, t.loc, "'%.*s' must be greater than zero", nl, name.ptr);
        return 0;
    }
    size_t end;
    uint64_t v = parse_digits(t.ptr, t.len, &end);
    const char *suf = t.ptr + end;
    size_t sn = t.len - end;
    uint64_t scale = 0;
    if (kind == VK_SIZE) {
        scale = sn == 0 ? 1 : sn == 1 && *suf == 'K' ? 1024 : sn == 1 && *suf == 'M' ? 1048576 : 0;
        if (!scale) {
            diag_error(d, t.loc, "bad size suffix '%.*s' in '%.*s' (use K or M)", (int)sn,
                       suf, (int)t.len, t.ptr);
            return 0;
        }
    } else if (kind == VK_COUNT) {
        scale = 1;
        if (sn) {
            diag_error(d, t.loc, "bad suffix '%.*s' in '%.*s' ('%.*s' is a plain number)",
                       (int)sn, suf, (int)t.len, t.ptr, nl, name.ptr);
            return 0;
        }
    } else {
        if (sn == 0) {
            diag_error(d, t.loc, "duration '%.*s' needs a unit (ms, s or m)", (int)t.len, t.ptr);
            return 0;
        }
        scale = sn == 2 && memcmp(suf, "ms", 2) == 0 ? 1
                : sn == 1 && *suf == 's'            ? 1000
                : sn == 1 && *suf == 'm'            ? 60000
                                                    : 0;
        if (!scale) {
            diag_error(d, t.loc, "bad duration suffix '%.*s' in '%.*s' (use ms, s or m)",
                       (int)sn, suf, (int)t.len, t.ptr);
            return 0;
        }
    }
    if (v == 0) {
        diag_error(d, t.loc, "'%.*s' must be greater than zero (leave it out for the default)",
                   nl, name.ptr);
        return 0;
    }
    if (v > settings[i].max / scale) {
        diag_error(d, t.loc, "'%.*s' is out of range (at most %s)", nl, name.ptr,
                   max_text[kind]);
        return 0;
    }
    return v * scale;
}

static void check_setting(Server *s, const Setting *st, const Setting **first, Diag *d)
{
    const char *group = st->group == SG_LIMITS ? "limit" : "timeout";
    int found = -1;
    for (int i = 0; i < NSETTINGS; i++)
        if (settings[i].group == st->group && text_is(st->key, settings[i].name))
            found = i;
    if (found < 0) {
        diag_error(d, st->key.loc, "unknown %s '%.*s' (expected %s)", group,
                   (int)st->key.len, st->key.ptr,
                   st->group == SG_LIMITS ? "request_line, header_bytes, header_count or body"
                                          : "header, body, idle or shutdown");
        return;
    }
    if (first[found]) {
        diag_error(d, st->key.loc, "duplicate %s '%.*s'", group, (int)st->key.len, st->key.ptr);
        diag_note(d, first[found]->key.loc, "first set here");
        return;
    }
    first[found] = st;
    s->limit_values[settings[found].index] = setting_value(found, st->key, st->value, d);
}

/* --- routes ------------------------------------------------------------- */

static bool is_pattern_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c >= 0x80 || (c != 0 && strchr("-._~!$&'()+,;=:@", c));
}

static void check_param(Route *r, Segment *seg, unsigned nsegs, Diag *d)
{
    const char *name = seg->ptr;
    size_t n = seg->len;
    int nl = (int)n;
    if (n == 0) {
        diag_error(d, seg->loc, "missing parameter name after ':'");
    } else if (!is_c_identifier(name, n)) {
        diag_error(d, seg->loc, "parameter name '%.*s' is not a C identifier", nl, name);
    } else if (check_is_c_keyword(name, n)) {
        diag_error(d, seg->loc, "parameter name '%.*s' is a C keyword", nl, name);
    } else if (has_reserved_prefix(name, n)) {
        diag_error(d, seg->loc, "parameter name '%.*s' uses a prefix reserved for srv", nl,
                   name);
    } else if (r->body.kind && (text_is((Token){.ptr = name, .len = n}, "req") ||
                                text_is((Token){.ptr = name, .len = n}, "res"))) {
        diag_error(d, seg->loc,
                   "parameter name '%.*s' collides with the handler argument '%.*s'", nl,
                   name, nl, name);
    } else {
        for (unsigned i = 0; i < nsegs; i++) {
            if (r->segs[i].kind == SEG_PARAM && r->segs[i].len == n &&
                memcmp(r->segs[i].ptr, name, n) == 0) {
                diag_error(d, seg->loc, "repeated parameter name '%.*s' in route pattern", nl,
                           name);
                diag_note(d, r->segs[i].loc, "first used here");
                break;
            }
        }
    }
}

static void check_literal(Route *r, const Segment *seg, size_t off, Diag *d)
{
    for (size_t i = 0; i < seg->len; i++) {
        unsigned char c = (unsigned char)seg->ptr[i];
        if (!is_pattern_char(c)) {
            char b[8];
            diag_error(d, string_loc(r->pattern, off + i, 1),
                       "bad character '%s' in route pattern", show_byte(c, b));
            return;
        }
    }
    if ((seg->len == 1 && seg->ptr[0] == '.') ||
        (seg->len == 2 && seg->ptr[0] == '.' && seg->ptr[1] == '.'))
        diag_error(d, seg->loc, "segment '%.*s' never matches: request paths are normalised",
                   (int)seg->len, seg->ptr);
}

/* Splits "/a/:b/ *" into segments: the path after the first '/' split at
 * every '/', so "/" is one empty segment and "/a/" ends with one. */
static void check_pattern(Route *r, Diag *d, Arena *a)
{
    Token t = r->pattern;
    if (t.len == 0 || t.ptr[0] != '/') {
        diag_error(d, t.loc, "route pattern must start with '/'");
        return;
    }
    unsigned cap = 1;
    for (size_t i = 1; i < t.len; i++)
        cap += t.ptr[i] == '/';
    r->segs = arena_alloc(a, cap * sizeof *r->segs);
    int errors = d->nerrors;
    size_t start = 1;
    for (unsigned k = 0; k < cap; k++) {
        size_t end = start;
        while (end < t.len && t.ptr[end] != '/')
            end++;
        bool last = k + 1 == cap;
        Segment seg = {SEG_LITERAL, t.ptr + start, end - start, string_loc(t, start, end - start)};
        if (seg.len == 0 && !last) {
            diag_error(d, string_loc(t, start - 1, 2), "empty segment '//' in route pattern");
        } else if (seg.len == 1 && seg.ptr[0] == '*') {
            seg.kind = SEG_WILD;
            if (!last)
                diag_error(d, seg.loc, "'*' must be the last segment of a route pattern");
            r->nparams++;
        } else if (seg.len > 0 && seg.ptr[0] == ':') {
            seg.kind = SEG_PARAM;
            seg.ptr++;
            seg.len--;
            check_param(r, &seg, k, d);
            r->nparams++;
        } else {
            check_literal(r, &seg, start, d);
        }
        r->segs[k] = seg;
        start = end + 1;
    }
    r->nsegs = cap;
    if (r->nparams > SRVC_MAX_PARAMS && d->nerrors == errors)
        diag_error(d, t.loc, "too many parameters in route pattern (%u; at most %d)",
                   r->nparams, SRVC_MAX_PARAMS);
}

static void check_route(Route *r, Diag *d, Arena *a)
{
    r->method_index = -1;
    for (int i = 0; i < M_COUNT; i++)
        if (text_is(r->method, check_method_names[i]))
            r->method_index = i;
    if (r->method_index < 0)
        diag_error(d, r->method.loc,
                   "unknown method '%.*s' (expected GET, HEAD, POST, PUT, DELETE, PATCH, "
                   "OPTIONS or ANY)",
                   (int)r->method.len, r->method.ptr);
    check_pattern(r, d, a);
    Token h = r->handler;
    if (h.kind && check_is_c_keyword(h.ptr, h.len))
        diag_error(d, h.loc, "handler name '%.*s' is a C keyword", (int)h.len, h.ptr);
    else if (h.kind && has_reserved_prefix(h.ptr, h.len))
        diag_error(d, h.loc, "handler name '%.*s' uses a prefix reserved for srv", (int)h.len,
                   h.ptr);
}

bool check_app(App *app, Diag *d, Arena *a)
{
    int before = d->nerrors;
    if (app->nservers == 0)
        diag_error(d, (Loc){LOC_NONE, 0}, "no 'server' block");
    for (Server *s = app->servers; s; s = s->next) {
        if (s != app->servers) {
            diag_error(d, s->keyword.loc, "more than one 'server' block");
            diag_note(d, app->servers->keyword.loc, "first defined here");
        }
        check_host(s, d);
        check_port(s, d);
        check_workers(s, d);
        /* Settings and routes interleaved, so errors come in file order. */
        const Setting *first[NSETTINGS] = {0};
        Route *r = s->routes;
        for (Setting *st = s->settings; st; st = st->next) {
            for (; r && r->loc.off < st->key.loc.off; r = r->next)
                check_route(r, d, a);
            check_setting(s, st, first, d);
        }
        for (; r; r = r->next)
            check_route(r, d, a);
    }
    return d->nerrors == before;
}
