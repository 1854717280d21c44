/*
 * srv.y - the .srv grammar (bison).  Third pass of srvc: tokens from srv.re
 * -> the AST of ast.c.  Actions only call ast_* constructors; every check of
 * a value lives in check.c, where the whole file is visible.
 *
 * Recovery is per statement: a bad statement inside a `server` block or a
 * `limits`/`timeouts` block is skipped up to its ';' (or its C block), so
 * one run reports every broken statement.  Messages are GCC-like:
 * "expected ';' before '}'".
 *
 * Routes start with a method, which srv_yylex hands over as METHOD (the
 * lexer's IDENT with a method's name), so a statement led by any other
 * word in the shape of a directive (`wrokers 4;`, `limts { ... }`) is a
 * statement of its own: an unknown directive, reported with a "did you
 * mean" (check_unknown_word), after which parsing and checking go on.  A
 * word followed by a pattern is still a route (`GTE "/x" h;`: check.c
 * reports the method).
 */
%code requires {
#include "srvc.h"
typedef struct Parser Parser;
/* A location is a byte range; a rule spans its first to its last symbol. */
#define YYLLOC_DEFAULT(Cur, Rhs, N)                                             \
    do {                                                                        \
        if (N) {                                                                \
            (Cur).off = YYRHSLOC(Rhs, 1).off;                                   \
            (Cur).len = YYRHSLOC(Rhs, N).off + YYRHSLOC(Rhs, N).len - (Cur).off; \
        } else {                                                                \
            (Cur).off = YYRHSLOC(Rhs, 0).off + YYRHSLOC(Rhs, 0).len;            \
            (Cur).len = 0;                                                      \
        }                                                                       \
    } while (0)
}

%code {
#include <string.h>

struct Parser {
    Lexer lx;
    Diag *diag;
    Arena *arena;
    App *app;
    Server *server;      /* the server block being parsed */
    Scope *scope;        /* the innermost scope: the server's or a group's */
    SettingGroup group;  /* limits or timeouts, while inside one */
    Cors *cors;          /* the cors block being parsed (NULL after an error) */
    unsigned syntax_errors; /* lexical and syntax errors (not the AST's own) */
    Token sse_kw, sse_pattern;  /* the SSE route being parsed */
    Directive *sse_options, *sse_blocks, **sse_tail;
    Token *args;         /* the words of the directive being parsed */
    unsigned nargs, capargs;
    /* For messages only: the first token of the statement being read, and
     * the leading keyword of each open brace (SERVER, GROUP, LIMITS...). */
    int last;            /* the previous token's kind */
    Token lead;
    int blocks[32];
    unsigned depth;
};

static int srv_yylex(SRV_YYSTYPE *val, SRV_YYLTYPE *loc, Parser *p);
static void srv_yyerror(SRV_YYLTYPE *loc, Parser *p, const char *msg);

static const Token no_token;

/* A statement led by a word that is no directive: `wrokers 4;`,
 * `limts { ... }`.  Reported here, as the AST constructors report a
 * repeated setting: the file's shape is sound, so checking goes on. */
static void unknown_directive(Parser *p, Token word)
{
    check_unknown_word(p->diag, word, false, false);
    p->nargs = 0;
}

static void end_sse(Parser *p, Loc loc)
{
    Route *r = p->sse_kw.kind == T_WS
                   ? ast_new_ws(p->arena, p->sse_kw, p->sse_pattern, p->sse_options, p->sse_blocks, loc)
                   : ast_new_sse(p->arena, p->sse_kw, p->sse_pattern, p->sse_options, p->sse_blocks, loc);
    ast_add_route(p->server, p->scope, r);
}

static void push_arg(Parser *p, Token t)
{
    if (p->nargs == p->capargs) {
        unsigned cap = p->capargs ? p->capargs * 2 : 8;
        Token *grown = arena_alloc(p->arena, cap * sizeof *grown);
        if (p->nargs)
            memcpy(grown, p->args, p->nargs * sizeof *grown);
        p->args = grown;
        p->capargs = cap;
    }
    p->args[p->nargs++] = t;
}
}

%define api.pure full
%define api.prefix {srv_yy}
%define api.token.prefix {T_}
%define api.value.type {Token}
%define api.location.type {Loc}
%define parse.error custom
%locations
%expect 0
%param {Parser *p}

