/*
 * fuzz_srvc.c - libFuzzer target for srvc: every input runs the whole
 * pipeline (lexer, parser, checks, route tree, code generation) in memory,
 * diagnostics included.  Any crash, leak or sanitizer report is a bug:
 * srvc must never crash on any input.
 */
#include "srvc.h"

#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *sink;
    if (!sink)
        sink = fopen("/dev/null", "w");
    Arena *a = arena_new();
    Source src;
    source_from_memory(&src, a, "fuzz.srv", (const char *)data, size);
    Emit out;
    emit_init(&out);
    srvc_compile(&src, a, sink, "fuzz.c", &out);
    emit_free(&out);
    arena_free(a);
    return 0;
}
