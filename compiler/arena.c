/*
 * arena.c - the bump allocator every compiler pass allocates from.  One
 * arena per compilation; nothing is freed until arena_free() at the end, so
 * passes can hand pointers to each other without ownership bookkeeping.
 */
#include "srvc.h"

#include <stdlib.h>
#include <string.h>

typedef struct Chunk {
    struct Chunk *next;
    size_t used, size;
    max_align_t data[];
} Chunk;

struct Arena {
    Chunk *chunks;
};

enum { CHUNK_SIZE = 64 * 1024 };

void *xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (!q) {
        fputs("srvc: out of memory\n", stderr);
        abort();
    }
    return q;
}

Arena *arena_new(void)
{
    Arena *a = xrealloc(NULL, sizeof *a);
    a->chunks = NULL;
    return a;
}

void *arena_alloc(Arena *a, size_t size)
{
    const size_t align = sizeof(max_align_t);
    size = (size + align - 1) / align * align;
    Chunk *c = a->chunks;
    if (!c || c->size - c->used < size) {
        size_t cap = size > CHUNK_SIZE ? size : CHUNK_SIZE;
        c = xrealloc(NULL, sizeof *c + cap);
        c->used = 0;
        c->size = cap;
        c->next = a->chunks;
        a->chunks = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += size;
    memset(p, 0, size);
    return p;
}

char *arena_strndup(Arena *a, const char *s, size_t len)
{
    char *p = arena_alloc(a, len + 1);
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void arena_free(Arena *a)
{
    if (!a)
        return;
    for (Chunk *c = a->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
}
