/*
 * check.c - the fourth pass: whole-file checks on the AST the parser built.
 * Validates every value (port, workers, limits, timeouts, user), every name
 * (methods, handler names, parameter names) and every route pattern, which
 * it splits into segments for routes.c.  It reports every error it finds
 * and resolves values into the Server (port_value, workers_value,
 * limit_values) so codegen never parses text again.
 */
#include "srvc.h"
#include "srv.tab.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

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
    {SG_LIMITS, "multipart_parts", VK_COUNT, LIM_MULTIPART_PARTS, 100000},
    {SG_LIMITS, "multipart_header", VK_SIZE, LIM_MULTIPART_HEADER, UINT64_C(1) << 20},
    {SG_LIMITS, "sse_queue", VK_SIZE, LIM_SSE_QUEUE, UINT64_C(1) << 30},
    {SG_LIMITS, "ws_message", VK_SIZE, LIM_WS_MESSAGE, UINT64_C(1) << 30},
    {SG_LIMITS, "ws_frame", VK_SIZE, LIM_WS_FRAME, UINT64_C(1) << 30},
    {SG_LIMITS, "ws_queue", VK_SIZE, LIM_WS_QUEUE, UINT64_C(1) << 30},
    {SG_LIMITS, "ws_ping", VK_DURATION, LIM_WS_PING, 86400000},
    {SG_TIMEOUTS, "response", VK_DURATION, LIM_RESPONSE_TIMEOUT, 86400000},
    {SG_TIMEOUTS, "header", VK_DURATION, LIM_HEADER_TIMEOUT, 86400000},
    {SG_TIMEOUTS, "body", VK_DURATION, LIM_BODY_TIMEOUT, 86400000},
    {SG_TIMEOUTS, "idle", VK_DURATION, LIM_IDLE_TIMEOUT, 86400000},
    {SG_TIMEOUTS, "shutdown", VK_DURATION, LIM_SHUTDOWN_TIMEOUT, 86400000},
    {SG_TIMEOUTS, "reload", VK_DURATION, LIM_RELOAD_TIMEOUT, 86400000},
};

enum { NSETTINGS = sizeof settings / sizeof settings[0] };

static const char *const max_text[] = {
    [VK_SIZE] = "1024M", [VK_COUNT] = "100000", [VK_DURATION] = "1440m",
};

/* Value of setting I in its unit (bytes/fields/ms), or 0 after an error. */
static uint64_t parse_value(ValueKind kind, uint64_t max, Token name, Token t, Diag *d);

static uint64_t setting_value(int i, Token name, Token t, Diag *d)
{
    return parse_value(settings[i].kind, settings[i].max, name, t, d);
}

/* A value of KIND up to MAX (bytes, fields or ms), or 0 after an error. */
static uint64_t parse_value(ValueKind kind, uint64_t max, Token name, Token t, Diag *d)
{
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
    if (v > max / scale) {
        diag_error(d, t.loc, "'%.*s' is out of range (at most %s)", nl, name.ptr,
                   max_text[kind]);
        return 0;
    }
    return v * scale;
}

/* Whether ST names a setting of its block. */
static bool known_setting(const Setting *st)
{
    for (int i = 0; i < NSETTINGS; i++)
        if (settings[i].group == st->group && text_is(st->key, settings[i].name))
            return true;
    return false;
}

/* In a group only `timeouts { response ...; }` means anything: the deadline
 * of the deferred responses of its routes. */
static void check_group_setting(const Setting *st, Diag *d)
{
    Scope *g = st->scope;
    static const char *const response[] = {"response"};
    if (st->group == SG_TIMEOUTS && !known_setting(st) &&
        diag_suggest(st->key.ptr, st->key.len, response, 1)) {
        diag_unknown(d, st->key.loc, "timeout", st->key.ptr, st->key.len, response, 1, NULL);
        return;
    }
    if (st->group != SG_TIMEOUTS || !text_is(st->key, "response")) {
        diag_error(d, st->key.loc,
                   "only 'response' can be set in a group's timeouts (the others are the "
                   "server's)");
        diag_note(d, g->keyword.loc, "inside this group");
        return;
    }
    if (g->response_key.kind) {
        diag_error(d, st->key.loc, "duplicate timeout 'response'");
        diag_note(d, g->response_key.loc, "first set here");
        return;
    }
    g->response_key = st->key;
    for (int i = 0; i < NSETTINGS; i++)
        if (settings[i].index == LIM_RESPONSE_TIMEOUT)
            g->response_ms = (unsigned)setting_value(i, st->key, st->value, d);
}

