/*
 * codegen.c - the last pass: the checked AST and the route tree become one
 * C file that includes only srv.h.  In order: banner, #include, prologue,
 * setup functions, one function per inline handler, declarations of named
 * handlers, parameter-name arrays, the route table, the matcher, the
 * srv_app description, main(), epilogue.
 *
 * Every user block is copied byte for byte behind `#line N "app.srv"`, its
 * first line padded to its original column, and followed by a #line back
 * into the generated file, so cc errors and gdb point at the right file.
 *
 * The matcher is a decision tree written as nested C blocks, one per tree
 * node: a node's few literal children are found by a switch on the segment
 * length and then nested switches on the bytes that tell the candidates
 * apart; a node's many literal children through a hash table srvc lays
 * out; either way the cost of a lookup depends on the path, not on the
 * number of routes.  A failed branch falls through to the node's `:param`,
 * then to its `*` (backtracking).  No C function inlines more than a few
 * dozen nodes (plan_functions), which keeps cc -O2 linear in the routes.
 */
#include "srvc.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Every runtime name the generated code uses (see runtime/srv.h). */
#define RT_HEADER "srv.h"
#define RT_PARAM_AT "srv_request_param_at"
#define RT_MAIN "srv_main"
#define RT_WORKERS_AUTO "SRV_WORKERS_AUTO"
#define RT_ANSWERED "srv_response_answered"
#define RT_STATIC_SERVE "srv_static_serve"
#define RT_STATIC_SLASH "srv_static_redirect_slash"
#define RT_SSE_START "srv_sse_start"
#define RT_SSE_ROUTE "srv_sse_route"
#define RT_WS_START "srv_ws_start"
#define RT_WS_ROUTE "srv_ws_route"
#define RT_STATIC_MOUNT "srv_static_mount"
#define RT_ROUTE_INDEX "srv_request_route"
#define RT_REQUEST_PATH "srv_request_path"
#define RT_PATH_PREFIX "srv_path_prefix"
#define RT_CORS_APPLY "srv_cors_apply"
#define RT_METRICS_SERVE "srv_metrics_serve"
#define RT_CIDR "srv_cidr"
static const char *const rt_method[M_COUNT] = {
    "SRV_METHOD_GET",    "SRV_METHOD_HEAD",  "SRV_METHOD_POST",    "SRV_METHOD_PUT",
    "SRV_METHOD_DELETE", "SRV_METHOD_PATCH", "SRV_METHOD_OPTIONS", "SRV_METHOD_ANY",
};
static const char *const rt_limit_field[LIM_COUNT] = {
    "request_line",      "header_bytes",    "header_count",    "body",
    "header_timeout_ms", "body_timeout_ms", "idle_timeout_ms", "shutdown_timeout_ms",
    "multipart_parts",   "multipart_header", "response_timeout_ms", "sse_queue",
    "reload_timeout_ms", "ws_message", "ws_frame", "ws_queue", "ws_ping_ms",
};

typedef struct {
    Emit *e;
    const Source *src;
    const char *out_name;
    Arena *arena;
    /* By node id: */
    bool *own_fn;     /* the node's code is a function of its own */
    unsigned *fid;    /* ... named srvg_node_<fid>, shared by equal shapes */
    unsigned *uses;   /* for a function's first node: how many nodes share it */
    unsigned *rt_off; /* where the node's routes start in srvg_rt */
    unsigned base;    /* rt_off of the function being written */
    bool shared;      /* ... which serves several subtrees */
    bool uses_table;  /* the matcher has hash tables */
} Gen;

static void indent(Emit *e, int level)
{
    for (int i = 0; i < level; i++)
        emit_str(e, "    ");
}

/* One line of generated C at LEVEL (4 spaces each); FMT ends in "\n". */
__attribute__((format(printf, 3, 4)))
static void emit_line(Emit *e, int level, const char *fmt, ...)
{
    va_list ap;
    indent(e, level);
    va_start(ap, fmt);
    emit_vfmt(e, fmt, ap);
    va_end(ap);
}

/* --- user blocks -------------------------------------------------------- */

static void emit_line_directive(Gen *g, unsigned line, const char *file)
{
    emit_fmt(g->e, "#line %u \"", line);
    emit_c_string(g->e, file, strlen(file));
    emit_str(g->e, "\"\n");
}

/* Copies the user's C text at PTR (a view into the source) verbatim. */
static void gen_user_block(Gen *g, const char *ptr, size_t len)
{
    unsigned line, col;
    source_line_col(g->src, (size_t)(ptr - g->src->text), &line, &col);
    emit_line_directive(g, line, g->src->name);
    for (unsigned i = 1; i < col; i++)
        emit_str(g->e, " ");
    emit_bytes(g->e, ptr, len);
    if (len == 0 || ptr[len - 1] != '\n')
        emit_str(g->e, "\n");
    emit_line_directive(g, g->e->line + 1, g->out_name);
}

/* A file name inside the banner comment: no comment delimiters, no control
 * characters. */
static void emit_comment_text(Emit *e, const char *s)
{
    for (const char *p = s; *p; p++) {
        char c = *p;
        if ((unsigned char)c < 0x20 || c == 0x7f)
            c = '?';
        if ((c == '/' && p[1] == '*') || (c == '*' && p[1] == '/')) {
            emit_bytes(e, &c, 1);
            emit_str(e, " ");
            continue;
        }
        emit_bytes(e, &c, 1);
    }
}

static void gen_setup(Gen *g, const char *fn, Token block)
{
    emit_fmt(g->e, "static void %s(void)\n{\n", fn);
    gen_user_block(g, block.ptr, block.len);
    emit_str(g->e, "}\n\n");
}

/* `const char *NAME = srv_request_param_at(req, K);` for each :param of
 * SEGS, then (void) casts so an unused one is no warning. */
static void gen_param_vars(Emit *e, const Segment *segs, unsigned nsegs)
{
    unsigned k = 0;
    for (unsigned i = 0; i < nsegs; i++) {
        const Segment *s = &segs[i];
        if (s->kind == SEG_PARAM)
            emit_fmt(e, "    const char *%.*s = " RT_PARAM_AT "(req, %u);\n", (int)s->len, s->ptr, k);
        k += s->kind != SEG_LITERAL;
    }
    emit_str(e, "    (void)req;\n    (void)res;\n");
    for (unsigned i = 0; i < nsegs; i++)
        if (segs[i].kind == SEG_PARAM)
            emit_fmt(e, "    (void)%.*s;\n", (int)segs[i].len, segs[i].ptr);
}

/* "// GET /api/users/:id" above a route's functions. */
static void gen_route_comment(Emit *e, const Route *r)
{
    if (r->kind == RK_SLASH) {
        emit_str(e, "// GET ");
        emit_c_string(e, r->path, strlen(r->path));
        emit_str(e, ": 301 to the static prefix ");
        emit_c_string(e, r->path, strlen(r->path));
        emit_str(e, r->dropped ? "/ (unused: a route takes the path)\n" : "/\n");
        return;
    }
    if (r->kind == RK_STATIC) {
        emit_str(e, "// static ");
        emit_c_string(e, r->path, strlen(r->path) - 1);
        emit_str(e, " from \"");
        emit_c_string(e, r->dir.ptr, r->dir.len);
        emit_str(e, "\"\n");
        return;
    }
    emit_fmt(e, "// %s ", r->kind == RK_SSE  ? "SSE"
                          : r->kind == RK_WS ? "WS"
                                             : check_method_names[r->method_index]);
    emit_c_string(e, r->path, strlen(r->path));
    emit_str(e, "\n");
}

static void gen_handler(Gen *g, const Route *r)
{
    Emit *e = g->e;
    gen_route_comment(e, r);
    emit_fmt(e, "static void srvg_handler_%u(struct srv_request *req, struct srv_response *res)\n{\n",
             r->index);
    gen_param_vars(e, r->segs, r->nsegs);
    gen_user_block(g, r->body.ptr, r->body.len);
    emit_str(e, "}\n\n");
}

/* A mount's handler: the file named by the route's `*`. */
static void gen_static_handler(Gen *g, const Route *r)
{
    Emit *e = g->e;
    gen_route_comment(e, r);
    emit_fmt(e, "static void srvg_static_%u(struct srv_request *req, struct srv_response *res)\n{\n"
                "    " RT_STATIC_SERVE "(req, res, %u);\n}\n\n",
             r->mount, r->mount);
}

