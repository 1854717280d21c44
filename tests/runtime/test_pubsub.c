/* Tests for runtime/pubsub.c: the channel registry and local delivery -
 * order, subscriptions made and ended during a delivery, publishes from
 * inside callbacks, many channels, bad names, and the transport hooks. */
#include "internal.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct srv__loop loop;

static void setup(void)
{
    ck_assert_int_eq(srv__loop_init(&loop), 0);
}

static void teardown(void)
{
    srv__pubsub_close();
    srv__loop_close(&loop);
}

/* A log of calls: "NAME:CHANNEL:MSG" joined by spaces. */
static char trace[4096];

static void note(const char *who, const char *channel, const void *msg, size_t len)
{
    size_t n = strlen(trace);
    snprintf(trace + n, sizeof trace - n, "%s%s:%s:%.*s", n ? " " : "", who, channel,
             (int)len, (const char *)msg);
}

static void rec(struct srv_subscription *sub, const char *channel, const void *msg, size_t len,
                void *arg)
{
    SRV__UNUSED(sub);
    note(arg, channel, msg, len);
}

static int pub(const char *channel, const char *msg)
{
    return srv_publish(channel, msg, strlen(msg));
}

START_TEST(subscribers_get_messages_in_subscription_order)
{
    trace[0] = '\0';
    ck_assert_int_eq(pub("news", "nobody"), 0);
    struct srv_subscription *a = srv_subscribe("news", rec, "a");
    struct srv_subscription *b = srv_subscribe("news", rec, "b");
    struct srv_subscription *c = srv_subscribe("other", rec, "c");
    ck_assert_int_eq(pub("news", "1"), 2);
    ck_assert_int_eq(pub("other", "2"), 1);
    ck_assert_int_eq(pub("news", "3"), 2);
    ck_assert_str_eq(trace, "a:news:1 b:news:1 c:other:2 a:news:3 b:news:3");
    srv_unsubscribe(a);
    ck_assert_int_eq(pub("news", "4"), 1);
    srv_unsubscribe(b);
    srv_unsubscribe(c);
    srv_unsubscribe(NULL);
    ck_assert_int_eq(pub("news", "5"), 0);
    ck_assert_uint_eq(srv__pubsub_count("news", 4), 0);
}
END_TEST

START_TEST(bad_channels_and_sizes_are_refused)
{
    char long_name[300];
    memset(long_name, 'c', sizeof long_name);
    long_name[256] = '\0'; /* 256 bytes: one too many */
    ck_assert_int_eq(srv_publish(NULL, "x", 1), -EINVAL);
    ck_assert_int_eq(srv_publish("", "x", 1), -EINVAL);
    ck_assert_int_eq(srv_publish(long_name, "x", 1), -EINVAL);
    ck_assert_int_eq(srv_publish("ok", NULL, 1), -EINVAL);
    ck_assert_int_eq(srv_publish("ok", NULL, 0), 0);
    static char big[SRV__MESSAGE_MAX + 1];
    ck_assert_int_eq(srv_publish("ok", big, sizeof big), -EMSGSIZE);
    ck_assert_int_eq(srv_publish("ok", big, SRV__MESSAGE_MAX), 0);
    errno = 0;
    ck_assert_ptr_null(srv_subscribe("", rec, NULL));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(srv_subscribe(long_name, rec, NULL));
    ck_assert_ptr_null(srv_subscribe("ok", NULL, NULL));
    long_name[255] = '\0'; /* 255 bytes: the longest */
    struct srv_subscription *s = srv_subscribe(long_name, rec, "l");
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(srv_publish(long_name, "x", 1), 1);
    srv_unsubscribe(s);
}
END_TEST

START_TEST(outside_a_worker_nothing_works)
{
    srv__loop_close(&loop);
    ck_assert_int_eq(pub("news", "x"), -EINVAL);
    errno = 0;
    ck_assert_ptr_null(srv_subscribe("news", rec, NULL));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(srv__loop_init(&loop), 0);
}
END_TEST

static struct srv_subscription *subs[8];

static void unsub_self(struct srv_subscription *sub, const char *channel, const void *msg,
                       size_t len, void *arg)
{
    note(arg, channel, msg, len);
    srv_unsubscribe(sub);
    srv_unsubscribe(sub); /* twice: still harmless inside the delivery */
}

static void unsub_next(struct srv_subscription *sub, const char *channel, const void *msg,
                       size_t len, void *arg)
{
    SRV__UNUSED(sub);
    note(arg, channel, msg, len);
    srv_unsubscribe(subs[2]);
    subs[2] = NULL;
}

