/*
 * pubsub.c - publish/subscribe inside one worker: the registry of channels
 * (a hash table, channel name -> list of subscriptions) and the delivery of
 * messages to the subscribers of this worker.  What crosses process
 * boundaries is a transport's job, reached through struct
 * srv__pubsub_backend: bus.c between the workers of one server, redis.c
 * between servers.  This file knows neither.
 *
 * Delivery is synchronous: srv_publish() calls every local subscriber
 * before it returns, in the order they subscribed.  Subscriber callbacks
 * may do anything the API allows, so the registry is written for it:
 *
 *   - unsubscribing (itself or any other subscription) during a delivery
 *     only marks the subscription; the marked ones get no further call and
 *     are freed once no delivery on their channel is under way;
 *   - a subscription made during a delivery is appended after the ones
 *     being called and does not get the message under way, only later ones;
 *   - a publish made during a delivery is not delivered recursively but
 *     queued (copied) and delivered once the current delivery is over, in
 *     publish order.  So every subscriber of a worker sees that worker's
 *     messages in the order srv_publish() was called, however callbacks
 *     nest, and the stack does not grow.  Such a publish is sent to the
 *     transport at once (its order there is its call order too) and returns
 *     the number of local subscribers the message is queued for.  One
 *     delivery accepts SRV__NESTED_PUBLISH_MAX publishes from callbacks;
 *     past that srv_publish() returns -ELOOP: a callback that publishes on
 *     its own channel would otherwise never let the worker go.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct channel;

struct srv_subscription {
    struct channel *ch;
    struct srv_subscription *prev, *next;
    srv_message_fn fn;
    void *arg;
    bool dead; /* unsubscribed during a delivery: freed after it */
};

struct channel {
    struct channel *next; /* in its bucket */
    uint64_t hash;
    struct srv_subscription *head, *tail;
    unsigned live;       /* subscriptions not unsubscribed */
    unsigned delivering; /* deliveries under way on this channel */
    bool has_dead;
    bool announced;      /* the transport was told channel_on */
    size_t len;
    char name[];         /* NUL-terminated */
};

/* A publish made during a delivery, waiting for it to end. */
struct queued {
    struct queued *next;
    size_t chlen, len;
    char *msg;   /* after the channel's NUL */
    char data[]; /* channel, NUL, message */
};

static struct {
    struct channel **buckets;
    size_t nbuckets, nchannels;
    const struct srv__pubsub_backend *backend;
    bool delivering;      /* some delivery is under way */
    unsigned nested;      /* publishes queued during the current delivery */
    struct queued *qhead, *qtail;
} reg;

static uint64_t hash_name(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211u;
    return h;
}

static struct channel *find(const char *name, size_t len, uint64_t h)
{
    if (reg.nbuckets == 0)
        return NULL;
    for (struct channel *c = reg.buckets[h & (reg.nbuckets - 1)]; c; c = c->next)
        if (c->hash == h && c->len == len && memcmp(c->name, name, len) == 0)
            return c;
    return NULL;
}

static void grow(void)
{
    size_t n = reg.nbuckets ? 2 * reg.nbuckets : 64;
    struct channel **b = srv__xcalloc(n, sizeof *b);
    for (size_t i = 0; i < reg.nbuckets; i++) {
        struct channel *c = reg.buckets[i];
        while (c) {
            struct channel *next = c->next;
            c->next = b[c->hash & (n - 1)];
            b[c->hash & (n - 1)] = c;
            c = next;
        }
    }
    free(reg.buckets);
    reg.buckets = b;
    reg.nbuckets = n;
}

static struct channel *add_channel(const char *name, size_t len, uint64_t h)
{
    if (reg.nchannels >= reg.nbuckets)
        grow();
    struct channel *c = srv__xcalloc(1, sizeof *c + len + 1);
    c->hash = h;
    c->len = len;
    memcpy(c->name, name, len);
    struct channel **b = &reg.buckets[h & (reg.nbuckets - 1)];
    c->next = *b;
    *b = c;
    reg.nchannels++;
    return c;
}

/* Removes C, which has no live subscription and no delivery under way. */
static void drop_channel(struct channel *c)
{
    struct channel **p = &reg.buckets[c->hash & (reg.nbuckets - 1)];
    while (*p != c)
        p = &(*p)->next;
    *p = c->next;
    reg.nchannels--;
    if (c->announced && reg.backend && reg.backend->channel_off)
        reg.backend->channel_off(c->name, c->len);
    free(c);
}

static void unlink_sub(struct channel *c, struct srv_subscription *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        c->head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        c->tail = s->prev;
}

/* Frees the subscriptions unsubscribed during deliveries on C, and C itself
 * once nobody is left. */
static void sweep(struct channel *c)
{
    if (c->has_dead) {
        c->has_dead = false;
        struct srv_subscription *s = c->head;
        while (s) {
            struct srv_subscription *next = s->next;
            if (s->dead) {
                unlink_sub(c, s);
                free(s);
            }
            s = next;
        }
    }
    if (c->live == 0)
        drop_channel(c);
}

/* Calls C's subscribers, as of now, with MSG; returns how many. */
static int deliver_to(struct channel *c, const void *msg, size_t len)
{
    int n = 0;
    struct srv_subscription *last = c->tail; /* later subscribers wait for the next message */
    c->delivering++;
    for (struct srv_subscription *s = c->head; s; s = s->next) {
        if (!s->dead) {
            s->fn(s, c->name, msg, len, s->arg);
            n++;
        }
        if (s == last)
            break;
    }
    if (--c->delivering == 0 && (c->has_dead || c->live == 0))
        sweep(c);
    return n;
}

