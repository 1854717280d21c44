/*
 * metrics.c - `metrics "/metrics";`: what the whole server has done, for
 * Prometheus.  Every worker counts into a slot of its own in one mapping of
 * shared memory that the master makes before the first fork, so a scrape
 * answered by any worker sums every worker, and a worker that dies leaves
 * its counts behind for its replacement (same id, same slot) to go on
 * from.  A single process has the same mapping with one slot.
 *
 * Layout: a header the master alone writes (worker restarts), then one
 * struct srv__metrics_slot per worker id, each on cache lines of its own so
 * that two workers counting never share a line.  A slot has exactly one
 * writer - its worker, with plain increments on the request path (conn.c):
 * no lock, no atomic read-modify-write, no fence.  The reader loads each
 * 8-byte field with a relaxed atomic load; on the targets srv supports an
 * aligned 8-byte store is single-copy atomic, so a scrape may see a count
 * from just before an increment but never a torn one.  Fields of a slot are
 * not read as one snapshot: a histogram's _sum may miss the latency of the
 * one request whose bucket was just counted (_count is the buckets' sum),
 * which Prometheus's rate() absorbs.
 *
 * Counting is the request path's business and costs about 20 instructions
 * a request (README, "Metrics"): straight-line code in conn.c where the
 * response is queued, over tables each slot carries (internal.h).  Latency
 * is counted in ticks (internal.h, srv__ticks): where the kernel keeps time
 * by the CPU's time-stamp counter, it is read in one instruction (a
 * clock_gettime through the vDSO costs several times that, and under
 * valgrind a system call), so a request costs one such read, at its end
 * (its start is the loop iteration's reading).  How long a tick is, is
 * measured once before the workers fork, against CLOCK_MONOTONIC; the
 * bucket bounds are turned into ticks then, and the sums back into seconds
 * when rendered.  Elsewhere a tick is a nanosecond of CLOCK_MONOTONIC.
 *
 * A reload (SIGHUP, reload.c) starts a new generation of the server: a new
 * process with a mapping of its own, so its counters start from zero, as
 * after a restart, which Prometheus's rate() and increase() take in their
 * stride; srv_reloads_total says how many generations came before.
 *
 * Rendering (not the request path) writes the Prometheus text format,
 * version 0.0.4: # HELP and # TYPE for each family, counters ending in
 * _total, the latency histogram's cumulative _bucket{le=...} series ending
 * in +Inf, its _sum and _count.
 */
#include "internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

/* 50 us to 10 s in the 1-2.5-5 steps Prometheus's own defaults use, from
 * where a fast handler answers to where a client gives up. */
const uint64_t srv__metrics_bounds_us[SRV__METRICS_BOUNDS] = {
    50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
    1000000, 2500000, 5000000, 10000000,
};
/* The same bounds as `le` label values, in seconds. */
static const char *const bound_text[SRV__METRICS_BOUNDS] = {
    "0.00005", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
    "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10",
};

uint64_t srv__metrics_bounds_ticks[SRV__METRICS_BOUNDS];
/* The slots' tables (see internal.h), made once by srv__metrics_create. */
static uint8_t table_lo[64];
static uint64_t table_mid[64];

struct shared {
    /* Written by the master only, on a line of its own before the slots. */
    uint64_t restarts;
    uint32_t nslots;
    double ns_per_tick;
    struct srv__metrics_slot slots[];
};

static struct shared *shm;
static size_t shm_size;
static struct srv__metrics_slot *mine;

static bool clock_only; /* srv__metrics_use_clock() */

void srv__metrics_use_clock(bool on)
{
    clock_only = on;
}

uint64_t srv__metrics_ticks(uint64_t us)
{
    double ns_per_tick = shm != NULL ? shm->ns_per_tick : 1.0;
    return (uint64_t)((double)us * 1000.0 / ns_per_tick + 0.5);
}

static unsigned high_bit(uint64_t v)
{
    return 63u - (unsigned)__builtin_clzll(v | 1);
}

