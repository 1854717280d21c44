/*
 * main.c - the srvc command line: `srvc FILE.srv [-o OUT.c]`.  Loads the
 * file, runs the passes (srvc_compile: lex+parse, check, routes, codegen)
 * and writes the C to OUT.c through a temporary file, or to stdout.  Exit
 * status 1 on any error, and then no output file is left behind.
 */
#include "srvc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fputs("usage: srvc FILE.srv [-o OUT.c]\n"
          "\n"
          "Compiles a .srv server description to C that builds against libsrv:\n"
          "    srvc app.srv -o app.c\n"
          "    cc -O2 app.c $(pkg-config --cflags --libs srv) -o app\n"
          "\n"
          "options:\n"
          "  -o OUT.c     write the C to OUT.c (default: standard output)\n"
          "  --help       show this help and exit\n"
          "  --version    show the version and exit\n",
          out);
}

int main(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(arg, "--version") == 0) {
            puts("srvc " SRVC_VERSION);
            return 0;
        }
        if (strcmp(arg, "-o") == 0) {
            if (i + 1 >= argc) {
                diag_tool_error(stderr, "missing file name after '-o'");
                return 1;
            }
            if (out) {
                diag_tool_error(stderr, "more than one '-o'");
                return 1;
            }
            out = argv[++i];
        } else if (arg[0] == '-' && arg[1] != '\0') {
            diag_tool_error(stderr, "unknown option '%s' (see srvc --help)", arg);
            return 1;
        } else if (in) {
            diag_tool_error(stderr, "more than one input file ('%s' and '%s')", in, arg);
            return 1;
        } else {
            in = arg;
        }
    }
    if (!in) {
        diag_tool_error(stderr, "no input file");
        usage(stderr);
        return 1;
    }

    Arena *a = arena_new();
    Source src;
    if (!source_load(&src, a, in)) {
        diag_tool_error(stderr, "cannot read '%s': %s", in, strerror(errno));
        arena_free(a);
        return 1;
    }
    Emit e;
    emit_init(&e);
    bool ok = srvc_compile(&src, a, stderr, out ? out : "<stdout>", &e);
    if (ok) {
        if (out) {
            ok = emit_write_file(&e, out, stderr);
        } else if (fwrite(e.buf, 1, e.len, stdout) != e.len || fflush(stdout) != 0) {
            diag_tool_error(stderr, "cannot write to standard output: %s", strerror(errno));
            ok = false;
        }
    }
    emit_free(&e);
    arena_free(a);
    return ok ? 0 : 1;
}
