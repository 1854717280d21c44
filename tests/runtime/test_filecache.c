/* Tests for runtime/filecache.c: entries for files (with their
 * precompressed siblings and formatted headers), directories and failures;
 * freshness after changes on disk; bounds; and files pinned by responses
 * outliving their entries.  Each test gets a fresh temporary directory. */
#include "internal.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp[64];
static int dirfd_ = -1;

static void write_file(const char *name, const char *data, size_t len)
{
    int fd = openat(dirfd_, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void write_text(const char *name, const char *text)
{
    write_file(name, text, strlen(text));
}

static void write_size(const char *name, size_t size)
{
    char *b = malloc(size);
    for (size_t i = 0; i < size; i++)
        b[i] = (char)('a' + i % 26);
    write_file(name, b, size);
    free(b);
}

static void setup(void)
{
    strcpy(tmp, "/tmp/srv-filecache-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    int fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    dirfd_ = fd;
    srv__time_update();
    write_text("hello.txt", "Hello, World!");
    write_text("site.css", "body{color:red}\n");
    write_text("site.css.gz", "GZ");
    write_text("site.css.br", "BR");
    write_size("big.bin", SRV__FILE_INLINE_MAX + 1);
    ck_assert_int_eq(mkdirat(dirfd_, "dir", 0755), 0);
}

static int rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void teardown(void)
{
    srv__filecache_clear();
    close(dirfd_);
    nftw(tmp, rm, 16, FTW_DEPTH | FTW_PHYS);
}

static const struct srv__cached *get(const char *key)
{
    return srv__filecache_get(0, dirfd_, key, strlen(key));
}

/* The header lines of F as a string. */
static const char *hdr(const struct srv__file *f, size_t len)
{
    static char buf[1024];
    memcpy(buf, f->hdr, len);
    buf[len] = '\0';
    return buf;
}

START_TEST(small_file_is_kept_in_memory_with_its_headers)
{
    const struct srv__cached *e = get("hello.txt");
    ck_assert_int_eq(e->kind, SRV__CACHED_FILE);
    ck_assert_int_eq(e->codings, 0);
    const struct srv__file *f = e->file[SRV__CODING_IDENTITY];
    ck_assert_int_eq(f->fd, -1);
    ck_assert_uint_eq(f->size, 13);
    ck_assert_int_eq(memcmp(f->data, "Hello, World!", 13), 0);
    struct stat st;
    ck_assert_int_eq(fstatat(dirfd_, "hello.txt", &st, 0), 0);
    char want[256], date[SRV__DATE_LEN + 1];
    srv__date_format(date, st.st_mtim.tv_sec);
    snprintf(want, sizeof want, "ETag: \"%llx-d-%lx\"\r\nLast-Modified: %s\r\n",
             (unsigned long long)st.st_mtim.tv_sec, (unsigned long)st.st_mtim.tv_nsec, date);
    ck_assert_str_eq(hdr(f, f->hdr_304_len), want);
    strcat(want, "Content-Type: text/plain; charset=utf-8\r\nAccept-Ranges: bytes\r\n");
    ck_assert_str_eq(hdr(f, f->hdr_len), want);
    ck_assert_int_eq(memcmp(f->etag, "ETag: ", 0), 0);
    ck_assert_int_eq(f->etag[0], '"');
    ck_assert_int_eq(f->etag[f->etag_len - 1], '"');
    ck_assert_int_eq(f->mtime, st.st_mtim.tv_sec);
    ck_assert_int_eq(memcmp(f->type, "text/plain; charset=utf-8", f->type_len), 0);
}
END_TEST

START_TEST(large_file_keeps_its_descriptor)
{
    const struct srv__file *f = get("big.bin")->file[0];
    ck_assert_int_ge(f->fd, 0);
    ck_assert_ptr_null(f->data);
    ck_assert_uint_eq(f->size, SRV__FILE_INLINE_MAX + 1);
    struct srv__filecache_stats st;
    srv__filecache_stats(&st);
    ck_assert_uint_eq(st.fds, 1);
    ck_assert_uint_eq(st.bytes, 0);
}
END_TEST

START_TEST(siblings_are_variants_with_vary_and_their_own_etag)
{
    const struct srv__cached *e = get("site.css");
    ck_assert_int_eq(e->kind, SRV__CACHED_FILE);
    ck_assert_int_eq(e->codings, (1 << SRV__CODING_BR) | (1 << SRV__CODING_GZIP));
    ck_assert_ptr_null(e->file[SRV__CODING_ZSTD]);
    const struct srv__file *id = e->file[0], *br = e->file[SRV__CODING_BR],
                           *gz = e->file[SRV__CODING_GZIP];
    ck_assert_ptr_nonnull(strstr(hdr(id, id->hdr_304_len), "Vary: Accept-Encoding\r\n"));
    ck_assert_ptr_null(strstr(hdr(id, id->hdr_len), "Content-Encoding"));
    ck_assert_ptr_nonnull(strstr(hdr(br, br->hdr_304_len), "Vary: Accept-Encoding\r\n"));
    ck_assert_ptr_nonnull(strstr(hdr(br, br->hdr_len), "Content-Encoding: br\r\n"));
    ck_assert_ptr_nonnull(strstr(hdr(br, br->hdr_len), "Content-Type: text/css; charset=utf-8"));
    ck_assert_ptr_nonnull(strstr(hdr(gz, gz->hdr_len), "Content-Encoding: gzip\r\n"));
    ck_assert_int_eq(memcmp(br->data, "BR", 2), 0);
    ck_assert_int_eq(memcmp(gz->data, "GZ", 2), 0);
    ck_assert(br->etag_len != id->etag_len || memcmp(br->etag, id->etag, id->etag_len) != 0);
    ck_assert(br->etag_len != gz->etag_len || memcmp(br->etag, gz->etag, gz->etag_len) != 0);
    ck_assert_int_eq(memcmp(br->etag + br->etag_len - 4, "-br\"", 4), 0);
    ck_assert_int_eq(memcmp(gz->etag + gz->etag_len - 4, "-gz\"", 4), 0);
}
END_TEST

START_TEST(directories_failures_and_special_files)
{
    ck_assert_int_eq(get("dir")->kind, SRV__CACHED_DIR);
    const struct srv__cached *e = get("missing.txt");
    ck_assert_int_eq(e->kind, SRV__CACHED_ERROR);
    ck_assert_int_eq(e->status, 404);
    ck_assert_int_eq(get("hello.txt/x")->status, 404);
    ck_assert_int_eq(mkfifoat(dirfd_, "fifo", 0644), 0);
    e = get("fifo"); /* O_NONBLOCK: opening it does not wait for a writer */
    ck_assert_int_eq(e->kind, SRV__CACHED_ERROR);
    ck_assert_int_eq(e->status, 404);
    ck_assert_int_eq(symlinkat("/etc/passwd", dirfd_, "out"), 0);
    ck_assert_int_eq(get("out")->status, 404);
    ck_assert_int_eq(symlinkat("hello.txt", dirfd_, "in"), 0);
    ck_assert_int_eq(get("in")->kind, SRV__CACHED_FILE);
    struct srv__filecache_stats st;
    srv__filecache_stats(&st);
    ck_assert_uint_eq(st.negative, 4);
    ck_assert_uint_eq(st.entries, 2);
}
END_TEST

START_TEST(unreadable_file_is_403)
{
    write_text("secret.txt", "x");
    ck_assert_int_eq(fchmodat(dirfd_, "secret.txt", 0, 0), 0);
    bool was_root = geteuid() == 0;
    if (was_root) {
        ck_assert_int_eq(chmod(tmp, 0755), 0);
        ck_assert_int_eq(seteuid(65534), 0);
    }
    const struct srv__cached *e = get("secret.txt");
    ck_assert_int_eq(e->kind, SRV__CACHED_ERROR);
    ck_assert_int_eq(e->status, 403);
    if (was_root)
        ck_assert_int_eq(seteuid(0), 0);
}
END_TEST

START_TEST(a_hit_is_the_same_entry_until_it_is_a_second_old)
{
    const struct srv__cached *e = get("hello.txt");
    write_text("hello.txt", "Changed!");
    ck_assert_ptr_eq(get("hello.txt"), e);
    ck_assert_uint_eq(get("hello.txt")->file[0]->size, 13);
    srv__filecache_age(1000);
    const struct srv__cached *e2 = get("hello.txt");
    ck_assert_uint_eq(e2->file[0]->size, 8);
    ck_assert_int_eq(memcmp(e2->file[0]->data, "Changed!", 8), 0);
}
END_TEST

START_TEST(an_unchanged_file_survives_the_check)
{
    const struct srv__file *f = get("site.css")->file[0];
    srv__filecache_age(5000);
    ck_assert_ptr_eq(get("site.css")->file[0], f);
}
END_TEST

START_TEST(a_file_renamed_over_with_the_same_size_and_time_is_seen)
{
    const struct srv__file *f = get("hello.txt")->file[0];
    struct timespec times[2] = {f->mtim, f->mtim};
    write_text("new.txt", "Hullo, World!");
    ck_assert_int_eq(utimensat(dirfd_, "new.txt", times, 0), 0);
    ck_assert_int_eq(renameat(dirfd_, "new.txt", dirfd_, "hello.txt"), 0);
    srv__filecache_age(1000);
    const struct srv__file *g = get("hello.txt")->file[0];
    ck_assert_int_eq(memcmp(g->data, "Hullo, World!", 13), 0);
}
END_TEST

START_TEST(siblings_appearing_and_files_appearing_are_seen)
{
    ck_assert_int_eq(get("hello.txt")->codings, 0);
    ck_assert_int_eq(get("later.txt")->status, 404);
    write_text("hello.txt.zst", "ZS");
    write_text("later.txt", "now");
    srv__filecache_age(1000);
    ck_assert_int_eq(get("hello.txt")->codings, 1 << SRV__CODING_ZSTD);
    ck_assert_int_eq(get("later.txt")->kind, SRV__CACHED_FILE);
    ck_assert_int_eq(unlinkat(dirfd_, "hello.txt.zst", 0), 0);
    ck_assert_int_eq(unlinkat(dirfd_, "later.txt", 0), 0);
    srv__filecache_age(1000);
    ck_assert_int_eq(get("hello.txt")->codings, 0);
    ck_assert_int_eq(get("later.txt")->status, 404);
}
END_TEST

START_TEST(a_pinned_file_outlives_its_entry)
{
    struct srv__file *small = get("hello.txt")->file[0];
    struct srv__file *big = get("big.bin")->file[0];
    small->refs++;
    big->refs++;
    srv__filecache_clear();
    /* The cache is gone; the responses' references still work. */
    ck_assert_int_eq(memcmp(small->data, "Hello, World!", 13), 0);
    char c;
    ck_assert_int_eq(pread(big->fd, &c, 1, 0), 1);
    ck_assert_int_eq(c, 'a');
    int fd = big->fd;
    srv__file_unref(small);
    srv__file_unref(big);
    ck_assert_int_eq(fcntl(fd, F_GETFD), -1); /* the last reference closed it */
}
END_TEST

START_TEST(entries_negative_entries_and_descriptors_are_bounded)
{
    struct srv__filecache_stats st;
    srv__filecache_stats(&st);
    char name[64];
    for (unsigned i = 0; i < st.fds_max + 10; i++) {
        snprintf(name, sizeof name, "big%u", i);
        write_size(name, SRV__FILE_INLINE_MAX + 1);
        ck_assert_int_eq(get(name)->kind, SRV__CACHED_FILE);
    }
    srv__filecache_stats(&st);
    ck_assert_uint_eq(st.fds, st.fds_max);
    for (unsigned i = 0; i < st.entries_max + 10; i++) {
        snprintf(name, sizeof name, "s%u", i);
        write_text(name, "x");
        ck_assert_int_eq(get(name)->kind, SRV__CACHED_FILE);
    }
    for (unsigned i = 0; i < st.negative_max + 10; i++) {
        snprintf(name, sizeof name, "none%u", i);
        ck_assert_int_eq(get(name)->status, 404);
    }
    srv__filecache_stats(&st);
    ck_assert_uint_eq(st.entries, st.entries_max);
    ck_assert_uint_eq(st.negative, st.negative_max);
    /* The most recent are the ones kept. */
    snprintf(name, sizeof name, "s%u", st.entries_max + 9);
    const struct srv__cached *e = get(name);
    ck_assert_ptr_eq(get(name), e);
    srv__filecache_stats(&st);
    ck_assert_uint_eq(st.entries, st.entries_max);
}
END_TEST

START_TEST(the_longest_keys_have_room_for_their_siblings)
{
    /* A file whose path is as long as a key may be, with every sibling:
     * the sibling names are longer still. */
    char key[SRV__STATIC_KEY_MAX + 16] = "";
    size_t len = 0;
    while (len + 2 + sizeof "/index.html" <= SRV__STATIC_KEY_MAX + sizeof "/index.html") {
        strcat(key, len ? "/d" : "d");
        len = strlen(key);
        ck_assert_int_eq(mkdirat(dirfd_, key, 0755) == 0 || errno == EEXIST, 1);
    }
    strcat(key, "/index.html");
    len = strlen(key);
    ck_assert_uint_ge(len, SRV__STATIC_KEY_MAX);
    static const char *const ext[] = {"", ".br", ".zst", ".gz"};
    char name[SRV__STATIC_KEY_MAX + 32];
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "%s%s", key, ext[i]);
        write_text(name, "x");
    }
    const struct srv__cached *e = srv__filecache_get(0, dirfd_, key, len);
    ck_assert_int_eq(e->kind, SRV__CACHED_FILE);
    ck_assert_int_eq(e->codings, 0xe);
    srv__filecache_age(1000);
    ck_assert_int_eq(srv__filecache_get(0, dirfd_, key, len)->kind, SRV__CACHED_FILE);
    strcat(key, "x/y");
    ck_assert_int_eq(srv__filecache_get(0, dirfd_, key, strlen(key))->status, 404);
}
END_TEST

START_TEST(out_of_descriptors_is_503_and_not_cached)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    int fd = dup(0);
    close(fd);
    struct rlimit low = {(rlim_t)fd, rl.rlim_max};
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    const struct srv__cached *e = get("hello.txt");
    ck_assert_int_eq(e->kind, SRV__CACHED_ERROR);
    ck_assert_int_eq(e->status, 503);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    ck_assert_int_eq(get("hello.txt")->kind, SRV__CACHED_FILE);
}
END_TEST

