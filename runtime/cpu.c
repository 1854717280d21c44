/*
 * cpu.c - how many CPUs this process may really use, for `workers auto`.
 *
 * The answer is the size of the CPU affinity mask (taskset, cpusets), capped
 * by the CPU bandwidth quota of the cgroup the process runs in: a container
 * limited to 2 CPUs on a 128-core host must get 2, not 128.  The quota is
 * read from cgroup v2 `cpu.max` ("QUOTA PERIOD" or "max PERIOD") or cgroup v1
 * `cpu.cfs_quota_us` / `cpu.cfs_period_us`, in this process's cgroup and in
 * every ancestor up to the mount root, because a parent's limit binds its
 * children too; the smallest limit wins.  A fractional quota is rounded up
 * (1.5 CPUs -> 2 workers): a worker that is throttled part of the time still
 * serves, while one worker too few leaves a whole CPU's share unused.
 *
 * The file reading is separate from the system calls (srv__cpu_count_at) so
 * tests can point it at a fake /proc/self/cgroup and a fake cgroup tree.
 */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads the first line of PATH into BUF; false if it cannot be read. */
static bool read_line(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    bool ok = fgets(buf, (int)size, f) != NULL;
    fclose(f);
    return ok;
}

static bool parse_i64(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s)
        return false;
    *out = v;
    return true;
}

/* CPUs allowed by QUOTA per PERIOD, rounded up; INT_MAX when unlimited. */
static int quota_cpus(long long quota, long long period)
{
    if (quota <= 0 || period <= 0)
        return INT_MAX;
    long long n = (quota + period - 1) / period;
    return n > INT_MAX ? INT_MAX : (int)n;
}

/* The limit in one cgroup v2 directory: `cpu.max` is "max 100000" or
 * "200000 100000". */
static int v2_limit(const char *dir)
{
    char path[PATH_MAX], line[128];
    if ((size_t)snprintf(path, sizeof path, "%s/cpu.max", dir) >= sizeof path)
        return INT_MAX;
    if (!read_line(path, line, sizeof line))
        return INT_MAX;
    long long quota, period;
    if (strncmp(line, "max", 3) == 0)
        return INT_MAX;
    char *sp = strchr(line, ' ');
    if (!sp || !parse_i64(line, &quota) || !parse_i64(sp + 1, &period))
        return INT_MAX;
    return quota_cpus(quota, period);
}

/* The limit in one cgroup v1 cpu controller directory. */
static int v1_limit(const char *dir)
{
    char path[PATH_MAX], line[64];
    long long quota, period;
    if ((size_t)snprintf(path, sizeof path, "%s/cpu.cfs_quota_us", dir) >= sizeof path ||
        !read_line(path, line, sizeof line) || !parse_i64(line, &quota))
        return INT_MAX;
    if ((size_t)snprintf(path, sizeof path, "%s/cpu.cfs_period_us", dir) >= sizeof path ||
        !read_line(path, line, sizeof line) || !parse_i64(line, &period))
        return INT_MAX;
    return quota_cpus(quota, period);
}

/* The smallest limit found in MOUNT/REL and each of its ancestors up to and
 * including MOUNT.  Directories that do not exist are skipped: without a
 * cgroup namespace a container sees its host-side path in /proc/self/cgroup
 * while its own cgroup is mounted at the root, so the walk still ends at the
 * limit that applies. */
static int walk_limit(const char *mount, const char *rel, int (*limit)(const char *))
{
    char dir[PATH_MAX];
    int best = INT_MAX;
    size_t mlen = strlen(mount);
    if ((size_t)snprintf(dir, sizeof dir, "%s%s%s", mount,
                         rel[0] == '/' ? "" : "/", rel) >= sizeof dir)
        return limit(mount);
    size_t len = strlen(dir);
    while (len > 0 && dir[len - 1] == '\n')
        dir[--len] = '\0';
    for (;;) {
        int n = limit(dir);
        if (n < best)
            best = n;
        if (len <= mlen)
            break;
        /* Up one level, never above the mount point. */
        while (len > mlen && dir[len - 1] != '/')
            len--;
        while (len > mlen && dir[len - 1] == '/')
            len--;
        dir[len] = '\0';
    }
    return best;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool has_cpu_controller(const char *list)
{
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n == 3 && memcmp(p, "cpu", 3) == 0)
            return true;
        p += n;
        if (*p == ',')
            p++;
    }
    return false;
}

/* Applies the limits named by PROC_CGROUP (the format of /proc/self/cgroup:
 * "ID:CONTROLLERS:PATH" lines, "0::PATH" for v2) under CGROUP_ROOT (normally
 * /sys/fs/cgroup) to AFFINITY, the number of CPUs in the affinity mask. */
int srv__cpu_count_at(const char *proc_cgroup, const char *cgroup_root, int affinity)
{
    int n = affinity > 0 ? affinity : 1;
    FILE *f = fopen(proc_cgroup, "re");
    if (!f)
        return n;
    char line[PATH_MAX + 128];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c1 = *c2 = '\0';
        const char *controllers = c1 + 1, *rel = c2 + 1;
        char mount[PATH_MAX];
        int limit = INT_MAX;
        if (controllers[0] == '\0' && strcmp(line, "0") == 0) {
            /* v2: the unified hierarchy is the root itself, or "unified"
             * under it on hybrid systems. */
            snprintf(mount, sizeof mount, "%s/cgroup.controllers", cgroup_root);
            if (access(mount, F_OK) == 0)
                snprintf(mount, sizeof mount, "%s", cgroup_root);
            else if ((size_t)snprintf(mount, sizeof mount, "%s/unified", cgroup_root) >= sizeof mount)
                continue;
            limit = walk_limit(mount, rel, v2_limit);
        } else if (has_cpu_controller(controllers)) {
            /* v1: mounted at ROOT/<controller list>, e.g. "cpu,cpuacct";
             * many systems also have a "cpu" link to it. */
            if ((size_t)snprintf(mount, sizeof mount, "%s/%s", cgroup_root, controllers) >= sizeof mount)
                continue;
            if (!is_dir(mount))
                snprintf(mount, sizeof mount, "%s/cpu", cgroup_root);
            limit = walk_limit(mount, rel, v1_limit);
        }
        if (limit < n)
            n = limit;
    }
    fclose(f);
    return n;
}

/* The number of CPUs in this process's affinity mask; the mask may be
 * larger than the default cpu_set_t on very big machines. */
static int affinity_count(void)
{
    for (int ncpu = 1024; ncpu <= (1 << 20); ncpu *= 2) {
        cpu_set_t *set = CPU_ALLOC((size_t)ncpu);
        if (!set)
            break;
        size_t size = CPU_ALLOC_SIZE((size_t)ncpu);
        if (sched_getaffinity(0, size, set) == 0) {
            int n = CPU_COUNT_S(size, set);
            CPU_FREE(set);
            return n;
        }
        CPU_FREE(set);
        if (errno != EINVAL)
            break;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 && n < INT_MAX ? (int)n : 1;
}

int srv__cpu_count(void)
{
    return srv__cpu_count_at("/proc/self/cgroup", "/sys/fs/cgroup", affinity_count());
}