/* An SSE route: its blocks as functions, their table, and the handler that
 * starts the stream.  `open` sees the request and the path parameters; the
 * request is gone once it returns, so `tick` and `close` see the stream. */
static void gen_sse(Gen *g, const Route *r)
{
    Emit *e = g->e;
    unsigned n = r->index;
    if (r->sse_open.kind) {
        gen_route_comment(e, r);
        emit_fmt(e, "static void srvg_sse_open_%u(struct srv_sse *sse, struct srv_request *req,\n"
                    "        const char *last_event_id)\n{\n", n);
        unsigned k = 0;
        for (unsigned i = 0; i < r->nsegs; i++) {
            const Segment *sg = &r->segs[i];
            if (sg->kind == SEG_PARAM)
                emit_fmt(e, "    const char *%.*s = " RT_PARAM_AT "(req, %u);\n", (int)sg->len,
                         sg->ptr, k);
            k += sg->kind != SEG_LITERAL;
        }
        emit_str(e, "    (void)sse;\n    (void)req;\n    (void)last_event_id;\n");
        for (unsigned i = 0; i < r->nsegs; i++)
            if (r->segs[i].kind == SEG_PARAM)
                emit_fmt(e, "    (void)%.*s;\n", (int)r->segs[i].len, r->segs[i].ptr);
        gen_user_block(g, r->sse_open.ptr, r->sse_open.len);
        emit_str(e, "}\n\n");
    }
    if (r->sse_tick.kind) {
        emit_fmt(e, "static void srvg_sse_tick_%u(struct srv_sse *sse)\n{\n    (void)sse;\n", n);
        gen_user_block(g, r->sse_tick.ptr, r->sse_tick.len);
        emit_str(e, "}\n\n");
    }
    if (r->sse_close.kind) {
        emit_fmt(e, "static void srvg_sse_close_%u(struct srv_sse *sse, int reason)\n{\n"
                    "    (void)sse;\n    (void)reason;\n", n);
        gen_user_block(g, r->sse_close.ptr, r->sse_close.len);
        emit_str(e, "}\n\n");
    }
    emit_fmt(e, "static const struct " RT_SSE_ROUTE " srvg_sse_%u = {", n);
    if (r->sse_open.kind)
        emit_fmt(e, "srvg_sse_open_%u, ", n);
    else
        emit_str(e, "NULL, ");
    if (r->sse_tick.kind)
        emit_fmt(e, "srvg_sse_tick_%u, ", n);
    else
        emit_str(e, "NULL, ");
    if (r->sse_close.kind)
        emit_fmt(e, "srvg_sse_close_%u, ", n);
    else
        emit_str(e, "NULL, ");
    emit_fmt(e, "%u};\n\n", r->every_ms);
    emit_fmt(e, "static void srvg_handler_%u(struct srv_request *req, struct srv_response *res)\n{\n"
                "    " RT_SSE_START "(req, res, &srvg_sse_%u);\n}\n\n",
             n, n);
}

/* A WebSocket route: its blocks as functions, its subprotocols, and the
 * handler that answers the upgrade.  `open` sees the request, the path
 * parameters and the chosen subprotocol; the request is gone once it
 * returns. */
static void gen_ws(Gen *g, const Route *r)
{
    Emit *e = g->e;
    unsigned n = r->index;
    if (r->sse_open.kind) {
        gen_route_comment(e, r);
        emit_fmt(e, "static void srvg_ws_open_%u(struct srv_ws *ws, struct srv_request *req,\n"
                    "        const char *protocol)\n{\n", n);
        unsigned k = 0;
        for (unsigned i = 0; i < r->nsegs; i++) {
            const Segment *sg = &r->segs[i];
            if (sg->kind == SEG_PARAM)
                emit_fmt(e, "    const char *%.*s = " RT_PARAM_AT "(req, %u);\n", (int)sg->len,
                         sg->ptr, k);
            k += sg->kind != SEG_LITERAL;
        }
        emit_str(e, "    (void)ws;\n    (void)req;\n    (void)protocol;\n");
        for (unsigned i = 0; i < r->nsegs; i++)
            if (r->segs[i].kind == SEG_PARAM)
                emit_fmt(e, "    (void)%.*s;\n", (int)r->segs[i].len, r->segs[i].ptr);
        gen_user_block(g, r->sse_open.ptr, r->sse_open.len);
        emit_str(e, "}\n\n");
    }
    if (r->sse_tick.kind) {
        emit_fmt(e, "static void srvg_ws_message_%u(struct srv_ws *ws, const char *msg, size_t len,\n"
                    "        bool binary)\n{\n"
                    "    (void)ws;\n    (void)msg;\n    (void)len;\n    (void)binary;\n", n);
        gen_user_block(g, r->sse_tick.ptr, r->sse_tick.len);
        emit_str(e, "}\n\n");
    }
    if (r->sse_close.kind) {
        emit_fmt(e, "static void srvg_ws_close_%u(struct srv_ws *ws, int code, const char *reason)\n{\n"
                    "    (void)ws;\n    (void)code;\n    (void)reason;\n", n);
        gen_user_block(g, r->sse_close.ptr, r->sse_close.len);
        emit_str(e, "}\n\n");
    }
    const Directive *o = r->options;
    unsigned np = r->ws_protocols;
    if (np) {
        emit_fmt(e, "static const char *const srvg_ws_protocols_%u[] = {", n);
        for (unsigned i = r->ws_first_protocol; i < r->ws_first_protocol + np; i++) {
            emit_str(e, i > r->ws_first_protocol ? ", \"" : "\"");
            emit_c_string(e, o->args[i].ptr, o->args[i].len);
            emit_str(e, "\"");
        }
        emit_str(e, "};\n");
    }
    emit_fmt(e, "static const struct " RT_WS_ROUTE " srvg_ws_%u = {", n);
    if (r->sse_open.kind)
        emit_fmt(e, "srvg_ws_open_%u, ", n);
    else
        emit_str(e, "NULL, ");
    if (r->sse_tick.kind)
        emit_fmt(e, "srvg_ws_message_%u, ", n);
    else
        emit_str(e, "NULL, ");
    if (r->sse_close.kind)
        emit_fmt(e, "srvg_ws_close_%u, ", n);
    else
        emit_str(e, "NULL, ");
    if (np)
        emit_fmt(e, "srvg_ws_protocols_%u, %u, %s};\n\n", n, np,
                 r->ws_deflate ? "true" : "false");
    else
        emit_fmt(e, "NULL, 0, %s};\n\n", r->ws_deflate ? "true" : "false");
    emit_fmt(e, "static void srvg_handler_%u(struct srv_request *req, struct srv_response *res)\n{\n"
                "    " RT_WS_START "(req, res, &srvg_ws_%u);\n}\n\n",
             n, n);
}

/* A mount's prefix without its slash. */
static void gen_slash_handler(Gen *g, const Route *r)
{
    Emit *e = g->e;
    gen_route_comment(e, r);
    emit_fmt(e, "static void srvg_slash_%u(struct srv_request *req, struct srv_response *res)\n{\n"
                "    " RT_STATIC_SLASH "(req, res);\n}\n\n",
             r->index);
}

/* --- hooks -------------------------------------------------------------- */

static const char *const hook_names[HK_COUNT] = {"before", "after", "error"};

/* A hook block as a function: before and after blocks see the parameters
 * of their scope's prefix; an error block sees the status and its reason. */
static void gen_hook(Gen *g, const Hook *h)
{
    Emit *e = g->e;
    const Scope *sc = h->scope;
    emit_fmt(e, "// %s, %s", hook_names[h->kind], sc->parent ? "group \"" : "server");
    if (sc->parent) {
        emit_c_string(e, sc->path, strlen(sc->path));
        emit_str(e, "\"");
    }
    emit_str(e, "\n");
    if (h->kind == HK_ERROR) {
        emit_fmt(e, "static void srvg_error_%u(struct srv_request *req, struct srv_response *res,\n"
                    "        int status, const char *reason)\n{\n"
                    "    (void)req;\n    (void)res;\n    (void)status;\n    (void)reason;\n",
                 h->index);
    } else {
        emit_fmt(e, "static void srvg_%s_%u(struct srv_request *req, struct srv_response *res)\n{\n",
                 hook_names[h->kind], h->index);
        gen_param_vars(e, sc->segs, sc->nsegs);
    }
    gen_user_block(g, h->body.ptr, h->body.len);
    emit_str(e, "}\n\n");
}

