/*
 * match_harness.c - stands in for libsrv so a test can drive a generated
 * matcher directly.  srv_main() reads lines "METHOD PATH EXPECTED" from
 * stdin, where EXPECTED is "PATTERN param=value ..." for a match, "404",
 * or "405 ALLOWMASK"; it prints each mismatch and exits 1 if any.
 */
#include "srv.h"

#include <stdio.h>
#include <string.h>

const char *srv_request_param_at(struct srv_request *req, unsigned index)
{
    (void)req;
    (void)index;
    return NULL;
}

/* Handlers in sample.srv call these; they never run here. */
void srv_response_text(struct srv_response *res, const char *text)
{
    (void)res;
    (void)text;
}

void srv_response_printf(struct srv_response *res, const char *fmt, ...)
{
    (void)res;
    (void)fmt;
}

static unsigned method_bit(const char *name)
{
    static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
    for (unsigned i = 0; i < 7; i++)
        if (strcmp(names[i], name) == 0)
            return 1u << i;
    return 0;
}

int srv_main(int argc, char **argv, const struct srv_app *app)
{
    (void)argc;
    (void)argv;
    char line[512], method[16], path[256], want[256];
    int bad = 0, n = 0;
    while (fgets(line, sizeof line, stdin)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        line[strcspn(line, "\n")] = '\0';
        if (sscanf(line, "%15s %255s %255[^\n]", method, path, want) != 3)
            continue;
        struct srv_match m;
        memset(&m, 0xa5, sizeof m);
        int r = app->match(method_bit(method), path, strlen(path), &m);
        char got[512];
        if (r >= 0) {
            const struct srv_route *rt = &app->routes[r];
            size_t k = (size_t)snprintf(got, sizeof got, "%s", rt->pattern);
            for (unsigned i = 0; i < m.nparams && i < rt->nparams; i++)
                k += (size_t)snprintf(got + k, sizeof got - k, " %s=%.*s", rt->param_names[i],
                                      (int)m.params[i].len, m.params[i].ptr);
            if (m.nparams != rt->nparams)
                snprintf(got + k, sizeof got - k, " (nparams %u)", m.nparams);
        } else if (m.allow == 0) {
            snprintf(got, sizeof got, "404");
        } else {
            snprintf(got, sizeof got, "405 %u", m.allow);
        }
        n++;
        if (strcmp(got, want) != 0) {
            printf("%s %s: got \"%s\", want \"%s\"\n", method, path, got, want);
            bad = 1;
        }
    }
    printf("%d lookups\n", n);
    return bad || n == 0;
}