%token END 0 "end of file"
%token SERVER "'server'" WORKERS "'workers'" SETUP "'setup'"
%token WORKER_SETUP "'worker_setup'" LIMITS "'limits'" TIMEOUTS "'timeouts'"
%token IDENT "identifier" STRING "string" NUMBER "number" CBLOCK "C block"
%token PROLOGUE "'%{'" EPILOGUE "'%%'"
%token GROUP "'group'" BEFORE "'before'" AFTER "'after'" ERROR_KW "'error'"
%token STATIC "'static'" SECRET "'secret'" LOG "'log'" CORS "'cors'"
%token PUBSUB "'pubsub'" SSE "'SSE'" WS "'WS'"
%token USER "'user'"
%token TRUST_PROXY "'trust_proxy'" PROXY_PROTOCOL "'proxy_protocol'" METRICS "'metrics'"
%token METHOD "method"

%%

/* file: prologue? server* epilogue?  (check.c insists on one server) */
file:
    prologue servers epilogue
    ;

prologue:
    %empty
  | PROLOGUE                    { p->app->prologue = $1; }
  ;

epilogue:
    %empty
  | EPILOGUE                    { p->app->epilogue = $1; }
  ;

servers:
    %empty
  | servers server
  ;

/* server: 'server' STRING NUMBER '{' item* '}' */
server:
    server_head items '}'
  | server_head items error '}' { yyerrok; }
  ;

server_head:
    SERVER STRING NUMBER '{'    {
                                  p->server = ast_new_server(p->arena, $1, $2, $3);
                                  p->scope = p->server->scopes;
                                  ast_add_server(p->app, p->server);
                                }
  ;

items:
    %empty
  | items item
  ;

/* item: a statement of the server block or of a group */
item:
    WORKERS value ';'           { ast_set_workers(p->server, p->scope, p->diag, $1, $2); }
  | SETUP CBLOCK                { ast_set_setup(p->server, p->scope, p->diag, $1, $2, false); }
  | WORKER_SETUP CBLOCK         { ast_set_setup(p->server, p->scope, p->diag, $1, $2, true); }
  | limits_head settings '}'
  | limits_head settings error '}'   { yyerrok; }
  | timeouts_head settings '}'
  | timeouts_head settings error '}' { yyerrok; }
  | BEFORE CBLOCK               { ast_add_hook(p->arena, p->server, p->scope, p->diag, HK_BEFORE, $1, $2); }
  | AFTER CBLOCK                { ast_add_hook(p->arena, p->server, p->scope, p->diag, HK_AFTER, $1, $2); }
  | ERROR_KW CBLOCK             { ast_add_hook(p->arena, p->server, p->scope, p->diag, HK_ERROR, $1, $2); }
  | STATIC STRING STRING ';'    {
                                  ast_add_route(p->server, p->scope,
                                      ast_new_mount(p->arena, $1, $2, $3, @$));
                                }
  | SECRET args ';'             {
                                  ast_set_secret(p->server, p->scope, p->diag,
                                      ast_new_directive(p->arena, $1, p->args, p->nargs, @$));
                                  p->nargs = 0;
                                }
  | LOG args ';'                {
                                  ast_set_log(p->server, p->scope, p->diag,
                                      ast_new_directive(p->arena, $1, p->args, p->nargs, @$));
                                  p->nargs = 0;
                                }
  | PUBSUB args ';'             {
                                  ast_set_pubsub(p->server, p->scope, p->diag,
                                      ast_new_directive(p->arena, $1, p->args, p->nargs, @$));
                                  p->nargs = 0;
                                }
  | USER args ';'               {
                                  ast_set_user(p->server, p->scope, p->diag,
                                      ast_new_directive(p->arena, $1, p->args, p->nargs, @$));
                                  p->nargs = 0;
                                }
  | TRUST_PROXY args ';'        {
                                  ast_set_trust_proxy(p->server, p->scope, p->diag,
                                      ast_new_directive(p->arena, $1, p->args, p->nargs, @$));
                                  p->nargs = 0;
                                }
  | PROXY_PROTOCOL args ';'     {
                                  ast_set_proxy_protocol(p->server, p->scope, p->diag,
                                      ast_new_directive(p->arena, $1, p->args, p->nargs, @$));
                                  p->nargs = 0;
                                }
  | METRICS args ';'            {
                                  ast_set_metrics(p->arena, p->server, p->scope, p->diag,
                                      ast_new_directive(p->arena, $1, p->args, p->nargs, @$));
                                  p->nargs = 0;
                                }
  | cors_head cors_items '}'
  | cors_head cors_items error '}' { yyerrok; }
  | sse_head sse_blocks '}'     { end_sse(p, @$); }
  | sse_head sse_blocks error '}' { yyerrok; end_sse(p, @$); }
  | group_head items '}'        { p->scope = p->scope->parent; }
  | group_head items error '}'  { yyerrok; p->scope = p->scope->parent; }
  | route_method STRING CBLOCK  {
                                  ast_add_route(p->server, p->scope, ast_new_route(p->arena,
                                      $1, $2, no_token, $3, @$));
                                }
  | route_method STRING handler_name ';' {
                                  ast_add_route(p->server, p->scope, ast_new_route(p->arena,
                                      $1, $2, $3, no_token, @$));
                                }
  | IDENT ';'                   { unknown_directive(p, $1); }
  | IDENT word args ';'         { unknown_directive(p, $1); }
  | IDENT CBLOCK                { unknown_directive(p, $1); }
  | error ';'                   { yyerrok; p->nargs = 0; }
  | error CBLOCK                { yyerrok; p->nargs = 0; }
  ;

