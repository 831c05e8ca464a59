/* chain.c: following "#!" interpreters (see chain.h). */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chain.h"
#include "resolve.h"

/* A script's interpreter may be a script: Linux runs five levels of them
 * (exec_binprm fails with ELOOP when depth > 5) and refuses a sixth. */
#define SCRIPT_LEVELS_MAX 5

bool is_env(const char *path)
{
    const char *base = strrchr(path, '/');
    return strcmp(base ? base + 1 : path, "env") == 0;
}

/* At most n bytes of src, cut short to fit; not snprintf, whose source
 * must not overlap the destination (the compiler cannot tell that the
 * fields of one link do not). */
static void copy_n(char *dst, size_t size, const char *src, size_t n)
{
    n = strnlen(src, n < size - 1 ? n : size - 1);
    memmove(dst, src, n);
    dst[n] = '\0';
}

static void set_path(char *dst, size_t size, const char *src)
{
    copy_n(dst, size, src, size);
}

/* The "#!" line as the kernel reads it: the first line (at most 255
 * bytes), the interpreter up to the first blank, and everything after the
 * blanks that follow as one optional argument, trailing blanks removed. */
static void parse_shebang(const char *buf, size_t n, struct link *l)
{
    size_t i = 2, len = 0;
    while (i < n && buf[i] != '\n' && len + 1 < sizeof l->line)
        l->line[len++] = buf[i++];
    l->line[len] = '\0';
    const char *p = l->line + strspn(l->line, " \t");
    size_t ilen = strcspn(p, " \t");
    copy_n(l->interp, sizeof l->interp, p, ilen);
    p += ilen;
    p += strspn(p, " \t");
    set_path(l->arg, sizeof l->arg, p);
    size_t alen = strlen(l->arg);
    while (alen && (l->arg[alen - 1] == ' ' || l->arg[alen - 1] == '\t' || l->arg[alen - 1] == '\r'))
        l->arg[--alen] = '\0';
}

static void classify(struct link *l)
{
    struct stat st;
    char buf[256];

    if (stat(l->path, &st) != 0) {
        l->kind = LINK_MISSING;
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        l->kind = LINK_DIRECTORY;
        return;
    }
    if (access(l->path, X_OK) != 0) {
        l->kind = LINK_NOT_EXECUTABLE;
        return;
    }
    int fd = open(l->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        l->kind = LINK_UNREADABLE;
        return;
    }
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    if (n < 0)
        l->kind = LINK_UNREADABLE;
    else if (n == 0)
        l->kind = LINK_EMPTY;
    else if (n >= 4 && memcmp(buf, "\177ELF", 4) == 0)
        l->kind = LINK_ELF;
    else if (n >= 2 && buf[0] == '#' && buf[1] == '!') {
        l->kind = LINK_SCRIPT;
        parse_shebang(buf, (size_t)n, l);
    } else
        l->kind = LINK_OTHER;
}

/* The program "env ARG" runs: ARG split at blanks (as "env -S" does; the
 * kernel passes the rest of the "#!" line as one argument), options and
 * NAME=VALUE assignments skipped; NULL when there is none. */
static const char *env_program(const char *arg, char *word, size_t size)
{
    bool takes_value = false;
    for (const char *p = arg + strspn(arg, " \t"); *p; p += strspn(p, " \t")) {
        size_t len = strcspn(p, " \t");
        snprintf(word, size, "%.*s", (int)len, p);
        p += len;
        if (takes_value) {
            takes_value = false;
            continue;
        }
        if (strcmp(word, "-u") == 0 || strcmp(word, "-C") == 0 ||
            strcmp(word, "--unset") == 0 || strcmp(word, "--chdir") == 0)
            takes_value = true; /* its value is the next word */
        else if (word[0] == '-' || strchr(word, '='))
            continue;
        else
            return word;
    }
    return NULL;
}

void chain_follow(const char *path, struct chain *c)
{
    char name[PATH_MAX];
    int scripts = 0;

    memset(c, 0, sizeof *c);
    set_path(c->link[0].path, sizeof c->link[0].path, path);
    for (c->n = 1; c->n < CHAIN_MAX; c->n++) {
        struct link *l = &c->link[c->n - 1], *next = &c->link[c->n];
        classify(l);
        if (l->kind == LINK_SCRIPT) {
            if (++scripts > SCRIPT_LEVELS_MAX) {
                c->too_deep = true;
                return;
            }
            if (!l->interp[0]) {
                l->kind = LINK_OTHER; /* "#!" alone: execve fails as for any other */
                set_path(next->path, sizeof next->path, "/bin/sh");
                next->by_shell = true;
                continue;
            }
            absolute_path(l->interp, next->path, sizeof next->path);
        } else if (l->kind == LINK_OTHER && !l->by_shell) {
            set_path(next->path, sizeof next->path, "/bin/sh");
            next->by_shell = true;
        } else if (l->kind == LINK_ELF && c->n >= 2 && c->link[c->n - 2].kind == LINK_SCRIPT &&
                   is_env(l->path)) {
            const char *prog = env_program(c->link[c->n - 2].arg, name, sizeof name);
            if (!prog)
                return;
            next->by_env = true;
            if (resolve_command(prog, next->path, sizeof next->path) == RESOLVE_NOT_FOUND) {
                set_path(next->path, sizeof next->path, prog);
                next->kind = LINK_MISSING;
                c->n++;
                return;
            }
        } else {
            return;
        }
    }
    /* Cannot happen within the kernel's limits; the last link was named,
     * not classified. */
    c->n--;
    c->too_deep = true;
}

const struct link *chain_last(const struct chain *c)
{
    return &c->link[c->n - 1];
}