/* The bounds in ticks and the bucket tables (see internal.h).  Each
 * bound is at least twice the one before, so two never share a power of
 * two - unless rounding to ticks made one a tick short of the next power:
 * then it moves up that tick. */
static void bucket_tables(void)
{
    uint64_t *t = srv__metrics_bounds_ticks;
    for (unsigned i = 0; i < SRV__METRICS_BOUNDS; i++) {
        t[i] = srv__metrics_ticks(srv__metrics_bounds_us[i]);
        if (i > 0 && high_bit(t[i]) == high_bit(t[i - 1]))
            t[i] = (uint64_t)2 << high_bit(t[i - 1]);
    }
    for (unsigned k = 0; k < 64; k++) {
        uint64_t low = (uint64_t)1 << k;
        unsigned below = 0;
        while (below < SRV__METRICS_BOUNDS && t[below] < low)
            below++;
        table_lo[k] = (uint8_t)below;
        table_mid[k] = below < SRV__METRICS_BOUNDS && high_bit(t[below]) == k ? t[below]
                                                                              : UINT64_MAX;
    }
}

int srv__metrics_create(int workers)
{
    if (workers < 1)
        workers = 1;
    size_t size = sizeof(struct shared) + (size_t)workers * sizeof(struct srv__metrics_slot);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    shm = p; /* zeroed by the kernel */
    shm_size = size;
    shm->nslots = (uint32_t)workers;
    srv__ticks_calibrate(clock_only);
    shm->ns_per_tick = srv__ns_per_tick;
    bucket_tables();
    return 0;
}

void srv__metrics_destroy(void)
{
    if (shm != NULL)
        munmap(shm, shm_size);
    shm = NULL;
    mine = NULL;
    srv__loop_ticks_on = false;
}

struct srv__metrics_slot *srv__metrics_attach(int id)
{
    if (shm == NULL || id < 0 || (uint32_t)id >= shm->nslots)
        return NULL;
    mine = &shm->slots[id];
    __atomic_store_n(&mine->connections, 0, __ATOMIC_RELAXED);
    mine->tsc = srv__ticks_tsc;
    memcpy(mine->lo, table_lo, sizeof mine->lo);
    memcpy(mine->mid, table_mid, sizeof mine->mid);
    for (unsigned s = 0; s < sizeof mine->row; s++)
        mine->row[s] = (uint8_t)SRV__METRICS_ROW(s < 600 ? s : 599); /* 600 on: never set */
    srv__loop_ticks_on = true; /* request latencies start from the loop's reading */
    return mine;
}

void srv__metrics_restarted(void)
{
    if (shm != NULL)
        __atomic_store_n(&shm->restarts, shm->restarts + 1, __ATOMIC_RELAXED);
}

/* ---- Reading ---------------------------------------------------------------- */

static uint64_t load(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Every slot summed. */
static void sum_slots(struct srv__metrics_slot *t)
{
    memset(t, 0, sizeof *t);
    for (uint32_t i = 0; i < shm->nslots; i++) {
        const struct srv__metrics_slot *s = &shm->slots[i];
        for (unsigned r = 1; r <= 5; r++) {
            for (unsigned b = 0; b <= SRV__METRICS_BOUNDS; b++)
                t->counts[r * 32 + SRV__METRICS_BUCKET(b)] +=
                    load(&s->counts[r * 32 + SRV__METRICS_BUCKET(b)]);
            t->counts[r * 32 + SRV__METRICS_SUM] += load(&s->counts[r * 32 + SRV__METRICS_SUM]);
        }
        t->bytes_in += load(&s->bytes_in);
        t->bytes_out += load(&s->bytes_out);
        t->connections += load(&s->connections);
    }
}

/* The text being built, in the request arena. */
struct text {
    struct srv__arena *arena;
    char *buf;
    size_t len, cap;
};

static void add(struct text *t, const char *fmt, ...) SRV_PRINTF(2, 3);
static void add(struct text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2;
        char *grown = srv__arena_alloc(t->arena, cap);
        memcpy(grown, t->buf, t->len);
        t->buf = grown;
        t->cap = cap;
    }
}

