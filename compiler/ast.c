/*
 * ast.c - constructors for the syntax tree the grammar (srv.y) builds, and
 * a plain-text dump of it for tests.  Nodes live in the compilation's arena;
 * tokens inside them are views into the source.
 */
#include "srvc.h"
#include "srv.tab.h"

#include <string.h>

App *ast_new_app(Arena *a)
{
    App *app = arena_alloc(a, sizeof *app);
    app->servers_tail = &app->servers;
    return app;
}

Server *ast_new_server(Arena *a, Token keyword, Token host, Token port)
{
    Server *s = arena_alloc(a, sizeof *s);
    s->keyword = keyword;
    s->host = host;
    s->port = port;
    s->routes_tail = &s->routes;
    s->settings_tail = &s->settings;
    s->scopes_tail = &s->scopes;
    Scope *root = arena_alloc(a, sizeof *root);
    root->hooks_tail = &root->hooks;
    *s->scopes_tail = root;
    s->scopes_tail = &root->next;
    s->nscopes = 1;
    return s;
}

Route *ast_new_route(Arena *a, Token method, Token pattern, Token handler, Token body,
                     Loc loc)
{
    Route *r = arena_alloc(a, sizeof *r);
    r->method = method;
    r->pattern = pattern;
    r->handler = handler;
    r->body = body;
    r->loc = loc;
    return r;
}

Route *ast_new_mount(Arena *a, Token kw, Token prefix, Token dir, Loc loc)
{
    Route *r = arena_alloc(a, sizeof *r);
    r->kind = RK_STATIC;
    r->method = kw;
    r->pattern = prefix;
    r->dir = dir;
    r->loc = loc;
    return r;
}

Route *ast_new_sse(Arena *a, Token kw, Token pattern, Directive *options, Directive *blocks,
                   Loc loc)
{
    Route *r = arena_alloc(a, sizeof *r);
    r->kind = RK_SSE;
    r->method = kw;
    r->pattern = pattern;
    r->options = options;
    r->blocks = blocks;
    r->loc = loc;
    return r;
}

Route *ast_new_ws(Arena *a, Token kw, Token pattern, Directive *options, Directive *blocks,
                  Loc loc)
{
    Route *r = ast_new_sse(a, kw, pattern, options, blocks, loc);
    r->kind = RK_WS;
    return r;
}

Setting *ast_new_setting(Arena *a, SettingGroup group, Token key, Token value)
{
    Setting *st = arena_alloc(a, sizeof *st);
    st->group = group;
    st->key = key;
    st->value = value;
    return st;
}

void ast_add_server(App *app, Server *s)
{
    *app->servers_tail = s;
    app->servers_tail = &s->next;
    app->nservers++;
}

void ast_add_route(Server *s, Scope *scope, Route *r)
{
    r->index = s->nroutes++;
    r->scope = scope;
    if (r->kind == RK_STATIC)
        r->mount = s->nmounts++;
    *s->routes_tail = r;
    s->routes_tail = &r->next;
}

Scope *ast_open_group(Arena *a, Server *s, Scope *parent, Token kw, Token prefix)
{
    Scope *g = arena_alloc(a, sizeof *g);
    g->keyword = kw;
    g->prefix = prefix;
    g->parent = parent;
    g->index = s->nscopes++;
    g->hooks_tail = &g->hooks;
    *s->scopes_tail = g;
    s->scopes_tail = &g->next;
    return g;
}

static const char *const hook_names[HK_COUNT] = {"before", "after", "error"};

void ast_add_hook(Arena *a, Server *s, Scope *scope, Diag *d, HookKind kind, Token kw,
                  Token body)
{
    if (kind == HK_ERROR && scope->error) {
        diag_error(d, kw.loc, "duplicate 'error' block in %s",
                   scope->parent ? "this group" : "the server block");
        diag_note(d, scope->error->keyword.loc, "first defined here");
        return;
    }
    Hook *h = arena_alloc(a, sizeof *h);
    h->kind = kind;
    h->keyword = kw;
    h->body = body;
    h->scope = scope;
    h->index = s->nhooks[kind]++;
    *scope->hooks_tail = h;
    scope->hooks_tail = &h->next;
    if (kind == HK_ERROR)
        scope->error = h;
}

