/*
 * json_parse.c - how fast the JSON libraries Debian packages parse a request
 * body, and what each says about an error: the measurement behind the choice
 * of jansson for srv_request_json() (README, "Dependencies").  Run it with
 * bench/json_parse.sh, which builds it with -O2 against every library.
 *
 * Two documents, made here so every run parses the same bytes: about 1 KiB
 * (a typical API request) and about 1 MiB (an upload of records, the default
 * body limit).  Both mix what real bodies hold: nested objects, arrays,
 * integers and decimals, plain and escaped strings, non-ASCII text.  Each
 * library parses each document whole, from a buffer with its length, into
 * its own tree, which is then freed; the figure is the median of ROUNDS
 * rounds of at least 0.2 s each (one CPU, no other load assumed).
 *
 * Then the library parses one malformed document and the program prints
 * what it reports (does it give a byte offset?), and a few invalid
 * documents (does it accept any?).
 *
 * jansson and json-c export functions with the same names (json_object_get,
 * json_object_iter...), so one program cannot link both: the file is built
 * once per library, with -DLIB_CJSON, -DLIB_JANSSON or -DLIB_JSONC.
 */
#define _POSIX_C_SOURCE 200809L
#if defined(LIB_CJSON)
#include <cjson/cJSON.h>
#elif defined(LIB_JANSSON)
#include <jansson.h>
#elif defined(LIB_JSONC)
#include <json-c/json.h>
#else
#error "build with -DLIB_CJSON, -DLIB_JANSSON or -DLIB_JSONC"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUNDS 7

struct doc {
    char *text;
    size_t len, cap;
};

static void put(struct doc *d, const char *s)
{
    size_t n = strlen(s);
    if (d->len + n + 1 > d->cap) {
        d->cap = (d->len + n + 1) * 2;
        d->text = realloc(d->text, d->cap);
        if (d->text == NULL)
            abort();
    }
    memcpy(d->text + d->len, s, n + 1);
    d->len += n;
}

/* One record: {"id":N,"name":"...","email":"...","score":N.NN,
 * "tags":["...",...],"active":true,"address":{...},"note":"..."} */
static void record(struct doc *d, unsigned i)
{
    char buf[512];
    snprintf(buf, sizeof buf,
             "{\"id\":%u,\"name\":\"User %u J\\u00fcrgen \\\"Q\\\"\","
             "\"email\":\"user%u@example.com\",\"score\":%u.%02u,"
             "\"tags\":[\"alpha\",\"beta\",\"caf\xc3\xa9\",\"\\n\\t\"],\"active\":%s,"
             "\"address\":{\"street\":\"%u Main Street\",\"city\":\"Springfield\","
             "\"zip\":\"%05u\",\"geo\":[%d.%04u,-%u.%04u]},"
             "\"note\":\"Lorem ipsum dolor sit amet, consectetur adipiscing elit.\"}",
             i, i, i, i % 1000, i % 100, i % 2 ? "true" : "false", i % 900 + 1,
             (i * 7919) % 100000, (int)(i % 90), (i * 31) % 10000, i % 180,
             (i * 17) % 10000);
    put(d, buf);
}

