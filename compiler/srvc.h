/*
 * srvc.h - the one internal header of srvc, the .srv -> C compiler.  One
 * section per pass, in pipeline order: arena, source, diag, lexer (grammar/
 * srv.re), parser (grammar/srv.y), ast, check, routes, emit, codegen, and the
 * whole pipeline in one call (srvc_compile) for main.c, the tests and the
 * fuzz target; then what main.c's tool modes add: request (a request line
 * read by the runtime's own parser) and inspect (--routes, --match).
 *
 * Memory: one Arena per compilation owns everything a pass allocates (tokens,
 * nodes, decoded strings, the route tree); it is released once with
 * arena_free().  Tokens and nodes hold (ptr, len) views into the loaded
 * Source text, which must outlive them.  Nothing here is freed one by one.
 */
#ifndef SRVC_H
#define SRVC_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SRVC_VERSION "0.1.0"

/* Mirrors of the runtime's contract (srv.h), which the compiler never
 * includes: the generated code uses the runtime's own names. */
#define SRVC_MAX_PARAMS 16
#define SRVC_MAX_SECRETS 4

/* ---------------------------------------------------------------- arena.c */

typedef struct Arena Arena;

Arena *arena_new(void);
/* Zeroed memory that lives until arena_free(); aborts when out of memory. */
void *arena_alloc(Arena *a, size_t size);
char *arena_strndup(Arena *a, const char *s, size_t len);
void arena_free(Arena *a);
/* Out-of-memory for plain malloc/realloc users (emit.c): message + abort. */
void *xrealloc(void *p, size_t size);

/* --------------------------------------------------------------- source.c */

/* A byte range of the source.  off == LOC_NONE means "the whole file". */
typedef struct {
    size_t off;
    size_t len;
} Loc;
#define LOC_NONE ((size_t)-1)

typedef struct {
    const char *name; /* as given on the command line */
    const char *text; /* len bytes followed by a NUL the lexer relies on */
    size_t len;
    size_t *line_starts; /* offset of each line's first byte */
    size_t nlines;
} Source;

/* Loads PATH; on failure returns false with errno set. */
bool source_load(Source *src, Arena *a, const char *path);
/* Copies TEXT (which may contain NULs) into a Source named NAME. */
void source_from_memory(Source *src, Arena *a, const char *name, const char *text,
                        size_t len);
/* 1-based line and byte column of offset OFF. */
void source_line_col(const Source *src, size_t off, unsigned *line, unsigned *col);
/* The text of 1-based LINE without its newline. */
const char *source_line_text(const Source *src, unsigned line, size_t *len);

/* ----------------------------------------------------------------- diag.c */

typedef struct {
    const Source *src;
    FILE *out;
    int nerrors;
    int max_errors; /* later errors are counted, not printed */
} Diag;

