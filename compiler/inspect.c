/*
 * inspect.c - srvc as a tool, after the passes have run: `--routes` prints
 * every route in the order the matcher tries them, with what answers it
 * and the hooks and CORS policy it gets; `--match` says which route takes
 * a request by asking the matcher itself.  Both read what the passes made
 * (the checked AST, the route tree) and what codegen makes of it
 * (gen_hook_chain, gen_route_cors, gen_error_hook, gen_matcher_only), so
 * what they print is what the generated server does.
 *
 * --match compiles the matcher that gen_app() writes for the file, with a
 * small main(), using $CC (default cc) in a temporary directory, runs it
 * on the request's path and removes the directory again: the decision tree
 * that answers is the server's own code, not a second implementation.
 * The request line itself is read by the server's parser (request.c).
 */
#include "srvc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* --- what answers a route ---------------------------------------------- */

/* The length of the well-formed UTF-8 sequence at P[0..N) (RFC 3629: no
 * overlong forms, no surrogates, nothing past U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    size_t len = p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : p[0] >= 0xe0 && p[0] <= 0xef ? 3
               : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : 0;
    if (len == 0 || len > n)
        return 0;
    unsigned char lo = p[0] == 0xe0 ? 0xa0 : p[0] == 0xf0 ? 0x90 : 0x80;
    unsigned char hi = p[0] == 0xed ? 0x9f : p[0] == 0xf4 ? 0x8f : 0xbf;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return len;
}

/* P[0..N) for a terminal: printable ASCII and UTF-8 as they are, with '"'
 * and '\\' escaped when QUOTED, any other byte as \xHH, so a path or a
 * value can never disturb the output. */
static void put_shown(Emit *e, const char *p, size_t n, bool quoted)
{
    const unsigned char *u = (const unsigned char *)p;
    for (size_t i = 0; i < n;) {
        size_t k = u[i] >= 0x80 ? utf8_len(u + i, n - i) : 0;
        if (k) {
            emit_bytes(e, p + i, k);
            i += k;
            continue;
        }
        if (quoted && (u[i] == '"' || u[i] == '\\'))
            emit_fmt(e, "\\%c", u[i]);
        else if (u[i] >= 0x20 && u[i] < 0x7f)
            emit_bytes(e, p + i, 1);
        else
            emit_fmt(e, "\\x%02x", u[i]);
        i++;
    }
}

static void put_quoted(Emit *e, const char *p, size_t n)
{
    emit_str(e, "\"");
    put_shown(e, p, n, true);
    emit_str(e, "\"");
}

/* "app.srv:12" */
static void put_where(Emit *e, const Source *src, Loc loc)
{
    unsigned line, col;
    source_line_col(src, loc.off, &line, &col);
    emit_fmt(e, "%s:%u", src->name, line);
}

static void put_duration(Emit *e, unsigned ms)
{
    if (ms % 60000 == 0)
        emit_fmt(e, "%um", ms / 60000);
    else if (ms % 1000 == 0)
        emit_fmt(e, "%us", ms / 1000);
    else
        emit_fmt(e, "%ums", ms);
}

/* The method column: what the matcher files the route under. */
static const char *route_method(const Route *r)
{
    return check_method_names[r->method_index];
}

/* Its handler's name, "inline at app.srv:12", or what a mount, its slash
 * redirect, an SSE, a WS or the metrics route does. */
