/*
 * arena.c - the bump allocator behind every request (and the allocation
 * wrappers that cannot fail).  A connection owns one arena; handlers allocate
 * from it through srv_alloc() and never free.  srv__arena_reset() runs after
 * each response: it frees only the overflow chunks and rewinds the first one,
 * so a request whose allocations fit in the first chunk costs no malloc.
 * Memory that is not the arena's (a parsed JSON document, a handler's own
 * malloc) is tied to it with srv__arena_defer(): the cleanup runs at the
 * reset, so it is freed exactly when the request's memory is.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN 16u

struct srv__arena_chunk {
    struct srv__arena_chunk *next;
    size_t size;
    _Alignas(16) char data[];
};

struct srv__arena_cleanup {
    struct srv__arena_cleanup *next;
    void (*fn)(void *);
    void *arg;
};

static struct srv__arena_chunk *chunk_new(size_t size)
{
    struct srv__arena_chunk *c = srv__xmalloc(sizeof *c + size);
    c->next = NULL;
    c->size = size;
    return c;
}

void srv__arena_init(struct srv__arena *a, size_t first_size)
{
    first_size = (first_size + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    a->first = chunk_new(first_size);
    a->extra = NULL;
    a->cleanups = NULL;
    a->cur = a->first->data;
    a->end = a->first->data + first_size;
}

void *srv__arena_alloc(struct srv__arena *a, size_t size)
{
    size_t need = (size + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (need < size)
        need = size; /* overflow: let xmalloc fail loudly below */
    if (SRV__LIKELY(need <= (size_t)(a->end - a->cur))) {
        void *p = a->cur;
        a->cur += need;
        return p;
    }
    /* A new chunk at least as big as the first, so many small allocations
     * after an overflow do not each cost a malloc. */
    size_t csize = need > a->first->size ? need : a->first->size;
    struct srv__arena_chunk *c = chunk_new(csize);
    c->next = a->extra;
    a->extra = c;
    a->cur = c->data + need;
    a->end = c->data + csize;
    return c->data;
}

void srv__arena_defer(struct srv__arena *a, void (*fn)(void *), void *arg)
{
    struct srv__arena_cleanup *c = srv__arena_alloc(a, sizeof *c);
    c->fn = fn;
    c->arg = arg;
    c->next = a->cleanups;
    a->cleanups = c;
}

/* The records live in the chunks about to be rewound, so each is unlinked
 * before its function runs. */
static void run_cleanups(struct srv__arena *a)
{
    while (a->cleanups != NULL) {
        struct srv__arena_cleanup *c = a->cleanups;
        a->cleanups = c->next;
        c->fn(c->arg);
    }
}

void srv__arena_reset(struct srv__arena *a)
{
    if (SRV__UNLIKELY(a->cleanups != NULL))
        run_cleanups(a);
    struct srv__arena_chunk *c = a->extra;
    while (SRV__UNLIKELY(c != NULL)) {
        struct srv__arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->extra = NULL;
    a->cur = a->first->data;
    a->end = a->first->data + a->first->size;
}

void srv__arena_free(struct srv__arena *a)
{
    if (a->first == NULL)
        return;
    srv__arena_reset(a);
    free(a->first);
    a->first = NULL;
    a->cur = a->end = NULL;
}

static void out_of_memory(size_t size)
{
    srv_log(SRV_LOG_ERROR, "out of memory allocating %zu bytes", size);
    abort();
}

void *srv__xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (p == NULL)
        out_of_memory(size);
    return p;
}

void *srv__xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        out_of_memory(n * size);
    return p;
}

void *srv__xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (q == NULL)
        out_of_memory(size);
    return q;
}

char *srv__arena_vprintf(struct srv__arena *a, size_t *len, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    if (n < 0)
        n = 0;
    char *s = srv__arena_alloc(a, (size_t)n + 1);
    if ((size_t)n < sizeof tmp)
        memcpy(s, tmp, (size_t)n + 1);
    else
        vsnprintf(s, (size_t)n + 1, fmt, again);
    va_end(again);
    if (len)
        *len = (size_t)n;
    return s;
}
