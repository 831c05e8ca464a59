/* deps.h: the libraries a dynamically linked program loads at start-up,
 * all of them (the dependencies of its dependencies too), as the system's
 * dynamic loader finds them: "LOADER --list PROGRAM", which maps the
 * libraries and runs none of their code.
 *
 * The loader is a trusted one, never the program's own PT_INTERP unless
 * that is one of the system's loaders: a file could name any program as
 * its interpreter, and --check must not run code chosen by the file it
 * inspects (the reason ldd(1) warns about untrusted executables). Among
 * the system's loaders, the one of the program's class and machine. */
#ifndef TC_INSPECT_DEPS_H
#define TC_INSPECT_DEPS_H

#include <limits.h>
#include <stddef.h>

#include "elf_file.h"

struct dep {
    char *name;  /* the soname as needed, or the base name of the path */
    char *path;  /* where the loader found it; NULL: not found */
};

enum deps_status {
    DEPS_LISTED,    /* deps[] is the loader's list */
    DEPS_NO_LOADER, /* no system loader for this class and machine */
    DEPS_FAILED,    /* the loader failed: why[] says how */
};

struct deps {
    enum deps_status status;
    char loader[PATH_MAX];
    char why[256];
    struct dep *dep;
    size_t n;
};

void deps_list(const char *program, const struct elf_file *e, struct deps *d);
void deps_free(struct deps *d);

#endif