unsigned gen_hook_chain(const Scope *scope, HookKind kind, const Hook **out, unsigned n)
{
    if (!scope)
        return n;
    if (kind == HK_BEFORE)
        n = gen_hook_chain(scope->parent, kind, out, n);
    for (const Hook *h = scope->hooks; h; h = h->next) {
        if (h->kind != kind)
            continue;
        if (out)
            out[n] = h;
        n++;
    }
    if (kind == HK_AFTER)
        n = gen_hook_chain(scope->parent, kind, out, n);
    return n;
}

const Cors *gen_route_cors(const Route *r)
{
    for (const Scope *sc = r->scope; sc; sc = sc->parent)
        if (sc->cors)
            return sc->cors;
    return NULL;
}

/* The deadline of a route's deferred responses: its innermost group's
 * `timeouts { response }`, 0 for the server's. */
static unsigned route_response_ms(const Route *r)
{
    for (const Scope *sc = r->scope; sc && sc->parent; sc = sc->parent)
        if (sc->response_ms)
            return sc->response_ms;
    return 0;
}

/* Whether a route needs a chain before its handler, and one after it. */
static bool has_before(const Route *r)
{
    return !r->dropped && gen_hook_chain(r->scope, HK_BEFORE, NULL, 0) > 0;
}

static bool has_end(const Route *r)
{
    return !r->dropped &&
           (gen_hook_chain(r->scope, HK_AFTER, NULL, 0) > 0 || gen_route_cors(r) != NULL);
}

/* The name of the function that does a route's own work. */
static void emit_handler_name(Emit *e, const Route *r)
{
    if (r->kind == RK_STATIC)
        emit_fmt(e, "srvg_static_%u", r->mount);
    else if (r->kind == RK_SLASH)
        emit_fmt(e, "srvg_slash_%u", r->index);
    else if (r->kind == RK_METRICS)
        emit_str(e, RT_METRICS_SERVE);
    else if (r->handler.kind)
        emit_fmt(e, "%.*s", (int)r->handler.len, r->handler.ptr);
    else
        emit_fmt(e, "srvg_handler_%u", r->index);
}

/* ", " between the words of DIR, as one header value. */
static void emit_word_list(Emit *e, const Directive *dir)
{
    for (unsigned i = 0; i < dir->nargs; i++) {
        if (i)
            emit_str(e, ", ");
        emit_c_string(e, dir->args[i].ptr, dir->args[i].len);
    }
}

static void gen_cors_policy(Gen *g, const Cors *c)
{
    Emit *e = g->e;
    emit_fmt(e, "// cors, %s", c->scope->parent ? "group \"" : "server");
    if (c->scope->parent) {
        emit_c_string(e, c->scope->path, strlen(c->scope->path));
        emit_str(e, "\"");
    }
    emit_str(e, "\n");
    if (!c->any_origin) {
        emit_fmt(e, "static const char *const srvg_cors_origins_%u[] = {", c->index);
        for (unsigned i = 0; i < c->origin->nargs; i++) {
            emit_str(e, i ? ", \"" : "\"");
            emit_c_string(e, c->origin->args[i].ptr, c->origin->args[i].len);
            emit_str(e, "\"");
        }
        emit_str(e, "};\n");
    }
    emit_fmt(e, "static const struct srv_cors srvg_cors_%u = {\n", c->index);
    if (c->any_origin)
        emit_str(e, "    .any_origin = true,\n");
    else
        emit_fmt(e, "    .origins = srvg_cors_origins_%u,\n    .norigins = %u,\n", c->index,
                 c->origin->nargs);
    if (c->credentials)
        emit_str(e, "    .credentials = true,\n");
    emit_str(e, "    .methods = ");
    const char *sep = "";
    for (int m = 0; m < M_ANY; m++) {
        if (c->method_mask & (1u << m)) {
            emit_fmt(e, "%s%s", sep, rt_method[m]);
            sep = " | ";
        }
    }
    emit_str(e, ",\n    .allow_methods = \"");
    sep = "";
    for (int m = 0; m < M_ANY; m++) {
        if (c->method_mask & (1u << m)) {
            emit_fmt(e, "%s%s", sep, check_method_names[m]);
            sep = ", ";
        }
    }
    emit_str(e, "\",\n");
    if (c->headers) {
        emit_str(e, "    .allow_headers = \"");
        emit_word_list(e, c->headers);
        emit_str(e, "\",\n");
    }
    if (c->expose) {
        emit_str(e, "    .expose_headers = \"");
        emit_word_list(e, c->expose);
        emit_str(e, "\",\n");
    }
    if (c->max_age)
        emit_fmt(e, "    .max_age = \"%llu\",\n", (unsigned long long)c->max_age_s);
    emit_str(e, "};\n\n");
}

/* A route's before blocks and its handler, called directly: a before
 * block that answers (srv_response_answered) skips the later ones and the
 * handler. */
static void gen_route_chain(Gen *g, const Route *r, Arena *a)
{
    Emit *e = g->e;
    unsigned nb = gen_hook_chain(r->scope, HK_BEFORE, NULL, 0);
    const Hook **before = arena_alloc(a, (nb + 1) * sizeof *before);
    gen_hook_chain(r->scope, HK_BEFORE, before, 0);
    gen_route_comment(e, r);
    emit_fmt(e, "static void srvg_route_%u(struct srv_request *req, struct srv_response *res)\n{\n",
             r->index);
    for (unsigned i = 0; i < nb; i++)
        emit_fmt(e, "    srvg_before_%u(req, res);\n    if (" RT_ANSWERED "(res))\n        return;\n",
                 before[i]->index);
    emit_str(e, "    ");
    emit_handler_name(e, r);
    emit_str(e, "(req, res);\n}\n\n");
}

/* What runs once a route's response is built: its CORS headers, then its
 * after blocks.  The runtime calls it when the handler returns, or, for a
 * deferred response, when srv_response_finish() is called. */
static void gen_route_end(Gen *g, const Route *r, Arena *a)
{
    Emit *e = g->e;
    unsigned na = gen_hook_chain(r->scope, HK_AFTER, NULL, 0);
    const Hook **after = arena_alloc(a, (na + 1) * sizeof *after);
    gen_hook_chain(r->scope, HK_AFTER, after, 0);
    const Cors *cors = gen_route_cors(r);
    emit_fmt(e, "static void srvg_end_%u(struct srv_request *req, struct srv_response *res)\n{\n",
             r->index);
    if (cors)
        emit_fmt(e, "    " RT_CORS_APPLY "(req, res, &srvg_cors_%u);\n", cors->index);
    for (unsigned i = 0; i < na; i++)
        emit_fmt(e, "    srvg_after_%u(req, res);\n", after[i]->index);
    if (!cors && na == 0)
        emit_str(e, "    (void)req;\n    (void)res;\n");
    emit_str(e, "}\n\n");
}

/* --- route table -------------------------------------------------------- */

