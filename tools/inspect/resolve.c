/* resolve.c: looking a command up as execvp(3) does (see resolve.h). */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "resolve.h"

/* The current directory as the user's shell names it: $PWD when it is an
 * absolute name of the current directory (symbolic links kept, as in the
 * messages of the shell), else the physical one. */
static void current_directory(char *out, size_t size)
{
    const char *pwd = getenv("PWD");
    struct stat a, b;
    if (pwd && pwd[0] == '/' && stat(pwd, &a) == 0 && stat(".", &b) == 0 &&
        a.st_dev == b.st_dev && a.st_ino == b.st_ino && strlen(pwd) < size) {
        snprintf(out, size, "%s", pwd);
        return;
    }
    if (!getcwd(out, size))
        snprintf(out, size, ".");
}

void absolute_path(const char *path, char *out, size_t size)
{
    char dir[PATH_MAX];
    if (path[0] == '/') {
        snprintf(out, size, "%s", path);
        return;
    }
    current_directory(dir, sizeof dir);
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        dir[--len] = '\0';
    if (strncmp(path, "./", 2) == 0)
        path += 2;
    snprintf(out, size, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", path);
}

static enum resolve_status classify(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode) && access(path, X_OK) == 0)
        return RESOLVE_FOUND;
    return RESOLVE_NOT_EXECUTABLE;
}

enum resolve_status resolve_command(const char *name, char *out, size_t size)
{
    struct stat st;
    char candidate[PATH_MAX], noexec[PATH_MAX] = "";

    if (!*name)
        return RESOLVE_NOT_FOUND;
    if (strchr(name, '/')) {
        if (stat(name, &st) != 0)
            return RESOLVE_NOT_FOUND;
        absolute_path(name, out, size);
        return classify(name);
    }
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path;; ) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int n = snprintf(candidate, sizeof candidate, "%.*s/%s", (int)(len ? len : 1),
                         len ? p : ".", name);
        if (n > 0 && (size_t)n < sizeof candidate && stat(candidate, &st) == 0 &&
            S_ISREG(st.st_mode)) {
            if (access(candidate, X_OK) == 0) {
                absolute_path(candidate, out, size);
                return RESOLVE_FOUND;
            }
            if (!noexec[0])
                snprintf(noexec, sizeof noexec, "%s", candidate);
        }
        if (!end)
            break;
        p = end + 1;
    }
    if (!noexec[0])
        return RESOLVE_NOT_FOUND;
    absolute_path(noexec, out, size);
    return RESOLVE_NOT_EXECUTABLE;
}