static void put_handler(Emit *e, const Source *src, const Route *r)
{
    switch (r->kind) {
    case RK_HTTP:
        if (r->handler.kind) {
            emit_bytes(e, r->handler.ptr, r->handler.len);
        } else {
            emit_str(e, "inline at ");
            put_where(e, src, r->body.loc);
        }
        return;
    case RK_STATIC:
        emit_str(e, "static files from ");
        put_quoted(e, r->dir.ptr, r->dir.len);
        emit_str(e, " (");
        put_where(e, src, r->loc);
        emit_str(e, ")");
        return;
    case RK_SLASH:
        emit_str(e, "301 to ");
        put_shown(e, r->path, strlen(r->path), false);
        emit_str(e, "/ (static at ");
        put_where(e, src, r->loc);
        emit_str(e, ")");
        return;
    case RK_SSE:
        emit_str(e, "SSE stream at ");
        put_where(e, src, r->loc);
        if (r->every_ms) {
            emit_str(e, ", tick every ");
            put_duration(e, r->every_ms);
        }
        return;
    case RK_WS:
        emit_str(e, "WebSocket at ");
        put_where(e, src, r->loc);
        if (r->ws_protocols) {
            emit_str(e, ", protocols");
            for (unsigned i = r->ws_first_protocol; i < r->ws_first_protocol + r->ws_protocols;
                 i++) {
                emit_str(e, " ");
                put_quoted(e, r->options->args[i].ptr, r->options->args[i].len);
            }
        }
        if (r->ws_deflate)
            emit_str(e, ", deflate");
        return;
    case RK_METRICS:
        emit_str(e, "metrics (");
        put_where(e, src, r->loc);
        emit_str(e, ")");
        return;
    }
}

/* "before: app.srv:5, app.srv:9  after: app.srv:6  cors: app.srv:3
 * error: app.srv:7": the hooks in the order they run, then the policies. */
static void put_hooks(Emit *e, const Source *src, const Route *r, Arena *a)
{
    const char *sep = "";
    static const char *const names[] = {"before", "after"};
    for (HookKind k = HK_BEFORE; k <= HK_AFTER; k++) {
        unsigned n = gen_hook_chain(r->scope, k, NULL, 0);
        if (!n)
            continue;
        const Hook **chain = arena_alloc(a, n * sizeof *chain);
        gen_hook_chain(r->scope, k, chain, 0);
        emit_fmt(e, "%s%s: ", sep, names[k]);
        for (unsigned i = 0; i < n; i++) {
            emit_str(e, i ? ", " : "");
            put_where(e, src, chain[i]->keyword.loc);
        }
        sep = "  ";
    }
    const Cors *c = gen_route_cors(r);
    if (c) {
        emit_fmt(e, "%scors: ", sep);
        put_where(e, src, c->keyword.loc);
        sep = "  ";
    }
    const Hook *h = gen_error_hook(r->scope);
    if (h) {
        emit_fmt(e, "%serror: ", sep);
        put_where(e, src, h->keyword.loc);
    }
}

/* Ends the text in E with a NUL (not counted) and returns it. */
static const char *text_of(Emit *e)
{
    emit_bytes(e, "", 1);
    e->len--;
    return e->buf;
}

/* --- --routes ------------------------------------------------------------ */

/* The routes of TREE in the order the matcher tries them: at each node
 * the routes ending there (by method), then the literal children, then the
 * `:param`, then the `*`.  Iterative: a deep tree cannot exhaust the stack.
 * Returns the count written to OUT. */
static unsigned routes_in_order(const RouteTree *tree, Route **out, Arena *a)
{
    const Node **stack = arena_alloc(a, (tree->nnodes + 1) * sizeof *stack);
    unsigned sp = 0, n = 0;
    stack[sp++] = tree->root;
    while (sp) {
        const Node *node = stack[--sp];
        for (int m = 0; m < M_COUNT; m++)
            if (node->leaf[m])
                out[n++] = node->leaf[m];
        if (node->wild)
            stack[sp++] = node->wild;
        if (node->param)
            stack[sp++] = node->param;
        for (unsigned i = node->nlits; i-- > 0;)
            stack[sp++] = node->lits[i];
    }
    return n;
}

/* Columns on a terminal: UTF-8 characters, not bytes (patterns may hold
 * them). */
static size_t text_width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static void print_padded(FILE *out, const char *s, size_t width, bool last)
{
    fputs(s, out);
    if (!last)
        for (size_t i = text_width(s); i < width + 2; i++)
            fputc(' ', out);
}

