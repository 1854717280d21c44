/*
 * routes.c - the fifth pass: the checked routes of the server become a
 * segment tree, the shape codegen turns into the C matcher.  Each edge is
 * one path segment: a literal, a `:param` or the trailing `*`; each node
 * holds the routes that end there, by method.  Routes are sorted by their
 * segments first, so building is O(n log n) even with thousands of
 * siblings, children come out in a stable order (literals by length then
 * bytes, then the param, then `*`), and duplicates are adjacent.
 *
 * It also runs after check.c found errors, so one run reports duplicates
 * with the rest; a route whose pattern or method had errors (Route.bad) is
 * left out, so nothing is reported twice about one mistake.
 */
#include "srvc.h"

#include <stdlib.h>
#include <string.h>

static int compare_segments(const Segment *a, const Segment *b)
{
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    if (a->kind != SEG_LITERAL)
        return 0; /* parameter names do not change a pattern's shape */
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    return a->len ? memcmp(a->ptr, b->ptr, a->len) : 0;
}

/* Shape alone: the segments, parameter names aside. */
static int compare_segs(const Route *a, const Route *b)
{
    unsigned n = a->nsegs < b->nsegs ? a->nsegs : b->nsegs;
    for (unsigned i = 0; i < n; i++) {
        int c = compare_segments(&a->segs[i], &b->segs[i]);
        if (c)
            return c;
    }
    return a->nsegs < b->nsegs ? -1 : a->nsegs > b->nsegs;
}

/* Shape, then method: equal shape and method means a duplicate. */
static int compare_shape(const Route *a, const Route *b)
{
    unsigned n = a->nsegs < b->nsegs ? a->nsegs : b->nsegs;
    for (unsigned i = 0; i < n; i++) {
        int c = compare_segments(&a->segs[i], &b->segs[i]);
        if (c)
            return c;
    }
    if (a->nsegs != b->nsegs)
        return a->nsegs < b->nsegs ? -1 : 1;
    if (a->method_index != b->method_index)
        return a->method_index < b->method_index ? -1 : 1;
    return 0;
}

static int compare_routes(const void *pa, const void *pb)
{
    const Route *a = *(Route *const *)pa, *b = *(Route *const *)pb;
    int c = compare_shape(a, b);
    if (c)
        return c;
    return a->index < b->index ? -1 : a->index > b->index;
}

typedef struct {
    Route *dup, *first;
} Dup;

static int compare_dups(const void *pa, const void *pb)
{
    const Dup *a = pa, *b = pb;
    return a->dup->index < b->dup->index ? -1 : a->dup->index > b->dup->index;
}

static Node *new_node(Arena *a, const Node *parent, SegKind kind, const char *label,
                      size_t len)
{
    Node *n = arena_alloc(a, sizeof *n);
    n->kind = kind;
    n->label = label;
    n->label_len = len;
    size_t plen = strlen(parent->path);
    char *path = arena_alloc(a, plen + len + 3);
    memcpy(path, parent->path, plen);
    path[plen] = '/';
    char *p = path + plen + 1;
    if (kind == SEG_PARAM)
        *p++ = ':';
    memcpy(p, label, len);
    n->path = path;
    return n;
}

static Node *child(Arena *a, Node *node, const Segment *seg)
{
    if (seg->kind == SEG_PARAM) {
        if (!node->param)
            node->param = new_node(a, node, SEG_PARAM, seg->ptr, seg->len);
        return node->param;
    }
    if (seg->kind == SEG_WILD) {
        if (!node->wild)
            node->wild = new_node(a, node, SEG_WILD, "*", 1);
        return node->wild;
    }
    /* Sorted input: an existing child for this literal is the last one. */
    if (node->nlits) {
        Node *last = node->lits[node->nlits - 1];
        if (last->label_len == seg->len && memcmp(last->label, seg->ptr, seg->len) == 0)
            return last;
    }
    if (node->nlits == node->caplits) {
        unsigned cap = node->caplits ? node->caplits * 2 : 4;
        Node **lits = arena_alloc(a, cap * sizeof *lits);
        if (node->nlits)
            memcpy(lits, node->lits, node->nlits * sizeof *lits);
        node->lits = lits;
        node->caplits = cap;
    }
    Node *n = new_node(a, node, SEG_LITERAL, seg->ptr, seg->len);
    node->lits[node->nlits++] = n;
    return n;
}

/* Pre-order numbering, iterative so deep trees cannot exhaust the stack. */
static unsigned number_nodes(Node *root, Arena *a, unsigned total)
{
    Node **stack = arena_alloc(a, (total + 1) * sizeof *stack);
    unsigned sp = 0, next = 0;
    stack[sp++] = root;
    while (sp) {
        Node *n = stack[--sp];
        n->id = next++;
        if (n->wild)
            stack[sp++] = n->wild;
        if (n->param)
            stack[sp++] = n->param;
        for (unsigned i = n->nlits; i-- > 0;)
            stack[sp++] = n->lits[i];
    }
    return next;
}