/* route_method: METHOD | IDENT  a route's method; check.c reports an
 * unknown one */
route_method:
    METHOD
  | IDENT
  ;

/* word: the first word after an unknown directive, when it is no string
 * (a string after a word makes a route) */
word:
    NUMBER
  | IDENT
  | METHOD
  ;

/* group_head: 'group' STRING '{'  opens a scope with a path prefix */
group_head:
    GROUP STRING '{'            { p->scope = ast_open_group(p->arena, p->server, p->scope, $1, $2); }
  ;

/* stream_kw: the routes whose connection outlives the request */
stream_kw:
    SSE
  | WS
  ;

/* sse_head: ('SSE' | 'WS') STRING word* '{'  an event stream or a WebSocket route */
sse_head:
    stream_kw STRING args '{'   {
                                  p->sse_kw = $1;
                                  p->sse_pattern = $2;
                                  p->sse_options = ast_new_directive(p->arena, $1, p->args, p->nargs, @1);
                                  p->sse_blocks = NULL;
                                  p->sse_tail = &p->sse_blocks;
                                  p->nargs = 0;
                                }
  ;

sse_blocks:
    %empty
  | sse_blocks sse_block
  ;

/* sse_block: IDENT CBLOCK  e.g. `open { ... }` */
sse_block:
    IDENT CBLOCK                {
                                  Directive *d = ast_new_directive(p->arena, $1, &$2, 1, @$);
                                  *p->sse_tail = d;
                                  p->sse_tail = &d->next;
                                }
  | error CBLOCK                { yyerrok; }
  | error ';'                   { yyerrok; }
  ;

/* cors_head: 'cors' '{'  a CORS policy for the routes of this scope */
cors_head:
    CORS '{'                    { p->cors = ast_open_cors(p->arena, p->server, p->scope, p->diag, $1); }
  ;

cors_items:
    %empty
  | cors_items cors_item
  ;

/* cors_item: IDENT word* ';'  e.g. `origin "https://a.example";`, `credentials;` */
cors_item:
    IDENT args ';'              {
                                  ast_add_cors_item(p->cors,
                                      ast_new_directive(p->arena, $1, p->args, p->nargs, @$));
                                  p->nargs = 0;
                                }
  | error ';'                   { yyerrok; p->nargs = 0; }
  ;

/* The words of a directive, gathered in p->args (the statement's action
 * copies them and resets the count). */
args:
    %empty
  | args value                  { push_arg(p, $2); }
  ;

/* A named handler is a C identifier, so the words that are keywords only
 * at the start of a statement are fine. */
handler_name:
    IDENT
  | METHOD
  | BEFORE                      { $$ = $1; $$.kind = T_IDENT; }
  | AFTER                       { $$ = $1; $$.kind = T_IDENT; }
  | ERROR_KW                    { $$ = $1; $$.kind = T_IDENT; }
  | GROUP                       { $$ = $1; $$.kind = T_IDENT; }
  | LOG                         { $$ = $1; $$.kind = T_IDENT; }
  | SECRET                      { $$ = $1; $$.kind = T_IDENT; }
  | CORS                        { $$ = $1; $$.kind = T_IDENT; }
  | PUBSUB                      { $$ = $1; $$.kind = T_IDENT; }
  | USER                        { $$ = $1; $$.kind = T_IDENT; }
  | TRUST_PROXY                 { $$ = $1; $$.kind = T_IDENT; }
  | PROXY_PROTOCOL              { $$ = $1; $$.kind = T_IDENT; }
  | METRICS                     { $$ = $1; $$.kind = T_IDENT; }
  ;

