/* chain.h: what the kernel runs for a file: the file itself, or for a
 * "#!" script its interpreter, which may be a script again (Linux follows
 * five levels), or /usr/bin/env, which runs a program it looks up in
 * PATH. The chain lists each file in that order; the last one is the
 * program whose libraries decide whether the library can act. */
#ifndef TC_INSPECT_CHAIN_H
#define TC_INSPECT_CHAIN_H

#include <limits.h>
#include <stdbool.h>

enum link_kind {
    LINK_ELF,        /* an ELF file */
    LINK_SCRIPT,     /* starts with "#!" */
    LINK_OTHER,      /* neither: a shell runs it with /bin/sh (execvp's ENOEXEC rule) */
    LINK_EMPTY,      /* an empty file */
    LINK_MISSING,    /* does not exist (an interpreter, or env's program) */
    LINK_DIRECTORY,
    LINK_NOT_EXECUTABLE,
    LINK_UNREADABLE, /* executable but not readable: cannot be inspected */
};

struct link {
    char path[PATH_MAX];     /* absolute, or the name env did not find */
    enum link_kind kind;
    bool by_env;             /* the program /usr/bin/env runs, found in PATH */
    bool by_shell;           /* /bin/sh, which runs a file execve refuses */
    char line[256];          /* LINK_SCRIPT: the "#!" line, after "#!" */
    char interp[PATH_MAX];   /* LINK_SCRIPT: the interpreter as written */
    char arg[256];           /* LINK_SCRIPT: its optional argument ("" if none) */
};

/* Five script levels, an env after each, the program: 11. */
#define CHAIN_MAX 12

struct chain {
    struct link link[CHAIN_MAX];
    int n;
    bool too_deep;           /* more "#!" levels than the kernel follows */
};

/* Follows the chain from the absolute path of an existing file. */
void chain_follow(const char *path, struct chain *c);

/* The last link, the one that decides (its kind may be LINK_MISSING...). */
const struct link *chain_last(const struct chain *c);

/* Whether the file is an env(1) program ("env" as its base name). */
bool is_env(const char *path);

#endif
