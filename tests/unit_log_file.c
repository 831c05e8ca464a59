/* unit_log_file: the file sink (shim/log.c) under threads while the log is
 * rotated: every line lands exactly once, whole, in one of the files; the
 * writers' errno is kept; the rotated files are not held open. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../shim/log.h"
#include "tap.h"

#define THREADS 4
#define LINES 5000
#define ROTATIONS 100

static char dir[] = "/tmp/tlsclose-unit-log-XXXXXX";
static char path[256];
static int errno_changed; /* atomic */

static void *writer(void *arg)
{
    char value[32];
    for (int i = 0; i < LINES; i++) {
        snprintf(value, sizeof value, "t%ld-%d", (long)arg, i);
        struct tc_event ev = { .name = "sent", .level = TC_LEVEL_WARN, .fd = -1,
                               .key = "trigger", .value = value };
        errno = EDOM;
        tc_log_event(&ev);
        if (errno != EDOM)
            __atomic_store_n(&errno_changed, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

/* Counts the lines of every file in dir into seen[thread][line]; returns
 * the number of lines that are not one whole event line. */
static int tally(unsigned char (*seen)[LINES])
{
    int bad = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char name[PATH_MAX + 300], line[256];
        if (e->d_name[0] == '.')
            continue;
        snprintf(name, sizeof name, "%s/%s", dir, e->d_name);
        FILE *f = fopen(name, "r");
        while (f && fgets(line, sizeof line, f)) {
            long pid;
            int t, i, n = 0;
            char time[32], program[32];
            if (sscanf(line, "%31s tlsclose[%ld]: %31[^:]: sent trigger=t%d-%d fd=-1\n%n", time, &pid,
                       program, &t, &i, &n) == 5 && strlen(time) == 24 && n == (int)strlen(line) && t >= 0 && t < THREADS && i >= 0 && i < LINES)
                seen[t][i]++;
            else
                bad++;
        }
        if (f)
            fclose(f);
        unlink(name);
    }
    if (d)
        closedir(d);
    rmdir(dir);
    return bad;
}

/* How many of our descriptors name a file in dir. */
static int open_in_dir(void)
{
    char link[64], target[PATH_MAX];
    int count = 0;
    for (int fd = 0; fd < 4096; fd++) {
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n > 0) {
            target[n] = '\0';
            count += strncmp(target, dir, strlen(dir)) == 0;
        }
    }
    return count;
}

int main(void)
{
    static unsigned char seen[THREADS][LINES];
    struct tc_config cfg = TC_CONFIG_DEFAULTS;
    pthread_t t[THREADS];

    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/events.log", dir);
    cfg.log = TC_LOG_FILE;
    snprintf(cfg.log_path, sizeof cfg.log_path, "%s", path);
    tc_log_setup(&cfg);
    for (long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, writer, (void *)i);
    for (int r = 0; r < ROTATIONS; r++) {
        char rotated[300];
        snprintf(rotated, sizeof rotated, "%s.%d", path, r);
        rename(path, rotated);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    /* One more line: the last rotation is noticed and its file let go. */
    struct tc_event last = { .name = "sent", .level = TC_LEVEL_WARN, .fd = -1,
                             .key = "trigger", .value = "t0-0" };
    char rotated[300];
    snprintf(rotated, sizeof rotated, "%s.last", path);
    rename(path, rotated);
    tc_log_event(&last);
    int held = open_in_dir();

    int bad = tally(seen), missing = 0, doubled = 0;
    for (int i = 0; i < THREADS; i++)
        for (int j = 0; j < LINES; j++) {
            int want = i == 0 && j == 0 ? 2 : 1;
            missing += seen[i][j] < want;
            doubled += seen[i][j] > want;
        }
    ok(bad == 0, "%d threads x %d lines, %d rotations: every line whole (%d not)", THREADS,
       LINES, ROTATIONS, bad);
    ok(missing == 0 && doubled == 0, "every line exactly once (%d missing, %d doubled)", missing,
       doubled);
    ok(!__atomic_load_n(&errno_changed, __ATOMIC_RELAXED), "the writers' errno kept");
    ok(held == 1, "one descriptor held, on the current file, none on a rotated one (%d)", held);
    return tap_done();
}
