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
 * node: a node's literal children are found by a switch on the segment
 * length and then nested switches on the bytes that tell the candidates
 * apart, so the cost of a lookup depends on the path, not on the number of
 * routes.  A failed branch falls through to the node's `:param`, then to
 * its `*` (backtracking).  Nodes with many literal children split their
 * subtrees into "chunk" functions reached through a table (gen_tables).
 */
#include "srvc.h"

#include <stdlib.h>
#include <string.h>

/* Every runtime name the generated code uses (see runtime/srv.h). */
#define RT_HEADER "srv.h"
#define RT_PARAM_AT "srv_request_param_at"
#define RT_MAIN "srv_main"
#define RT_WORKERS_AUTO "SRV_WORKERS_AUTO"
static const char *const rt_method[M_COUNT] = {
    "SRV_METHOD_GET",    "SRV_METHOD_HEAD",  "SRV_METHOD_POST",    "SRV_METHOD_PUT",
    "SRV_METHOD_DELETE", "SRV_METHOD_PATCH", "SRV_METHOD_OPTIONS", "SRV_METHOD_ANY",
};
static const char *const rt_limit_field[LIM_COUNT] = {
    "request_line",      "header_bytes",    "header_count",    "body",
    "header_timeout_ms", "body_timeout_ms", "idle_timeout_ms", "shutdown_timeout_ms",
};

/* Nodes with more literal children than this use tables (gen_tables). */
enum { BIG_NODE = 8 };
/* Children per chunk function under a big node. */
enum { CHUNK = 64 };

typedef struct {
    Emit *e;
    const Source *src;
    const char *out_name;
    bool uses_eq;    /* the matcher compares literal bytes */
    bool uses_table; /* ... and has nodes with child tables */
} Gen;

static void indent(Emit *e, int level)
{
    for (int i = 0; i < level; i++)
        emit_str(e, "    ");
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

static void gen_handler(Gen *g, const Route *r)
{
    Emit *e = g->e;
    emit_fmt(e, "// %s ", check_method_names[r->method_index]);
    emit_c_string(e, r->pattern.ptr, r->pattern.len);
    emit_fmt(e, "\nstatic void srvg_handler_%u(struct srv_request *req, struct srv_response *res)\n{\n",
             r->index);
    unsigned k = 0;
    for (unsigned i = 0; i < r->nsegs; i++) {
        const Segment *s = &r->segs[i];
        if (s->kind == SEG_PARAM)
            emit_fmt(e, "    const char *%.*s = " RT_PARAM_AT "(req, %u);\n", (int)s->len, s->ptr, k);
        k += s->kind != SEG_LITERAL;
    }
    emit_str(e, "    (void)req;\n    (void)res;\n");
    for (unsigned i = 0; i < r->nsegs; i++)
        if (r->segs[i].kind == SEG_PARAM)
            emit_fmt(e, "    (void)%.*s;\n", (int)r->segs[i].len, r->segs[i].ptr);
    gen_user_block(g, r->body.ptr, r->body.len);
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
        if (r->handler.kind)
            emit_fmt(e, "%.*s", (int)r->handler.len, r->handler.ptr);
        else
            emit_fmt(e, "srvg_handler_%u", r->index);
        emit_fmt(e, ", %s, \"", rt_method[r->method_index]);
        emit_c_string(e, r->pattern.ptr, r->pattern.len);
        if (r->nparams)
            emit_fmt(e, "\", %u, srvg_params_%u},\n", r->nparams, r->index);
        else
            emit_str(e, "\", 0, NULL},\n");
    }
    emit_str(e, "};\n\n");
}

/* --- matcher ------------------------------------------------------------ */

static bool has_leaf(const Node *n)
{
    for (int i = 0; i < M_COUNT; i++)
        if (n->leaf[i])
            return true;
    return false;
}

/* The routes ending at node N: explicit method first, HEAD falls back to
 * GET, ANY takes the rest; otherwise remember N's methods for a 405 and
 * fall through, so the caller backtracks. */