static int compare_handler_names(const void *pa, const void *pb)
{
    const Route *a = *(Route *const *)pa, *b = *(Route *const *)pb;
    size_t n = a->handler.len < b->handler.len ? a->handler.len : b->handler.len;
    int c = memcmp(a->handler.ptr, b->handler.ptr, n);
    if (c)
        return c;
    if (a->handler.len != b->handler.len)
        return a->handler.len < b->handler.len ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

/* One declaration per named handler, in order of first use. */
static void gen_named_decls(Gen *g, const Server *s, Arena *a)
{
    Route **named = arena_alloc(a, (s->nroutes + 1) * sizeof *named);
    bool *first = arena_alloc(a, s->nroutes + 1);
    unsigned n = 0;
    for (Route *r = s->routes; r; r = r->next)
        if (r->handler.kind)
            named[n++] = r;
    if (!n)
        return;
    qsort(named, n, sizeof *named, compare_handler_names);
    for (unsigned i = 0; i < n; i++)
        first[named[i]->index] = i == 0 || named[i - 1]->handler.len != named[i]->handler.len ||
                                 memcmp(named[i - 1]->handler.ptr, named[i]->handler.ptr,
                                        named[i]->handler.len) != 0;
    emit_str(g->e, "// Named handlers, defined in the epilogue or another file.\n");
    for (Route *r = s->routes; r; r = r->next)
        if (r->handler.kind && first[r->index])
            emit_fmt(g->e, "void %.*s(struct srv_request *req, struct srv_response *res);\n",
                     (int)r->handler.len, r->handler.ptr);
    emit_str(g->e, "\n");
}

static void gen_route_table(Gen *g, const Server *s)
{
    Emit *e = g->e;
    if (s->nmounts) {
        emit_str(e, "static const struct " RT_STATIC_MOUNT " srvg_mounts[] = {\n");
        for (Route *r = s->routes; r; r = r->next) {
            if (r->kind != RK_STATIC)
                continue;
            unsigned line, col;
            source_line_col(g->src, r->loc.off, &line, &col);
            emit_str(e, "    {\"");
            emit_c_string(e, r->path, strlen(r->path) - 1);
            emit_str(e, "\", \"");
            emit_c_string(e, r->dir.ptr, r->dir.len);
            emit_str(e, "\", \"");
            emit_c_string(e, g->src->name, strlen(g->src->name));
            emit_fmt(e, ":%u:%u\"},\n", line, col);
        }
        emit_str(e, "};\n\n");
    }
    for (Route *r = s->routes; r; r = r->next) {
        if (!r->nparams)
            continue;
        emit_fmt(e, "static const char *const srvg_params_%u[] = {", r->index);
        const char *sep = "";
        for (unsigned i = 0; i < r->nsegs; i++) {
            const Segment *sg = &r->segs[i];
            if (sg->kind == SEG_LITERAL)
                continue;
            emit_fmt(e, "%s\"%.*s\"", sep, sg->kind == SEG_WILD ? 1 : (int)sg->len,
                     sg->kind == SEG_WILD ? "*" : sg->ptr);
            sep = ", ";
        }
        emit_str(e, "};\n");
    }
    if (!s->nroutes)
        return;
    emit_str(e, "\nstatic const struct srv_route srvg_routes[] = {\n");
    for (Route *r = s->routes; r; r = r->next) {
        emit_str(e, "    {");
        if (has_before(r))
            emit_fmt(e, "srvg_route_%u", r->index);
        else
            emit_handler_name(e, r);
        emit_fmt(e, ", %s, \"", rt_method[r->method_index]);
        emit_c_string(e, r->path, strlen(r->path));
        if (r->nparams)
            emit_fmt(e, "\", %u, srvg_params_%u", r->nparams, r->index);
        else
            emit_str(e, "\", 0, NULL");
        const Cors *cors = gen_route_cors(r);
        if (cors && !r->dropped)
            emit_fmt(e, ", &srvg_cors_%u", cors->index);
        else
            emit_str(e, ", NULL");
        if (has_end(r))
            emit_fmt(e, ", srvg_end_%u", r->index);
        else
            emit_str(e, ", NULL");
        emit_fmt(e, ", %u},\n", route_response_ms(r));
    }
    emit_str(e, "};\n\n");
}

/* --- matcher ------------------------------------------------------------ */

/* The generated matcher is a set of functions, one per "function node":
 * each holds the code of its node and of the descendants inlined into it,
 * and calls its outlined children.  Bounding what one function inlines
 * (FN_BUDGET nodes) keeps every C function small, and subtrees of the same
 * shape (same literals, parameters and method sets; only the route numbers
 * differ) share one function that reads its route numbers from `rt`, a
 * slice of srvg_rt.  So an API with thousands of look-alike resources
 * costs cc -O2 a handful of functions, not thousands.  A node with more
 * than BIG_NODE literal children finds the child through an
 * open-addressing hash table that srvc lays out at compile time, so
 * dispatch costs O(segment length) however many siblings there are. */
enum { BIG_NODE = 8 };
enum { FN_BUDGET = 24 };

static bool is_big(const Node *n)
{
    return n->nlits > BIG_NODE;
}

/* The hash of a path segment, word at a time: cost grows by one multiply
 * per 8 bytes, not per byte.  Loads are assembled from bytes in
 * little-endian order, so the value does not depend on the machine (cc
 * turns each into one load); HASH_C is the same function in the generated
 * file, and the two must stay identical (tests/compiler/big_node.expect
 * fails otherwise). */
static uint64_t le64(const unsigned char *p)
{
    uint64_t w = 0;
    for (int i = 7; i >= 0; i--)
        w = w << 8 | p[i];
    return w;
}

static uint64_t le32(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
}

static uint64_t mix(uint64_t x)
{
    x *= UINT64_C(0xff51afd7ed558ccd);
    return x ^ x >> 32;
}

/* MurmurHash3's finaliser: every input bit reaches the low bits that pick
 * a slot (mix alone leaves them blind to the high half of the last word). */
static uint64_t fmix(uint64_t x)
{
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x *= UINT64_C(0xc4ceb9fe1a85ec53);
    return x ^ x >> 33;
}

uint32_t gen_hash(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    uint64_t h = UINT64_C(0x9e3779b97f4a7c15) ^ n, w = 0;
    if (n >= 8) {
        for (; n > 8; p += 8, n -= 8)
            h = mix(h ^ le64(p));
        w = le64(p + n - 8);
    } else if (n >= 4) {
        w = le32(p) | le32(p + n - 4) << 32;
    } else if (n > 0) {
        w = (uint64_t)p[0] | (uint64_t)p[n / 2] << 8 | (uint64_t)p[n - 1] << 16;
    }
    return (uint32_t)fmix(h ^ w);
}

#define HASH_C                                                                               \
    "static inline uint64_t srvg_le64(const unsigned char *p)\n{\n"                          \
    "    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |\n"             \
    "           (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |\n"      \
    "           (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;\n}\n\n"                         \
    "static inline uint64_t srvg_le32(const unsigned char *p)\n{\n"                          \
    "    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |\n"             \
    "           (uint64_t)p[3] << 24;\n}\n\n"                                                \
    "static inline uint64_t srvg_mix(uint64_t x)\n{\n"                                       \
    "    x *= UINT64_C(0xff51afd7ed558ccd);\n    return x ^ x >> 32;\n}\n\n"                 \
    "static inline uint64_t srvg_fmix(uint64_t x)\n{\n"                                      \
    "    x ^= x >> 33;\n    x *= UINT64_C(0xff51afd7ed558ccd);\n"                            \
    "    x ^= x >> 33;\n    x *= UINT64_C(0xc4ceb9fe1a85ec53);\n"                            \
    "    return x ^ x >> 33;\n}\n\n"                                                        \
    "// The hash of a path segment; srvc laid out the tables with the same.\n"              \
    "static inline uint32_t srvg_hash(const char *s, size_t n)\n{\n"                         \
    "    const unsigned char *p = (const unsigned char *)s;\n"                               \
    "    uint64_t h = UINT64_C(0x9e3779b97f4a7c15) ^ n, w = 0;\n"                            \
    "    if (n >= 8) {\n"                                                                    \
    "        for (; n > 8; p += 8, n -= 8)\n"                                                \
    "            h = srvg_mix(h ^ srvg_le64(p));\n"                                          \
    "        w = srvg_le64(p + n - 8);\n"                                                    \
    "    } else if (n >= 4) {\n"                                                             \
    "        w = srvg_le32(p) | srvg_le32(p + n - 4) << 32;\n"                               \
    "    } else if (n > 0) {\n"                                                              \
    "        w = (uint64_t)p[0] | (uint64_t)p[n / 2] << 8 | (uint64_t)p[n - 1] << 16;\n"     \
    "    }\n"                                                                                \
    "    return (uint32_t)srvg_fmix(h ^ w);\n}\n\n"

static bool has_leaf(const Node *n)
{
    for (int i = 0; i < M_COUNT; i++)
        if (n->leaf[i])
            return true;
    return false;
}

static bool has_leaf_except_any(const Node *n)
{
    for (int i = 0; i < M_ANY; i++)
        if (n->leaf[i])
            return true;
    return false;
}

/* Route slots: node N's routes sit at srvg_rt[rt_off[N] ...], one per
 * method present in N->leaf, in M_* order. */
static unsigned leaf_slot(const Node *n, int method)
{
    unsigned k = 0;
    for (int i = 0; i < method; i++)
        k += n->leaf[i] != NULL;
    return k;
}

/* Pre-order, the order the generated code walks the tree: a subtree's
 * slots are contiguous. */
static void number_slots(Gen *g, const Node *n, unsigned *next)
{
    g->rt_off[n->id] = *next;
    *next += leaf_slot(n, M_COUNT);
    for (unsigned i = 0; i < n->nlits; i++)
        number_slots(g, n->lits[i], next);
    if (n->param)
        number_slots(g, n->param, next);
    if (n->wild)
        number_slots(g, n->wild, next);
}

static unsigned leaf_mask(const Node *n)
{
    unsigned mask = 0;
    for (int i = 0; i < M_COUNT; i++)
        mask |= (n->leaf[i] != NULL) << i;
    return mask;
}

/* The shape of the code inlined at N: everything the generated code
 * depends on except route numbers.  A hash node's table is its own, so it
 * makes the shape unique. */
static void shape_key(Gen *g, Emit *k, const Node *n)
{
    emit_fmt(k, "N%x", leaf_mask(n));
    if (n->wild)
        emit_fmt(k, "W%x", leaf_mask(n->wild));
    if (is_big(n))
        emit_fmt(k, "B%u", n->id);
    for (unsigned i = 0; i < n->nlits; i++) {
        const Node *c = n->lits[i];
        if (!is_big(n)) {
            emit_fmt(k, "L%zu:", c->label_len);
            emit_bytes(k, c->label, c->label_len);
        }
        if (g->own_fn[c->id]) {
            emit_fmt(k, "F%u", g->fid[c->id]);
        } else {
            emit_str(k, "(");
            shape_key(g, k, c);
            emit_str(k, ")");
        }
    }
    if (n->param) {
        if (g->own_fn[n->param->id]) {
            emit_fmt(k, "PF%u", g->fid[n->param->id]);
        } else {
            emit_str(k, "P(");
            shape_key(g, k, n->param);
            emit_str(k, ")");
        }
    }
}

typedef struct Shape {
    char *key;
    size_t len;
    unsigned fid;
    struct Shape *next;
} Shape;

typedef struct {
    Shape **buckets;
    unsigned mask;
} Shapes;

/* Post-order, the order functions are written in: the first node of each
 * shape names the function. */
static void plan_shapes(Gen *g, const Node *n, Shapes *sh, Emit *k)
{
    for (unsigned i = 0; i < n->nlits; i++)
        plan_shapes(g, n->lits[i], sh, k);
    if (n->param)
        plan_shapes(g, n->param, sh, k);
    if (!g->own_fn[n->id])
        return;
    k->len = 0;
    shape_key(g, k, n);
    uint32_t h = gen_hash(k->buf, k->len);
    Shape **b = &sh->buckets[h & sh->mask];
    for (Shape *x = *b; x; x = x->next) {
        if (x->len == k->len && memcmp(x->key, k->buf, k->len) == 0) {
            g->fid[n->id] = x->fid;
            g->uses[x->fid]++;
            return;
        }
    }
    Shape *x = arena_alloc(g->arena, sizeof *x);
    x->key = arena_strndup(g->arena, k->buf, k->len);
    x->len = k->len;
    x->fid = n->id;
    x->next = *b;
    *b = x;
    g->fid[n->id] = n->id;
    g->uses[n->id] = 1;
}

/* Decides which nodes get their own function (g->own_fn[id]) and returns
 * the number of nodes N's code inlines.  Children of a hash node always
 * get one (the table points at them); otherwise the heaviest children are
 * outlined until N's function fits the budget. */
static unsigned plan_functions(Gen *g, const Node *n)
{
    unsigned weight = 1 + (n->wild != NULL);
    const Node *kids[BIG_NODE + 1];
    unsigned kw[BIG_NODE + 1], nk = 0;
    for (unsigned i = 0; i < n->nlits; i++) {
        unsigned w = plan_functions(g, n->lits[i]);
        if (is_big(n)) {
            g->own_fn[n->lits[i]->id] = true;
            continue;
        }
        kids[nk] = n->lits[i];
        kw[nk++] = w;
    }
    if (n->param) {
        kids[nk] = n->param;
        kw[nk++] = plan_functions(g, n->param);
    }
    for (unsigned i = 0; i < nk; i++)
        weight += kw[i];
    while (weight > FN_BUDGET) {
        unsigned best = nk;
        for (unsigned i = 0; i < nk; i++)
            if (!g->own_fn[kids[i]->id] && (best == nk || kw[i] > kw[best]))
                best = i;
        if (best == nk)
            break;
        g->own_fn[kids[best]->id] = true;
        weight -= kw[best];
    }
    return weight;
}

/* "return 7;", or in a shared function "return rt[2];". */
static void emit_return_route(Gen *g, const Node *n, int method)
{
    if (g->shared)
        emit_fmt(g->e, "return rt[%u];", g->rt_off[n->id] - g->base + leaf_slot(n, method));
    else
        emit_fmt(g->e, "return %u;", n->leaf[method]->index);
    emit_str(g->e, method == M_ANY ? " // ANY\n" : "\n");
}

/* The routes ending at node N: explicit method first, HEAD falls back to
 * GET, ANY takes the rest; otherwise remember N's methods for a 405 and
 * fall through, so the caller backtracks. */
static void gen_leaf(Gen *g, const Node *n, int level)
{
    Emit *e = g->e;
    if (n->leaf[M_ANY] && !has_leaf_except_any(n)) {
        indent(e, level);
        emit_return_route(g, n, M_ANY);
        return;
    }
    emit_line(e, level, "switch (method) {\n");
    unsigned allow = 0;
    for (int i = 0; i < M_ANY; i++) {
        /* A GET route answers HEAD too, but an event stream does not. */
        int from = i == M_HEAD && !n->leaf[i] && n->leaf[M_GET] && n->leaf[M_GET]->kind != RK_SSE &&
                           n->leaf[M_GET]->kind != RK_WS
                       ? M_GET : i;
        if (!n->leaf[from])
            continue;
        allow |= 1u << i;
        emit_line(e, level, "case %s:\n", rt_method[i]);
        indent(e, level + 1);
        emit_return_route(g, n, from);
    }
    emit_line(e, level, "default:\n");
    indent(e, level + 1);
    if (n->leaf[M_ANY]) {
        emit_return_route(g, n, M_ANY);
        emit_line(e, level, "}\n");
        return;
    }
    emit_str(e, "break;\n");
    emit_line(e, level, "}\n");
    emit_line(e, level, "m->allow |= ");
    const char *sep = "";
    for (int i = 0; i < M_ANY; i++) {
        if (allow & (1u << i)) {
            emit_fmt(e, "%s%s", sep, rt_method[i]);
            sep = " | ";
        }
    }
    emit_str(e, ";\n");
}

static void emit_case_byte(Emit *e, unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        (c < 0x7f && c != 0 && strchr("-._~!$&()+,;=:@", c)))
        emit_fmt(e, "case '%c':\n", c);
    else if (c == '\'')
        emit_str(e, "case '\\'':\n");
    else
        emit_fmt(e, "case %u:\n", c);
}

