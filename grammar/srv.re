/*
 * srv.re - the .srv lexer (re2c).  Second pass of srvc: Source text ->
 * tokens for the bison parser in srv.y.
 *
 * Tokens are views into the source except strings, which are decoded (C
 * escapes).  A C block - the body of an inline handler, `setup` or
 * `worker_setup` - is ONE token from its '{' to the matching '}', scanned
 * with awareness of C strings, character literals and comments, so a '}'
 * inside "..." or a comment does not end it.  Whether a '{' opens a C block
 * or a plain brace is decided by what came before: the braces of `server
 * ... {`, `group ... {`, `SSE ... {`, `limits {`, `timeouts {` and `cors {` are plain,
 * every other '{' is C.
 *
 * The input ends with a NUL sentinel (source.c); re2c's end-of-input rule
 * checks YYLIMIT, so NUL bytes inside the file are ordinary bad characters.
 * Lexical errors are reported and skipped; an unterminated comment, C block
 * or prologue ends the input and sets lx->fatal so the parser does not add
 * a second error about the end of file.
 */
#include "srvc.h"
#include "srv.tab.h"

#include <string.h>

void lexer_init(Lexer *lx, const Source *src, Diag *d, Arena *a)
{
    memset(lx, 0, sizeof *lx);
    lx->src = src;
    lx->diag = d;
    lx->arena = a;
    lx->cur = src->text;
    lx->lim = src->text + src->len;
}

static Loc loc_of(const Lexer *lx, const char *start, const char *end)
{
    Loc l = {(size_t)(start - lx->src->text), (size_t)(end - start)};
    return l;
}

/* A printable rendering of byte C for messages: "@" or "\x01". */
static const char *show_byte(unsigned char c, char buf[8])
{
    if (c >= 0x21 && c < 0x7f && c != '\'')
        snprintf(buf, 8, "%c", c);
    else
        snprintf(buf, 8, "\\x%02x", c);
    return buf;
}

/* Scans past a C comment or literal starting at P (a '/' or quote) inside
 * a C block; returns where scanning resumes, or NULL when a block comment
 * never ends.  A string or char literal stops at the end of its line: the C
 * compiler reports that better than we can, and it keeps one stray quote
 * from swallowing the rest of the file. */
static const char *skip_c_lexeme(const char *p, const char *lim)
{
    if (p[0] == '/' && p + 1 < lim && p[1] == '*') {
        for (p += 2; p + 1 < lim; p++)
            if (p[0] == '*' && p[1] == '/')
                return p + 2;
        return NULL;
    }
    if (p[0] == '/' && p + 1 < lim && p[1] == '/') {
        /* A backslash-newline continues a // comment in C. */
        for (p += 2; p < lim; p++) {
            if (*p == '\\' && p + 1 < lim && p[1] == '\n')
                p++;
            else if (*p == '\n')
                return p + 1;
        }
        return p;
    }
    if (p[0] == '"' || p[0] == '\'') {
        char q = *p++;
        for (; p < lim; p++) {
            if (*p == '\\' && p + 1 < lim)
                p++;
            else if (*p == q)
                return p + 1;
            else if (*p == '\n')
                return p + 1;
        }
        return p;
    }
    return p + 1;
}

/* C block: from '{' at START to its matching '}'. */
static int lex_cblock(Lexer *lx, const char *start, Token *tok)
{
    const char *p = start + 1;
    unsigned depth = 1;
    while (p < lx->lim) {
        switch (*p) {
        case '{':
            depth++;
            p++;
            break;
        case '}':
            p++;
            if (--depth == 0) {
                tok->ptr = start;
                tok->len = (size_t)(p - start);
                tok->loc = loc_of(lx, start, p);
                return T_CBLOCK;
            }
            break;
        case '/':
        case '"':
        case '\'': {
            const char *q = skip_c_lexeme(p, lx->lim);
            if (!q) {
                diag_error(lx->diag, loc_of(lx, p, p + 2), "unterminated comment");
                diag_note(lx->diag, loc_of(lx, start, start + 1),
                          "inside the C block that starts here");
                goto fatal;
            }
            p = q;
            break;
        }
        default:
            p++;
        }
    }
    diag_error(lx->diag, loc_of(lx, start, start + 1), "unterminated C block");
fatal:
    lx->fatal = true;
    lx->cur = lx->lim;
    return T_END;
}