static void note_groups(const Route *r, Diag *d)
{
    for (const Scope *g = r->scope; g && g->parent; g = g->parent)
        diag_note(d, g->keyword.loc, "inside group \"%s\"", g->path);
}

/* R has the method and shape of FIRST, written before it. */
static void report_duplicate(const Route *r, const Route *first, Diag *d)
{
    const char *m = check_method_names[r->method_index];
    if (r->kind == RK_STATIC && first->kind == RK_STATIC) {
        diag_error(d, r->loc, "static prefix \"%.*s\" mounted twice", (int)strlen(r->path) - 1,
                   r->path);
        diag_note(d, first->loc, "first mounted here");
    } else if (r->kind == RK_STATIC || first->kind == RK_STATIC) {
        const Route *mount = r->kind == RK_STATIC ? r : first;
        const Route *route = r->kind == RK_STATIC ? first : r;
        diag_error(d, r->loc, "static prefix \"%.*s\" and route %s \"%s\" take the same requests",
                   (int)strlen(mount->path) - 1, mount->path, m, route->path);
        diag_note(d, first->loc, "%s here", first == mount ? "mounted" : "route defined");
    } else if (r->kind == RK_METRICS || first->kind == RK_METRICS) {
        const Route *other = r->kind == RK_METRICS ? first : r;
        diag_error(d, r->loc, "metrics path \"%s\" and %s%s \"%s\" take the same requests",
                   other->path, other->kind == RK_SSE ? "SSE" : other->kind == RK_WS ? "WS" : "route ",
                   other->kind == RK_SSE || other->kind == RK_WS ? "" : m, other->path);
        diag_note(d, first->loc, "%s here", first == other ? "first defined" : "metrics path set");
    } else if (r->kind == RK_SSE || first->kind == RK_SSE || r->kind == RK_WS ||
               first->kind == RK_WS) {
        diag_error(d, r->loc, "%s \"%s\" and %s \"%s\" take the same requests",
                   first->kind == RK_SSE ? "SSE" : first->kind == RK_WS ? "WS" : m, first->path,
                   r->kind == RK_SSE ? "SSE" : r->kind == RK_WS ? "WS" : m, r->path);
        diag_note(d, first->loc, "first defined here");
    } else {
        diag_error(d, r->loc, "route %s \"%s\" defined twice", m, r->path);
        diag_note(d, first->loc, "first defined here");
    }
    note_groups(r, d);
}

RouteTree *routes_build(Server *server, Diag *d, Arena *a)
{
    Route **sorted = arena_alloc(a, (server->nroutes + 1) * sizeof *sorted);
    unsigned n = 0, i, total_segs = 0;
    for (Route *r = server->routes; r; r = r->next) {
        if (r->bad)
            continue;
        sorted[n++] = r;
        total_segs += r->nsegs;
    }
    qsort(sorted, n, sizeof *sorted, compare_routes);

    /* A mount's slash redirect gives way to any route of the user's for the
     * same path, whatever its method. */
    for (unsigned g = 0, k = 1; k <= n; k++) {
        if (k < n && compare_segs(sorted[g], sorted[k]) == 0)
            continue;
        bool user = false;
        for (unsigned j = g; j < k; j++)
            user |= sorted[j]->kind != RK_SLASH;
        for (unsigned j = g; j < k; j++)
            if (sorted[j]->kind == RK_SLASH && (user || j > g))
                sorted[j]->dropped = true;
        g = k;
    }

    /* Report duplicates in the order they were written. */
    Dup *dups = arena_alloc(a, (n + 1) * sizeof *dups);
    unsigned ndups = 0;
    for (unsigned g = 0, k = 1; k < n; k++) {
        if (sorted[k]->dropped)
            continue;
        if (!sorted[g]->dropped && compare_shape(sorted[g], sorted[k]) == 0)
            dups[ndups++] = (Dup){sorted[k], sorted[g]};
        else
            g = k;
    }
    qsort(dups, ndups, sizeof *dups, compare_dups);
    for (i = 0; i < ndups; i++)
        report_duplicate(dups[i].dup, dups[i].first, d);
    if (ndups)
        return NULL;

    RouteTree *tree = arena_alloc(a, sizeof *tree);
    tree->root = arena_alloc(a, sizeof *tree->root);
    tree->root->path = "";
    for (i = 0; i < n; i++) {
        Route *r = sorted[i];
        if (r->dropped)
            continue;
        Node *node = tree->root;
        for (unsigned k = 0; k < r->nsegs; k++)
            node = child(a, node, &r->segs[k]);
        node->leaf[r->method_index] = r;
    }
    tree->nnodes = number_nodes(tree->root, a, total_segs + 1);
    return tree;
}