static void gen_body(Gen *g, const Node *n, unsigned d, int level);

/* Entering child C of a node at depth D, whose segment ends at END (a C
 * expression): inline C's code, or call C's function and return what it
 * found. */
static void gen_enter(Gen *g, const Node *c, unsigned d, int level, const char *end)
{
    Emit *e = g->e;
    indent(e, level);
    if (g->own_fn[c->id]) {
        emit_fmt(e, "int r%u = srvg_node_%u(method, %s, end, m, rt + %u);\n", d, g->fid[c->id], end,
                 g->rt_off[c->id] - g->base);
        emit_line(e, level, "if (r%u >= 0)\n", d);
        emit_line(e, level + 1, "return r%u;\n", d);
        return;
    }
    emit_fmt(e, "const char *p%u = %s;\n", d + 1, end);
    gen_body(g, c, d + 1, level);
}

/* Literal child C, tested in place: the segment is C's text when the path
 * holds it and then ends or goes on with '/'.  The switch has checked
 * byte 0, so a one-byte literal needs no memcmp. */
static void gen_literal(Gen *g, const Node *c, unsigned d, int level)
{
    Emit *e = g->e;
    size_t len = c->label_len;
    char end[64];
    snprintf(end, sizeof end, "s%u + %zu", d, len);
    emit_line(e, level, "if (r%u >= %zu && (r%u == %zu || s%u[%zu] == '/')", d, len, d, len, d, len);
    if (len > 1) {
        emit_fmt(e, " && memcmp(s%u, \"", d);
        emit_c_string(e, c->label, len);
        emit_fmt(e, "\", %zu) == 0", len);
    }
    emit_str(e, ") {\n");
    gen_enter(g, c, d, level + 1, end);
    emit_line(e, level, "}\n");
}

/* A few literal children: a switch on the segment's first byte, then each
 * candidate (at most BIG_NODE) compared in place, so finding a literal
 * needs no scan for the segment's end. */