void diag_init(Diag *d, const Source *src, FILE *out);
/* "file:line:col: error: msg", the line, a caret with '~' under LOC. */
void diag_error(Diag *d, Loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void diag_note(Diag *d, Loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "srvc: error: msg" for errors that belong to no source position. */
void diag_tool_error(FILE *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The word of CANDS[0..N) that NAME[0..LEN) most likely misspells: the same
 * word in another case, else the closest within an edit distance of a
 * third of the longer word (two letters swapped count as one edit); NULL
 * when none is that close.  Ties go to the earlier candidate.  Every
 * "did you mean" of srvc comes from here. */
const char *diag_suggest(const char *name, size_t len, const char *const *cands, size_t n);
/* "unknown WHAT 'NAME'; did you mean 'X'?" when diag_suggest finds X in
 * CANDS, else "unknown WHAT 'NAME' (expected EXPECTED)", or without the
 * parenthesis when EXPECTED is NULL. */
void diag_unknown(Diag *d, Loc loc, const char *what, const char *name, size_t len,
                  const char *const *cands, size_t n, const char *expected);

/* --------------------------------------------------- lexer (grammar/srv.re) */

/* One token.  For T_STRING, (ptr, len) is the decoded value (escapes
 * applied, arena-owned, may hold NULs) and `exact` says the value has no
 * escapes, so byte i of the value sits at loc.off + 1 + i.  For every other
 * kind (ptr, len) is a view of the source text: for T_CBLOCK the block with
 * its braces, for T_PROLOGUE/T_EPILOGUE the C text after "%{" / "%%". */
typedef struct {
    int kind; /* a bison token kind (T_*), 0 when absent */
    const char *ptr;
    size_t len;
    Loc loc;
    bool exact;
} Token;

typedef struct {
    const Source *src;
    Diag *diag;
    Arena *arena;
    const char *cur;      /* next byte to scan */
    const char *lim;      /* src->text + src->len, where the NUL sentinel is */
    int prev;             /* kind of the previous token, for '{' decisions */
    bool in_block_head;   /* between `server` or `group` and its '{' */
    bool fatal;           /* an unterminated construct ended the input */
} Lexer;

void lexer_init(Lexer *lx, const Source *src, Diag *d, Arena *a);
/* Scans the next token into *tok and returns its kind (T_EOF at the end).
 * Lexical errors are reported to the Diag and skipped. */
int lexer_next(Lexer *lx, Token *tok);
/* A short human name for a token kind: "string", "';'", "end of file". */
const char *lexer_kind_name(int kind);

/* ------------------------------------------------------------------ ast.c */

typedef enum {
    SEG_LITERAL, // "users"
    SEG_PARAM,   // ":id"  (ptr, len) is the name without the colon
    SEG_WILD,    // "*"    the rest of the path
} SegKind;

typedef struct {
    SegKind kind;
    const char *ptr;
    size_t len;
    Loc loc; /* inside the pattern string when it can be located exactly */
} Segment;

/* Method indexes; bit (1 << i) is the runtime's SRV_METHOD_* for i < 7. */
enum { M_GET, M_HEAD, M_POST, M_PUT, M_DELETE, M_PATCH, M_OPTIONS, M_ANY, M_COUNT };

typedef enum {
    HK_BEFORE, // before { ... }  runs before the handler
    HK_AFTER,  // after { ... }   runs after it
    HK_ERROR,  // error { ... }   builds server-made error responses
    HK_COUNT
} HookKind;

struct Scope;

/* A statement of words: `secret env "A" env "B";`, `log "a.log" json;`, and
 * each line of a `cors { ... }` block (`origin "https://a" "https://b";`). */
typedef struct Directive {
    Token keyword;        /* the first word */
    Token *args;          /* strings, identifiers and numbers after it */
    unsigned nargs;
    Loc loc;              /* the whole statement */
    struct Directive *next;
} Directive;

/* A `cors { ... }` block; check.c resolves its lines. */
typedef struct Cors {
    Token keyword;
    Directive *items, **items_tail;
    unsigned index;       /* srvg_cors_<index> */
    struct Scope *scope;
    /* Filled by check.c: */
    const Directive *origin, *methods, *headers, *expose, *max_age, *credentials;
    bool any_origin;      /* origin "*" */
    unsigned method_mask; /* M_* bits */
    uint64_t max_age_s;
} Cors;

typedef struct Hook {
    HookKind kind;
    Token keyword;
    Token body;          /* T_CBLOCK */
    unsigned index;      /* per kind, in declaration order: srvg_before_<index> */
    struct Scope *scope;
    struct Hook *next;   /* the next hook of the same scope, in source order */
} Hook;

/* The server block and every `group` inside it.  Routes, mounts and hooks
 * belong to the innermost scope they are written in. */
typedef struct Scope {
    Token keyword;        /* `group`; kind 0 for the server's own scope */
    Token prefix;         /* the group's path prefix (T_STRING) */
    struct Scope *parent; /* NULL for the server's scope */
    unsigned index;       /* 0: the server; groups from 1, in source order */
    Hook *hooks, **hooks_tail;
    Hook *error;          /* this scope's own `error` block, or NULL */
    Cors *cors;           /* this scope's own `cors` block, or NULL */
    unsigned response_ms; /* its own `timeouts { response }` (groups), 0 when not set */
    Token response_key;   /* where that was set */
    struct Scope *next;   /* every scope of the server, in source order */
    /* Filled by check.c: */
    Segment *segs;        /* the whole prefix, from the server down */
    unsigned nsegs;
    unsigned nparams;
    const char *path;     /* the whole prefix as text, "/api/v1" ("" for the server) */
    bool bad;             /* the prefix (or an enclosing one) had errors */
} Scope;

typedef enum {
    RK_HTTP,   // GET "/path" { ... } or GET "/path" handler;
    RK_STATIC, // static "/prefix/" "dir";  a GET route PREFIX* serving files
    RK_SLASH,  // made for a mount: GET "/prefix" answers 301 to "/prefix/"
    RK_SSE,    // SSE "/events" every 1s { open {...} tick {...} close {...} }
    RK_WS,     // WS "/chat/:room" protocols "v2" "v1" { open {...} message {...} close {...} }
    RK_METRICS, // metrics "/metrics";  a GET route answered by srv_metrics_serve
} RouteKind;

typedef struct Route {
    RouteKind kind;
    Token method;  /* RK_STATIC: the `static` keyword */
    Token pattern; /* RK_STATIC: the mount prefix */
    Token handler; /* T_IDENT for a named handler; kind 0 for inline */
    Token body;    /* T_CBLOCK for an inline handler; kind 0 for named */
    Token dir;     /* RK_STATIC: the directory (T_STRING) */
    Loc loc;       /* the whole route statement */
    Scope *scope;
    unsigned index; /* declaration order, 0-based: srvg_routes[index] */
    unsigned mount; /* RK_STATIC: index in srvg_mounts */
    /* Filled by check.c: */
    int method_index; /* M_* */
    Segment *segs;    /* the whole pattern: the scope's prefix, then its own */
    unsigned nsegs;
    unsigned nparams; /* :params plus the `*` */
    const char *path; /* the whole pattern as text, "/api/users/:id" */
    bool dropped;     /* RK_SLASH: a route the user wrote takes the path */
    bool bad;         /* its pattern or method had errors: routes.c leaves it out */
    /* RK_SSE, RK_WS: the words before its '{' (`every 1s`, `protocols "a"`),
     * its blocks by name (kind 0 when absent: SSE open/tick/close, WS
     * open/message/close), and the SSE tick interval. */
    Directive *options;
    Directive *blocks;
    Token sse_open, sse_tick, sse_close;
    unsigned every_ms;
    unsigned ws_protocols; /* RK_WS: options->args[ws_first_protocol..+ws_protocols) */
    unsigned ws_first_protocol;
    bool ws_deflate;       /* RK_WS: `deflate`: accept permessage-deflate */
    struct Route *next;
} Route;

typedef enum {
    SG_LIMITS,   // limits { request_line 8K; ... }
    SG_TIMEOUTS, // timeouts { header 15s; ... }
} SettingGroup;

typedef struct Setting {
    SettingGroup group;
    Token key;
    Token value;
    struct Scope *scope; /* a group's `timeouts { response ...; }`, else the server's */
    struct Setting *next;
} Setting;

/* The settings check.c resolves, indexes into Server.limit_values. */
enum {
    LIM_REQUEST_LINE, LIM_HEADER_BYTES, LIM_HEADER_COUNT, LIM_BODY,
    LIM_HEADER_TIMEOUT, LIM_BODY_TIMEOUT, LIM_IDLE_TIMEOUT, LIM_SHUTDOWN_TIMEOUT,
    LIM_MULTIPART_PARTS, LIM_MULTIPART_HEADER, LIM_RESPONSE_TIMEOUT, LIM_SSE_QUEUE,
    LIM_RELOAD_TIMEOUT, LIM_WS_MESSAGE, LIM_WS_FRAME, LIM_WS_QUEUE, LIM_WS_PING,
    LIM_COUNT
};

/* One checked trust_proxy entry: what struct srv_cidr holds at run time. */
typedef struct {
    int family;          /* 4 or 6 */
    unsigned prefix;     /* 0..32 or 0..128 */
    unsigned char addr[16];
    const char *text;    /* as written (an address or range: safe in a C comment) */
    Loc loc;
} Cidr;

typedef struct Server {
    Token keyword; /* `server`, for "first defined here" */
    Token host;
    Token port;
    Token workers_kw, workers; /* kind 0 when absent */
    Token setup_kw, setup;
    Token worker_setup_kw, worker_setup;
    Route *routes, **routes_tail;
    unsigned nroutes;
    unsigned nmounts;
    Scope *scopes, **scopes_tail; /* the server's own scope first */
    unsigned nscopes;
    unsigned nhooks[HK_COUNT];
    unsigned ncors;
    Directive *secret;    /* `secret env "NAME" ...;`, NULL when absent */
    Directive *log;       /* `log ...;`, NULL when absent */
    Directive *pubsub;    /* `pubsub redis "HOST" PORT;`, NULL when absent */
    Directive *user;      /* `user "NAME" ["GROUP"];`, NULL when absent */
    Directive *trust_proxy;    /* `trust_proxy "10.0.0.0/8" ...;`, NULL when absent */
    Directive *proxy_protocol; /* `proxy_protocol;`, NULL when absent */
    Directive *metrics;        /* `metrics ["/path"];`, NULL when absent */
    Setting *settings, **settings_tail;
    /* Filled by check.c: */
    int port_value;
    int workers_value; /* -1: auto */
    uint64_t limit_values[LIM_COUNT]; /* 0: runtime default */
    int log_format;       /* LOG_* */
    const char *log_path; /* NULL: stderr */
    const char *redis_host; /* from `pubsub redis`, NULL without */
    int redis_port;
    const char *user_name;  /* from `user`: the user to run as, NULL without */
    const char *group_name; /* its optional group, NULL without */
    Cidr *trust;          /* trust_proxy's entries, in order */
    unsigned ntrust;
    struct Server *next;
} Server;

enum { LOG_OFF, LOG_COMBINED, LOG_JSON };

typedef struct {
    Token prologue; /* kind 0 when absent */
    Token epilogue;
    Server *servers, **servers_tail;
    unsigned nservers;
    unsigned syntax_errors; /* the parse stopped being trustworthy: no checks */
} App;

App *ast_new_app(Arena *a);
/* A server and its own scope (s->scopes). */
Server *ast_new_server(Arena *a, Token keyword, Token host, Token port);
Route *ast_new_route(Arena *a, Token method, Token pattern, Token handler, Token body,
                     Loc loc);
/* `static PREFIX DIR;` at KW. */
Route *ast_new_mount(Arena *a, Token kw, Token prefix, Token dir, Loc loc);
/* `SSE PATTERN words { name { C } ... }` at KW; OPTIONS holds the words,
 * BLOCKS one directive per named block (its one argument the C block). */
Route *ast_new_sse(Arena *a, Token kw, Token pattern, Directive *options, Directive *blocks,
                   Loc loc);
/* The same for `WS`. */
Route *ast_new_ws(Arena *a, Token kw, Token pattern, Directive *options, Directive *blocks,
                  Loc loc);
Setting *ast_new_setting(Arena *a, SettingGroup group, Token key, Token value);
void ast_add_server(App *app, Server *s);
/* Adds R (a route or a mount) to SCOPE of server S. */
void ast_add_route(Server *s, Scope *scope, Route *r);
void ast_add_setting(Server *s, Scope *scope, Setting *st);
/* Opens `group PREFIX {` inside PARENT; returns the new scope. */
Scope *ast_open_group(Arena *a, Server *s, Scope *parent, Token kw, Token prefix);
/* Adds a before/after/error block to SCOPE; a second `error` in one scope
 * is an error that names the first. */
void ast_add_hook(Arena *a, Server *s, Scope *scope, Diag *d, HookKind kind, Token kw,
                  Token body);
/* Records `workers`, `setup` or `worker_setup`; a repeat is an error that
 * names the first place, and so is any of them inside a group (SCOPE). */
void ast_set_workers(Server *s, const Scope *scope, Diag *d, Token kw, Token value);
void ast_set_setup(Server *s, const Scope *scope, Diag *d, Token kw, Token block,
                   bool worker);
/* Reports KW (`limits`, `timeouts`) used inside a group. */
void ast_server_only(const Scope *scope, Diag *d, Token kw);
Directive *ast_new_directive(Arena *a, Token kw, const Token *args, unsigned nargs, Loc loc);
/* `secret ...;` and `log ...;`: one each, at server level. */
void ast_set_secret(Server *s, const Scope *scope, Diag *d, Directive *dir);
void ast_set_log(Server *s, const Scope *scope, Diag *d, Directive *dir);
void ast_set_pubsub(Server *s, const Scope *scope, Diag *d, Directive *dir);
/* `user "NAME" ["GROUP"];`: one, at server level. */
void ast_set_user(Server *s, const Scope *scope, Diag *d, Directive *dir);
/* `trust_proxy ...;`, `proxy_protocol;`: one each, at server level. */
void ast_set_trust_proxy(Server *s, const Scope *scope, Diag *d, Directive *dir);
void ast_set_proxy_protocol(Server *s, const Scope *scope, Diag *d, Directive *dir);
/* `metrics ["/path"];`: once, at server level; with a path (a string) it
 * is also a GET route (RK_METRICS) in the server's scope, in file order
 * among the routes, which check.c checks and routes.c compares. */
void ast_set_metrics(Arena *a, Server *s, Scope *scope, Diag *d, Directive *dir);
/* Opens `cors {` in SCOPE (one per scope); NULL after an error, and then
 * its lines are dropped. */
Cors *ast_open_cors(Arena *a, Server *s, Scope *scope, Diag *d, Token kw);
void ast_add_cors_item(Cors *c, Directive *dir);
/* Writes a readable outline of APP, for tests. */
void ast_dump(const App *app, FILE *out);

/* ------------------------------------------------- parser (grammar/srv.y) */

/* Parses the whole source.  Returns the App (possibly partial) even when
 * errors were reported; the caller checks app->syntax_errors (then the AST
 * cannot be checked further) and d->nerrors (which also counts errors the
 * AST constructors found, such as a repeated `workers`). */
App *parse_app(const Source *src, Diag *d, Arena *a);
/* The names of the language's keywords (`workers`, `limits`, `SSE`...), as
 * the grammar declares them: the candidates of "did you mean". */
const char *const *parse_keywords(size_t *n);

/* ---------------------------------------------------------------- check.c */

extern const char *const check_method_names[M_COUNT];

/* Validates every value and name, splits patterns into segments; reports
 * every error.  Returns true when there were none. */
bool check_app(App *app, Diag *d, Arena *a);
/* Reports W, a word where a directive or (ROUTE) a route's method goes
 * that is neither, with a "did you mean" when a method or a keyword is
 * close to it.  With CLOSE_ONLY it reports nothing unless one is, and
 * returns whether it reported. */
bool check_unknown_word(Diag *d, Token w, bool route, bool close_only);
/* True when NAME is a C keyword (or a macro srv.h makes one). */
bool check_is_c_keyword(const char *name, size_t len);

/* --------------------------------------------------------------- routes.c */

typedef struct Node {
    unsigned id;          /* pre-order, the root is 0 */
    SegKind kind;         /* of the edge into this node */
    const char *label;    /* literal text; param name of the first route */
    size_t label_len;
    const char *path;     /* "/users/:id", for comments */
    struct Node **lits;   /* literal children, ordered by (length, bytes) */
    unsigned nlits, caplits;
    struct Node *param;
    struct Node *wild;
    Route *leaf[M_COUNT]; /* routes ending here, by method */
} Node;

typedef struct {
    Node *root;
    unsigned nnodes;
} RouteTree;

/* Builds the segment tree of the checked SERVER's routes; reports duplicate
 * routes (with a note at the first).  Returns NULL after errors.  Also
 * runs when check_app() found errors: routes marked bad are left out. */
RouteTree *routes_build(Server *server, Diag *d, Arena *a);

/* ----------------------------------------------------------------- emit.c */

/* A growing output buffer that knows the number of the line being written. */
typedef struct {
    char *buf;
    size_t len, cap;
    unsigned line; /* 1-based line the next byte lands on */
} Emit;

void emit_init(Emit *e);
void emit_free(Emit *e);
void emit_bytes(Emit *e, const char *p, size_t n);
void emit_str(Emit *e, const char *s);
void emit_fmt(Emit *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void emit_vfmt(Emit *e, const char *fmt, va_list ap);
/* Appends S as the body of a C string literal (without the quotes). */
void emit_c_string(Emit *e, const char *s, size_t n);
/* Writes the buffer to PATH through a temporary file renamed into place;
 * on failure reports to ERR, removes the temporary and returns false. */
bool emit_write_file(const Emit *e, const char *path, FILE *err);

/* -------------------------------------------------------------- codegen.c */

/* Writes the C program for APP (checked, one server) and TREE to OUT.
 * SRC_NAME and OUT_NAME are the names #line directives use. */
void gen_app(Emit *out, const App *app, const Source *src, const RouteTree *tree,
             const char *out_name);
/* The hash of a path segment that lays out the matcher's tables; the
 * generated srvg_hash() computes the same on any machine. */
uint32_t gen_hash(const char *s, size_t n);
/* The matcher alone, srvg_match() and what it calls, written exactly as
 * gen_app() writes it (for srvc --match).  It needs srv.h's struct
 * srv_match and SRV_METHOD_* in scope, <stdint.h> and <string.h>. */
void gen_matcher_only(Emit *out, const Source *src, const RouteTree *tree);
/* What the generated code makes of a route's scope, for --routes and
 * --match to show what the server does:
 * - the hooks of KIND that apply to a route of SCOPE, in the order they
 *   run, into OUT (may be NULL) from index N: before blocks from the server
 *   inwards, after blocks from the innermost group outwards, source order
 *   within a scope; returns the new count;
 * - the CORS policy of a route: its innermost scope's, or NULL;
 * - the error block that applies in scope SC: its own or the nearest
 *   enclosing scope's; NULL when none does. */
unsigned gen_hook_chain(const Scope *scope, HookKind kind, const Hook **out, unsigned n);
const Cors *gen_route_cors(const Route *r);
const Hook *gen_error_hook(const Scope *sc);

/* -------------------------------------------------------------- request.c
 * (the one file built with runtime code: the server's HTTP parser) */

typedef struct {
    int status;              /* 0: the server routes it; else what it answers
                                first (400, 414, 501, 505) */
    unsigned method;         /* its SRV_METHOD_* bit */
    int method_index;        /* M_GET..M_OPTIONS */
    const char *method_name; /* as given */
    const char *path;        /* decoded, dot-segments removed, as handlers see it */
    size_t path_len;
    const char *query;       /* raw, or NULL */
} Request;

/* Reads LINE, "METHOD TARGET [HTTP/1.x]", as server S would read that
 * request line (HTTP/1.1 when no version is given) followed by a Host
 * header, under S's limits; memory from A.  Returns false when LINE does
 * not have that form. */
bool request_parse(Request *rq, const char *line, const Server *s, Arena *a);
/* The runtime's SRV_METHOD_* bit of method M (M_GET..M_ANY). */
unsigned request_method_bit(int m);

/* -------------------------------------------------------------- inspect.c */

/* srvc --routes: a table of the routes of APP's server in the order its
 * matcher tries them, with handlers, hooks and CORS.  Returns the exit
 * status (0, or 1 when OUT cannot be written). */
int inspect_routes(FILE *out, const App *app, const Source *src, const RouteTree *tree);
/* srvc --match: for each request line LINES[0..N) ("GET /users/42"), which
 * route the generated matcher picks and its parameters, or why none
 * (404, 405 + Allow, or what the parser answers first).  Compiles the
 * matcher with $CC in a temporary directory, removed afterwards.  Returns
 * the exit status: 0 when every request reaches a route, 2 when one does
 * not, 1 after an error (reported to ERR). */
int inspect_match(FILE *out, FILE *err, const App *app, const Source *src,
                  const RouteTree *tree, const char *const *lines, unsigned n);

/* ----------------------------------------------------------------- main.c
 * (the pipeline itself lives in codegen.c so tests and fuzzing share it) */

/* The passes up to the route tree (parse, check, routes), reporting to D:
 * what --check, --routes and --match need.  Sets *APP (possibly partial)
 * and returns the tree of its one server, or NULL after any error. */
RouteTree *srvc_analyze(const Source *src, Arena *a, Diag *d, App **app);
/* Runs every pass over SRC, reporting to DIAG_OUT.  On success fills OUT
 * and returns true; on any error returns false (OUT holds nothing useful). */
bool srvc_compile(const Source *src, Arena *a, FILE *diag_out, const char *out_name,
                  Emit *out);

#endif /* SRVC_H */
