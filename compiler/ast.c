/*
 * ast.c - constructors for the syntax tree the grammar (srv.y) builds, and
 * a plain-text dump of it for tests.  Nodes live in the compilation's arena;
 * tokens inside them are views into the source.
 */
#include "srvc.h"

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

void ast_add_route(Server *s, Route *r)
{
    r->index = s->nroutes++;
    *s->routes_tail = r;
    s->routes_tail = &r->next;
}

void ast_add_setting(Server *s, Setting *st)
{
    *s->settings_tail = st;
    s->settings_tail = &st->next;
}

void ast_set_workers(Server *s, Diag *d, Token kw, Token value)
{
    if (s->workers_kw.kind) {
        diag_error(d, kw.loc, "duplicate 'workers' setting");
        diag_note(d, s->workers_kw.loc, "first set here");
        return;
    }
    s->workers_kw = kw;
    s->workers = value;
}

void ast_set_setup(Server *s, Diag *d, Token kw, Token block, bool worker)
{
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
        for (const Setting *st = s->settings; st; st = st->next)
            fprintf(out, "  %s %.*s %.*s\n", st->group == SG_LIMITS ? "limit" : "timeout",
                    (int)st->key.len, st->key.ptr, (int)st->value.len, st->value.ptr);
        for (const Route *r = s->routes; r; r = r->next) {
            fprintf(out, "  route %u %.*s \"%.*s\"", r->index, (int)r->method.len,
                    r->method.ptr, (int)r->pattern.len, r->pattern.ptr);
            if (r->handler.kind)
                fprintf(out, " -> %.*s\n", (int)r->handler.len, r->handler.ptr);
            else
                fprintf(out, " inline\n");
        }
    }
}