/* Server-wide settings have no meaning for a part of the routes. */
static bool in_group(const Scope *scope, Diag *d, Token kw)
{
    if (!scope->parent)
        return false;
    diag_error(d, kw.loc, "'%.*s' is a server setting; it cannot be inside a group",
               (int)kw.len, kw.ptr);
    diag_note(d, scope->keyword.loc, "inside this group");
    return true;
}

void ast_server_only(const Scope *scope, Diag *d, Token kw)
{
    in_group(scope, d, kw);
}

void ast_add_setting(Server *s, Scope *scope, Setting *st)
{
    st->scope = scope;
    *s->settings_tail = st;
    s->settings_tail = &st->next;
}

Directive *ast_new_directive(Arena *a, Token kw, const Token *args, unsigned nargs, Loc loc)
{
    Directive *d = arena_alloc(a, sizeof *d);
    d->keyword = kw;
    d->loc = loc;
    d->nargs = nargs;
    d->args = arena_alloc(a, (nargs + 1) * sizeof *d->args);
    if (nargs)
        memcpy(d->args, args, nargs * sizeof *args);
    return d;
}

/* A repeated server-wide directive names the first one. */
static bool set_once(Directive **slot, const Scope *scope, Diag *d, Directive *dir)
{
    if (in_group(scope, d, dir->keyword))
        return false;
    if (*slot) {
        diag_error(d, dir->keyword.loc, "duplicate '%.*s' setting", (int)dir->keyword.len,
                   dir->keyword.ptr);
        diag_note(d, (*slot)->keyword.loc, "first set here");
        return false;
    }
    *slot = dir;
    return true;
}

void ast_set_secret(Server *s, const Scope *scope, Diag *d, Directive *dir)
{
    set_once(&s->secret, scope, d, dir);
}

void ast_set_log(Server *s, const Scope *scope, Diag *d, Directive *dir)
{
    set_once(&s->log, scope, d, dir);
}

void ast_set_pubsub(Server *s, const Scope *scope, Diag *d, Directive *dir)
{
    set_once(&s->pubsub, scope, d, dir);
}

void ast_set_user(Server *s, const Scope *scope, Diag *d, Directive *dir)
{
    set_once(&s->user, scope, d, dir);
}

void ast_set_trust_proxy(Server *s, const Scope *scope, Diag *d, Directive *dir)
{
    set_once(&s->trust_proxy, scope, d, dir);
}

void ast_set_proxy_protocol(Server *s, const Scope *scope, Diag *d, Directive *dir)
{
    set_once(&s->proxy_protocol, scope, d, dir);
}

void ast_set_metrics(Arena *a, Server *s, Scope *scope, Diag *d, Directive *dir)
{
    if (!set_once(&s->metrics, scope, d, dir) || dir->nargs == 0 || dir->args[0].kind != T_STRING)
        return; /* check.c says what is wrong with the words */
    Route *r = arena_alloc(a, sizeof *r);
    r->kind = RK_METRICS;
    r->method = dir->keyword;
    r->pattern = dir->args[0];
    r->loc = dir->loc;
    ast_add_route(s, scope, r);
}

Cors *ast_open_cors(Arena *a, Server *s, Scope *scope, Diag *d, Token kw)
{
    if (scope->cors) {
        diag_error(d, kw.loc, "duplicate 'cors' block in %s",
                   scope->parent ? "this group" : "the server block");
        diag_note(d, scope->cors->keyword.loc, "first defined here");
        return NULL;
    }
    Cors *c = arena_alloc(a, sizeof *c);
    c->keyword = kw;
    c->items_tail = &c->items;
    c->scope = scope;
    c->index = s->ncors++;
    scope->cors = c;
    return c;
}

void ast_add_cors_item(Cors *c, Directive *dir)
{
    if (!c)
        return;
    *c->items_tail = dir;
    c->items_tail = &dir->next;
}

void ast_set_workers(Server *s, const Scope *scope, Diag *d, Token kw, Token value)
{
    if (in_group(scope, d, kw))
        return;
    if (s->workers_kw.kind) {
        diag_error(d, kw.loc, "duplicate 'workers' setting");
        diag_note(d, s->workers_kw.loc, "first set here");
        return;
    }
    s->workers_kw = kw;
    s->workers = value;
}

