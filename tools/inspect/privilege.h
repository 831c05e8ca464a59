/* privilege.h: does the dynamic loader run a file in secure mode
 * (AT_SECURE), where it ignores LD_PRELOAD? It does for setuid and setgid
 * files and for files with capabilities (the security.capability extended
 * attribute, read here directly instead of running getcap(8)). */
#ifndef TC_INSPECT_PRIVILEGE_H
#define TC_INSPECT_PRIVILEGE_H

#include <stddef.h>

struct privilege {
    const char *mode;  /* "setuid", "setgid" or NULL */
    char caps[256];    /* in getcap's form ("cap_net_raw=ep"), "" when none */
    int caps_unknown;  /* the attribute could not be read (not just absent) */
};

/* Facts about PATH (symbolic links followed). */
void privilege_of(const char *path, struct privilege *p);

/* Whether the loader would ignore LD_PRELOAD for it. */
int privilege_secure(const struct privilege *p);

#endif