static void gen_switch(Gen *g, const Node *n, unsigned d, int level)
{
    Emit *e = g->e;
    emit_line(e, level, "size_t r%u = (size_t)(end - s%u);\n", d, d);
    unsigned i = 0;
    if (n->lits[0]->label_len == 0) { /* sorted by length: "" comes first */
        emit_line(e, level, "if (r%u == 0 || s%u[0] == '/') {\n", d, d);
        char end[32];
        snprintf(end, sizeof end, "s%u", d);
        gen_enter(g, n->lits[0], d, level + 1, end);
        emit_line(e, level, "}\n");
        i = 1;
    }
    if (i == n->nlits)
        return;
    emit_line(e, level, "switch (r%u ? (unsigned char)s%u[0] : '/') {\n", d, d);
    bool done[BIG_NODE + 1] = {false};
    for (unsigned j = i; j < n->nlits; j++) {
        if (done[j])
            continue;
        unsigned char c = (unsigned char)n->lits[j]->label[0];
        indent(e, level);
        emit_case_byte(e, c);
        for (unsigned k = j; k < n->nlits; k++) {
            if (!done[k] && (unsigned char)n->lits[k]->label[0] == c) {
                done[k] = true;
                gen_literal(g, n->lits[k], d, level + 1);
            }
        }
        emit_line(e, level + 1, "break;\n");
    }
    emit_line(e, level, "}\n");
}

static unsigned table_size(const Node *n)
{
    unsigned size = 16;
    while (size < 2 * n->nlits)
        size *= 2;
    return size;
}

/* Many literal children: probe srvg_tab_<id> (see gen_table). */
static void gen_probe(Gen *g, const Node *n, unsigned d, int level)
{
    Emit *e = g->e;
    unsigned mask = table_size(n) - 1;
    emit_line(e, level, "uint32_t h%u = srvg_hash(s%u, n%u);\n", d, d, d);
    emit_line(e, level, "for (uint32_t i%u = h%u;; i%u++) {\n", d, d, d);
    emit_line(e, level + 1, "const struct srvg_slot *t%u = &srvg_tab_%u[i%u & %uu];\n", d, n->id, d, mask);
    emit_line(e, level + 1, "if (!t%u->next)\n", d);
    emit_line(e, level + 2, "break;\n");
    emit_line(e, level + 1, "if (t%u->hash == h%u && t%u->len == n%u && memcmp(t%u->lit, s%u, n%u) == 0) {\n",
             d, d, d, d, d, d, d);
    emit_line(e, level + 2, "int r%u = t%u->next(method, e%u, end, m, t%u->rt);\n", d, d, d, d);
    emit_line(e, level + 2, "if (r%u >= 0)\n", d);
    emit_line(e, level + 3, "return r%u;\n", d);
    emit_line(e, level + 2, "break;\n");
    emit_line(e, level + 1, "}\n");
    emit_line(e, level, "}\n");
}

/* e<D>: where the segment at s<D> ends; n<D>: its length. */
static void gen_scan(Gen *g, unsigned d, int level)
{
    Emit *e = g->e;
    emit_line(e, level, "const char *e%u = srvg_segment_end(s%u, end);\n", d, d);
    emit_line(e, level, "size_t n%u = (size_t)(e%u - s%u);\n", d, d, d);
}

/* The code for node N at depth D of the current function: p<D> is where
 * N's segment ended.  It returns a route index on a match and otherwise
 * falls through, which is how the caller backtracks. */
static void gen_body(Gen *g, const Node *n, unsigned d, int level)
{
    Emit *e = g->e;
    bool walks = n->nlits || n->param;
    emit_line(e, level, "// ");
    emit_c_string(e, n->id == 0 ? "(root)" : n->path, strlen(n->id == 0 ? "(root)" : n->path));
    emit_str(e, "\n");
    if (has_leaf(n)) {
        emit_line(e, level, "if (p%u == end) {\n", d);
        gen_leaf(g, n, level + 1);
        emit_line(e, level, "}\n");
    }
    if (!walks && !n->wild)
        return;
    emit_line(e, level, "if (p%u != end) {\n", d);
    level++;
    emit_line(e, level, "const char *s%u = p%u + 1;\n", d, d);
    if (is_big(n)) {
        gen_scan(g, d, level);
        gen_probe(g, n, d, level);
    } else if (n->nlits) {
        gen_switch(g, n, d, level);
    }
    if (n->param) {
        if (!is_big(n))
            gen_scan(g, d, level);
        emit_line(e, level, "if (n%u > 0) {\n", d);
        emit_line(e, level + 1, "m->params[m->nparams].ptr = s%u;\n", d);
        emit_line(e, level + 1, "m->params[m->nparams].len = n%u;\n", d);
        emit_line(e, level + 1, "m->nparams++;\n");
        char pend[32];
        snprintf(pend, sizeof pend, "e%u", d);
        gen_enter(g, n->param, d, level + 1, pend);
        emit_line(e, level + 1, "m->nparams--;\n");
        emit_line(e, level, "}\n");
    }
    if (n->wild) {
        emit_line(e, level, "// *\n");
        emit_line(e, level, "m->params[m->nparams].ptr = s%u;\n", d);
        emit_line(e, level, "m->params[m->nparams].len = (size_t)(end - s%u);\n", d);
        emit_line(e, level, "m->nparams++;\n");
        gen_leaf(g, n->wild, level);
        if (!n->wild->leaf[M_ANY]) {
            emit_line(e, level, "m->nparams--;\n");
        }
    }
    level--;
    emit_line(e, level, "}\n");
}

/* The hash table of big node N: slot i holds the child whose literal
 * hashes to i, or to an earlier slot taken by another (linear probing).
 * At most half full, so a probe ends at an empty slot quickly. */
static void gen_table(Gen *g, const Node *n)
{
    Emit *e = g->e;
    unsigned size = table_size(n), mask = size - 1;
    const Node **slots = arena_alloc(g->arena, size * sizeof *slots);
    for (unsigned i = 0; i < n->nlits; i++) {
        const Node *c = n->lits[i];
        unsigned k = gen_hash(c->label, c->label_len) & mask;
        while (slots[k])
            k = (k + 1) & mask;
        slots[k] = c;
    }
    emit_str(e, "// ");
    emit_c_string(e, n->id == 0 ? "/" : n->path, strlen(n->id == 0 ? "/" : n->path));
    emit_fmt(e, "/...: %u literals\nstatic const struct srvg_slot srvg_tab_%u[%u] = {\n", n->nlits,
             n->id, size);
    for (unsigned k = 0; k < size; k++) {
        const Node *c = slots[k];
        if (!c)
            continue;
        emit_fmt(e, "    [%u] = {%" PRIu32 "u, %zu, \"", k, gen_hash(c->label, c->label_len),
                 c->label_len);
        emit_c_string(e, c->label, c->label_len);
        emit_fmt(e, "\", srvg_node_%u, srvg_rt + %u},\n", g->fid[c->id], g->rt_off[c->id]);
    }
    emit_str(e, "};\n\n");
    g->uses_table = true;
}

static void gen_function(Gen *g, const Node *n);

/* Functions and tables for the code inlined at N, callees first so the
 * file needs no forward declarations. */
static void gen_callees(Gen *g, const Node *n)
{
    for (unsigned i = 0; i < n->nlits; i++) {
        if (g->own_fn[n->lits[i]->id])
            gen_function(g, n->lits[i]);
        else
            gen_callees(g, n->lits[i]);
    }
    if (n->param) {
        if (g->own_fn[n->param->id])
            gen_function(g, n->param);
        else
            gen_callees(g, n->param);
    }
    if (is_big(n))
        gen_table(g, n);
}

static void gen_function(Gen *g, const Node *n)
{
    if (g->fid[n->id] != n->id)
        return; /* same shape as one written before, and so are its callees */
    gen_callees(g, n);
    Emit *e = g->e;
    if (g->uses[n->id] > 1)
        emit_fmt(e, "// Serves %u subtrees of one shape (the comments name the first);\n"
                    "// rt holds the route numbers of the one being matched.\n",
                 g->uses[n->id]);
    /* The root is called once, from srvg_match: let cc inline it there. */
    emit_fmt(e, "static %sint srvg_node_%u(unsigned method, const char *p0, const char *end,\n"
                "        struct srv_match *m, const unsigned *rt)\n{\n"
                "    (void)method;\n    (void)m;\n    (void)rt;\n",
             n->id ? "SRVG_NOINLINE " : "", n->id);
    g->base = g->rt_off[n->id];
    g->shared = g->uses[n->id] > 1;
    gen_body(g, n, 0, 1);
    emit_str(e, "    return -1;\n}\n\n");
}