START_TEST(unsubscribing_itself_or_another_during_a_delivery)
{
    trace[0] = '\0';
    subs[0] = srv_subscribe("ch", unsub_self, "a");
    subs[1] = srv_subscribe("ch", unsub_next, "b");
    subs[2] = srv_subscribe("ch", rec, "c");
    subs[3] = srv_subscribe("ch", rec, "d");
    ck_assert_int_eq(pub("ch", "1"), 3); /* a, b, d: c was ended by b */
    ck_assert_int_eq(pub("ch", "2"), 2); /* b, d: a ended itself */
    ck_assert_str_eq(trace, "a:ch:1 b:ch:1 d:ch:1 b:ch:2 d:ch:2");
    ck_assert_uint_eq(srv__pubsub_count("ch", 2), 2);
}
END_TEST

static void unsub_all(struct srv_subscription *sub, const char *channel, const void *msg,
                      size_t len, void *arg)
{
    SRV__UNUSED(sub);
    note(arg, channel, msg, len);
    for (int i = 0; i < 3; i++) {
        srv_unsubscribe(subs[i]);
        subs[i] = NULL;
    }
}

START_TEST(the_last_subscriber_leaving_during_a_delivery_removes_the_channel)
{
    trace[0] = '\0';
    subs[0] = srv_subscribe("gone", unsub_all, "a");
    subs[1] = srv_subscribe("gone", rec, "b");
    subs[2] = srv_subscribe("gone", rec, "c");
    ck_assert_int_eq(pub("gone", "1"), 1);
    ck_assert_str_eq(trace, "a:gone:1");
    ck_assert_uint_eq(srv__pubsub_count("gone", 4), 0);
    ck_assert_int_eq(pub("gone", "2"), 0);
}
END_TEST

static void sub_more(struct srv_subscription *sub, const char *channel, const void *msg,
                     size_t len, void *arg)
{
    SRV__UNUSED(sub);
    note(arg, channel, msg, len);
    if (subs[5] == NULL)
        subs[5] = srv_subscribe(channel, rec, "new");
}

START_TEST(a_subscription_made_during_a_delivery_gets_only_later_messages)
{
    trace[0] = '\0';
    subs[5] = NULL;
    srv_subscribe("s", sub_more, "a");
    srv_subscribe("s", rec, "b");
    ck_assert_int_eq(pub("s", "1"), 2);
    ck_assert_int_eq(pub("s", "2"), 3);
    ck_assert_str_eq(trace, "a:s:1 b:s:1 a:s:2 b:s:2 new:s:2");
}
END_TEST

static void republish(struct srv_subscription *sub, const char *channel, const void *msg,
                      size_t len, void *arg)
{
    SRV__UNUSED(sub);
    note(arg, channel, msg, len);
    if (len == 1 && *(const char *)msg == '1') {
        ck_assert_int_eq(pub("y", "2"), 1); /* queued for y's one subscriber */
        ck_assert_int_eq(pub("x", "3"), 2);
    }
}

START_TEST(a_publish_inside_a_callback_is_delivered_after_the_current_one)
{
    trace[0] = '\0';
    srv_subscribe("x", republish, "a");
    srv_subscribe("x", rec, "b");
    srv_subscribe("y", rec, "c");
    ck_assert_int_eq(pub("x", "1"), 2);
    /* Every subscriber sees 1 before 2 and 3, in publish order. */
    ck_assert_str_eq(trace, "a:x:1 b:x:1 c:y:2 a:x:3 b:x:3");
}
END_TEST

static int loops;
static int last_rc;

static void runaway(struct srv_subscription *sub, const char *channel, const void *msg,
                    size_t len, void *arg)
{
    SRV__UNUSED(sub);
    SRV__UNUSED(msg);
    SRV__UNUSED(len);
    SRV__UNUSED(arg);
    loops++;
    last_rc = srv_publish(channel, "again", 5);
}

START_TEST(a_callback_that_republishes_forever_is_stopped)
{
    loops = 0;
    srv_subscribe("loop", runaway, NULL);
    ck_assert_int_eq(pub("loop", "go"), 1);
    ck_assert_int_eq(loops, SRV__NESTED_PUBLISH_MAX + 1);
    ck_assert_int_eq(last_rc, -ELOOP);
    /* The next publish starts afresh. */
    loops = 0;
    ck_assert_int_eq(pub("loop", "go"), 1);
    ck_assert_int_eq(loops, SRV__NESTED_PUBLISH_MAX + 1);
}
END_TEST

static int counts[20000];

static void count_cb(struct srv_subscription *sub, const char *channel, const void *msg,
                     size_t len, void *arg)
{
    SRV__UNUSED(sub);
    SRV__UNUSED(msg);
    SRV__UNUSED(len);
    int i = (int)(intptr_t)arg;
    char want[32];
    snprintf(want, sizeof want, "chan.%d", i);
    ck_assert_str_eq(channel, want);
    counts[i]++;
}