void ast_set_setup(Server *s, const Scope *scope, Diag *d, Token kw, Token block,
                   bool worker)
{
    if (in_group(scope, d, kw))
        return;
    Token *first_kw = worker ? &s->worker_setup_kw : &s->setup_kw;
    if (first_kw->kind) {
        diag_error(d, kw.loc, "duplicate '%s' block", worker ? "worker_setup" : "setup");
        diag_note(d, first_kw->loc, "first defined here");
        return;
    }
    *first_kw = kw;
    if (worker)
        s->worker_setup = block;
    else
        s->setup = block;
}

static void dump_token(FILE *out, const char *label, Token t)
{
    if (t.kind)
        fprintf(out, " %s=%.*s", label, (int)t.len, t.ptr);
}

static void dump_directive(FILE *out, const char *indent, const Directive *dir)
{
    fprintf(out, "%s%.*s", indent, (int)dir->keyword.len, dir->keyword.ptr);
    for (unsigned i = 0; i < dir->nargs; i++)
        fprintf(out, " %.*s", (int)dir->args[i].len, dir->args[i].ptr);
    fprintf(out, "\n");
}

void ast_dump(const App *app, FILE *out)
{
    fprintf(out, "app prologue=%d epilogue=%d servers=%u\n", app->prologue.kind != 0,
            app->epilogue.kind != 0, app->nservers);
    for (const Server *s = app->servers; s; s = s->next) {
        fprintf(out, "server");
        dump_token(out, "host", s->host);
        dump_token(out, "port", s->port);
        dump_token(out, "workers", s->workers);
        fprintf(out, " setup=%d worker_setup=%d\n", s->setup.kind != 0,
                s->worker_setup.kind != 0);
        for (const Directive *dir = s->secret; dir; dir = NULL)
            dump_directive(out, "  ", dir);
        for (const Directive *dir = s->log; dir; dir = NULL)
            dump_directive(out, "  ", dir);
        for (const Directive *dir = s->pubsub; dir; dir = NULL)
            dump_directive(out, "  ", dir);
        for (const Directive *dir = s->user; dir; dir = NULL)
            dump_directive(out, "  ", dir);
        for (const Directive *dir = s->trust_proxy; dir; dir = NULL)
            dump_directive(out, "  ", dir);
        for (const Directive *dir = s->proxy_protocol; dir; dir = NULL)
            dump_directive(out, "  ", dir);
        for (const Directive *dir = s->metrics; dir; dir = NULL)
            dump_directive(out, "  ", dir);
        for (const Setting *st = s->settings; st; st = st->next)
            fprintf(out, "  %s %.*s %.*s\n", st->group == SG_LIMITS ? "limit" : "timeout",
                    (int)st->key.len, st->key.ptr, (int)st->value.len, st->value.ptr);
        for (const Scope *g = s->scopes; g; g = g->next) {
            if (g->parent)
                fprintf(out, "  group %u \"%.*s\" in %u\n", g->index, (int)g->prefix.len,
                        g->prefix.ptr, g->parent->index);
            for (const Hook *h = g->hooks; h; h = h->next)
                fprintf(out, "  %s %u in %u\n", hook_names[h->kind], h->index, g->index);
            if (g->cors) {
                fprintf(out, "  cors %u in %u\n", g->cors->index, g->index);
                for (const Directive *dir = g->cors->items; dir; dir = dir->next)
                    dump_directive(out, "    ", dir);
            }
        }
        for (const Route *r = s->routes; r; r = r->next) {
            if (r->kind == RK_METRICS) {
                fprintf(out, "  metrics %u \"%.*s\"\n", r->index, (int)r->pattern.len,
                        r->pattern.ptr);
                continue;
            }
            if (r->kind == RK_STATIC) {
                fprintf(out, "  static %u \"%.*s\" \"%.*s\" in %u\n", r->index,
                        (int)r->pattern.len, r->pattern.ptr, (int)r->dir.len, r->dir.ptr,
                        r->scope->index);
                continue;
            }
            fprintf(out, "  route %u %.*s \"%.*s\"", r->index, (int)r->method.len,
                    r->method.ptr, (int)r->pattern.len, r->pattern.ptr);
            if (r->scope && r->scope->parent)
                fprintf(out, " in %u", r->scope->index);
            if (r->handler.kind)
                fprintf(out, " -> %.*s\n", (int)r->handler.len, r->handler.ptr);
            else
                fprintf(out, " inline\n");
        }
    }
}