int inspect_routes(FILE *out, const App *app, const Source *src, const RouteTree *tree)
{
    Arena *a = arena_new();
    const Server *s = app->servers;
    Route **routes = arena_alloc(a, (s->nroutes + 1) * sizeof *routes);
    unsigned n = routes_in_order(tree, routes, a);
    enum { COLS = 4 };
    const char **cells = arena_alloc(a, (size_t)(n + 1) * COLS * sizeof *cells);
    size_t width[COLS] = {0};
    static const char *const head[COLS] = {"METHOD", "PATTERN", "HANDLER", "HOOKS"};
    for (int c = 0; c < COLS; c++)
        cells[c] = head[c];
    for (unsigned i = 0; i < n; i++) {
        const Route *r = routes[i];
        Emit e;
        const char **row = cells + (size_t)(i + 1) * COLS;
        row[0] = route_method(r);
        emit_init(&e);
        put_shown(&e, r->path, strlen(r->path), false);
        row[1] = arena_strndup(a, text_of(&e), e.len);
        emit_free(&e);
        emit_init(&e);
        put_handler(&e, src, r);
        row[2] = arena_strndup(a, text_of(&e), e.len);
        emit_free(&e);
        emit_init(&e);
        put_hooks(&e, src, r, a);
        row[3] = arena_strndup(a, text_of(&e), e.len);
        emit_free(&e);
    }
    for (unsigned i = 0; i <= n; i++)
        for (int c = 0; c < COLS; c++)
            if (text_width(cells[(size_t)i * COLS + c]) > width[c])
                width[c] = text_width(cells[(size_t)i * COLS + c]);
    for (unsigned i = 0; i <= n; i++) {
        const char **row = cells + (size_t)i * COLS;
        int last = COLS - 1;
        while (last > 0 && row[last][0] == '\0')
            last--;
        for (int c = 0; c <= last; c++)
            print_padded(out, row[c], width[c], c == last);
        fputc('\n', out);
    }
    arena_free(a);
    return fflush(out) == 0 && !ferror(out) ? 0 : 1;
}

/* --- --match ------------------------------------------------------------- */

/* The program --match compiles: what the matcher needs of srv.h (the
 * runtime's own method bits, and struct srv_match as srv.h declares it),
 * the matcher exactly as gen_app() writes it, and a main() that answers
 * queries "METHOD_BIT LEN\nPATH" on standard input with lines
 * "ROUTE ALLOW NPARAMS [OFFSET LEN]...". */
static void write_helper(Emit *e, const Source *src, const RouteTree *tree)
{
    emit_str(e, "/* srvc --match: the matcher srvc generates for ");
    for (const char *p = src->name; *p; p++)
        emit_bytes(e, (unsigned char)*p < 0x20 || *p == '*' ? "?" : p, 1);
    emit_str(e, ", and a main that asks it. */\n"
                "#include <stddef.h>\n#include <stdint.h>\n#include <stdio.h>\n"
                "#include <stdlib.h>\n#include <string.h>\n\n");
    static const char *const names[M_COUNT] = {"GET", "HEAD", "POST", "PUT", "DELETE",
                                               "PATCH", "OPTIONS", "ANY"};
    for (int m = 0; m < M_COUNT; m++)
        emit_fmt(e, "#define SRV_METHOD_%s %uu\n", names[m], request_method_bit(m));
    emit_fmt(e, "\nstruct srv_match {\n    unsigned allow;\n    unsigned nparams;\n"
                "    struct {\n        const char *ptr;\n        size_t len;\n    } params[%d];\n"
                "};\n\n",
             SRVC_MAX_PARAMS);
    gen_matcher_only(e, src, tree);
    emit_str(e, "int main(void)\n{\n"
                "    unsigned method;\n    size_t len;\n"
                "    while (scanf(\"%u %zu\", &method, &len) == 2 && getchar() == '\\n') {\n"
                "        char *path = malloc(len + 1);\n"
                "        if (!path || fread(path, 1, len, stdin) != len)\n"
                "            return 1;\n"
                "        path[len] = '\\0';\n"
                "        struct srv_match m;\n"
                "        int r = srvg_match(method, path, len, &m);\n"
                "        printf(\"%d %u %u\", r, m.allow, r >= 0 ? m.nparams : 0u);\n"
                "        for (unsigned i = 0; r >= 0 && i < m.nparams; i++)\n"
                "            printf(\" %zu %zu\", (size_t)(m.params[i].ptr - path), "
                "m.params[i].len);\n"
                "        putchar('\\n');\n"
                "        free(path);\n"
                "    }\n"
                "    return fflush(stdout) != 0 || ferror(stdout);\n}\n");
}