START_TEST(many_channels_each_reach_their_own_subscribers)
{
    enum { N = 20000 };
    static struct srv_subscription *s[N];
    char name[32];
    memset(counts, 0, sizeof counts);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "chan.%d", i);
        s[i] = srv_subscribe(name, count_cb, (void *)(intptr_t)i);
        ck_assert_ptr_nonnull(s[i]);
    }
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "chan.%d", i);
        ck_assert_int_eq(srv_publish(name, "m", 1), 1);
    }
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(counts[i], 1);
    for (int i = 0; i < N; i += 2)
        srv_unsubscribe(s[i]);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "chan.%d", i);
        ck_assert_int_eq(srv_publish(name, "m", 1), i % 2);
    }
    /* The rest are freed by srv__pubsub_close (teardown; LeakSanitizer). */
}
END_TEST

/* A transport that writes down what it is asked. */
static char hooks[1024];

static void hook_note(const char *what, const char *channel, size_t len)
{
    size_t n = strlen(hooks);
    snprintf(hooks + n, sizeof hooks - n, "%s%s:%.*s", n ? " " : "", what, (int)len, channel);
    ck_assert_uint_eq(strlen(channel), len); /* NUL-terminated */
}

static void fake_publish(const char *channel, size_t chlen, const void *msg, size_t len)
{
    SRV__UNUSED(msg);
    SRV__UNUSED(len);
    hook_note("pub", channel, chlen);
}

static void fake_on(const char *channel, size_t len)
{
    hook_note("on", channel, len);
}

static void fake_off(const char *channel, size_t len)
{
    hook_note("off", channel, len);
}

static const struct srv__pubsub_backend fake = {fake_publish, fake_on, fake_off};

START_TEST(the_transport_hears_of_first_and_last_subscribers_and_every_publish)
{
    hooks[0] = trace[0] = '\0';
    srv__pubsub_set_backend(&fake);
    struct srv_subscription *a = srv_subscribe("t", rec, "a");
    struct srv_subscription *b = srv_subscribe("t", rec, "b");
    pub("t", "1");
    pub("u", "2");
    ck_assert_int_eq(srv__pubsub_deliver("t", 1, "from-elsewhere", 14), 2);
    srv_unsubscribe(a);
    srv_unsubscribe(b);
    subs[0] = srv_subscribe("v", unsub_all, "x"); /* leaves during its delivery */
    subs[1] = subs[2] = NULL;
    pub("v", "3");
    ck_assert_str_eq(hooks, "on:t pub:t pub:u off:t on:v pub:v off:v");
    ck_assert_str_eq(trace, "a:t:1 b:t:1 a:t:from-elsewhere b:t:from-elsewhere x:v:3");
    srv__pubsub_set_backend(NULL);
}
END_TEST

static void list_one(const char *channel, size_t len, void *arg)
{
    (*(int *)arg)++;
    hook_note("ch", channel, len);
}

START_TEST(each_lists_the_channels_with_subscribers)
{
    srv_subscribe("one", rec, NULL);
    srv_subscribe("two", rec, NULL);
    srv_unsubscribe(srv_subscribe("three", rec, NULL));
    hooks[0] = '\0';
    int n = 0;
    srv__pubsub_each(list_one, &n);
    ck_assert_int_eq(n, 2);
    ck_assert_ptr_nonnull(strstr(hooks, "ch:one"));
    ck_assert_ptr_nonnull(strstr(hooks, "ch:two"));
}
END_TEST

static Suite *pubsub_suite(void)
{
    Suite *s = suite_create("runtime/pubsub");
    TCase *tc = tcase_create("registry");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, subscribers_get_messages_in_subscription_order);
    tcase_add_test(tc, bad_channels_and_sizes_are_refused);
    tcase_add_test(tc, outside_a_worker_nothing_works);
    tcase_add_test(tc, many_channels_each_reach_their_own_subscribers);
    suite_add_tcase(s, tc);
    tc = tcase_create("delivery");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, unsubscribing_itself_or_another_during_a_delivery);
    tcase_add_test(tc, the_last_subscriber_leaving_during_a_delivery_removes_the_channel);
    tcase_add_test(tc, a_subscription_made_during_a_delivery_gets_only_later_messages);
    tcase_add_test(tc, a_publish_inside_a_callback_is_delivered_after_the_current_one);
    tcase_add_test(tc, a_callback_that_republishes_forever_is_stopped);
    suite_add_tcase(s, tc);
    tc = tcase_create("transport");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, the_transport_hears_of_first_and_last_subscribers_and_every_publish);
    tcase_add_test(tc, each_lists_the_channels_with_subscribers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pubsub_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
