/* resolve.h: the file that execvp(3) would run for a command name. */
#ifndef TC_INSPECT_RESOLVE_H
#define TC_INSPECT_RESOLVE_H

#include <stddef.h>

enum resolve_status {
    RESOLVE_FOUND,          /* an executable file (or a directory: see below) */
    RESOLVE_NOT_FOUND,
    RESOLVE_NOT_EXECUTABLE, /* found, but not executable, or a directory */
};

/* NAME with a slash is taken as it is; otherwise it is looked up in PATH
 * (unset: /usr/local/bin:/usr/bin:/bin; an empty entry is the current
 * directory), where the first executable regular file wins, and a
 * non-executable one is reported only when no executable one exists.
 * The path found is made absolute in out (its directory as the shell
 * names it: $PWD when that is the current directory). */
enum resolve_status resolve_command(const char *name, char *out, size_t size);

/* path made absolute against the current directory, in out. */
void absolute_path(const char *path, char *out, size_t size);

#endif