/* Prologue: "%{" up to a line that starts (after blanks) with "%}". */
static int lex_prologue(Lexer *lx, const char *start, Token *tok)
{
    const char *body = start + 2;
    const char *line = body;
    for (const char *p = body; p < lx->lim; p++) {
        if (*p == '\n') {
            line = p + 1;
            continue;
        }
        if (p[0] == '%' && p + 1 < lx->lim && p[1] == '}') {
            const char *q = line;
            while (q < p && (*q == ' ' || *q == '\t'))
                q++;
            if (q == p) {
                tok->ptr = body;
                tok->len = (size_t)(line - body);
                tok->loc = loc_of(lx, start, p + 2);
                lx->cur = p + 2;
                return T_PROLOGUE;
            }
        }
    }
    diag_error(lx->diag, loc_of(lx, start, start + 2),
               "unterminated prologue: '%%{' without a '%%}' line");
    lx->fatal = true;
    lx->cur = lx->lim;
    return T_END;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* String: decodes C escapes into an arena copy.  Unterminated strings are
 * reported at the opening quote and end at the line's end. */
static int lex_string(Lexer *lx, const char *start, Token *tok)
{
    const char *p = start + 1;
    size_t cap = 32, n = 0;
    char *out = arena_alloc(lx->arena, cap + 1);
    bool exact = true, closed = false;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap * 2;
            char *grown = arena_alloc(lx->arena, ncap + 1);
            if (n)
                memcpy(grown, out, n);
            out = grown;
            cap = ncap;
        }
        if (p >= lx->lim || *p == '\n')
            break;
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            p++;
            closed = true;
            break;
        }
        if (c != '\\') {
            out[n++] = (char)c;
            p++;
            continue;
        }
        exact = false;
        const char *esc = p++;
        if (p >= lx->lim || *p == '\n')
            break;
        c = (unsigned char)*p++;
        switch (c) {
        case 'n': out[n++] = '\n'; break;
        case 't': out[n++] = '\t'; break;
        case 'r': out[n++] = '\r'; break;
        case 'a': out[n++] = '\a'; break;
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'v': out[n++] = '\v'; break;
        case '\\': case '"': case '\'': case '?': out[n++] = (char)c; break;
        case 'x': {
            unsigned v = 0;
            int digits = 0;
            while (p < lx->lim && hexval((unsigned char)*p) >= 0) {
                v = (v << 4 | (unsigned)hexval((unsigned char)*p++)) & 0xfffu;
                digits++;
            }
            if (digits == 0)
                diag_error(lx->diag, loc_of(lx, esc, p), "\\x used with no following hex digits");
            else if (digits > 2 || v > 0xff)
                diag_error(lx->diag, loc_of(lx, esc, p), "hex escape sequence out of range");
            out[n++] = (char)v;
            break;
        }
        default:
            if (c >= '0' && c <= '7') {
                unsigned v = c - '0';
                for (int i = 0; i < 2 && p < lx->lim && *p >= '0' && *p <= '7'; i++)
                    v = v * 8 + (unsigned)(*p++ - '0');
                if (v > 0xff)
                    diag_error(lx->diag, loc_of(lx, esc, p), "octal escape sequence out of range");
                out[n++] = (char)v;
            } else {
                char b[8];
                diag_error(lx->diag, loc_of(lx, esc, p), "unknown escape sequence '\\%s'",
                           show_byte(c, b));
                out[n++] = (char)c;
            }
        }
    }
    if (!closed)
        diag_error(lx->diag, loc_of(lx, start, start + 1), "unterminated string");
    out[n] = '\0';
    tok->ptr = out;
    tok->len = n;
    tok->exact = exact;
    tok->loc = loc_of(lx, start, p);
    lx->cur = p;
    return T_STRING;
}

static int keyword(const char *p, size_t n)
{
    static const struct {
        const char *name;
        int kind;
    } words[] = {
        {"server", T_SERVER}, {"workers", T_WORKERS}, {"setup", T_SETUP},
        {"worker_setup", T_WORKER_SETUP}, {"limits", T_LIMITS}, {"timeouts", T_TIMEOUTS},
        {"group", T_GROUP}, {"before", T_BEFORE}, {"after", T_AFTER}, {"error", T_ERROR_KW},
        {"static", T_STATIC}, {"secret", T_SECRET}, {"log", T_LOG}, {"cors", T_CORS}, {"pubsub", T_PUBSUB}, {"SSE", T_SSE}, {"WS", T_WS},
        {"user", T_USER},
        {"trust_proxy", T_TRUST_PROXY}, {"proxy_protocol", T_PROXY_PROTOCOL}, {"metrics", T_METRICS},
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strlen(words[i].name) == n && memcmp(words[i].name, p, n) == 0)
            return words[i].kind;
    return T_IDENT;
}

