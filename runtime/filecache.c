/*
 * filecache.c - each worker's open-file cache for static files (L2): what
 * the file system said about a path, kept so a hot file costs no open, no
 * fstat and no header formatting per request.  static.c asks it for a
 * path under a mount; it answers with an entry: a regular file (with its
 * precompressed siblings), a directory, or the error status a failed open
 * gave (negative entries: a flood of requests for a missing file costs one
 * open per second, not one per request).
 *
 * A file entry holds one struct srv__file per variant (the file, and
 * FILE.br, FILE.zst, FILE.gz when they exist): small files are read into it
 * whole (SRV__FILE_INLINE_MAX), larger ones keep their descriptor open for
 * sendfile.
 * Each also carries its response header lines, formatted once: ETag,
 * Last-Modified, Vary, Content-Type, Content-Encoding, Accept-Ranges.
 *
 * Freshness: an entry is used as is for VALID_MS after it was checked; the
 * first request after that stats the path (and the siblings' paths) again
 * and compares device, inode, size, mtime and ctime with what the entry was
 * made from.  Any difference, a sibling that appeared or vanished, or any
 * negative or directory entry that old, and the entry is made again from
 * scratch, with the safe open (beneath.c).  The stat only decides whether
 * to look again; no byte is ever served from a path that was not opened
 * safely.  So a file replaced on disk (edited, or renamed over) is served
 * at most VALID_MS late, as nginx's open_file_cache_valid does.
 *
 * Bounds: ENTRIES_MAX file and directory entries, NEGATIVE_MAX negative
 * ones (in their own LRU list, so a scan of missing paths cannot push hot
 * files out), BYTES_MAX bytes of file contents in memory, and a quarter of
 * the descriptors the process may open (RLIMIT_NOFILE, at least FDS_MIN,
 * at most FDS_MAX), so connections keep the rest; the least recently used
 * entry goes first.
 *
 * Ownership: the cache holds one reference to each srv__file; a response
 * that sends from one takes another (static.c pins it in the request
 * arena), so evicting or replacing an entry never closes a descriptor or
 * frees bytes that a response in flight still needs.  The last reference
 * frees the file.  Workers fork before the first request, so each has its
 * own cache; the master never makes one.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define ENTRIES_MAX 1024          /* file and directory entries */
#define NEGATIVE_MAX 256          /* entries for paths that failed */
#define BYTES_MAX (32u << 20)     /* bytes of small files kept in memory */
#define FDS_MIN 32                /* descriptors of large files kept open: */
#define FDS_MAX 1024              /* RLIMIT_NOFILE / 4, within these */
#define VALID_MS 1000             /* an entry is trusted this long after a check */
#define BUCKETS 4096              /* hash buckets, a power of two */
/* The longest key, and room for a sibling's suffix and the NUL. */
#define KEY_LEN_MAX (SRV__STATIC_KEY_MAX + sizeof "/index.html")
#define KEY_BUF (KEY_LEN_MAX + sizeof ".zst")

struct entry {
    struct srv__cached pub; /* first: what static.c sees */
    struct entry *hnext;    /* hash chain */
    struct entry *prev, *next; /* LRU list (pos or neg), most recent first */
    uint64_t checked;       /* srv__now_ms() of the last check */
    uint32_t hash;
    uint16_t mount;
    uint16_t len;
    size_t bytes;           /* file contents held in memory */
    unsigned fds;           /* descriptors held open */
    char key[];             /* the path under the mount, NUL-terminated */
};

struct lru {
    struct entry *head, *tail;
    unsigned n;
};

struct cache {
    struct entry *buckets[BUCKETS];
    struct lru pos, neg;
    size_t bytes;
    unsigned fds, fds_max;
};

static struct cache *cache;

/* The answer when the process is out of descriptors or memory: not cached,
 * so the next request tries again. */
static const struct srv__cached busy = {.kind = SRV__CACHED_ERROR, .status = 503};

static const char *const coding_suffix[SRV__CODINGS] = {"", ".br", ".zst", ".gz"};
static const char *const coding_name[SRV__CODINGS] = {"", "br", "zstd", "gzip"};
static const char *const coding_tag[SRV__CODINGS] = {"", "-br", "-zst", "-gz"};

/* ---- Files ---------------------------------------------------------------- */

void srv__file_unref(struct srv__file *f)
{
    if (--f->refs > 0)
        return;
    if (f->fd >= 0)
        close(f->fd);
    free(f);
}

