/*
 * cookie.c - cookies (RFC 6265): reading them from the request's Cookie
 * lines, writing Set-Cookie lines with checked names, values and
 * attributes, and signing them.  Signing is HMAC-SHA256 from nettle over
 * NAME "=" VALUE, with the secrets srv_main() reads from the environment
 * once, before anything forks (srv__secrets_load); each secret is kept as
 * a keyed HMAC state, so signing a cookie copies a state and hashes the
 * cookie, nothing more.
 *
 * Reading is lenient, as browsers and RFC 6265 5.4 make the header: pairs
 * split at ';', whitespace around them trimmed, a pair without '=' ignored,
 * one pair of double quotes around a value removed, the bytes otherwise
 * returned as sent.  Writing is strict (RFC 6265 4.1): what a browser would
 * drop or misread is a misuse of the API, logged and answered 500, never a
 * cookie that silently fails to stick.
 *
 * Why nettle (README, "Dependencies"): its libnettle8 is on every Debian
 * system already (GnuTLS, hence apt, uses it); HMAC needs no allocation and
 * no library set-up, the keyed state can be copied, its SHA-256 uses the
 * CPU's SHA instructions where there are some, and memeql_sec() is its
 * constant-time comparison.
 */
#include "internal.h"

#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- Reading -------------------------------------------------------------- */

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* The raw value of the first cookie NAME (NLEN bytes) in the Cookie lines
 * of REQ, quotes removed, as a view (*LEN bytes); NULL when absent. */
static const char *cookie_view(const struct srv_request *req, const char *name, size_t nlen,
                               size_t *len)
{
    const struct srv__header *h = req->head.headers;
    for (uint32_t i = 0; i < req->head.nheaders; i++) {
        if (h[i].name_len != 6 || strncasecmp(h[i].name, "cookie", 6) != 0)
            continue;
        const char *p = h[i].value, *end = p + h[i].value_len;
        while (p < end) {
            const char *semi = memchr(p, ';', (size_t)(end - p));
            const char *pend = semi ? semi : end;
            const char *eq = memchr(p, '=', (size_t)(pend - p));
            if (eq != NULL) {
                const char *n = p, *ne = eq;
                while (n < ne && is_ows(*n))
                    n++;
                while (ne > n && is_ows(ne[-1]))
                    ne--;
                if ((size_t)(ne - n) == nlen && memcmp(n, name, nlen) == 0) {
                    const char *v = eq + 1, *ve = pend;
                    while (v < ve && is_ows(*v))
                        v++;
                    while (ve > v && is_ows(ve[-1]))
                        ve--;
                    if (ve - v >= 2 && *v == '"' && ve[-1] == '"') {
                        v++;
                        ve--;
                    }
                    *len = (size_t)(ve - v);
                    return v;
                }
            }
            p = pend + 1;
        }
    }
    return NULL;
}

static char *dup_view(struct srv_request *req, const char *v, size_t len)
{
    char *s = srv__arena_alloc(req->arena, len + 1);
    memcpy(s, v, len);
    s[len] = '\0';
    return s;
}

const char *srv_request_cookie(struct srv_request *req, const char *name)
{
    if (name == NULL)
        return NULL;
    size_t len;
    const char *v = cookie_view(req, name, strlen(name), &len);
    return v != NULL ? dup_view(req, v, len) : NULL;
}

/* ---- Secrets and signatures ----------------------------------------------- */

/* base64url of a SHA-256 digest, without padding: 43 characters. */
#define SIG_LEN 43

static struct hmac_sha256_ctx keys[SRV__SECRETS_MAX];
static unsigned nkeys;

void srv__secrets_set(const char *const *secrets, const size_t *lens, unsigned n)
{
    nkeys = n < SRV__SECRETS_MAX ? n : SRV__SECRETS_MAX;
    for (unsigned i = 0; i < nkeys; i++)
        hmac_sha256_set_key(&keys[i], lens[i], (const uint8_t *)secrets[i]);
}

int srv__secrets_load(const struct srv_app *app)
{
    nkeys = 0;
    if (app->nsecret_env > SRV__SECRETS_MAX) {
        srv__boot_error("%u secret env variables named; at most %d are allowed",
                        app->nsecret_env, SRV__SECRETS_MAX);
        return -1;
    }
    const char *values[SRV__SECRETS_MAX];
    size_t lens[SRV__SECRETS_MAX];
    unsigned n = 0;
    for (unsigned i = 0; i < app->nsecret_env; i++) {
        const char *name = app->secret_env[i];
        const char *v = getenv(name);
        /* Only the first one signs; the others are old secrets kept for
         * verification while they rotate out, and may be gone. */
        if (v == NULL && i == 0) {
            srv__boot_error("secret env %s is not set", name);
            return -1;
        }
        if (v == NULL || (v[0] == '\0' && i > 0))
            continue;
        size_t len = strlen(v);
        if (len < SRV__SECRET_MIN) {
            srv__boot_error("secret env %s is %zu bytes; at least %d are needed", name, len,
                            SRV__SECRET_MIN);
            return -1;
        }
        values[n] = v;
        lens[n++] = len;
    }
    srv__secrets_set(values, lens, n);
    return 0;
}