static int queue(const char *channel, size_t chlen, const void *msg, size_t len,
                 struct channel *c)
{
    if (reg.nested >= SRV__NESTED_PUBLISH_MAX)
        return -ELOOP;
    reg.nested++;
    struct queued *q = srv__xmalloc(sizeof *q + chlen + 1 + len);
    q->next = NULL;
    q->chlen = chlen;
    q->len = len;
    memcpy(q->data, channel, chlen);
    q->data[chlen] = '\0';
    q->msg = q->data + chlen + 1;
    if (len)
        memcpy(q->msg, msg, len);
    if (reg.qtail)
        reg.qtail->next = q;
    else
        reg.qhead = q;
    reg.qtail = q;
    return c ? (int)c->live : 0;
}

/* Delivers now, or queues when called from inside a delivery. */
static int deliver(const char *channel, size_t chlen, const void *msg, size_t len)
{
    uint64_t h = hash_name(channel, chlen);
    struct channel *c = find(channel, chlen, h);
    if (reg.delivering)
        return queue(channel, chlen, msg, len, c);
    reg.delivering = true;
    reg.nested = 0;
    int n = c ? deliver_to(c, msg, len) : 0;
    struct queued *q;
    while ((q = reg.qhead) != NULL) {
        reg.qhead = q->next;
        if (reg.qhead == NULL)
            reg.qtail = NULL;
        c = find(q->data, q->chlen, hash_name(q->data, q->chlen));
        if (c)
            deliver_to(c, q->msg, q->len);
        free(q);
    }
    reg.delivering = false;
    return n;
}

/* The length of a valid channel name, or 0. */
static size_t channel_len(const char *channel)
{
    if (channel == NULL)
        return 0;
    size_t n = strnlen(channel, SRV__CHANNEL_MAX + 1);
    return n > SRV__CHANNEL_MAX ? 0 : n;
}

int srv_publish(const char *channel, const void *msg, size_t len)
{
    size_t chlen = channel_len(channel);
    if (chlen == 0 || (msg == NULL && len > 0) || srv__loop_current() == NULL)
        return -EINVAL;
    if (len > SRV__MESSAGE_MAX)
        return -EMSGSIZE;
    if (reg.delivering && reg.nested >= SRV__NESTED_PUBLISH_MAX)
        return -ELOOP;
    if (reg.backend)
        reg.backend->publish(channel, chlen, msg, len);
    return deliver(channel, chlen, msg, len);
}

int srv__pubsub_deliver(const char *channel, size_t chlen, const void *msg, size_t len)
{
    return deliver(channel, chlen, msg, len);
}

struct srv_subscription *srv_subscribe(const char *channel, srv_message_fn fn, void *arg)
{
    size_t chlen = channel_len(channel);
    if (chlen == 0 || fn == NULL || srv__loop_current() == NULL) {
        errno = EINVAL;
        return NULL;
    }
    uint64_t h = hash_name(channel, chlen);
    struct channel *c = find(channel, chlen, h);
    if (c == NULL)
        c = add_channel(channel, chlen, h);
    struct srv_subscription *s = srv__xcalloc(1, sizeof *s);
    s->ch = c;
    s->fn = fn;
    s->arg = arg;
    s->prev = c->tail;
    if (c->tail)
        c->tail->next = s;
    else
        c->head = s;
    c->tail = s;
    c->live++;
    if (!c->announced) {
        c->announced = true;
        if (reg.backend && reg.backend->channel_on)
            reg.backend->channel_on(c->name, c->len);
    }
    return s;
}

void srv_unsubscribe(struct srv_subscription *s)
{
    if (s == NULL || s->dead)
        return;
    struct channel *c = s->ch;
    s->dead = true;
    c->live--;
    if (c->delivering) {
        c->has_dead = true; /* the delivery loop may be standing on it */
        return;
    }
    unlink_sub(c, s);
    free(s);
    if (c->live == 0)
        drop_channel(c);
}

void srv__pubsub_set_backend(const struct srv__pubsub_backend *b)
{
    reg.backend = b;
}

unsigned srv__pubsub_count(const char *channel, size_t chlen)
{
    struct channel *c = find(channel, chlen, hash_name(channel, chlen));
    return c ? c->live : 0;
}

void srv__pubsub_each(void (*fn)(const char *channel, size_t chlen, void *arg), void *arg)
{
    for (size_t i = 0; i < reg.nbuckets; i++)
        for (struct channel *c = reg.buckets[i]; c; c = c->next)
            if (c->live > 0)
                fn(c->name, c->len, arg);
}

void srv__pubsub_close(void)
{
    reg.backend = NULL;
    for (size_t i = 0; i < reg.nbuckets; i++) {
        struct channel *c = reg.buckets[i];
        while (c) {
            struct channel *next = c->next;
            struct srv_subscription *s = c->head;
            while (s) {
                struct srv_subscription *sn = s->next;
                free(s);
                s = sn;
            }
            free(c);
            c = next;
        }
    }
    free(reg.buckets);
    while (reg.qhead) {
        struct queued *q = reg.qhead;
        reg.qhead = q->next;
        free(q);
    }
    memset(&reg, 0, sizeof reg);
}
