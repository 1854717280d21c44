/*
 * main.c - the srvc command line.  `srvc FILE.srv [-o OUT.c]` loads the
 * file, runs the passes (srvc_compile: lex+parse, check, routes, codegen)
 * and writes the C to OUT.c through a temporary file, or to stdout.  The
 * tool modes run the passes up to the route tree (srvc_analyze) and then:
 * --check nothing more (every diagnostic, no output, as `nginx -t`),
 * --routes the table of routes and --match the route a request reaches
 * (inspect.c).  Exit status 1 on any error, and then no output file is
 * left behind; --match exits 2 when a request reaches no route.
 */
#include "srvc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fputs("usage: srvc FILE.srv [-o OUT.c]\n"
          "       srvc --check FILE.srv\n"
          "       srvc --routes FILE.srv\n"
          "       srvc --match \"METHOD TARGET\" [--match ...] FILE.srv\n"
          "\n"
          "Compiles a .srv server description to C that builds against libsrv:\n"
          "    srvc app.srv -o app.c\n"
          "    cc -O2 app.c $(pkg-config --cflags --libs srv) -o app\n"
          "\n"
          "options:\n"
          "  -o OUT.c         write the C to OUT.c (default: standard output)\n"
          "  --check          report every diagnostic and write nothing\n"
          "  --routes         list the routes in the order the server matches them\n"
          "  --match REQUEST  say which route answers REQUEST (\"GET /users/42\"), asking\n"
          "                   the server's own matcher, compiled with $CC (default cc)\n"
          "  --help           show this help and exit\n"
          "  --version        show the version and exit\n"
          "\n"
          "Exit status: 0 on success, 1 after errors, 2 when a --match request reaches\n"
          "no route.  See srvc(1) and srv(5).\n",
          out);
}

typedef enum {
    MODE_COMPILE, // srvc FILE.srv [-o OUT.c]
    MODE_CHECK,   // --check
    MODE_ROUTES,  // --routes
    MODE_MATCH,   // --match REQUEST ...
} Mode;

static const char *const mode_names[] = {"", "--check", "--routes", "--match"};

/* Sets *MODE to M unless another tool mode was asked for. */
static bool set_mode(Mode *mode, Mode m)
{
    if (*mode != MODE_COMPILE && *mode != m) {
        diag_tool_error(stderr, "'%s' and '%s' cannot be combined", mode_names[*mode],
                        mode_names[m]);
        return false;
    }
    *mode = m;
    return true;
}

int main(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    Mode mode = MODE_COMPILE;
    const char **requests = calloc((size_t)argc + 1, sizeof *requests);
    unsigned nrequests = 0;
    if (!requests) {
        diag_tool_error(stderr, "out of memory");
        return 1;
    }
    int status = 1;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            status = 0;
            goto done;
        }
        if (strcmp(arg, "--version") == 0) {
            puts("srvc " SRVC_VERSION);
            status = 0;
            goto done;
        }
        if (strcmp(arg, "-o") == 0) {
            if (i + 1 >= argc) {
                diag_tool_error(stderr, "missing file name after '-o'");
                goto done;
            }
            if (out) {
                diag_tool_error(stderr, "more than one '-o'");
                goto done;
            }
            out = argv[++i];
        } else if (strcmp(arg, "--check") == 0) {
            if (!set_mode(&mode, MODE_CHECK))
                goto done;
        } else if (strcmp(arg, "--routes") == 0) {
            if (!set_mode(&mode, MODE_ROUTES))
                goto done;
        } else if (strcmp(arg, "--match") == 0 || strncmp(arg, "--match=", 8) == 0) {
            if (!set_mode(&mode, MODE_MATCH))
                goto done;
            if (arg[7] == '=') {
                requests[nrequests++] = arg + 8;
            } else if (i + 1 >= argc) {
                diag_tool_error(stderr, "missing request after '--match' (e.g. \"GET /\")");
                goto done;
            } else {
                requests[nrequests++] = argv[++i];
            }
        } else if (arg[0] == '-' && arg[1] != '\0') {
            diag_tool_error(stderr, "unknown option '%s' (see srvc --help)", arg);
            goto done;
        } else if (in) {
            diag_tool_error(stderr, "more than one input file ('%s' and '%s')", in, arg);
            goto done;
        } else {
            in = arg;
        }
    }
    if (!in) {
        diag_tool_error(stderr, "no input file");
        usage(stderr);
        goto done;
    }
    if (out && mode != MODE_COMPILE) {
        diag_tool_error(stderr, "'-o' and '%s' cannot be combined: '%s' writes no C",
                        mode_names[mode], mode_names[mode]);
        goto done;
    }

    Arena *a = arena_new();
    Source src;
    if (!source_load(&src, a, in)) {
        diag_tool_error(stderr, "cannot read '%s': %s", in, strerror(errno));
        arena_free(a);
        goto done;
    }
    if (mode == MODE_COMPILE) {
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
        status = ok ? 0 : 1;
    } else {
        Diag d;
        diag_init(&d, &src, stderr);
        App *app;
        RouteTree *tree = srvc_analyze(&src, a, &d, &app);
        if (!tree)
            status = 1;
        else if (mode == MODE_CHECK)
            status = 0;
        else if (mode == MODE_ROUTES)
            status = inspect_routes(stdout, app, &src, tree);
        else
            status = inspect_match(stdout, stderr, app, &src, tree, requests, nrequests);
    }
    arena_free(a);
done:
    free(requests);
    return status;
}