static bool has_leaf_except_any(const Node *n)
{
    for (int i = 0; i < M_ANY; i++)
        if (n->leaf[i])
            return true;
    return false;
}

static void gen_leaf(Gen *g, const Node *n, int level)
{
    Emit *e = g->e;
    if (n->leaf[M_ANY] && !has_leaf_except_any(n)) {
        indent(e, level);
        emit_fmt(e, "return %u; // ANY\n", n->leaf[M_ANY]->index);
        return;
    }
    indent(e, level);
    emit_str(e, "switch (method) {\n");
    unsigned allow = 0;
    for (int i = 0; i < M_ANY; i++) {
        const Route *r = n->leaf[i];
        if (i == M_HEAD && !r)
            r = n->leaf[M_GET];
        if (!r)
            continue;
        allow |= 1u << i;
        indent(e, level);
        emit_fmt(e, "case %s:\n", rt_method[i]);
        indent(e, level + 1);
        emit_fmt(e, "return %u;\n", r->index);
    }
    indent(e, level);
    emit_str(e, "default:\n");
    indent(e, level + 1);
    if (n->leaf[M_ANY]) {
        emit_fmt(e, "return %u; // ANY\n", n->leaf[M_ANY]->index);
        indent(e, level);
        emit_str(e, "}\n");
        return;
    }
    emit_str(e, "break;\n");
    indent(e, level);
    emit_str(e, "}\n");
    indent(e, level);
    emit_str(e, "m->allow |= ");
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

static void gen_body(Gen *g, const Node *n, unsigned d, int level, Arena *a);

/* Entering literal child C of a node at depth D: bind p(D+1), then C's code. */
static void gen_enter(Gen *g, const Node *c, unsigned d, int level, Arena *a)
{
    indent(g->e, level);
    emit_fmt(g->e, "const char *p%u = e%u;\n", d + 1, d);
    gen_body(g, c, d + 1, level, a);
}

/* CNT distinct literals of length LEN: one survivor is compared whole (or,
 * under a big node, only named by its slot); several are split on the byte
 * position with the most distinct values. */
static void gen_bucket(Gen *g, Node **lits, unsigned cnt, size_t len, unsigned d, int level,
                       Arena *a, bool big)
{
    Emit *e = g->e;
    if (cnt == 1 && big) {
        indent(e, level);
        emit_fmt(e, "k%u = %u;\n", d, lits[0]->slot);
        return;
    }
    if (cnt == 1) {
        indent(e, level);
        if (len == 0) {
            emit_str(e, "{\n");
        } else {
            g->uses_eq = true;
            emit_fmt(e, "if (srvg_eq(s%u, \"", d);
            emit_c_string(e, lits[0]->label, len);
            emit_fmt(e, "\", %zu)) {\n", len);
        }
        gen_enter(g, lits[0], d, level + 1, a);
        indent(e, level);
        emit_str(e, "}\n");
        return;
    }
    size_t best = 0;
    unsigned best_count = 0;
    for (size_t pos = 0; pos < len; pos++) {
        bool seen[256] = {false};
        unsigned count = 0;
        for (unsigned i = 0; i < cnt; i++) {
            unsigned char c = (unsigned char)lits[i]->label[pos];
            count += !seen[c];
            seen[c] = true;
        }
        if (count > best_count) {
            best_count = count;
            best = pos;
        }
    }
    if (best_count < 2) { /* cannot happen: the literals are distinct */
        for (unsigned i = 0; i < cnt; i++)
            gen_bucket(g, lits + i, 1, len, d, level, a, big);
        return;
    }
    /* Stable grouping by the byte at BEST (counting sort). */
    unsigned counts[257] = {0};
    for (unsigned i = 0; i < cnt; i++)
        counts[(unsigned char)lits[i]->label[best] + 1]++;
    for (int c = 0; c < 256; c++)
        counts[c + 1] += counts[c];
    Node **grouped = arena_alloc(a, cnt * sizeof *grouped);
    unsigned fill[256];
    memcpy(fill, counts, sizeof fill);
    for (unsigned i = 0; i < cnt; i++)
        grouped[fill[(unsigned char)lits[i]->label[best]]++] = lits[i];
    indent(e, level);
    emit_fmt(e, "switch ((unsigned char)s%u[%zu]) {\n", d, best);
    for (int c = 0; c < 256; c++) {
        unsigned from = counts[c], to = counts[c + 1];
        if (from == to)
            continue;
        indent(e, level);
        emit_case_byte(e, (unsigned char)c);
        gen_bucket(g, grouped + from, to - from, len, d, level + 1, a, big);
        indent(e, level + 1);
        emit_str(e, "break;\n");
    }
    indent(e, level);
    emit_str(e, "}\n");
}

static void gen_literals(Gen *g, const Node *n, unsigned d, int level, Arena *a)
{
    Emit *e = g->e;
    bool big = n->nlits > BIG_NODE;
    if (big) {
        indent(e, level);
        emit_fmt(e, "int k%u = -1;\n", d);
    }
    indent(e, level);
    emit_fmt(e, "switch (n%u) {\n", d);
    for (unsigned i = 0; i < n->nlits;) {
        size_t len = n->lits[i]->label_len;
        unsigned j = i;
        while (j < n->nlits && n->lits[j]->label_len == len)
            j++;
        indent(e, level);
        emit_fmt(e, "case %zu: {\n", len);
        gen_bucket(g, n->lits + i, j - i, len, d, level + 1, a, big);
        indent(e, level + 1);
        emit_str(e, "break;\n");
        indent(e, level);
        emit_str(e, "}\n");
        i = j;
    }
    indent(e, level);
    emit_str(e, "}\n");
    if (big) {
        g->uses_eq = true;
        indent(e, level);
        emit_fmt(e, "if (k%u >= 0 && srvg_eq(s%u, srvg_lit_%u[k%u], n%u)) {\n", d, d, n->id, d, d);
        indent(e, level + 1);
        emit_fmt(e, "int r = srvg_next_%u[k%u / %d]((unsigned)k%u, method, e%u, end, m);\n", n->id, d,
                 CHUNK, d, d);
        indent(e, level + 1);
        emit_str(e, "if (r >= 0)\n");
        indent(e, level + 2);
        emit_str(e, "return r;\n");
        indent(e, level);
        emit_str(e, "}\n");
    }
}

/* The code for node N at depth D of the current function: p<D> is where
 * N's segment ended.  It returns a route index on a match and otherwise
 * falls through, which is how the caller backtracks. */
static void gen_body(Gen *g, const Node *n, unsigned d, int level, Arena *a)
{
    Emit *e = g->e;
    bool walks = n->nlits || n->param;
    indent(e, level);
    emit_str(e, "// ");
    emit_c_string(e, n->id == 0 ? "(root)" : n->path, strlen(n->id == 0 ? "(root)" : n->path));
    emit_str(e, "\n");
    if (has_leaf(n)) {
        indent(e, level);
        emit_fmt(e, "if (p%u == end) {\n", d);
        gen_leaf(g, n, level + 1);
        indent(e, level);
        emit_str(e, "}\n");
    }
    if (!walks && !n->wild)
        return;
    indent(e, level);
    emit_fmt(e, "if (p%u != end) {\n", d);
    level++;
    indent(e, level);
    emit_fmt(e, "const char *s%u = p%u + 1;\n", d, d);
    if (walks) {
        indent(e, level);
        emit_fmt(e, "const char *e%u = s%u;\n", d, d);
        indent(e, level);
        emit_fmt(e, "while (e%u != end && *e%u != '/')\n", d, d);
        indent(e, level + 1);
        emit_fmt(e, "e%u++;\n", d);
        indent(e, level);
        emit_fmt(e, "size_t n%u = (size_t)(e%u - s%u);\n", d, d, d);
    }
    if (n->nlits)
        gen_literals(g, n, d, level, a);
    if (n->param) {
        indent(e, level);
        emit_fmt(e, "if (n%u > 0) {\n", d);
        indent(e, level + 1);
        emit_fmt(e, "m->params[m->nparams].ptr = s%u;\n", d);
        indent(e, level + 1);
        emit_fmt(e, "m->params[m->nparams].len = n%u;\n", d);
        indent(e, level + 1);
        emit_str(e, "m->nparams++;\n");
        gen_enter(g, n->param, d, level + 1, a);
        indent(e, level + 1);
        emit_str(e, "m->nparams--;\n");
        indent(e, level);
        emit_str(e, "}\n");
    }
    if (n->wild) {
        indent(e, level);
        emit_str(e, "// *\n");
        indent(e, level);
        emit_fmt(e, "m->params[m->nparams].ptr = s%u;\n", d);
        indent(e, level);
        emit_fmt(e, "m->params[m->nparams].len = (size_t)(end - s%u);\n", d);
        indent(e, level);
        emit_str(e, "m->nparams++;\n");
        gen_leaf(g, n->wild, level);
        if (!n->wild->leaf[M_ANY]) {
            indent(e, level);
            emit_str(e, "m->nparams--;\n");
        }
    }
    level--;
    indent(e, level);
    emit_str(e, "}\n");
}

/* A node with many literal children picks the candidate with switches
 * that only compute its slot, then compares once and jumps through a table
 * to a "chunk" function holding the code of CHUNK children, selected by a
 * switch on the slot.  Keeping both the number and the size of C functions
 * moderate is what keeps cc -O2 fast on files with thousands of routes. */
static void gen_subtree_tables(Gen *g, const Node *n, Arena *a);

static void gen_tables(Gen *g, const Node *n, Arena *a)
{
    Emit *e = g->e;
    for (unsigned i = 0; i < n->nlits; i++)
        gen_subtree_tables(g, n->lits[i], a);
    unsigned nchunks = (n->nlits + CHUNK - 1) / CHUNK;
    for (unsigned c = 0; c < nchunks; c++) {
        emit_fmt(e, "static int srvg_chunk_%u_%u(unsigned k, unsigned method, const char *p0, "
                    "const char *end, struct srv_match *m)\n{\n    (void)method;\n    (void)m;\n"
                    "    switch (k) {\n",
                 n->id, c);
        for (unsigned i = c * CHUNK; i < n->nlits && i < (c + 1) * CHUNK; i++) {
            emit_fmt(e, "    case %u: {\n", i);
            gen_body(g, n->lits[i], 0, 2, a);
            emit_str(e, "        break;\n    }\n");
        }
        emit_str(e, "    }\n    return -1;\n}\n\n");
    }
    emit_fmt(e, "static const char *const srvg_lit_%u[] = {\n", n->id);
    for (unsigned i = 0; i < n->nlits; i++) {
        emit_str(e, "    \"");
        emit_c_string(e, n->lits[i]->label, n->lits[i]->label_len);
        emit_str(e, "\",\n");
    }
    emit_fmt(e, "};\nstatic srvg_chunk_fn *const srvg_next_%u[] = {\n", n->id);
    for (unsigned c = 0; c < nchunks; c++)
        emit_fmt(e, "    srvg_chunk_%u_%u,\n", n->id, c);
    emit_str(e, "};\n\n");
    g->uses_table = true;
}

/* Tables (and the chunk functions they name) for every big node under N. */
static void gen_subtree_tables(Gen *g, const Node *n, Arena *a)
{
    if (n->nlits > BIG_NODE)
        gen_tables(g, n, a);
    else
        for (unsigned i = 0; i < n->nlits; i++)
            gen_subtree_tables(g, n->lits[i], a);
    if (n->param)
        gen_subtree_tables(g, n->param, a);
}

static void gen_function(Gen *g, const Node *n, Arena *a)
{
    gen_subtree_tables(g, n, a);
    Emit *e = g->e;
    emit_fmt(e, "static int srvg_node_%u(unsigned method, const char *p0, const char *end, "
                "struct srv_match *m)\n{\n    (void)method;\n    (void)m;\n",
             n->id);
    gen_body(g, n, 0, 1, a);
    emit_str(e, "    return -1;\n}\n\n");
}

static void gen_matcher(Gen *g, const RouteTree *tree, Arena *a)
{
    Emit nodes;
    emit_init(&nodes);
    Gen sub = *g;
    sub.e = &nodes;
    const Node *root = tree->root;
    bool empty = !root->nlits && !root->param && !root->wild;
    if (!empty)
        gen_function(&sub, root, a);
    Emit *e = g->e;
    emit_str(e, "// The matcher: a decision tree over path segments (see srv_match_fn).\n");
    if (sub.uses_eq)
        emit_str(e, "static int srvg_eq(const char *a, const char *b, size_t n)\n{\n"
                    "    while (n--)\n        if (*a++ != *b++)\n            return 0;\n"
                    "    return 1;\n}\n\n");
    if (sub.uses_table)
        emit_str(e, "typedef int srvg_chunk_fn(unsigned k, unsigned method, const char *p, const char *end,\n"
                    "                          struct srv_match *m);\n\n");
    emit_bytes(e, nodes.buf, nodes.len);
    emit_free(&nodes);
    emit_str(e, "static int srvg_match(unsigned method, const char *path, size_t len, "
                "struct srv_match *m)\n{\n    m->allow = 0;\n    m->nparams = 0;\n");
    if (empty)
        emit_str(e, "    (void)method;\n    (void)path;\n    (void)len;\n    return -1;\n}\n\n");
    else
        emit_fmt(e, "    if (len == 0 || path[0] != '/')\n        return -1;\n"
                    "    return srvg_node_%u(method, path, path + len, m);\n}\n\n",
                 root->id);
}

/* --- the app ------------------------------------------------------------ */

static void gen_app_struct(Gen *g, const Server *s)
{
    Emit *e = g->e;
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
    Gen g = {out, src, out_name, false, false};
    const Server *s = app->servers;
    Arena *a = arena_new();

    emit_str(out, "/* Generated by srvc " SRVC_VERSION " from ");
    emit_comment_text(out, src->name);
    emit_str(out, "; do not edit. */\n#include \"" RT_HEADER "\"\n\n");
    if (app->prologue.kind) {
        gen_user_block(&g, app->prologue.ptr, app->prologue.len);
        emit_str(out, "\n");
    }
    if (s->setup.kind)
        gen_setup(&g, "srvg_setup", s->setup);
    if (s->worker_setup.kind)
        gen_setup(&g, "srvg_worker_setup", s->worker_setup);
    for (const Route *r = s->routes; r; r = r->next)
        if (r->body.kind)
            gen_handler(&g, r);
    gen_named_decls(&g, s, a);
    gen_route_table(&g, s);
    gen_matcher(&g, tree, a);
    gen_app_struct(&g, s);
    emit_str(out, "int main(int argc, char **argv)\n{\n    return " RT_MAIN
                  "(argc, argv, &srvg_app);\n}\n");
    if (app->epilogue.kind) {
        emit_str(out, "\n");
        gen_user_block(&g, app->epilogue.ptr, app->epilogue.len);
    }
    arena_free(a);
}

/* --- the whole pipeline --------------------------------------------------- */

bool srvc_compile(const Source *src, Arena *a, FILE *diag_out, const char *out_name,
                  Emit *out)
{
    Diag d;
    diag_init(&d, src, diag_out);
    App *app = parse_app(src, &d, a);
    if (d.nerrors)
        return false;
    if (!check_app(app, &d, a))
        return false;
    RouteTree *tree = routes_build(app->servers, &d, a);
    if (!tree)
        return false;
    gen_app(out, app, src, tree, out_name);
    return true;
}