/* Runs ARGV with standard input from IN and standard output and error to
 * OUT (paths; NULL: inherited).  Returns the exit status, 128 + signal, or
 * -1 when it could not start. */
static int run(char *const argv[], const char *in, const char *out)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (in) {
            int fd = open(in, O_RDONLY);
            if (fd < 0 || dup2(fd, 0) < 0)
                _exit(126);
            close(fd);
        }
        if (out) {
            int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
                _exit(126);
            close(fd);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static bool write_file(const char *path, const char *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    bool ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* Everything in a file, NUL-terminated; NULL on failure. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    Emit e;
    emit_init(&e);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        emit_bytes(&e, buf, n);
    bool ok = !ferror(f);
    fclose(f);
    emit_bytes(&e, "", 1);
    *len = e.len - 1;
    if (!ok) {
        emit_free(&e);
        return NULL;
    }
    return e.buf;
}

typedef struct {
    const char *line;  /* as given on the command line */
    Request rq;
    int route;         /* the matcher's answer */
    unsigned allow;
    unsigned nparams;
    size_t *params;    /* offset, length pairs into rq.path */
} Query;

/* A temporary directory and the files --match makes in it. */
typedef struct {
    char dir[4096];
    char src[4200], exe[4200], in[4200], out[4200], log[4200];
} Work;

static void work_remove(Work *w)
{
    const char *files[] = {w->src, w->exe, w->in, w->out, w->log};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        unlink(files[i]);
    rmdir(w->dir);
}

/* Compiles the matcher and answers every routable query in Q[0..N).
 * Reports failures to ERR; returns false after one. */
static bool ask_matcher(Query *q, unsigned n, const Source *src, const RouteTree *tree,
                        FILE *err, Arena *a)
{
    Work w;
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp || strlen(tmp) > 4000)
        tmp = "/tmp";
    snprintf(w.dir, sizeof w.dir, "%s/srvc-match-XXXXXX", tmp);
    if (!mkdtemp(w.dir)) {
        diag_tool_error(err, "cannot make a temporary directory in %s: %s", tmp, strerror(errno));
        return false;
    }
    snprintf(w.src, sizeof w.src, "%s/match.c", w.dir);
    snprintf(w.exe, sizeof w.exe, "%s/match", w.dir);
    snprintf(w.in, sizeof w.in, "%s/queries", w.dir);
    snprintf(w.out, sizeof w.out, "%s/answers", w.dir);
    snprintf(w.log, sizeof w.log, "%s/cc.log", w.dir);

    bool ok = false;
    Emit e, in;
    emit_init(&e);
    emit_init(&in);
    write_helper(&e, src, tree);
    for (unsigned i = 0; i < n; i++) {
        if (q[i].rq.status)
            continue;
        emit_fmt(&in, "%u %zu\n", q[i].rq.method, q[i].rq.path_len);
        emit_bytes(&in, q[i].rq.path, q[i].rq.path_len);
    }
    if (!write_file(w.src, e.buf, e.len) || !write_file(w.in, in.buf ? in.buf : "", in.len)) {
        diag_tool_error(err, "cannot write in %s: %s", w.dir, strerror(errno));
        goto done;
    }
    /* $CC as make uses it: words split by the shell. */
    char *cc[] = {"/bin/sh", "-c", "exec ${CC:-cc} -std=c11 -O0 -w -o \"$1\" \"$2\"", "sh",
                  w.exe, w.src, NULL};
    int rc = run(cc, NULL, w.log);
    if (rc != 0) {
        const char *name = getenv("CC");
        if (rc == 127 || rc == 126 || rc < 0) {
            diag_tool_error(err, "--match compiles the server's matcher with a C compiler, and "
                                 "'%s' could not be run (set CC to one)",
                            name && *name ? name : "cc");
        } else {
            size_t len;
            char *log = read_file(w.log, &len);
            diag_tool_error(err, "the C compiler failed on the matcher (exit %d)%s%s", rc,
                            log && len ? ":\n" : "", log && len ? log : "");
            free(log);
        }
        goto done;
    }
    char *helper[] = {w.exe, NULL};
    rc = run(helper, w.in, w.out);
    size_t len;
    char *answers = rc == 0 ? read_file(w.out, &len) : NULL;
    if (!answers) {
        diag_tool_error(err, "internal error: the matcher program failed (exit %d)", rc);
        goto done;
    }
    const char *p = answers;
    ok = true;
    for (unsigned i = 0; i < n && ok; i++) {
        if (q[i].rq.status)
            continue;
        char *end;
        q[i].route = (int)strtol(p, &end, 10);
        q[i].allow = (unsigned)strtoul(end, &end, 10);
        q[i].nparams = (unsigned)strtoul(end, &end, 10);
        ok = end != p && q[i].nparams <= SRVC_MAX_PARAMS;
        q[i].params = arena_alloc(a, (2 * q[i].nparams + 1) * sizeof *q[i].params);
        for (unsigned k = 0; ok && k < 2 * q[i].nparams; k++)
            q[i].params[k] = (size_t)strtoull(end, &end, 10);
        for (unsigned k = 0; ok && k < q[i].nparams; k++)
            ok = q[i].params[2 * k] <= q[i].rq.path_len &&
                 q[i].params[2 * k + 1] <= q[i].rq.path_len - q[i].params[2 * k];
        p = *end == '\n' ? end + 1 : end;
    }
    if (!ok)
        diag_tool_error(err, "internal error: unexpected answer from the matcher program");
    free(answers);
done:
    emit_free(&e);
    emit_free(&in);
    work_remove(&w);
    return ok;
}