/* "# HELP" and "# TYPE" of a family (the texts need no escaping). */
static void family(struct text *t, const char *name, const char *type, const char *help)
{
    add(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *const class_label[5] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

int srv__metrics_render(struct srv_response *res)
{
    if (shm == NULL)
        return -ENODEV;
    struct srv__metrics_slot all;
    sum_slots(&all);
    struct text t = {res->arena, NULL, 0, 16384};
    t.buf = srv__arena_alloc(t.arena, t.cap);

    family(&t, "srv_info", "gauge", "The srv runtime serving these metrics.");
    add(&t, "srv_info{version=\"%s\"} 1\n", SRV_VERSION);
    family(&t, "srv_workers", "gauge", "Worker processes whose counters are summed here.");
    add(&t, "srv_workers %" PRIu32 "\n", shm->nslots);

    uint64_t count[5];
    for (unsigned c = 0; c < 5; c++) {
        count[c] = 0;
        for (unsigned b = 0; b <= SRV__METRICS_BOUNDS; b++)
            count[c] += all.counts[(c + 1) * 32 + SRV__METRICS_BUCKET(b)];
    }
    family(&t, "srv_http_requests_total", "counter",
           "HTTP responses queued, by status class (every response the server made, its "
           "own errors included).");
    for (unsigned c = 0; c < 5; c++)
        add(&t, "srv_http_requests_total{class=\"%s\"} %" PRIu64 "\n", class_label[c], count[c]);

    family(&t, "srv_http_request_duration_seconds", "histogram",
           "Time from the loop iteration that read a request's first bytes to its response "
           "being queued, by status class.");
    for (unsigned c = 0; c < 5; c++) {
        uint64_t cum = 0;
        for (unsigned b = 0; b < SRV__METRICS_BOUNDS; b++) {
            cum += all.counts[(c + 1) * 32 + SRV__METRICS_BUCKET(b)];
            add(&t, "srv_http_request_duration_seconds_bucket{class=\"%s\",le=\"%s\"} %" PRIu64
                    "\n", class_label[c], bound_text[b], cum);
        }
        add(&t, "srv_http_request_duration_seconds_bucket{class=\"%s\",le=\"+Inf\"} %" PRIu64
                "\n", class_label[c], count[c]);
        add(&t, "srv_http_request_duration_seconds_sum{class=\"%s\"} %.9f\n", class_label[c],
            (double)all.counts[(c + 1) * 32 + SRV__METRICS_SUM] * shm->ns_per_tick / 1e9);
        add(&t, "srv_http_request_duration_seconds_count{class=\"%s\"} %" PRIu64 "\n",
            class_label[c], count[c]);
    }

    family(&t, "srv_connections_open", "gauge", "Client connections open now.");
    add(&t, "srv_connections_open %" PRIu64 "\n", all.connections);
    family(&t, "srv_received_bytes_total", "counter",
           "Bytes of requests read (heads and bodies as sent).");
    add(&t, "srv_received_bytes_total %" PRIu64 "\n", all.bytes_in);
    family(&t, "srv_sent_bytes_total", "counter",
           "Bytes of responses queued (heads, bodies and event-stream events).");
    add(&t, "srv_sent_bytes_total %" PRIu64 "\n", all.bytes_out);
    family(&t, "srv_worker_restarts_total", "counter",
           "Workers the master started again after one died.");
    add(&t, "srv_worker_restarts_total %" PRIu64 "\n", load(&shm->restarts));
    family(&t, "srv_reloads_total", "counter",
           "Reloads (SIGHUP) since the server started: generations before this one.");
    add(&t, "srv_reloads_total %" PRIu64 "\n", (uint64_t)srv__generation);

    srv_response_set_content_type(res, "text/plain; version=0.0.4; charset=utf-8");
    srv_response_body_static(res, t.buf, t.len); /* arena memory: lives as long as the response */
    return 0;
}

void srv_metrics_serve(struct srv_request *req, struct srv_response *res)
{
    SRV__UNUSED(req);
    if (srv__metrics_render(res) < 0)
        srv__response_fail(res, "srv_metrics_serve",
                           "metrics are off (the server has no `metrics` directive)");
}
