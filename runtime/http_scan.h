/*
 * http_scan.h - the interface between the re2c scanner generated from
 * grammar/http.re and runtime/http_parse.c.  The scanner checks syntax only
 * (RFC 9110/9112 ABNF) and never writes to the buffer; http_parse.c gives
 * the pieces their meaning (Host, Content-Length, Transfer-Encoding, ...)
 * and is the only code that rewrites the buffer, and only on success.
 */
#ifndef SRV_HTTP_SCAN_H
#define SRV_HTTP_SCAN_H

#include "internal.h"

/* Fields whose meaning http_parse.c needs, recognised by the scanner's DFA
 * while it reads the name, so no name is compared twice. */
enum srv__field_kind {
    SRV__F_OTHER,             /* any other field: stored, not interpreted */
    SRV__F_HOST,              /* Host */
    SRV__F_CONTENT_LENGTH,    /* Content-Length */
    SRV__F_TRANSFER_ENCODING, /* Transfer-Encoding */
    SRV__F_CONNECTION,        /* Connection */
    SRV__F_EXPECT,            /* Expect */
    SRV__F_NKINDS
};

enum srv__target_form {
    SRV__T_ORIGIN,   /* "/path?query" */
    SRV__T_ABSOLUTE, /* "http://host:port/path?query" */
    SRV__T_ASTERISK, /* "*" (OPTIONS only) */
};

/* Path flags: which rewriting the path needs (none on the fast path). */
#define SRV__PATH_PCT 1u /* contains a percent-escape */
#define SRV__PATH_DOT 2u /* contains "/." (maybe a dot-segment) */

/* What srv__http_scan_head() found besides the headers, as views into the
 * buffer (nothing is NUL-terminated yet). */
struct srv__scan {
    const char *method;
    uint32_t method_len;
    unsigned method_bit;  /* SRV_METHOD_*, 0 for a well-formed unknown one */
    unsigned form;        /* enum srv__target_form */
    unsigned path_flags;  /* SRV__PATH_* */
    const char *target;   /* the whole request-target */
    const char *authority; /* absolute-form only */
    uint32_t authority_len;
    const char *path;     /* absolute-form may have an empty path */
    uint32_t path_len;
    const char *query;    /* NULL when there is no '?' */
    uint32_t query_len;
    uint8_t version_minor; /* 0 for HTTP/1.0, 1 for HTTP/1.1 to 1.9 */
    bool unsupported_version; /* well-formed, but not HTTP/1.x (505) */
    bool host_bad;        /* a Host value is not uri-host [":" port] */
    uint32_t count[SRV__F_NKINDS]; /* how many lines of each kind */
    uint32_t first[SRV__F_NKINDS]; /* index in h->headers of the first one */
};

/* Scans a request head: request line, field lines, the empty line.  Fills
 * S, and H->headers / H->nheaders (names and values as views, the value
 * without surrounding OWS).  Returns the head length, 0 when more bytes are
 * needed, or -400 (malformed), -414 (request line over LIM->request_line),
 * -431 (field block over LIM->header_bytes or more than LIM->header_count
 * fields), -505 (well-formed but unsupported version).  An unknown method is
 * not an error here (method_bit 0).  When the head is unfinished, its last
 * line is checked as far as it goes (srv__http_prefix): -400 if it can never
 * become valid, else 0 (or 414/431) with the check's state in H->prefix.
 * Never writes to BUF. */
int srv__http_scan_head(const char *buf, size_t len, const struct srv_limits *lim,
                        struct srv__head *h, struct srv__scan *s);

/* The request line alone, after any empty lines, exactly as
 * srv__http_scan_head() reads it: fills S's request-line fields (not the
 * field counts or host_bad).  Returns the length through the line's CRLF,
 * 0 when its LF has not arrived, -414 when it would end past
 * LIM->request_line, -400 when it is malformed.  A well-formed line with a
 * version other than HTTP/1.x is not an error here: S->unsupported_version
 * says so. */
int srv__http_scan_request_line(const char *buf, size_t len, const struct srv_limits *lim,
                                struct srv__scan *s);

/* How srv__http_scan_head() reads a head: the fast path for the usual field
 * lines and Host, with runs of path and host bytes skipped 32 at a time, on
 * the AVX2 scanners of http_simd.h when the CPU has them (chosen at
 * start-up), else with the portable ones.  Every path gives the same
 * answers and the same pieces: tests and the fuzzer switch between them to
 * check that. */
enum srv__scan_path {
    SRV__SCAN_RULES,    /* no fast path: the grammar's rules alone */
    SRV__SCAN_PORTABLE, /* the fast path, portable scanners */
    SRV__SCAN_AVX2,     /* the fast path, AVX2 scanners (when srv__simd_avx2()) */
};
extern enum srv__scan_path srv__http_scan_path;

/* One trailer field line (or the empty line ending the trailers) at
 * P[0..LEN).  Returns its length including CRLF (2 for the empty line), 0 if
 * incomplete, -400 if malformed. */
int srv__http_scan_field_line(const char *p, size_t len);

/* A chunk-size line: chunk-size [chunk-ext] CRLF.  Returns its length and
 * sets *SIZE, 0 if incomplete, -400 if malformed or the size overflows. */
int srv__http_scan_chunk_line(const char *p, size_t len, uint64_t *size);

/* Field values, whole (P[0..LEN) is the OWS-trimmed value).  Each returns
 * 0 when the value is well-formed, -400 otherwise.  (Host is checked by the
 * head scanner itself: see host_bad.) */
#define SRV__CONN_CLOSE 1u
#define SRV__CONN_KEEP_ALIVE 2u
int srv__http_scan_connection(const char *p, size_t len, unsigned *tokens);
/* Transfer-Encoding list: appends to the running state of all TE lines. */
struct srv__te {
    unsigned n;         /* codings seen */
    bool last_chunked;  /* the last coding seen is chunked */
    bool chunked_early; /* chunked appeared before another coding */
    bool unknown;       /* a coding other than chunked */
};
int srv__http_scan_te(const char *p, size_t len, struct srv__te *te);

#endif /* SRV_HTTP_SCAN_H */