limits_head:
    LIMITS '{'                  { p->group = SG_LIMITS; ast_server_only(p->scope, p->diag, $1); }
  ;

timeouts_head:
    TIMEOUTS '{'                { p->group = SG_TIMEOUTS; }
  ;

settings:
    %empty
  | settings setting
  ;

/* setting: IDENT value ';'  e.g. `body 1M;`, `idle 60s;` */
setting:
    IDENT value ';'             {
                                  ast_add_setting(p->server, p->scope,
                                      ast_new_setting(p->arena, p->group, $1, $2));
                                }
  | error ';'                   { yyerrok; }
  ;

value:
    NUMBER
  | IDENT
  | STRING
  | METHOD
  ;

%%

static bool is_method(const Token *t)
{
    for (int i = 0; i < M_COUNT; i++)
        if (strlen(check_method_names[i]) == t->len &&
            memcmp(check_method_names[i], t->ptr, t->len) == 0)
            return true;
    return false;
}

static int srv_yylex(SRV_YYSTYPE *val, SRV_YYLTYPE *loc, Parser *p)
{
    int before = p->diag->nerrors;
    int kind = lexer_next(&p->lx, val);
    p->syntax_errors += (unsigned)(p->diag->nerrors - before);
    *loc = val->loc;
    /* The token keeps its kind T_IDENT: only the grammar tells them apart. */
    if (kind == T_IDENT && is_method(val))
        kind = T_METHOD;
    /* Where statements start and which block they are in, for messages. */
    if (p->last == T_END || p->last == ';' || p->last == '{' || p->last == '}' ||
        p->last == T_CBLOCK || p->last == T_PROLOGUE) {
        p->lead = *val;
        p->lead.kind = kind;
    }
    if (kind == '{') {
        if (p->depth < sizeof p->blocks / sizeof p->blocks[0])
            p->blocks[p->depth] = p->lead.kind;
        p->depth++;
    } else if (kind == '}' && p->depth > 0) {
        p->depth--;
    }
    p->last = kind;
    return kind;
}

static void srv_yyerror(SRV_YYLTYPE *loc, Parser *p, const char *msg)
{
    p->syntax_errors++;
    diag_error(p->diag, *loc, "%s", msg);
}

/* Bison's name for a symbol without its quotes: "'{'" stays, "\"string\""
 * becomes "string". */
static const char *symbol_name(yysymbol_kind_t k, char *buf, size_t size)
{
    const char *name = yysymbol_name(k);
    size_t n = strlen(name);
    if (n >= 2 && name[0] == '"' && name[n - 1] == '"') {
        snprintf(buf, size, "%.*s", (int)(n - 2), name + 1);
        return buf;
    }
    return name;
}

/* "identifier 'foo'", "number '80'", "string \"/x\"", "'}'", "end of file":
 * the lookahead as the user wrote it, cut at the line's end. */
static void describe_lookahead(Parser *p, yysymbol_kind_t k, Loc loc, char *buf,
                               size_t size)
{
    char name[64];
    const char *kind = symbol_name(k, name, sizeof name);
    const char *text = p->lx.src->text + loc.off;
    size_t n = 0;
    while (n < loc.len && n < 40 && text[n] != '\n' && text[n] != '\r' &&
           (unsigned char)text[n] >= 0x20 && text[n] != 0x7f)
        n++;
    switch (k) {
    case YYSYMBOL_METHOD: /* a method is an identifier to the user */
        snprintf(buf, size, "identifier '%.*s'", (int)n, text);
        break;
    case YYSYMBOL_IDENT:
    case YYSYMBOL_NUMBER:
        snprintf(buf, size, "%s '%.*s'", kind, (int)n, text);
        break;
    case YYSYMBOL_STRING:
        snprintf(buf, size, "string %.*s%s", (int)n, text,
                 n < loc.len && n == 40 ? "..." : "");
        break;
    default:
        snprintf(buf, size, "%s", kind);
    }
}

