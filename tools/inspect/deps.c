/* deps.c: the dependency list from a trusted system loader (see deps.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "deps.h"

/* Where distributions put their dynamic loaders (glibc's and musl's). */
static const char *const loader_patterns[] = {
    "/lib64/ld-linux-*.so.*", "/lib/*/ld-linux-*.so.*", "/lib/ld-linux*.so.*",
    "/lib/ld-musl-*.so.1", "/usr/lib64/ld-linux-*.so.*", "/usr/lib/*/ld-linux-*.so.*",
};

/* The loader's listing takes milliseconds; a stuck one must not hang the
 * wrapper. */
#define LIST_TIMEOUT_MS 10000
#define LIST_OUTPUT_MAX (1 << 20)

static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

static int fits(const char *loader, const struct elf_file *e)
{
    struct elf_file l;
    char why[64];
    if (access(loader, X_OK) != 0 || elf_read(loader, &l, why, sizeof why) < 0)
        return 0;
    int ok = l.bits == e->bits && l.machine == e->machine;
    elf_free(&l);
    return ok;
}

/* The program's own interpreter when it is one of the system's loaders,
 * else the first system loader of its class and machine. */
static int pick_loader(const struct elf_file *e, char *out, size_t size)
{
    glob_t g;
    int found = 0;

    memset(&g, 0, sizeof g);
    for (size_t i = 0; i < sizeof loader_patterns / sizeof loader_patterns[0]; i++)
        glob(loader_patterns[i], i ? GLOB_APPEND : 0, NULL, &g);
    for (size_t i = 0; e->interp && !found && i < g.gl_pathc; i++)
        if (same_file(g.gl_pathv[i], e->interp) && fits(g.gl_pathv[i], e))
            found = snprintf(out, size, "%s", g.gl_pathv[i]) > 0;
    for (size_t i = 0; !found && i < g.gl_pathc; i++)
        if (fits(g.gl_pathv[i], e))
            found = snprintf(out, size, "%s", g.gl_pathv[i]) > 0;
    globfree(&g);
    return found;
}

static long elapsed_ms(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* Runs "LOADER --list PROGRAM" without LD_PRELOAD and LD_AUDIT (they would
 * be listed, or run); its output (stdout and stderr) in *out. Returns the
 * wait status, or -1. */
static int run_list(const char *loader, const char *program, char **out)
{
    int pipefd[2];
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    struct timespec start;

    *out = NULL;
    if (!buf || pipe2(pipefd, O_CLOEXEC) < 0) {
        free(buf);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        free(buf);
        return -1;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, 0);
        dup2(pipefd[1], 1);
        dup2(pipefd[1], 2);
        unsetenv("LD_PRELOAD");
        unsetenv("LD_AUDIT");
        execl(loader, loader, "--list", program, (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        struct pollfd p = { pipefd[0], POLLIN, 0 };
        long left = LIST_TIMEOUT_MS - elapsed_ms(&start);
        if (left <= 0 || poll(&p, 1, (int)left) == 0) {
            kill(pid, SIGKILL);
            break;
        }
        if (len + 1 >= cap && cap < LIST_OUTPUT_MAX) {
            char *more = realloc(buf, cap * 2);
            if (!more)
                break;
            buf = more, cap *= 2;
        }
        ssize_t n = read(pipefd[0], buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(pipefd[0]);
    buf[len] = '\0';
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            status = -1;
    *out = buf;
    return status;
}

static void add(struct deps *d, const char *name, size_t name_len, const char *path, size_t path_len)
{
    struct dep *more = realloc(d->dep, (d->n + 1) * sizeof *d->dep);
    if (!more)
        return;
    d->dep = more;
    d->dep[d->n].name = strndup(name, name_len);
    d->dep[d->n].path = path ? strndup(path, path_len) : NULL;
    if (d->dep[d->n].name)
        d->n++;
}

/* Lines of the listing:
 *     libssl.so.3 => /lib/x86_64-linux-gnu/libssl.so.3 (0x...)
 *     libmissing.so.1 => not found
 *     /lib64/ld-linux-x86-64.so.2 (0x...)
 *     linux-vdso.so.1 (0x...)          (in the kernel, no file: skipped) */
static void parse_list(char *text, struct deps *d)
{
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        line += strspn(line, " \t");
        char *arrow = strstr(line, " => ");
        if (arrow) {
            char *target = arrow + 4;
            if (strncmp(target, "not found", 9) == 0)
                add(d, line, (size_t)(arrow - line), NULL, 0);
            else if (target[0] == '/')
                add(d, line, (size_t)(arrow - line), target, strcspn(target, " "));
        } else if (line[0] == '/') {
            size_t len = strcspn(line, " ");
            const char *base = memrchr(line, '/', len) + 1;
            add(d, base, len - (size_t)(base - line), line, len);
        }
    }
}

void deps_list(const char *program, const struct elf_file *e, struct deps *d)
{
    char *out;

    memset(d, 0, sizeof *d);
    if (!pick_loader(e, d->loader, sizeof d->loader)) {
        d->status = DEPS_NO_LOADER;
        return;
    }
    int status = run_list(d->loader, program, &out);
    if (out)
        parse_list(out, d);
    if (status == 0 && d->n > 0) {
        d->status = DEPS_LISTED;
    } else {
        d->status = DEPS_FAILED;
        if (status != -1 && WIFSIGNALED(status))
            snprintf(d->why, sizeof d->why, "timed out or killed by signal %d", WTERMSIG(status));
        else if (out && *out)
            snprintf(d->why, sizeof d->why, "%.*s", (int)strcspn(out, "\n"), out);
        else
            snprintf(d->why, sizeof d->why, "no output");
    }
    free(out);
}

void deps_free(struct deps *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->dep[i].name);
        free(d->dep[i].path);
    }
    free(d->dep);
    memset(d, 0, sizeof *d);
}