static Suite *filecache_suite(void)
{
    Suite *s = suite_create("runtime/filecache");
    TCase *tc = tcase_create("entries");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, small_file_is_kept_in_memory_with_its_headers);
    tcase_add_test(tc, large_file_keeps_its_descriptor);
    tcase_add_test(tc, siblings_are_variants_with_vary_and_their_own_etag);
    tcase_add_test(tc, directories_failures_and_special_files);
    tcase_add_test(tc, unreadable_file_is_403);
    suite_add_tcase(s, tc);
    tc = tcase_create("freshness");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, a_hit_is_the_same_entry_until_it_is_a_second_old);
    tcase_add_test(tc, an_unchanged_file_survives_the_check);
    tcase_add_test(tc, a_file_renamed_over_with_the_same_size_and_time_is_seen);
    tcase_add_test(tc, siblings_appearing_and_files_appearing_are_seen);
    suite_add_tcase(s, tc);
    tc = tcase_create("bounds");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, a_pinned_file_outlives_its_entry);
    tcase_add_test(tc, entries_negative_entries_and_descriptors_are_bounded);
    tcase_add_test(tc, the_longest_keys_have_room_for_their_siblings);
    tcase_add_test(tc, out_of_descriptors_is_503_and_not_cached);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(filecache_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