/* SIG_LEN characters of base64url(HMAC(KEY, NAME "=" VALUE)) into OUT. */
static void sign(const struct hmac_sha256_ctx *key, const char *name, size_t nlen,
                 const char *value, size_t vlen, char *out)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    struct hmac_sha256_ctx c = *key;
    uint8_t mac[SHA256_DIGEST_SIZE + 1];
    hmac_sha256_update(&c, nlen, (const uint8_t *)name);
    hmac_sha256_update(&c, 1, (const uint8_t *)"=");
    hmac_sha256_update(&c, vlen, (const uint8_t *)value);
    hmac_sha256_digest(&c, SHA256_DIGEST_SIZE, mac);
    mac[SHA256_DIGEST_SIZE] = 0; /* the last group has 2 bytes: pad with a zero */
    for (size_t i = 0, o = 0; i < SHA256_DIGEST_SIZE; i += 3) {
        uint32_t w = (uint32_t)mac[i] << 16 | (uint32_t)mac[i + 1] << 8 |
                     (i + 2 < SHA256_DIGEST_SIZE ? mac[i + 2] : 0);
        out[o++] = b64[w >> 18 & 63];
        out[o++] = b64[w >> 12 & 63];
        out[o++] = b64[w >> 6 & 63];
        if (o < SIG_LEN)
            out[o++] = b64[w & 63];
    }
}

const char *srv_request_signed_cookie(struct srv_request *req, const char *name)
{
    static bool warned;
    if (name == NULL)
        return NULL;
    size_t nlen = strlen(name), len;
    const char *v = cookie_view(req, name, nlen, &len);
    if (v == NULL)
        return NULL;
    if (nkeys == 0) {
        if (!warned)
            srv_log(SRV_LOG_WARN, "signed cookie \"%s\" read, but the app has no secret "
                    "(secret env): every signed cookie reads as absent", name);
        warned = true;
        return NULL;
    }
    /* VALUE "." SIG; the value may hold dots itself, the signature cannot. */
    if (len < SIG_LEN + 1 || v[len - SIG_LEN - 1] != '.')
        return NULL;
    size_t vlen = len - SIG_LEN - 1;
    bool ok = false;
    for (unsigned i = 0; i < nkeys; i++) {
        char want[SIG_LEN];
        sign(&keys[i], name, nlen, v, vlen, want);
        ok |= memeql_sec(want, v + vlen + 1, SIG_LEN) != 0;
    }
    return ok ? dup_view(req, v, vlen) : NULL;
}

/* ---- Writing -------------------------------------------------------------- */

/* RFC 6265 cookie-octet: visible ASCII but DQUOTE, ',', ';' and '\\'. */
static bool is_cookie_octet(unsigned char c)
{
    return c >= 0x21 && c <= 0x7e && c != '"' && c != ',' && c != ';' && c != '\\';
}