static void check_setting(Server *s, const Setting *st, const Setting **first, Diag *d)
{
    if (st->scope && st->scope->parent) {
        check_group_setting(st, d);
        return;
    }
    const char *group = st->group == SG_LIMITS ? "limit" : "timeout";
    int found = -1;
    for (int i = 0; i < NSETTINGS; i++)
        if (settings[i].group == st->group && text_is(st->key, settings[i].name))
            found = i;
    if (found < 0) {
        const char *names[NSETTINGS];
        size_t n = 0;
        for (int i = 0; i < NSETTINGS; i++)
            if (settings[i].group == st->group)
                names[n++] = settings[i].name;
        diag_unknown(d, st->key.loc, group, st->key.ptr, st->key.len, names, n,
                     st->group == SG_LIMITS ? "request_line, header_bytes, header_count, body, "
                                              "multipart_parts, multipart_header, sse_queue, "
                                              "ws_message, ws_frame, ws_queue or ws_ping"
                                            : "header, body, idle, shutdown, reload or response");
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

/* --- secret, log, cors --------------------------------------------------- */

static bool is_env_name(Token t)
{
    return t.len > 0 && is_c_identifier(t.ptr, t.len);
}

/* secret: ("env" STRING)+  - the names of environment variables that hold
 * the signing secrets, newest first; the values never appear in the file. */
static void check_secret(const Directive *dir, Diag *d)
{
    if (dir->nargs == 0) {
        diag_error(d, dir->keyword.loc,
                   "'secret' needs a source, e.g. secret env \"SRV_SECRET\";");
        return;
    }
    for (unsigned i = 0; i < dir->nargs; i += 2) {
        Token w = dir->args[i];
        if (w.kind != T_IDENT || !text_is(w, "env")) {
            static const char *const sources[] = {"env"};
            diag_unknown(d, w.loc, "secret source", w.ptr, w.len, sources,
                         w.kind == T_IDENT ? 1 : 0, "env \"NAME\"");
            return;
        }
        if (i + 1 >= dir->nargs || dir->args[i + 1].kind != T_STRING) {
            diag_error(d, w.loc, "expected the name of an environment variable after 'env'");
            return;
        }
        Token name = dir->args[i + 1];
        if (!is_env_name(name)) {
            diag_error(d, name.loc, "\"%.*s\" is not an environment variable name", (int)name.len,
                       name.ptr);
            return;
        }
        for (unsigned k = 1; k < i; k += 2) {
            if (dir->args[k].len == name.len && memcmp(dir->args[k].ptr, name.ptr, name.len) == 0) {
                diag_error(d, name.loc, "secret env \"%.*s\" named twice", (int)name.len, name.ptr);
                diag_note(d, dir->args[k].loc, "first named here");
                return;
            }
        }
    }
    if (dir->nargs > 2 * SRVC_MAX_SECRETS)
        diag_error(d, dir->args[2 * SRVC_MAX_SECRETS].loc,
                   "at most %d secrets (the current one and older ones still accepted)",
                   SRVC_MAX_SECRETS);
}

/* log: [PATH] FORMAT  with FORMAT one of off, combined, json. */
static void check_log(Server *s, const Directive *dir, Diag *d)
{
    static const char *const formats[] = {[LOG_OFF] = "off", [LOG_COMBINED] = "combined",
                                          [LOG_JSON] = "json"};
    unsigned i = 0;
    if (dir->nargs > 0 && dir->args[0].kind == T_STRING) {
        Token path = dir->args[0];
        if (path.len == 0 || memchr(path.ptr, '\0', path.len)) {
            diag_error(d, path.loc, "log file name must be non-empty and without NUL");
            return;
        }
        s->log_path = path.ptr;
        i = 1;
    }
    if (i == dir->nargs) {
        if (i == 0) {
            diag_error(d, dir->keyword.loc, "'log' needs a format: off, combined or json");
            return;
        }
        s->log_format = LOG_COMBINED; /* log "access.log"; */
        return;
    }
    Token f = dir->args[i];
    int found = -1;
    for (int k = 0; k < 3; k++)
        if (f.kind == T_IDENT && text_is(f, formats[k]))
            found = k;
    if (found < 0) {
        diag_unknown(d, f.loc, "log format", f.ptr, f.len, formats, f.kind == T_IDENT ? 3 : 0,
                     "off, combined or json");
        return;
    }
    if (i + 1 < dir->nargs) {
        diag_error(d, dir->args[i + 1].loc, "unexpected '%.*s' after the log format",
                   (int)dir->args[i + 1].len, dir->args[i + 1].ptr);
        return;
    }
    if (found == LOG_OFF && s->log_path) {
        diag_error(d, f.loc, "'off' takes no file name");
        return;
    }
    s->log_format = found;
    if (found == LOG_OFF)
        s->log_path = NULL;
}

/* pubsub: "redis" HOST PORT  - channels shared with other servers through
 * a Redis server (without it they span this server's workers). */
static void check_pubsub(Server *s, const Directive *dir, Diag *d)
{
    static const char *const backends[] = {"redis"};
    if (dir->nargs && dir->args[0].kind == T_IDENT && !text_is(dir->args[0], "redis") &&
        diag_suggest(dir->args[0].ptr, dir->args[0].len, backends, 1)) {
        diag_unknown(d, dir->args[0].loc, "pubsub backend", dir->args[0].ptr, dir->args[0].len,
                     backends, 1, NULL);
        return;
    }
    if (dir->nargs == 0 || dir->args[0].kind != T_IDENT || !text_is(dir->args[0], "redis")) {
        diag_error(d, dir->nargs ? dir->args[0].loc : dir->keyword.loc,
                   "expected a backend: pubsub redis \"HOST\" PORT;");
        return;
    }
    if (dir->nargs != 3 || dir->args[1].kind != T_STRING || dir->args[2].kind != T_NUMBER) {
        diag_error(d, dir->loc, "expected pubsub redis \"HOST\" PORT;");
        return;
    }
    Token host = dir->args[1], port = dir->args[2];
    if (host.len == 0 || memchr(host.ptr, '\0', host.len)) {
        diag_error(d, host.loc, "Redis host must be non-empty, without NUL");
        return;
    }
    size_t end;
    uint64_t v = parse_digits(port.ptr, port.len, &end);
    if (end != port.len || v == 0 || v > 65535) {
        diag_error(d, port.loc, "Redis port must be a number from 1 to 65535");
        return;
    }
    s->redis_host = host.ptr;
    s->redis_port = (int)v;
}

/* --- trust_proxy, proxy_protocol, metrics -------------------------------- */

/* One trust_proxy entry: an address, or ADDRESS "/" PREFIX with no bit set
 * past the prefix.  Addresses are read by inet_pton, which the runtime's
 * parser of forwarded addresses agrees with (tests/runtime/test_forwarded.c). */
static bool parse_cidr(Token t, Cidr *c, Diag *d, Arena *a)
{
    if (t.kind != T_STRING) {
        diag_error(d, t.loc, "expected an address or range in quotes, e.g. \"10.0.0.0/8\"");
        return false;
    }
    const char *slash = memchr(t.ptr, '/', t.len);
    size_t alen = slash ? (size_t)(slash - t.ptr) : t.len;
    char *addr = arena_strndup(a, t.ptr, alen);
    c->family = memchr(addr, ':', alen) ? 6 : 4;
    if (memchr(t.ptr, '\0', t.len) ||
        inet_pton(c->family == 6 ? AF_INET6 : AF_INET, addr, c->addr) != 1) {
        diag_error(d, string_loc(t, 0, alen), "\"%.*s\" is not an IPv4 or IPv6 address",
                   (int)alen, t.ptr);
        return false;
    }
    unsigned max = c->family == 6 ? 128 : 32;
    c->prefix = max;
    if (slash) {
        size_t plen = t.len - alen - 1, end;
        uint64_t v = parse_digits(slash + 1, plen, &end);
        if (plen == 0 || end != plen || plen > 3) {
            diag_error(d, string_loc(t, alen, plen + 1),
                       "bad prefix length '/%.*s' (expected a number of bits)", (int)plen,
                       slash + 1);
            return false;
        }
        if (v > max) {
            diag_error(d, string_loc(t, alen, plen + 1),
                       "prefix length %u is too long for an IPv%d range (at most %u)",
                       (unsigned)v, c->family, max);
            return false;
        }
        c->prefix = (unsigned)v;
    }
    unsigned char net[16];
    memcpy(net, c->addr, sizeof net);
    for (unsigned bit = c->prefix; bit < max; bit++)
        net[bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
    if (memcmp(net, c->addr, max / 8) != 0) {
        char text[INET6_ADDRSTRLEN];
        inet_ntop(c->family == 6 ? AF_INET6 : AF_INET, net, text, sizeof text);
        diag_error(d, t.loc, "\"%.*s\" has bits set past its /%u prefix: did you mean "
                   "\"%s/%u\"?", (int)t.len, t.ptr, c->prefix, text, c->prefix);
        return false;
    }
    c->text = t.ptr;
    c->loc = t.loc;
    return true;
}

/* trust_proxy: STRING+  - the proxies whose forwarding headers are believed. */
static void check_trust_proxy(Server *s, const Directive *dir, Diag *d, Arena *a)
{
    if (dir->nargs == 0) {
        diag_error(d, dir->keyword.loc, "'trust_proxy' needs the addresses or ranges of your "
                   "proxies, e.g. trust_proxy \"127.0.0.1\" \"10.0.0.0/8\";");
        return;
    }
    s->trust = arena_alloc(a, dir->nargs * sizeof *s->trust);
    for (unsigned i = 0; i < dir->nargs; i++) {
        Cidr *c = &s->trust[s->ntrust];
        if (!parse_cidr(dir->args[i], c, d, a))
            continue;
        bool dup = false;
        for (unsigned k = 0; k < s->ntrust && !dup; k++) {
            const Cidr *o = &s->trust[k];
            if (o->family == c->family && o->prefix == c->prefix &&
                memcmp(o->addr, c->addr, 16) == 0) {
                diag_error(d, dir->args[i].loc, "\"%.*s\" is listed twice",
                           (int)dir->args[i].len, dir->args[i].ptr);
                diag_note(d, o->loc, "first listed here");
                dup = true;
            }
        }
        if (!dup)
            s->ntrust++;
    }
}

/* proxy_protocol;  - no words: both versions are accepted. */
static void check_proxy_protocol(const Directive *dir, Diag *d)
{
    if (dir->nargs > 0)
        diag_error(d, dir->args[0].loc,
                   "'proxy_protocol' takes no value (headers of versions 1 and 2 are read)");
}

/* metrics [STRING]  - the path is checked as a route (check_metrics_route). */
static void check_metrics(const Directive *dir, Diag *d)
{
    if (dir->nargs > 0 && dir->args[0].kind != T_STRING)
        diag_error(d, dir->args[0].loc, "expected the metrics path in quotes, e.g. metrics "
                   "\"/metrics\"; (or nothing, to count without a route)");
    else if (dir->nargs > 1)
        diag_error(d, dir->args[1].loc, "unexpected '%.*s' after the metrics path",
                   (int)dir->args[1].len, dir->args[1].ptr);
}

/* user: NAME [GROUP]  - the account the server drops to once its sockets
 * are open (runtime/privileges.c).  The names are looked up when the server
 * starts, not here: the machine that compiles is rarely the one that runs. */
static void check_user(Server *s, const Directive *dir, Diag *d)
{
    static const char *const what[] = {"user", "group"};
    if (dir->nargs == 0) {
        diag_error(d, dir->keyword.loc,
                   "'user' needs a user name: user \"NAME\"; or user \"NAME\" \"GROUP\";");
        return;
    }
    if (dir->nargs > 2) {
        diag_error(d, dir->args[2].loc,
                   "'user' takes a user name and an optional group, nothing more");
        return;
    }
    const char *names[2] = {NULL, NULL};
    for (unsigned i = 0; i < dir->nargs; i++) {
        Token t = dir->args[i];
        if (t.kind != T_STRING) {
            diag_error(d, t.loc, "%s name must be a string (write \"%.*s\")", what[i], (int)t.len,
                       t.ptr);
            return;
        }
        if (t.len == 0) {
            diag_error(d, t.loc, "%s name must not be empty", what[i]);
            return;
        }
        /* Bytes no passwd or group entry can hold: the name could never be
         * found, or would be cut short at a NUL. */
        for (size_t k = 0; k < t.len; k++) {
            unsigned char c = (unsigned char)t.ptr[k];
            if (c < 0x20 || c == 0x7f || c == ':') {
                char b[8];
                diag_error(d, string_loc(t, k, 1), "bad character '%s' in %s name",
                           show_byte(c, b), what[i]);
                return;
            }
        }
        names[i] = t.ptr;
    }
    s->user_name = names[0];
    s->group_name = names[1];
}

/* An origin as browsers send it: scheme "://" host [":" port], lower case,
 * no path, no trailing slash (or "null"). */
static bool bad_origin(Token t, Diag *d)
{
    const char *p = t.ptr, *end = t.ptr + t.len;
    const char *sep = t.len >= 3 ? strstr(t.ptr, "://") : NULL;
    if (text_is(t, "null"))
        return false;
    if (!sep || sep == p) {
        diag_error(d, t.loc, "origin \"%.*s\" is not scheme://host[:port]", (int)t.len, t.ptr);
        return true;
    }
    for (const char *q = p; q < end; q++) {
        unsigned char c = (unsigned char)*q;
        if (c <= 0x20 || c >= 0x7f || (c >= 'A' && c <= 'Z')) {
            char b[8];
            diag_error(d, string_loc(t, (size_t)(q - p), 1),
                       "bad character '%s' in origin (browsers send origins in lower case, "
                       "without spaces)",
                       show_byte(c, b));
            return true;
        }
    }
    const char *host = sep + 3;
    if (host == end || memchr(host, '/', (size_t)(end - host))) {
        diag_error(d, t.loc,
                   "origin \"%.*s\" must be scheme://host[:port], without a path or a "
                   "trailing '/'",
                   (int)t.len, t.ptr);
        return true;
    }
    return false;
}

static bool is_token(Token t)
{
    if (t.len == 0)
        return false;
    for (size_t i = 0; i < t.len; i++) {
        unsigned char c = (unsigned char)t.ptr[i];
        if (!(c > 0x20 && c < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", c)))
            return false;
    }
    return true;
}

/* Every argument of DIR is a string holding a header name (or "*"). */
static void check_header_list(const Directive *dir, Diag *d)
{
    if (dir->nargs == 0)
        diag_error(d, dir->keyword.loc, "'%.*s' needs at least one header name",
                   (int)dir->keyword.len, dir->keyword.ptr);
    for (unsigned i = 0; i < dir->nargs; i++) {
        Token t = dir->args[i];
        if (t.kind != T_STRING || !is_token(t) || (text_is(t, "*") && dir->nargs > 1))
            diag_error(d, t.loc, "'%.*s' takes header names as strings (or \"*\" alone)",
                       (int)dir->keyword.len, dir->keyword.ptr);
    }
}

static void check_cors(Cors *c, Diag *d)
{
    static const char *const names[] = {"origin", "methods", "headers", "expose", "max_age",
                                        "credentials"};
    const Directive **slots[] = {&c->origin, &c->methods, &c->headers, &c->expose, &c->max_age,
                                 &c->credentials};
    for (const Directive *dir = c->items; dir; dir = dir->next) {
        int k = -1;
        for (int i = 0; i < 6; i++)
            if (text_is(dir->keyword, names[i]))
                k = i;
        if (k < 0) {
            diag_unknown(d, dir->keyword.loc, "cors setting", dir->keyword.ptr, dir->keyword.len,
                         names, 6, "origin, methods, headers, expose, max_age or credentials");
            continue;
        }
        if (*slots[k]) {
            diag_error(d, dir->keyword.loc, "duplicate cors setting '%s'", names[k]);
            diag_note(d, (*slots[k])->keyword.loc, "first set here");
            continue;
        }
        *slots[k] = dir;
    }
    if (!c->origin) {
        diag_error(d, c->keyword.loc, "'cors' needs an 'origin' line (the origins allowed, or \"*\")");
    } else {
        if (c->origin->nargs == 0)
            diag_error(d, c->origin->keyword.loc, "'origin' needs at least one origin");
        for (unsigned i = 0; i < c->origin->nargs; i++) {
            Token t = c->origin->args[i];
            if (t.kind != T_STRING) {
                diag_error(d, t.loc, "origins are strings: \"https://app.example.com\"");
            } else if (text_is(t, "*")) {
                if (c->origin->nargs > 1)
                    diag_error(d, t.loc, "origin \"*\" allows every origin: list no others");
                c->any_origin = true;
            } else {
                bad_origin(t, d);
            }
        }
    }
    c->method_mask = (1u << M_GET) | (1u << M_HEAD) | (1u << M_POST); /* the simple methods */
    if (c->methods) {
        c->method_mask = 0;
        if (c->methods->nargs == 0)
            diag_error(d, c->methods->keyword.loc, "'methods' needs at least one method");
        for (unsigned i = 0; i < c->methods->nargs; i++) {
            Token t = c->methods->args[i];
            int m = -1;
            for (int k = 0; k < M_ANY; k++)
                if (t.kind == T_IDENT && text_is(t, check_method_names[k]))
                    m = k;
            const char *near = m < 0 ? diag_suggest(t.ptr, t.len, check_method_names, M_ANY)
                                     : NULL;
            if (near)
                diag_error(d, t.loc, "unknown method '%.*s' in 'methods'; did you mean '%s'?",
                           (int)t.len, t.ptr, near);
            else if (m < 0)
                diag_error(d, t.loc, "unknown method '%.*s' in 'methods' (expected GET, HEAD, "
                           "POST, PUT, DELETE, PATCH or OPTIONS)", (int)t.len, t.ptr);
            else
                c->method_mask |= 1u << m;
        }
    }
    if (c->headers)
        check_header_list(c->headers, d);
    if (c->expose)
        check_header_list(c->expose, d);
    if (c->max_age) {
        if (c->max_age->nargs != 1)
            diag_error(d, c->max_age->keyword.loc, "'max_age' needs one duration, e.g. max_age 10m;");
        else
            c->max_age_s = parse_value(VK_DURATION, 86400000, c->max_age->keyword,
                                       c->max_age->args[0], d) / 1000;
    }
    if (c->credentials) {
        if (c->credentials->nargs)
            diag_error(d, c->credentials->args[0].loc, "'credentials' takes no value");
        /* Browsers refuse credentialed responses with a wildcard. */
        const Directive *wild = NULL;
        if (c->any_origin)
            wild = c->origin;
        else if (c->headers && c->headers->nargs == 1 && text_is(c->headers->args[0], "*"))
            wild = c->headers;
        else if (c->expose && c->expose->nargs == 1 && text_is(c->expose->args[0], "*"))
            wild = c->expose;
        if (wild) {
            diag_error(d, c->credentials->keyword.loc,
                       "'credentials' cannot be combined with %.*s \"*\": browsers reject "
                       "credentialed responses that allow every %s",
                       (int)wild->keyword.len, wild->keyword.ptr,
                       wild == c->origin ? "origin" : "header");
            diag_note(d, wild->keyword.loc, "\"*\" given here; list the %ss instead",
                      wild == c->origin ? "origin" : "header");
        }
    }
}

/* --- routes ------------------------------------------------------------- */

static bool is_pattern_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c >= 0x80 || (c != 0 && strchr("-._~!$&'()+,;=:@", c));
}

/* NAME of a `:name` segment; PRIOR[0..NPRIOR) are the segments before it in
 * the whole pattern (an enclosing group's included).  BINDS_REQ_RES: the name
 * becomes a C variable next to `req` and `res`. */
static void check_param(const Segment *prior, unsigned nprior, const Segment *seg,
                        bool binds_req_res, Diag *d)
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
    } else if (binds_req_res && (text_is((Token){.ptr = name, .len = n}, "req") ||
                                 text_is((Token){.ptr = name, .len = n}, "res"))) {
        diag_error(d, seg->loc,
                   "parameter name '%.*s' collides with the handler argument '%.*s'", nl,
                   name, nl, name);
    } else {
        for (unsigned i = 0; i < nprior; i++) {
            if (prior[i].kind == SEG_PARAM && prior[i].len == n &&
                memcmp(prior[i].ptr, name, n) == 0) {
                diag_error(d, seg->loc, "repeated parameter name '%.*s' in route pattern", nl,
                           name);
                diag_note(d, prior[i].loc, "first used here");
                break;
            }
        }
    }
}

static void check_literal(Token t, const Segment *seg, size_t off, Diag *d)
{
    for (size_t i = 0; i < seg->len; i++) {
        unsigned char c = (unsigned char)seg->ptr[i];
        if (!is_pattern_char(c)) {
            char b[8];
            diag_error(d, string_loc(t, off + i, 1), "bad character '%s' in route pattern",
                       show_byte(c, b));
            return;
        }
    }
    if ((seg->len == 1 && seg->ptr[0] == '.') ||
        (seg->len == 2 && seg->ptr[0] == '.' && seg->ptr[1] == '.'))
        diag_error(d, seg->loc, "segment '%.*s' never matches: request paths are normalised",
                   (int)seg->len, seg->ptr);
}

/* What a path string is, for the rules split_path applies. */
typedef enum {
    PK_ROUTE,  // "/users/:id", "/files/*"; "" inside a group is the group itself
    PK_GROUP,  // "/api", "/users/:id"; "" adds no prefix; no '*', no trailing '/'
    PK_MOUNT,  // "/assets/": literal, starts and ends with '/'; the end becomes '*'
} PathKind;

/* Splits path string T after the segments PRIOR[0..NPRIOR) of the enclosing
 * scope: the path after the first '/' split at every '/', so "/" is one
 * empty segment and "/a/" ends with one.  Returns the whole list (the
 * prior segments first) in *OUT and its length; reports every error. */
static unsigned split_path(Token t, PathKind kind, const Segment *prior, unsigned nprior,
                           bool binds_req_res, Segment **out, Diag *d, Arena *a)
{
    unsigned own = 0;
    if (t.len > 0) {
        own = 1;
        for (size_t i = 1; i < t.len; i++)
            own += t.ptr[i] == '/';
    }
    Segment *segs = arena_alloc(a, (nprior + own + 1) * sizeof *segs);
    if (nprior)
        memcpy(segs, prior, nprior * sizeof *segs);
    *out = segs;
    if (t.len == 0)
        return nprior;
    const char *what = kind == PK_GROUP ? "group prefix" : kind == PK_MOUNT ? "static prefix"
                                                                           : "route pattern";
    if (t.ptr[0] != '/') {
        diag_error(d, t.loc, "%s must start with '/'", what);
        return nprior;
    }
    if (kind == PK_GROUP && t.ptr[t.len - 1] == '/') {
        diag_error(d, string_loc(t, t.len - 1, 1),
                   "group prefix must not end with '/' (the paths inside start with one)");
        return nprior;
    }
    if (kind == PK_MOUNT && t.ptr[t.len - 1] != '/') {
        diag_error(d, t.loc, "static prefix must end with '/'");
        return nprior;
    }
    size_t start = 1;
    unsigned n = nprior;
    for (unsigned k = 0; k < own; k++) {
        size_t end = start;
        while (end < t.len && t.ptr[end] != '/')
            end++;
        bool last = k + 1 == own;
        Segment seg = {SEG_LITERAL, t.ptr + start, end - start, string_loc(t, start, end - start)};
        if (seg.len == 0 && !last) {
            diag_error(d, string_loc(t, start - 1, 2), "empty segment '//' in %s", what);
        } else if (kind == PK_MOUNT && last) {
            seg = (Segment){SEG_WILD, "*", 1, string_loc(t, start - 1, 1)};
        } else if (seg.len == 1 && seg.ptr[0] == '*') {
            seg.kind = SEG_WILD;
            if (kind != PK_ROUTE)
                diag_error(d, seg.loc, "'*' cannot be part of a %s", what);
            else if (!last)
                diag_error(d, seg.loc, "'*' must be the last segment of a route pattern");
        } else if (seg.len > 0 && seg.ptr[0] == ':') {
            seg.kind = SEG_PARAM;
            seg.ptr++;
            seg.len--;
            if (kind == PK_MOUNT)
                diag_error(d, seg.loc, "a static prefix cannot have parameters");
            else
                check_param(segs, n, &seg, binds_req_res, d);
        } else {
            check_literal(t, &seg, start, d);
        }
        segs[n++] = seg;
        start = end + 1;
    }
    return n;
}

/* The whole pattern as text: the scope's prefix, then T (a mount's '*'). */
static const char *join_path(const Scope *scope, Token t, RouteKind kind, Arena *a)
{
    size_t plen = strlen(scope->path);
    char *s = arena_alloc(a, plen + t.len + 2);
    memcpy(s, scope->path, plen);
    memcpy(s + plen, t.ptr, t.len);
    if (kind == RK_STATIC)
        s[plen + t.len] = '*';
    return s;
}

static unsigned count_params(const Segment *segs, unsigned n)
{
    unsigned k = 0;
    for (unsigned i = 0; i < n; i++)
        k += segs[i].kind != SEG_LITERAL;
    return k;
}

/* A group's whole prefix, from the server's scope down.  Parents come first
 * in the server's scope list, so theirs is known. */
static void check_scope(Scope *g, Diag *d, Arena *a)
{
    if (!g->parent) {
        g->path = "";
        return;
    }
    const Scope *up = g->parent;
    int errors = d->nerrors;
    /* Hooks bind the prefix's parameters next to req and res. */
    g->nsegs = split_path(g->prefix, PK_GROUP, up->segs, up->nsegs, true, &g->segs, d, a);
    g->nparams = count_params(g->segs, g->nsegs);
    g->path = join_path(up, g->prefix, RK_HTTP, a);
    g->bad = up->bad || d->nerrors != errors;
}

/* Routes inside groups: errors that involve the group point at it too. */
static void note_group(const Route *r, Diag *d)
{
    for (const Scope *g = r->scope; g && g->parent; g = g->parent)
        diag_note(d, g->keyword.loc, "inside group \"%s\"", g->path);
}

/* The route's pattern after its scope's prefix. */
static void check_pattern(Route *r, Diag *d, Arena *a)
{
    const Scope *g = r->scope;
    Token t = r->pattern;
    r->path = join_path(g, t, r->kind, a);
    if (g->bad) {
        r->bad = true;
        return; /* already reported at the group */
    }
    if (t.len == 0 && (r->kind == RK_STATIC || g->nsegs == 0)) {
        diag_error(d, t.loc, "%s must start with '/'",
                   r->kind == RK_STATIC ? "static prefix" : "route pattern");
        r->bad = true;
        return;
    }
    int errors = d->nerrors;
    r->nsegs = split_path(t, r->kind == RK_STATIC ? PK_MOUNT : PK_ROUTE, g->segs, g->nsegs,
                          r->body.kind != 0, &r->segs, d, a);
    r->nparams = count_params(r->segs, r->nsegs);
    if (r->nparams > SRVC_MAX_PARAMS && d->nerrors == errors) {
        diag_error(d, t.loc, "too many parameters in route pattern (%u; at most %d)",
                   r->nparams, SRVC_MAX_PARAMS);
        note_group(r, d);
    }
    r->bad |= d->nerrors != errors;
}

static void check_mount(Route *r, Diag *d)
{
    r->method_index = M_GET;
    if (r->dir.len == 0)
        diag_error(d, r->dir.loc, "static directory must not be empty");
    else if (memchr(r->dir.ptr, '\0', r->dir.len))
        diag_error(d, r->dir.loc, "static directory must not contain NUL");
}

/* A mount's prefix without its slash ("/assets" for "/assets/") is
 * routed to a 301 to the prefix, unless a route of the user takes it
 * (routes.c drops it then). */
static void add_slash_route(Server *s, const Route *mount, Arena *a)
{
    if (mount->nsegs < 2)
        return; /* "/": no shorter form */
    Route *r = arena_alloc(a, sizeof *r);
    r->kind = RK_SLASH;
    r->method = mount->method;
    r->pattern = mount->pattern;
    r->loc = mount->loc;
    r->method_index = M_GET;
    r->segs = mount->segs;
    r->nsegs = mount->nsegs - 1;
    r->nparams = mount->nparams - 1;
    size_t n = strlen(mount->path);
    r->path = arena_strndup(a, mount->path, n - 2); /* without its slash and star */
    r->mount = mount->mount;
    ast_add_route(s, mount->scope, r);
}

/* SSE PATTERN [every DURATION] { open {...} tick {...} close {...} } */
static void check_sse(Route *r, Diag *d, Arena *a)
{
    r->method_index = M_GET;
    check_pattern(r, d, a);
    /* The blocks bind the parameters next to these. */
    static const char *const taken[] = {"sse", "last_event_id", "reason"};
    for (unsigned i = r->scope->nsegs; i < r->nsegs; i++)
        for (unsigned k = 0; k < 3; k++)
            if (r->segs[i].kind == SEG_PARAM && text_is((Token){.ptr = r->segs[i].ptr,
                                                                 .len = r->segs[i].len}, taken[k]))
                diag_error(d, r->segs[i].loc,
                           "parameter name '%s' collides with a variable of the SSE blocks",
                           taken[k]);
    const Directive *o = r->options;
    static const char *const every[] = {"every"};
    if (o->nargs && o->args[0].kind == T_IDENT && !text_is(o->args[0], "every") &&
        diag_suggest(o->args[0].ptr, o->args[0].len, every, 1)) {
        diag_unknown(d, o->args[0].loc, "SSE option", o->args[0].ptr, o->args[0].len, every, 1,
                     NULL);
    } else if (o->nargs) {
        if (o->args[0].kind != T_IDENT || !text_is(o->args[0], "every") || o->nargs != 2) {
            diag_error(d, o->args[0].loc, "expected 'every DURATION' (or nothing) before '{'");
        } else {
            r->every_ms = (unsigned)parse_value(VK_DURATION, 86400000, o->args[0], o->args[1], d);
        }
    }
    static const char *const names[] = {"open", "tick", "close"};
    Token *slots[] = {&r->sse_open, &r->sse_tick, &r->sse_close};
    const Directive *first[3] = {NULL, NULL, NULL};
    for (const Directive *b = r->blocks; b; b = b->next) {
        int k = -1;
        for (int i = 0; i < 3; i++)
            if (text_is(b->keyword, names[i]))
                k = i;
        if (k < 0) {
            diag_unknown(d, b->keyword.loc, "SSE block", b->keyword.ptr, b->keyword.len, names, 3,
                         "open, tick or close");
            continue;
        }
        if (first[k]) {
            diag_error(d, b->keyword.loc, "duplicate '%s' block", names[k]);
            diag_note(d, first[k]->keyword.loc, "first defined here");
            continue;
        }
        first[k] = b;
        *slots[k] = b->args[0];
    }
    if (first[1] && !r->every_ms && !o->nargs)
        diag_error(d, first[1]->keyword.loc,
                   "a 'tick' block needs 'every DURATION' after the SSE pattern");
}

/* WS PATTERN [protocols "a" "b" ...] { open {...} message {...} close {...} } */
static void check_ws(Route *r, Diag *d, Arena *a)
{
    r->method_index = M_GET;
    check_pattern(r, d, a);
    static const char *const taken[] = {"ws", "protocol"};
    for (unsigned i = r->scope->nsegs; i < r->nsegs; i++)
        for (unsigned k = 0; k < 2; k++)
            if (r->segs[i].kind == SEG_PARAM && text_is((Token){.ptr = r->segs[i].ptr,
                                                                 .len = r->segs[i].len}, taken[k]))
                diag_error(d, r->segs[i].loc,
                           "parameter name '%s' collides with a variable of the WS blocks",
                           taken[k]);
    /* Options, in any order: `protocols "a" "b" ...` and `deflate`. */
    const Directive *o = r->options;
    static const char *const options[] = {"protocols", "deflate"};
    const Token *seen_deflate = NULL, *seen_protocols = NULL;
    for (unsigned i = 0; i < o->nargs;) {
        Token t = o->args[i];
        if (t.kind == T_IDENT && text_is(t, "deflate")) {
            if (seen_deflate) {
                diag_error(d, t.loc, "'deflate' given twice");
                diag_note(d, seen_deflate->loc, "first given here");
            }
            seen_deflate = &o->args[i];
            r->ws_deflate = true;
            i++;
            continue;
        }
        if (t.kind != T_IDENT || !text_is(t, "protocols")) {
            if (t.kind == T_IDENT && diag_suggest(t.ptr, t.len, options, 2))
                diag_unknown(d, t.loc, "WS option", t.ptr, t.len, options, 2, NULL);
            else
                diag_error(d, t.loc, "expected 'protocols \"NAME\" ...' or 'deflate' (or "
                                     "nothing) before '{'");
            break;
        }
        if (seen_protocols) {
            diag_error(d, t.loc, "'protocols' given twice");
            diag_note(d, seen_protocols->loc, "first given here");
            break;
        }
        seen_protocols = &o->args[i];
        unsigned first = ++i;
        while (i < o->nargs && o->args[i].kind != T_IDENT) {
            Token p = o->args[i];
            if (p.kind != T_STRING || !is_token(p)) {
                diag_error(d, p.loc, "a subprotocol is a token in a string, e.g. \"chat.v2\"");
            } else {
                for (unsigned k = first; k < i; k++) {
                    if (o->args[k].len == p.len && memcmp(o->args[k].ptr, p.ptr, p.len) == 0) {
                        diag_error(d, p.loc, "subprotocol \"%.*s\" listed twice", (int)p.len,
                                   p.ptr);
                        diag_note(d, o->args[k].loc, "first listed here");
                        break;
                    }
                }
            }
            i++;
        }
        if (i == first)
            diag_error(d, t.loc, "'protocols' needs at least one \"NAME\"");
        r->ws_first_protocol = first;
        r->ws_protocols = i - first;
    }
    static const char *const names[] = {"open", "message", "close"};
    Token *slots[] = {&r->sse_open, &r->sse_tick, &r->sse_close};
    const Directive *first[3] = {NULL, NULL, NULL};
    for (const Directive *b = r->blocks; b; b = b->next) {
        int k = -1;
        for (int i = 0; i < 3; i++)
            if (text_is(b->keyword, names[i]))
                k = i;
        if (k < 0) {
            diag_unknown(d, b->keyword.loc, "WS block", b->keyword.ptr, b->keyword.len, names, 3,
                         "open, message or close");
            continue;
        }
        if (first[k]) {
            diag_error(d, b->keyword.loc, "duplicate '%s' block", names[k]);
            diag_note(d, first[k]->keyword.loc, "first defined here");
            continue;
        }
        first[k] = b;
        *slots[k] = b->args[0];
    }
}

/* metrics "/path";  a GET route whose path is plain: literal segments. */
static void check_metrics_route(Route *r, Diag *d, Arena *a)
{
    r->method_index = M_GET;
    if (r->pattern.len == 0 || r->pattern.ptr[0] != '/') {
        r->path = "";
        diag_error(d, r->pattern.loc, "the metrics path must start with '/'");
        return;
    }
    int errors = d->nerrors;
    check_pattern(r, d, a);
    if (d->nerrors != errors)
        return;
    for (unsigned i = 0; i < r->nsegs; i++) {
        if (r->segs[i].kind != SEG_LITERAL) {
            diag_error(d, r->segs[i].loc,
                       "the metrics path must be a plain path, without ':name' or '*'");
            return;
        }
    }
}

static void check_route(Server *s, Route *r, Diag *d, Arena *a)
{
    if (r->kind == RK_SLASH)
        return; /* made from a checked mount */
    if (r->kind == RK_METRICS) {
        check_metrics_route(r, d, a);
        return;
    }
    if (r->kind == RK_SSE) {
        check_sse(r, d, a);
        return;
    }
    if (r->kind == RK_WS) {
        check_ws(r, d, a);
        return;
    }
    if (r->kind == RK_STATIC) {
        int errors = d->nerrors;
        check_mount(r, d);
        check_pattern(r, d, a);
        if (d->nerrors == errors)
            add_slash_route(s, r, a);
        return;
    }
    r->method_index = -1;
    for (int i = 0; i < M_COUNT; i++)
        if (text_is(r->method, check_method_names[i]))
            r->method_index = i;
    if (r->method_index < 0) {
        check_unknown_word(d, r->method, true, false);
        r->bad = true;
    }
    check_pattern(r, d, a);
    Token h = r->handler;
    if (h.kind && check_is_c_keyword(h.ptr, h.len))
        diag_error(d, h.loc, "handler name '%.*s' is a C keyword", (int)h.len, h.ptr);
    else if (h.kind && has_reserved_prefix(h.ptr, h.len))
        diag_error(d, h.loc, "handler name '%.*s' uses a prefix reserved for srv", (int)h.len,
                   h.ptr);
}

bool check_unknown_word(Diag *d, Token w, bool route, bool close_only)
{
    size_t nk;
    const char *const *keywords = parse_keywords(&nk);
    const char *method = diag_suggest(w.ptr, w.len, check_method_names, M_COUNT);
    const char *keyword = diag_suggest(w.ptr, w.len, keywords, nk);
    int n = (int)w.len;
    if (method && (route || !keyword))
        diag_error(d, w.loc, "unknown method '%.*s'; did you mean '%s'?", n, w.ptr, method);
    else if (keyword)
        diag_error(d, w.loc, "unknown directive '%.*s'; did you mean '%s'?", n, w.ptr, keyword);
    else if (close_only)
        return false;
    else if (route)
        diag_error(d, w.loc,
                   "unknown method '%.*s' (expected GET, HEAD, POST, PUT, DELETE, PATCH, "
                   "OPTIONS or ANY)", n, w.ptr);
    else
        diag_error(d, w.loc, "unknown directive '%.*s'", n, w.ptr);
    return true;
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
        if (s->secret)
            check_secret(s->secret, d);
        if (s->log)
            check_log(s, s->log, d);
        if (s->pubsub)
            check_pubsub(s, s->pubsub, d);
        if (s->trust_proxy)
            check_trust_proxy(s, s->trust_proxy, d, a);
        if (s->proxy_protocol)
            check_proxy_protocol(s->proxy_protocol, d);
        if (s->metrics)
            check_metrics(s->metrics, d);
        if (s->user)
            check_user(s, s->user, d);
        for (Scope *g = s->scopes; g; g = g->next)
            if (g->cors)
                check_cors(g->cors, d);
        /* Groups, settings and routes interleaved, so errors come in file
         * order (a group is checked before the routes inside it). */
        const Setting *first[NSETTINGS] = {0};
        Route *r = s->routes;
        Setting *st = s->settings;
        Scope *g = s->scopes;
        for (;;) {
            size_t ro = r ? r->loc.off : SIZE_MAX, so = st ? st->key.loc.off : SIZE_MAX;
            size_t go = g ? (g->parent ? g->keyword.loc.off : 0) : SIZE_MAX;
            if (!r && !st && !g)
                break;
            if (go <= ro && go <= so) {
                check_scope(g, d, a);
                g = g->next;
            } else if (so <= ro) {
                check_setting(s, st, first, d);
                st = st->next;
            } else {
                check_route(s, r, d, a);
                r = r->next;
            }
        }
    }
    return d->nerrors == before;
}