static int scan(Lexer *lx, Token *tok)
{
    const unsigned char *YYCURSOR, *YYMARKER, *YYLIMIT;
    (void)YYMARKER;
    YYLIMIT = (const unsigned char *)lx->lim;
    for (;;) {
        const char *start = lx->cur;
        YYCURSOR = (const unsigned char *)start;
        tok->exact = false;
#define TOKEN_END() (lx->cur = (const char *)YYCURSOR)
#define VIEW()                                                             \
    (tok->ptr = start, tok->len = (size_t)((const char *)YYCURSOR - start), \
     tok->loc = loc_of(lx, start, (const char *)YYCURSOR))
        /*!re2c
            re2c:define:YYCTYPE = "unsigned char";
            re2c:yyfill:enable = 0;
            re2c:eof = 0;

            ident = [A-Za-z_][A-Za-z0-9_]*;

            $ {
                tok->ptr = lx->lim;
                tok->len = 0;
                tok->loc = loc_of(lx, lx->lim, lx->lim);
                return T_END;
            }
            [ \t\r\n\f\v]+ { TOKEN_END(); continue; }
            "//" [^\n]* { TOKEN_END(); continue; }
            "/*" {
                const char *q = skip_c_lexeme(start, lx->lim);
                if (!q) {
                    diag_error(lx->diag, loc_of(lx, start, start + 2), "unterminated comment");
                    lx->fatal = true;
                    lx->cur = lx->lim;
                    return scan(lx, tok);
                }
                lx->cur = q;
                continue;
            }
            "%{" { return lex_prologue(lx, start, tok); }
            "%%" {
                tok->ptr = start + 2;
                tok->len = (size_t)(lx->lim - start - 2);
                tok->loc = loc_of(lx, start, start + 2);
                lx->cur = lx->lim;
                return T_EPILOGUE;
            }
            ["] { return lex_string(lx, start, tok); }
            "{" {
                TOKEN_END();
                VIEW();
                if (lx->in_block_head || lx->prev == T_LIMITS || lx->prev == T_TIMEOUTS ||
                    lx->prev == T_CORS) {
                    lx->in_block_head = false;
                    return '{';
                }
                return lex_cblock(lx, start, tok);
            }
            "}" { TOKEN_END(); VIEW(); lx->in_block_head = false; return '}'; }
            ";" { TOKEN_END(); VIEW(); lx->in_block_head = false; return ';'; }
            ident {
                TOKEN_END();
                VIEW();
                int kind = keyword(tok->ptr, tok->len);
                if (kind == T_SERVER || kind == T_GROUP || kind == T_SSE || kind == T_WS)
                    lx->in_block_head = true;
                return kind;
            }
            "-"? [0-9] [A-Za-z0-9_.]* { TOKEN_END(); VIEW(); return T_NUMBER; }
            * {
                char b[8];
                TOKEN_END();
                diag_error(lx->diag, loc_of(lx, start, start + 1), "stray '%s' in input",
                           show_byte((unsigned char)*start, b));
                if (lx->diag->nerrors >= lx->diag->max_errors) {
                    lx->fatal = true;
                    lx->cur = lx->lim;
                }
                continue;
            }
        */
#undef TOKEN_END
#undef VIEW
    }
}

int lexer_next(Lexer *lx, Token *tok)
{
    memset(tok, 0, sizeof *tok);
    int kind = scan(lx, tok);
    if (kind == T_CBLOCK)
        lx->cur = tok->ptr + tok->len;
    tok->kind = kind;
    lx->prev = kind;
    return kind;
}

const char *lexer_kind_name(int kind)
{
    switch (kind) {
    case T_END: return "end of file";
    case T_IDENT: return "identifier";
    case T_STRING: return "string";
    case T_NUMBER: return "number";
    case T_CBLOCK: return "C block";
    case T_PROLOGUE: return "'%{'";
    case T_EPILOGUE: return "'%%'";
    case T_SERVER: return "'server'";
    case T_WORKERS: return "'workers'";
    case T_SETUP: return "'setup'";
    case T_WORKER_SETUP: return "'worker_setup'";
    case T_LIMITS: return "'limits'";
    case T_TIMEOUTS: return "'timeouts'";
    case T_GROUP: return "'group'";
    case T_BEFORE: return "'before'";
    case T_AFTER: return "'after'";
    case T_ERROR_KW: return "'error'";
    case T_STATIC: return "'static'";
    case T_SECRET: return "'secret'";
    case T_LOG: return "'log'";
    case T_CORS: return "'cors'";
    case T_PUBSUB: return "'pubsub'";
    case T_USER: return "'user'";
    case T_SSE: return "'SSE'";
    case T_WS: return "'WS'";
    case T_TRUST_PROXY: return "'trust_proxy'";
    case T_PROXY_PROTOCOL: return "'proxy_protocol'";
    case T_METRICS: return "'metrics'";
    case '{': return "'{'";
    case '}': return "'}'";
    case ';': return "';'";
    default: return "token";
    }
}