/* srvg_rt: the route number of every slot, in slot order. */
static void gen_rt(Gen *g, const Node *n)
{
    for (int i = 0; i < M_COUNT; i++) {
        const Route *r = n->leaf[i];
        if (!r)
            continue;
        emit_fmt(g->e, "    %u, // %s ", r->index, check_method_names[i]);
        emit_c_string(g->e, r->path, strlen(r->path));
        emit_str(g->e, "\n");
    }
    for (unsigned i = 0; i < n->nlits; i++)
        gen_rt(g, n->lits[i]);
    if (n->param)
        gen_rt(g, n->param);
    if (n->wild)
        gen_rt(g, n->wild);
}

/* Whether the matcher looks for a segment's end anywhere (gen_scan): at a
 * parameter or a hashed node. */
static bool scans_segments(const Node *n)
{
    if (n->param || is_big(n))
        return true;
    for (unsigned i = 0; i < n->nlits; i++)
        if (scans_segments(n->lits[i]))
            return true;
    return n->wild ? scans_segments(n->wild) : false;
}

static void gen_matcher(Gen *g, const RouteTree *tree)
{
    const Node *root = tree->root;
    bool empty = !root->nlits && !root->param && !root->wild;
    Emit *e = g->e;
    emit_str(e, "// The matcher: a decision tree over path segments (see srv_match_fn).\n");
    if (!empty) {
        Arena *a = g->arena;
        unsigned nn = tree->nnodes + 1, slots = 0;
        g->own_fn = arena_alloc(a, nn * sizeof *g->own_fn);
        g->fid = arena_alloc(a, nn * sizeof *g->fid);
        g->uses = arena_alloc(a, nn * sizeof *g->uses);
        g->rt_off = arena_alloc(a, nn * sizeof *g->rt_off);
        number_slots(g, root, &slots);
        plan_functions(g, root);
        g->own_fn[root->id] = true;
        Shapes sh;
        sh.mask = 15;
        while (sh.mask < nn)
            sh.mask = sh.mask * 2 + 1;
        sh.buckets = arena_alloc(a, (sh.mask + 1) * sizeof *sh.buckets);
        Emit key;
        emit_init(&key);
        plan_shapes(g, root, &sh, &key);
        emit_free(&key);

        Emit nodes;
        emit_init(&nodes);
        Gen sub = *g;
        sub.e = &nodes;
        gen_function(&sub, root);
        emit_str(e, "#if defined(__GNUC__)\n#define SRVG_NOINLINE __attribute__((noinline))\n"
                    "#else\n#define SRVG_NOINLINE\n#endif\n\n");
        /* A plain loop: segments are short, so it beats a call to memchr,
         * and gcc -O2 cannot mistake it for one with a huge bound (it warned
         * of such a memchr on some route shapes). */
        if (scans_segments(root))
            emit_str(e, "// Where the segment at S ends: the next '/', or END.\n"
                    "static inline const char *srvg_segment_end(const char *s, const char *end)\n{\n"
                    "    while (s < end && *s != '/')\n        s++;\n"
                    "    return s;\n}\n\n");
        emit_str(e, "// Route numbers, read through `rt` by functions that serve several subtrees.\n"
                    "static const unsigned srvg_rt[] = {\n");
        gen_rt(g, root);
        emit_str(e, "};\n\n");
        if (sub.uses_table)
            emit_str(e, "typedef int srvg_node_fn(unsigned method, const char *p, const char *end,\n"
                        "                         struct srv_match *m, const unsigned *rt);\n\n"
                        "struct srvg_slot {\n    uint32_t hash;\n    uint32_t len;\n"
                        "    const char *lit;\n    srvg_node_fn *next; /* NULL: empty slot */\n"
                        "    const unsigned *rt;\n};\n\n"
                        HASH_C);
        emit_bytes(e, nodes.buf, nodes.len);
        emit_free(&nodes);
    }
    emit_str(e, "static int srvg_match(unsigned method, const char *path, size_t len, "
                "struct srv_match *m)\n{\n    m->allow = 0;\n    m->nparams = 0;\n");
    if (empty)
        emit_str(e, "    (void)method;\n    (void)path;\n    (void)len;\n    return -1;\n}\n\n");
    else
        emit_fmt(e, "    if (len == 0 || path[0] != '/')\n        return -1;\n"
                    "    return srvg_node_%u(method, path, path + len, m, srvg_rt);\n}\n\n",
                 root->id);
}

/* --- error blocks ------------------------------------------------------ */

const Hook *gen_error_hook(const Scope *sc)
{
    for (; sc; sc = sc->parent)
        if (sc->error)
            return sc->error;
    return NULL;
}

/* Whether a group under SC (or SC itself, a group) has an error block of
 * its own: only then does a path's group matter. */
static bool subtree_has_error(const Server *s, const Scope *sc)
{
    for (const Scope *g = s->scopes; g; g = g->next)
        for (const Scope *up = g; up; up = up->parent)
            if (up == sc && g->error && g != s->scopes)
                return true;
    return false;
}

static int error_index(const Scope *sc)
{
    const Hook *h = gen_error_hook(sc);
    return h ? (int)h->index : -1;
}

/* The nested prefix tests of srvg_path_error for the groups inside SC,
 * where the path left to match is in p<DEPTH>. */
static void gen_path_scopes(Gen *g, const Server *s, const Scope *sc, unsigned depth, int level)
{
    Emit *e = g->e;
    for (const Scope *c = s->scopes; c; c = c->next) {
        if (c->parent != sc || !subtree_has_error(s, c))
            continue;
        emit_line(e, level, "{ // group \"");
        emit_c_string(e, c->path, strlen(c->path));
        emit_str(e, "\"\n");
        emit_line(e, level + 1, "const char *p%u = " RT_PATH_PREFIX "(p%u, \"", depth + 1, depth);
        emit_c_string(e, c->prefix.ptr, c->prefix.len);
        emit_str(e, "\");\n");
        emit_line(e, level + 1, "if (p%u != NULL) {\n", depth + 1);
        gen_path_scopes(g, s, c, depth + 1, level + 2);
        emit_line(e, level + 2, "return %d;\n", error_index(c));
        emit_line(e, level + 1, "}\n");
        emit_line(e, level, "}\n");
    }
}

/* srvg_error(): which error block answers for a request.  A request that
 * reached a route is answered by its route's scope; any other (a 404, a
 * 405, a request refused before routing) by the innermost group whose
 * prefix starts its path. */
static void gen_error_dispatch(Gen *g, const Server *s)
{
    Emit *e = g->e;
    emit_str(e, "// The error block of each route's scope (-1: the built-in pages).\n"
                "static const int srvg_route_error[] = {\n");
    for (const Route *r = s->routes; r; r = r->next) {
        emit_fmt(e, "    %d, // %s ", error_index(r->scope), check_method_names[r->method_index]);
        emit_c_string(e, r->path, strlen(r->path));
        emit_str(e, "\n");
    }
    emit_str(e, "};\n\n");
    emit_str(e, "// The error block for a path no route took: the innermost group it is in.\n"
                "static int srvg_path_error(const char *p0)\n{\n");
    if (subtree_has_error(s, s->scopes)) {
        gen_path_scopes(g, s, s->scopes, 0, 1);
    } else {
        emit_str(e, "    (void)p0;\n");
    }
    emit_fmt(e, "    return %d;\n}\n\n", error_index(s->scopes));
    emit_str(e, "static void srvg_error(struct srv_request *req, struct srv_response *res, int status,\n"
                "        const char *reason)\n{\n"
                "    int route = " RT_ROUTE_INDEX "(req);\n"
                "    switch (route >= 0 ? srvg_route_error[route] : srvg_path_error(" RT_REQUEST_PATH "(req))) {\n");
    for (const Scope *sc = s->scopes; sc; sc = sc->next) {
        if (!sc->error)
            continue;
        emit_fmt(e, "    case %u:\n        srvg_error_%u(req, res, status, reason);\n        break;\n",
                 sc->error->index, sc->error->index);
    }
    emit_str(e, "    default:\n        break;\n    }\n}\n\n");
}

/* --- the app ------------------------------------------------------------ */