/* ", " between the methods of MASK (SRV_METHOD_* bits), as an Allow
 * header lists them. */
static void put_methods(Emit *e, unsigned mask)
{
    const char *sep = "";
    for (int m = 0; m < M_ANY; m++) {
        if (mask & request_method_bit(m)) {
            emit_fmt(e, "%s%s", sep, check_method_names[m]);
            sep = ", ";
        }
    }
}

/* What the server answers, before routing, a request line its parser
 * refused with STATUS. */
static const char *status_text(int status)
{
    switch (status) {
    case 400: return "Bad Request: the server's parser refuses this request line before "
                     "routing (a malformed target, a bad or %00 escape, '..' above the root)";
    case 414: return "URI Too Long: the request line is longer than limits { request_line }";
    case 501: return "Not Implemented: the server implements GET, HEAD, POST, PUT, DELETE, "
                     "PATCH and OPTIONS";
    case 505: return "HTTP Version Not Supported";
    default: return "refused before routing";
    }
}

/* The answer to query Q, as text in E.  Returns whether a route takes it. */
static bool explain(Emit *e, const Query *q, Route *const *by_index, const Server *s,
                    const Source *src, Arena *a)
{
    const Request *rq = &q->rq;
    put_shown(e, q->line, strlen(q->line), false);
    emit_str(e, "\n");
    if (rq->status) {
        emit_fmt(e, "  %d %s\n", rq->status, status_text(rq->status));
        return false;
    }
    /* The path as the server routes it, when decoding changed it. */
    const char *target = strchr(q->line, ' ');
    while (target && *target == ' ')
        target++;
    size_t tlen = target ? strcspn(target, " ?") : 0;
    if (!target || tlen != rq->path_len || memcmp(target, rq->path, tlen) != 0) {
        emit_str(e, "  path:    ");
        put_quoted(e, rq->path, rq->path_len);
        emit_str(e, " (decoded and normalised, as handlers see it)\n");
    }
    if (q->route < 0 || (unsigned)q->route >= s->nroutes || !by_index[q->route]) {
        if (q->allow == 0) {
            emit_str(e, "  404 Not Found: no route pattern matches the path\n");
        } else {
            emit_str(e, "  405 Method Not Allowed: the path is routed for other methods\n"
                        "  Allow:   ");
            put_methods(e, q->allow);
            emit_str(e, "\n");
        }
        if (rq->method_index == M_OPTIONS && s->ncors)
            emit_str(e, "  (a CORS preflight, with Origin and Access-Control-Request-Method, "
                        "is answered before routing by the cors policy of the route that "
                        "method reaches)\n");
        return false;
    }
    const Route *r = by_index[q->route];
    emit_fmt(e, "  route:   %s ", route_method(r));
    put_shown(e, r->path, strlen(r->path), false);
    emit_str(e, " (");
    put_where(e, src, r->loc);
    emit_str(e, ")");
    if (r->method_index == M_GET && rq->method_index == M_HEAD)
        emit_str(e, "; HEAD is answered as GET, without the body");
    emit_str(e, "\n  handler: ");
    put_handler(e, src, r);
    emit_str(e, "\n");
    if (q->nparams) {
        emit_str(e, "  params:  ");
        unsigned k = 0;
        for (unsigned i = 0; i < r->nsegs && k < q->nparams; i++) {
            const Segment *sg = &r->segs[i];
            if (sg->kind == SEG_LITERAL)
                continue;
            emit_str(e, k ? ", " : "");
            if (sg->kind == SEG_WILD)
                emit_str(e, "*");
            else
                emit_bytes(e, sg->ptr, sg->len);
            emit_str(e, " = ");
            put_quoted(e, rq->path + q->params[2 * k], q->params[2 * k + 1]);
            k++;
        }
        emit_str(e, "\n");
    }
    Emit hooks;
    emit_init(&hooks);
    put_hooks(&hooks, src, r, a);
    if (hooks.len) {
        emit_str(e, "  hooks:   ");
        emit_bytes(e, hooks.buf, hooks.len);
        emit_str(e, "\n");
    }
    emit_free(&hooks);
    return true;
}