static int yyreport_syntax_error(const yypcontext_t *ctx, Parser *p)
{
    yysymbol_kind_t la = yypcontext_token(ctx);
    Loc loc = *yypcontext_location(ctx);
    p->syntax_errors++;
    /* The lexer already said why the input ended early. */
    if (la == YYSYMBOL_YYEOF && p->lx.fatal)
        return 0;
    /* A statement of the server, a group or the file led by a misspelt
     * word: `sever "h" 80 {`, `statc "/a/" "dir";`.  Saying which word it
     * resembles helps more than what the parser expected next. */
    int block = p->depth == 0 ? T_END
                : p->depth <= sizeof p->blocks / sizeof p->blocks[0] ? p->blocks[p->depth - 1]
                                                                     : 0;
    if (p->lead.kind == T_IDENT && (block == T_END || block == T_SERVER || block == T_GROUP) &&
        check_unknown_word(p->diag, p->lead, false, true))
        return 0;
    yysymbol_kind_t expected[16];
    int n = yypcontext_expected_tokens(ctx, expected, 16);
    /* Where an identifier is expected, the words that are keywords only at
     * the start of a statement are identifiers too: name them once. */
    bool ident = false;
    for (int i = 0; i < n; i++)
        ident |= expected[i] == YYSYMBOL_IDENT;
    if (ident) {
        int k = 0;
        for (int i = 0; i < n; i++)
            if (expected[i] != YYSYMBOL_BEFORE && expected[i] != YYSYMBOL_AFTER &&
                expected[i] != YYSYMBOL_ERROR_KW && expected[i] != YYSYMBOL_GROUP &&
                expected[i] != YYSYMBOL_STATIC && expected[i] != YYSYMBOL_LOG &&
                expected[i] != YYSYMBOL_SECRET && expected[i] != YYSYMBOL_CORS &&
                expected[i] != YYSYMBOL_PUBSUB && expected[i] != YYSYMBOL_USER &&
                expected[i] != YYSYMBOL_METHOD && expected[i] != YYSYMBOL_TRUST_PROXY &&
                expected[i] != YYSYMBOL_PROXY_PROTOCOL && expected[i] != YYSYMBOL_METRICS)
                expected[k++] = expected[i];
        n = k;
    }
    char what[128];
    describe_lookahead(p, la, loc, what, sizeof what);
    if (n <= 0) {
        diag_error(p->diag, loc, "unexpected %s", what);
        return 0;
    }
    char list[512] = "";
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        char name[64];
        const char *sep = i == 0 ? "" : i == n - 1 ? " or " : ", ";
        int w = snprintf(list + used, sizeof list - used, "%s%s", sep,
                         symbol_name(expected[i], name, sizeof name));
        if (w < 0 || (size_t)w >= sizeof list - used)
            break;
        used += (size_t)w;
    }
    diag_error(p->diag, loc, "expected %s before %s", list, what);
    return 0;
}

const char *const *parse_keywords(size_t *n)
{
    /* Bison's names of the keyword tokens, 'workers', without the quotes. */
    static char names[YYNTOKENS][24];
    static const char *list[YYNTOKENS];
    static size_t count;
    if (count == 0) {
        for (int k = 0; k < YYNTOKENS; k++) {
            const char *name = yysymbol_name((yysymbol_kind_t)k);
            size_t len = strlen(name);
            if (len < 3 || len - 2 >= sizeof names[0] || name[0] != '\'' ||
                name[len - 1] != '\'' ||
                !((name[1] >= 'a' && name[1] <= 'z') || (name[1] >= 'A' && name[1] <= 'Z')))
                continue;
            memcpy(names[count], name + 1, len - 2);
            names[count][len - 2] = '\0';
            list[count] = names[count];
            count++;
        }
    }
    *n = count;
    return list;
}

App *parse_app(const Source *src, Diag *d, Arena *a)
{
    Parser p;
    memset(&p, 0, sizeof p);
    lexer_init(&p.lx, src, d, a);
    p.diag = d;
    p.arena = a;
    p.app = ast_new_app(a);
    if (srv_yyparse(&p) != 0 && d->nerrors == 0)
        diag_error(d, (Loc){LOC_NONE, 0}, "cannot parse this file");
    p.app->syntax_errors = p.syntax_errors + (d->nerrors > 0 && p.syntax_errors == 0 &&
                                              p.app->nservers == 0);
    return p.app;
}