/* trust_proxy's entries as struct srv_cidr, each with its text. */
static void gen_trust_proxy(Gen *g, const Server *s)
{
    Emit *e = g->e;
    emit_str(e, "// trust_proxy: the peers whose forwarding headers are believed.\n"
                "static const struct " RT_CIDR " srvg_trust_proxy[] = {\n");
    for (unsigned i = 0; i < s->ntrust; i++) {
        const Cidr *c = &s->trust[i];
        emit_fmt(e, "    {%d, %u, {", c->family, c->prefix);
        for (int k = 0; k < (c->family == 6 ? 16 : 4); k++)
            emit_fmt(e, c->family == 6 ? "%s0x%02x" : "%s%u", k ? ", " : "", c->addr[k]);
        emit_fmt(e, "}}, // %s\n", c->text);
    }
    emit_str(e, "};\n\n");
}

static void gen_app_struct(Gen *g, const Server *s)
{
    Emit *e = g->e;
    if (s->ntrust)
        gen_trust_proxy(g, s);
    if (s->secret) {
        emit_str(e, "// Where the signing secrets come from (newest first); never their values.\n"
                    "static const char *const srvg_secret_env[] = {");
        for (unsigned i = 1; i < s->secret->nargs; i += 2) {
            emit_str(e, i > 1 ? ", \"" : "\"");
            emit_c_string(e, s->secret->args[i].ptr, s->secret->args[i].len);
            emit_str(e, "\"");
        }
        emit_str(e, "};\n\n");
    }
    emit_str(e, "static const struct srv_app srvg_app = {\n    .source = \"");
    emit_c_string(e, g->src->name, strlen(g->src->name));
    emit_str(e, "\",\n    .host = \"");
    emit_c_string(e, s->host.ptr, s->host.len);
    emit_fmt(e, "\",\n    .port = %d,\n", s->port_value);
    if (s->workers_value < 0)
        emit_str(e, "    .workers = " RT_WORKERS_AUTO ",\n");
    else
        emit_fmt(e, "    .workers = %d,\n", s->workers_value);
    emit_fmt(e, "    .setup = %s,\n", s->setup.kind ? "srvg_setup" : "NULL");
    emit_fmt(e, "    .worker_setup = %s,\n", s->worker_setup.kind ? "srvg_worker_setup" : "NULL");
    emit_fmt(e, "    .match = srvg_match,\n    .routes = %s,\n    .nroutes = %u,\n",
             s->nroutes ? "srvg_routes" : "NULL", s->nroutes);
    if (s->nmounts)
        emit_fmt(e, "    .mounts = srvg_mounts,\n    .nmounts = %u,\n", s->nmounts);
    if (s->nhooks[HK_ERROR])
        emit_str(e, "    .error = srvg_error,\n");
    if (s->secret)
        emit_fmt(e, "    .secret_env = srvg_secret_env,\n    .nsecret_env = %u,\n",
                 s->secret->nargs / 2);
    if (s->log_format != LOG_OFF) {
        emit_fmt(e, "    .log_format = %s,\n",
                 s->log_format == LOG_JSON ? "SRV_ACCESS_LOG_JSON" : "SRV_ACCESS_LOG_COMBINED");
        if (s->log_path) {
            emit_str(e, "    .log_path = \"");
            emit_c_string(e, s->log_path, strlen(s->log_path));
            emit_str(e, "\",\n");
        }
    }
    if (s->ncors)
        emit_str(e, "    .has_cors = true,\n");
    if (s->user_name) {
        emit_str(e, "    .user = \"");
        emit_c_string(e, s->user_name, strlen(s->user_name));
        emit_str(e, "\",\n");
        if (s->group_name) {
            emit_str(e, "    .group = \"");
            emit_c_string(e, s->group_name, strlen(s->group_name));
            emit_str(e, "\",\n");
        }
    }
    if (s->redis_host) {
        emit_str(e, "    .pubsub_redis_host = \"");
        emit_c_string(e, s->redis_host, strlen(s->redis_host));
        emit_fmt(e, "\",\n    .pubsub_redis_port = %d,\n", s->redis_port);
    }
    if (s->ntrust)
        emit_fmt(e, "    .trust_proxy = srvg_trust_proxy,\n    .ntrust_proxy = %u,\n", s->ntrust);
    if (s->proxy_protocol)
        emit_str(e, "    .proxy_protocol = true,\n");
    if (s->metrics)
        emit_str(e, "    .metrics = true,\n");
    bool any = false;
    for (int i = 0; i < LIM_COUNT; i++)
        any |= s->limit_values[i] != 0;
    if (any) {
        emit_str(e, "    .limits = {\n");
        for (int i = 0; i < LIM_COUNT; i++)
            if (s->limit_values[i])
                emit_fmt(e, "        .%s = %llu,\n", rt_limit_field[i],
                         (unsigned long long)s->limit_values[i]);
        emit_str(e, "    },\n");
    }
    emit_str(e, "};\n\n");
}

void gen_app(Emit *out, const App *app, const Source *src, const RouteTree *tree,
             const char *out_name)
{
    Arena *a = arena_new();
    Gen g = {out, src, out_name, a, NULL, NULL, NULL, NULL, 0, false, false};
    const Server *s = app->servers;

    emit_str(out, "/* Generated by srvc " SRVC_VERSION " from ");
    emit_comment_text(out, src->name);
    emit_str(out, "; do not edit. */\n#include \"" RT_HEADER "\"\n#include <string.h>\n\n");
    if (app->prologue.kind) {
        gen_user_block(&g, app->prologue.ptr, app->prologue.len);
        emit_str(out, "\n");
    }
    if (s->setup.kind)
        gen_setup(&g, "srvg_setup", s->setup);
    if (s->worker_setup.kind)
        gen_setup(&g, "srvg_worker_setup", s->worker_setup);
    for (HookKind k = 0; k < HK_COUNT; k++)
        for (const Scope *sc = s->scopes; sc; sc = sc->next)
            for (const Hook *h = sc->hooks; h; h = h->next)
                if (h->kind == k)
                    gen_hook(&g, h);
    for (const Route *r = s->routes; r; r = r->next) {
        if (r->body.kind)
            gen_handler(&g, r);
        else if (r->kind == RK_STATIC)
            gen_static_handler(&g, r);
        else if (r->kind == RK_SLASH)
            gen_slash_handler(&g, r);
        else if (r->kind == RK_SSE)
            gen_sse(&g, r);
        else if (r->kind == RK_WS)
            gen_ws(&g, r);
    }
    gen_named_decls(&g, s, a);
    for (const Scope *sc = s->scopes; sc; sc = sc->next)
        if (sc->cors)
            gen_cors_policy(&g, sc->cors);
    for (const Route *r = s->routes; r; r = r->next) {
        if (has_before(r))
            gen_route_chain(&g, r, a);
        if (has_end(r))
            gen_route_end(&g, r, a);
    }
    gen_route_table(&g, s);
    gen_matcher(&g, tree);
    if (s->nhooks[HK_ERROR])
        gen_error_dispatch(&g, s);
    gen_app_struct(&g, s);
    emit_str(out, "int main(int argc, char **argv)\n{\n    return " RT_MAIN
                  "(argc, argv, &srvg_app);\n}\n");
    if (app->epilogue.kind) {
        emit_str(out, "\n");
        gen_user_block(&g, app->epilogue.ptr, app->epilogue.len);
    }
    arena_free(a);
}

void gen_matcher_only(Emit *out, const Source *src, const RouteTree *tree)
{
    Arena *a = arena_new();
    Gen g = {out, src, "<matcher>", a, NULL, NULL, NULL, NULL, 0, false, false};
    gen_matcher(&g, tree);
    arena_free(a);
}

/* --- the whole pipeline --------------------------------------------------- */

RouteTree *srvc_analyze(const Source *src, Arena *a, Diag *d, App **app_out)
{
    App *app = parse_app(src, d, a);
    *app_out = app;
    if (app->syntax_errors)
        return NULL;
    /* Errors the AST constructors found (a repeated setting) do not stop
     * the checks, and check errors do not stop the search for duplicate
     * routes: one run reports them all. */
    check_app(app, d, a);
    RouteTree *tree = app->servers ? routes_build(app->servers, d, a) : NULL;
    return d->nerrors ? NULL : tree;
}

bool srvc_compile(const Source *src, Arena *a, FILE *diag_out, const char *out_name,
                  Emit *out)
{
    Diag d;
    diag_init(&d, src, diag_out);
    App *app;
    RouteTree *tree = srvc_analyze(src, a, &d, &app);
    if (!tree)
        return false;
    gen_app(out, app, src, tree, out_name);
    return true;
}