static bool is_tchar(unsigned char c)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    if ((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'))
        return true;
    return c != '\0' && memchr(extra, c, sizeof extra - 1) != NULL;
}

/* Checks NAME, VALUE and OPTS; on a misuse fails RES and returns false. */
static bool cookie_ok(struct srv_response *res, const char *name, const char *value,
                      const struct srv_cookie *o)
{
    if (name == NULL || value == NULL) {
        srv__response_fail(res, "NULL cookie name or value for", name ? name : "(null)");
        return false;
    }
    size_t i = 0;
    while (is_tchar((unsigned char)name[i]))
        i++;
    if (i == 0 || name[i] != '\0') {
        /* The name may hold CR/LF: the log gets a printable copy. */
        char shown[40];
        size_t n = 0;
        for (const char *c = name; *c && n < sizeof shown - 1; c++)
            shown[n++] = *c > 0x20 && *c < 0x7f ? *c : '?';
        shown[n] = '\0';
        srv__response_fail(res, "cookie name that is not an HTTP token:", shown);
        return false;
    }
    for (i = 0; value[i]; i++) {
        if (!is_cookie_octet((unsigned char)value[i])) {
            srv__response_fail(res, "cookie value with a byte that is not a cookie-octet "
                               "(space, '\"', ',', ';', '\\', control, non-ASCII) for", name);
            return false;
        }
    }
    if (o->path != NULL) {
        bool ok = o->path[0] == '/';
        for (i = 0; ok && o->path[i]; i++) {
            unsigned char c = (unsigned char)o->path[i];
            ok = c >= 0x20 && c < 0x7f && c != ';';
        }
        if (!ok) {
            srv__response_fail(res, "cookie Path must start with '/' and hold no control "
                               "character, ';' or non-ASCII byte, for", name);
            return false;
        }
    }
    if (o->domain != NULL) {
        bool ok = o->domain[0] != '\0' && strlen(o->domain) <= 253;
        for (i = 0; ok && o->domain[i]; i++) {
            unsigned char c = (unsigned char)o->domain[i];
            ok = (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
                 c == '-' || c == '.';
        }
        if (!ok) {
            srv__response_fail(res, "cookie Domain must be a host name (letters, digits, "
                               "'-', '.'), for", name);
            return false;
        }
    }
    if (o->max_age < 0 || o->expires < 0) {
        srv__response_fail(res, "negative cookie max_age or expires (use "
                           "srv_response_clear_cookie) for", name);
        return false;
    }
    if ((unsigned)o->same_site > SRV_SAME_SITE_NONE) {
        srv__response_fail(res, "invalid SameSite value for cookie", name);
        return false;
    }
    if (o->same_site == SRV_SAME_SITE_NONE && o->insecure) {
        srv__response_fail(res, "SameSite=None without Secure (browsers reject it) for cookie",
                           name);
        return false;
    }
    bool host = strncasecmp(name, "__Host-", 7) == 0;
    if ((host || strncasecmp(name, "__Secure-", 9) == 0) && o->insecure) {
        srv__response_fail(res, "a __Secure- or __Host- cookie needs Secure:", name);
        return false;
    }
    if (host && (o->domain != NULL || (o->path != NULL && strcmp(o->path, "/") != 0))) {
        srv__response_fail(res, "a __Host- cookie may have no Domain and only Path=/:", name);
        return false;
    }
    return true;
}

/* Appends S to the buffer at *P. */
static void put(char **p, const char *s, size_t n)
{
    memcpy(*p, s, n);
    *p += n;
}
#define PUT_LIT(p, lit) put(p, lit, sizeof lit - 1)

/* Adds "Set-Cookie: NAME=VALUE[.SIG]; attributes".  SIG may be NULL. */
static void set_cookie(struct srv_response *res, const char *name, const char *value,
                       const char *sig, const struct srv_cookie *o, bool clear)
{
    size_t nlen = strlen(name), vlen = strlen(value);
    const char *path = o->path ? o->path : "/";
    size_t cap = nlen + vlen + SIG_LEN + strlen(path) + (o->domain ? strlen(o->domain) : 0) +
                 160;
    char *line = srv__arena_alloc(res->arena, cap), *p = line;
    put(&p, name, nlen);
    *p++ = '=';
    put(&p, value, vlen);
    if (sig != NULL) {
        *p++ = '.';
        put(&p, sig, SIG_LEN);
    }
    PUT_LIT(&p, "; Path=");
    put(&p, path, strlen(path));
    if (o->domain != NULL) {
        PUT_LIT(&p, "; Domain=");
        put(&p, o->domain, strlen(o->domain));
    }
    char date[SRV__DATE_LEN + 1];
    if (clear) {
        PUT_LIT(&p, "; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
    } else {
        if (o->max_age > 0)
            p += sprintf(p, "; Max-Age=%lld", (long long)o->max_age);
        if (o->expires > 0) {
            srv__date_format(date, o->expires);
            PUT_LIT(&p, "; Expires=");
            put(&p, date, SRV__DATE_LEN);
        }
    }
    if (!o->insecure)
        PUT_LIT(&p, "; Secure");
    if (!o->script_visible)
        PUT_LIT(&p, "; HttpOnly");
    static const char *const same_site[] = {"; SameSite=Lax", "; SameSite=Strict",
                                            "; SameSite=None"};
    put(&p, same_site[o->same_site], strlen(same_site[o->same_site]));
    *p = '\0';
    srv_response_add_header(res, "Set-Cookie", line);
}

static const struct srv_cookie defaults;

void srv_response_set_cookie(struct srv_response *res, const char *name, const char *value,
                             const struct srv_cookie *opts)
{
    const struct srv_cookie *o = opts ? opts : &defaults;
    if (cookie_ok(res, name, value, o))
        set_cookie(res, name, value, NULL, o, false);
}

void srv_response_clear_cookie(struct srv_response *res, const char *name,
                               const struct srv_cookie *opts)
{
    struct srv_cookie o = opts ? *opts : defaults;
    o.max_age = o.expires = 0;
    if (cookie_ok(res, name, "", &o))
        set_cookie(res, name, "", NULL, &o, true);
}

void srv_response_set_signed_cookie(struct srv_response *res, const char *name,
                                    const char *value, const struct srv_cookie *opts)
{
    const struct srv_cookie *o = opts ? opts : &defaults;
    if (!cookie_ok(res, name, value, o))
        return;
    if (nkeys == 0) {
        srv__response_fail(res, "signed cookie, but the app has no secret (secret env):",
                           name);
        return;
    }
    char sig[SIG_LEN];
    sign(&keys[0], name, strlen(name), value, strlen(value), sig);
    set_cookie(res, name, value, sig, o, false);
}