int inspect_match(FILE *out, FILE *err, const App *app, const Source *src,
                  const RouteTree *tree, const char *const *lines, unsigned n)
{
    Arena *a = arena_new();
    const Server *s = app->servers;
    Query *q = arena_alloc(a, (n + 1) * sizeof *q);
    bool any = false;
    for (unsigned i = 0; i < n; i++) {
        q[i].line = lines[i];
        if (!request_parse(&q[i].rq, lines[i], s, a)) {
            diag_tool_error(err, "--match takes \"METHOD TARGET\", e.g. \"GET /users/42\" (not "
                                 "\"%s\")", lines[i]);
            arena_free(a);
            return 1;
        }
        any |= q[i].rq.status == 0;
    }
    if (any && !ask_matcher(q, n, src, tree, err, a)) {
        arena_free(a);
        return 1;
    }
    Route **by_index = arena_alloc(a, (s->nroutes + 1) * sizeof *by_index);
    for (Route *r = s->routes; r; r = r->next)
        if (!r->dropped)
            by_index[r->index] = r;
    bool all = true;
    Emit e;
    emit_init(&e);
    for (unsigned i = 0; i < n; i++) {
        if (i)
            emit_str(&e, "\n");
        all &= explain(&e, &q[i], by_index, s, src, a);
    }
    bool written = fwrite(e.buf, 1, e.len, out) == e.len && fflush(out) == 0;
    emit_free(&e);
    arena_free(a);
    if (!written) {
        diag_tool_error(err, "cannot write to standard output: %s", strerror(errno));
        return 1;
    }
    return all ? 0 : 2;
}