/* Reads SIZE bytes of FD from offset 0 into BUF; returns how many it got. */
static size_t read_all(int fd, char *buf, size_t size)
{
    size_t got = 0;
    while (got < size) {
        ssize_t n = pread(fd, buf + got, size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

static char *put_hex(char *p, uint64_t v)
{
    char tmp[16];
    int n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

static char *put(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

/* Makes the variant CODING of a file from its open FD (which it takes) and
 * ST: the header lines, and the bytes when the file is small.  NULL when
 * out of memory (FD is closed). */
static struct srv__file *make_file(int fd, const struct stat *st, const char *type, int coding,
                                   bool vary)
{
    char hdr[512], *p = hdr;
    /* The 304 lines first (RFC 9110 15.4.5: what a 200 would have of ETag
     * and Vary, and Last-Modified), then the rest of a 200's. */
    p = put(p, "ETag: \"");
    char *etag = p - 1;
    p = put_hex(p, (uint64_t)st->st_mtim.tv_sec);
    *p++ = '-';
    p = put_hex(p, (uint64_t)st->st_size);
    *p++ = '-';
    p = put_hex(p, (uint64_t)st->st_mtim.tv_nsec);
    p = put(p, coding_tag[coding]);
    *p++ = '"';
    size_t etag_len = (size_t)(p - etag);
    p = put(p, "\r\nLast-Modified: ");
    srv__date_format(p, st->st_mtim.tv_sec);
    p += SRV__DATE_LEN;
    p = put(p, "\r\n");
    if (vary)
        p = put(p, "Vary: Accept-Encoding\r\n");
    size_t hdr_304 = (size_t)(p - hdr);
    p = put(p, "Content-Type: ");
    char *ctype = p;
    p = put(p, type);
    size_t ctype_len = (size_t)(p - ctype);
    p = put(p, "\r\n");
    if (coding != SRV__CODING_IDENTITY) {
        p = put(p, "Content-Encoding: ");
        p = put(p, coding_name[coding]);
        p = put(p, "\r\n");
    }
    p = put(p, "Accept-Ranges: bytes\r\n");
    size_t hdr_len = (size_t)(p - hdr);

    uint64_t size = (uint64_t)st->st_size;
    bool in_memory = size <= SRV__FILE_INLINE_MAX;
    struct srv__file *f = malloc(sizeof *f + hdr_len + (in_memory ? size : 0));
    if (f == NULL) {
        close(fd);
        return NULL;
    }
    char *h = (char *)(f + 1);
    memcpy(h, hdr, hdr_len);
    f->refs = 1;
    f->size = size;
    f->mtime = st->st_mtim.tv_sec;
    f->hdr = h;
    f->hdr_len = (uint16_t)hdr_len;
    f->hdr_304_len = (uint16_t)hdr_304;
    f->etag = h + (etag - hdr);
    f->etag_len = (uint8_t)etag_len;
    f->type = h + (ctype - hdr);
    f->type_len = (uint8_t)ctype_len;
    f->dev = st->st_dev;
    f->ino = st->st_ino;
    f->stat_size = st->st_size;
    f->mtim = st->st_mtim;
    f->ctim = st->st_ctim;
    if (in_memory) {
        char *data = h + hdr_len;
        /* A file that shrank since the fstat: serve what was read; the
         * next check sees the new size and makes the entry again. */
        f->size = read_all(fd, data, (size_t)size);
        f->data = data;
        f->fd = -1;
        close(fd);
    } else {
        f->data = NULL;
        f->fd = fd;
    }
    return f;
}

static bool same_file(const struct srv__file *f, const struct stat *st)
{
    return f->dev == st->st_dev && f->ino == st->st_ino && f->stat_size == st->st_size &&
           f->mtim.tv_sec == st->st_mtim.tv_sec && f->mtim.tv_nsec == st->st_mtim.tv_nsec &&
           f->ctim.tv_sec == st->st_ctim.tv_sec && f->ctim.tv_nsec == st->st_ctim.tv_nsec;
}

/* ---- Entries -------------------------------------------------------------- */

static uint32_t hash_key(unsigned mount, const char *key, size_t len)
{
    uint32_t h = 2166136261u ^ mount;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)key[i]) * 16777619u;
    return h;
}

static struct lru *lru_of(struct entry *e)
{
    return e->pub.kind == SRV__CACHED_ERROR ? &cache->neg : &cache->pos;
}

static void lru_unlink(struct lru *l, struct entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        l->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        l->tail = e->prev;
    l->n--;
}

static void lru_push(struct lru *l, struct entry *e)
{
    e->prev = NULL;
    e->next = l->head;
    if (l->head)
        l->head->prev = e;
    else
        l->tail = e;
    l->head = e;
    l->n++;
}

static void entry_free(struct entry *e)
{
    for (int c = 0; c < SRV__CODINGS; c++) {
        if (e->pub.file[c])
            srv__file_unref(e->pub.file[c]);
    }
    free(e);
}

/* Takes E out of the table and the lists, and drops the cache's references. */
static void entry_remove(struct entry *e)
{
    struct entry **pp = &cache->buckets[e->hash & (BUCKETS - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(lru_of(e), e);
    cache->bytes -= e->bytes;
    cache->fds -= e->fds;
    entry_free(e);
}

static struct entry *entry_new(unsigned mount, const char *key, size_t len, uint32_t hash,
                               int kind, int status)
{
    struct entry *e = calloc(1, sizeof *e + len + 1);
    if (e == NULL)
        return NULL;
    e->pub.kind = (uint8_t)kind;
    e->pub.status = (uint16_t)status;
    e->hash = hash;
    e->mount = (uint16_t)mount;
    e->len = (uint16_t)len;
    memcpy(e->key, key, len);
    e->key[len] = '\0';
    e->checked = srv__now_ms();
    return e;
}

/* The status a failed open answers; 0 for a failure worth retrying at once
 * (out of descriptors or memory, a rename race that persisted). */
static int open_status(int err)
{
    switch (err) {
    case EACCES:
    case EPERM:
        return 403;
    case EMFILE:
    case ENFILE:
    case ENOMEM:
    case EAGAIN:
    case EINTR:
        return 0;
    default:
        return 404; /* ENOENT, ENOTDIR, ELOOP (symlink), EXDEV (escape), ... */
    }
}

/* Opens PATH under DIRFD safely, as a regular file or directory, without
 * blocking on a FIFO (O_NONBLOCK) or taking a terminal. */
static int open_file(int dirfd, const char *path, struct stat *st)
{
    int fd = srv__open_beneath(dirfd, path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return fd;
    if (fstat(fd, st) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

/* Makes the entry for KEY from the file system; NULL when that failed for
 * a reason worth retrying at once (see open_status). */
static struct entry *fill(unsigned mount, int dirfd, const char *key, size_t len, uint32_t hash)
{
    struct stat st;
    int fd = open_file(dirfd, key, &st);
    if (fd < 0) {
        int status = open_status(-fd);
        return status ? entry_new(mount, key, len, hash, SRV__CACHED_ERROR, status) : NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        /* FIFOs, sockets and devices are not files to serve. */
        return entry_new(mount, key, len, hash,
                         S_ISDIR(st.st_mode) ? SRV__CACHED_DIR : SRV__CACHED_ERROR, 404);
    }
    struct entry *e = entry_new(mount, key, len, hash, SRV__CACHED_FILE, 200);
    if (e == NULL) {
        close(fd);
        return NULL;
    }
    /* The siblings first: whether any exists decides Vary for all. */
    int fds[SRV__CODINGS] = {fd, -1, -1, -1};
    struct stat sts[SRV__CODINGS];
    sts[0] = st;
    char path[KEY_BUF];
    memcpy(path, key, len);
    for (int c = 1; c < SRV__CODINGS; c++) {
        strcpy(path + len, coding_suffix[c]);
        int sfd = open_file(dirfd, path, &sts[c]);
        if (sfd >= 0 && !S_ISREG(sts[c].st_mode)) {
            close(sfd);
            sfd = -1;
        }
        fds[c] = sfd;
        if (sfd >= 0)
            e->pub.codings |= (uint8_t)(1u << c);
    }
    const char *type = srv__mime_type(key, len);
    bool failed = false;
    for (int c = 0; c < SRV__CODINGS; c++) {
        if (fds[c] < 0)
            continue;
        if (failed) {
            close(fds[c]);
            continue;
        }
        struct srv__file *f = make_file(fds[c], &sts[c], type, c, e->pub.codings != 0);
        if (f == NULL) {
            failed = true;
            continue;
        }
        e->pub.file[c] = f;
        if (f->fd >= 0)
            e->fds++;
        else
            e->bytes += f->size;
    }
    if (failed) {
        entry_free(e);
        return NULL;
    }
    return e;
}

/* Whether E still describes the file system (file entries only: see the
 * top of the file). */
static bool still_valid(const struct entry *e, int dirfd)
{
    if (e->pub.kind != SRV__CACHED_FILE)
        return false;
    char path[KEY_BUF];
    memcpy(path, e->key, e->len);
    for (int c = 0; c < SRV__CODINGS; c++) {
        strcpy(path + e->len, coding_suffix[c]);
        struct stat st;
        bool there = fstatat(dirfd, path, &st, 0) == 0 && S_ISREG(st.st_mode);
        const struct srv__file *f = e->pub.file[c];
        if (there != (f != NULL) || (f != NULL && !same_file(f, &st)))
            return false;
    }
    return true;
}

/* A quarter of the descriptors this process may open (the soft limit, as
 * the worker starts), within [FDS_MIN, FDS_MAX]. */
static unsigned fds_budget(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return FDS_MAX;
    rlim_t q = rl.rlim_cur / 4;
    return q < FDS_MIN ? FDS_MIN : q > FDS_MAX ? FDS_MAX : (unsigned)q;
}

static void evict(void)
{
    while (cache->neg.n > NEGATIVE_MAX)
        entry_remove(cache->neg.tail);
    /* Never the newest entry: the caller is about to use it. */
    while (cache->pos.n > 1 && (cache->pos.n > ENTRIES_MAX || cache->bytes > BYTES_MAX ||
                                cache->fds > cache->fds_max))
        entry_remove(cache->pos.tail);
}

const struct srv__cached *srv__filecache_get(unsigned mount, int dirfd, const char *key,
                                             size_t len)
{
    if (SRV__UNLIKELY(cache == NULL)) {
        cache = calloc(1, sizeof *cache);
        if (cache == NULL)
            return &busy;
        cache->fds_max = fds_budget();
    }
    if (SRV__UNLIKELY(len > KEY_LEN_MAX)) {
        static const struct srv__cached too_long = {.kind = SRV__CACHED_ERROR, .status = 404};
        return &too_long;
    }
    uint32_t h = hash_key(mount, key, len);
    struct entry *e = cache->buckets[h & (BUCKETS - 1)];
    while (e != NULL &&
           !(e->hash == h && e->mount == mount && e->len == len && memcmp(e->key, key, len) == 0))
        e = e->hnext;
    if (SRV__LIKELY(e != NULL)) {
        uint64_t now = srv__now_ms();
        if (SRV__UNLIKELY(now - e->checked >= VALID_MS)) {
            if (!still_valid(e, dirfd)) {
                entry_remove(e);
                goto make;
            }
            e->checked = now;
        }
        struct lru *l = lru_of(e);
        if (l->head != e) {
            lru_unlink(l, e);
            lru_push(l, e);
        }
        return &e->pub;
    }
make:
    e = fill(mount, dirfd, key, len, h);
    if (e == NULL)
        return &busy;
    struct entry **slot = &cache->buckets[h & (BUCKETS - 1)];
    e->hnext = *slot;
    *slot = e;
    lru_push(lru_of(e), e);
    cache->bytes += e->bytes;
    cache->fds += e->fds;
    evict();
    return &e->pub;
}

void srv__filecache_clear(void)
{
    if (cache == NULL)
        return;
    for (unsigned i = 0; i < BUCKETS; i++) {
        while (cache->buckets[i] != NULL)
            entry_remove(cache->buckets[i]);
    }
    free(cache);
    cache = NULL;
}

void srv__filecache_stats(struct srv__filecache_stats *st)
{
    memset(st, 0, sizeof *st);
    st->entries_max = ENTRIES_MAX;
    st->negative_max = NEGATIVE_MAX;
    st->bytes_max = BYTES_MAX;
    st->fds_max = cache ? cache->fds_max : fds_budget();
    if (cache == NULL)
        return;
    st->entries = cache->pos.n;
    st->negative = cache->neg.n;
    st->bytes = cache->bytes;
    st->fds = cache->fds;
}

void srv__filecache_age(uint64_t ms)
{
    if (cache == NULL)
        return;
    for (unsigned i = 0; i < BUCKETS; i++) {
        for (struct entry *e = cache->buckets[i]; e != NULL; e = e->hnext)
            e->checked -= ms;
    }
}