static struct doc make_doc(size_t target)
{
    struct doc d = {0};
    put(&d, "{\"version\":1,\"items\":[");
    for (unsigned i = 0; d.len + 300 < target || i == 0; i++) {
        if (i > 0)
            put(&d, ",");
        record(&d, i);
    }
    put(&d, "],\"count\":null}");
    return d;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Parses TEXT[0..LEN) into the library's tree and frees it; 0 on success.
 * REPORT: print what the library says about an error. */
#if defined(LIB_CJSON)
#define LIB_NAME "cJSON"
#define LIB_VERSION CJSON_VERSION_STR
#define STR2(x) #x
#define STR(x) STR2(x)
#define CJSON_VERSION_STR STR(CJSON_VERSION_MAJOR) "." STR(CJSON_VERSION_MINOR) "." STR(CJSON_VERSION_PATCH)
static int parse(const char *text, size_t len, int report)
{
    const char *end = NULL;
    /* require_null_terminated: nothing but whitespace may follow the value.
     * cJSON wants to see the NUL inside the length it is given, and every
     * buffer here has one after its LEN bytes. */
    cJSON *j = cJSON_ParseWithLengthOpts(text, len + 1, &end, 1);
    if (j == NULL) {
        if (report)
            printf("rejected; return_parse_end gives byte %ld, no message\n",
                   end ? (long)(end - text) : -1L);
        return -1;
    }
    cJSON_Delete(j);
    return 0;
}
#elif defined(LIB_JANSSON)
#define LIB_NAME "jansson"
#define LIB_VERSION JANSSON_VERSION
static int parse(const char *text, size_t len, int report)
{
    json_error_t err;
    json_t *j = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (j == NULL) {
        if (report)
            printf("rejected; position %d (line %d, column %d): %s\n", err.position,
                   err.line, err.column, err.text);
        return -1;
    }
    json_decref(j);
    return 0;
}
#else
#define LIB_NAME "json-c"
#define LIB_VERSION JSON_C_VERSION
static int parse(const char *text, size_t len, int report)
{
    struct json_tokener *tok = json_tokener_new();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    struct json_object *j = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error e = json_tokener_get_error(tok);
    /* A complete value must also be the whole input. */
    int ok = j != NULL && e == json_tokener_success && json_tokener_get_parse_end(tok) == len;
    if (!ok && report)
        printf("rejected; json_tokener_get_parse_end gives byte %zu: %s\n",
               json_tokener_get_parse_end(tok), json_tokener_error_desc(e));
    json_object_put(j);
    json_tokener_free(tok);
    return ok ? 0 : -1;
}
#endif

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median seconds per parse of DOC. */
static double measure(const struct doc *d)
{
    double per[ROUNDS];
    if (parse(d->text, d->len, 1) != 0) {
        fprintf(stderr, "json_parse: %s rejected the benchmark document\n", LIB_NAME);
        exit(1);
    }
    for (int r = 0; r < ROUNDS; r++) {
        unsigned long n = 0;
        double t0 = now(), t;
        do {
            for (int k = 0; k < 8; k++)
                parse(d->text, d->len, 0);
            n += 8;
            t = now();
        } while (t - t0 < 0.2);
        per[r] = (t - t0) / (double)n;
    }
    qsort(per, ROUNDS, sizeof per[0], cmp_double);
    return per[ROUNDS / 2];
}

int main(int argc, char **argv)
{
    struct doc docs[2] = {make_doc(1024), make_doc(1 << 20)};
    const char *labels[2] = {"1 KiB", "1 MiB"};
    if (argc > 1 && strcmp(argv[1], "--header") == 0) {
        printf("%-8s %-8s %-6s %10s %10s\n", "library", "version", "doc", "MB/s", "us/doc");
        return 0;
    }
    for (int k = 0; k < 2; k++) {
        double s = measure(&docs[k]);
        printf("%-8s %-8s %-6s %10.1f %10.2f\n", LIB_NAME, LIB_VERSION, labels[k],
               (double)docs[k].len / s / 1e6, s * 1e6);
    }
    if (argc > 1 && strcmp(argv[1], "--errors") == 0) {
        /* A missing value: the error is at the '}' (byte 19). */
        const char *bad = "{\"a\": [1, 2], \"b\": }";
        printf("  %s on %s (error at byte %d): ", LIB_NAME, bad,
               (int)(strchr(bad, '}') - bad));
        if (parse(bad, strlen(bad), 1) == 0)
            printf("accepted\n");
        static const char *const invalid[] = {"[01]", "[1.]", "[\"\\x\"]", "{\"a\":1,}",
                                              "[1] x", "[\"\xff\"]", "[\"\xc0\x80\"]"};
        printf("  %s accepts invalid JSON:", LIB_NAME);
        int any = 0;
        for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
            if (parse(invalid[i], strlen(invalid[i]), 0) == 0) {
                printf(" %s", i >= 5 ? (i == 5 ? "[\"<ff>\"]" : "[\"<c0 80>\"]") : invalid[i]);
                any = 1;
            }
        }
        printf("%s\n", any ? "" : " none of the samples");
    }
    printf("  (documents: %zu and %zu bytes; median of %d rounds)\n", docs[0].len,
           docs[1].len, ROUNDS);
    free(docs[0].text);
    free(docs[1].text);
    return 0;
}
