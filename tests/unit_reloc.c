/* unit_reloc: shim/reloc.c reads a loaded library's relocations to tell
 * whether its own calls to SSL_free reach an interposer. This program is
 * the interposer (it defines SSL_free and exports it); the two builds of
 * tests/reloc_lib.c are the libssl whose calls do, and do not, reach it. */
#include <dlfcn.h>
#include <stdio.h>

#include "../shim/reloc.h"
#include "tap.h"

void SSL_free(void *ssl);
void SSL_free(void *ssl)
{
    (void)ssl;
}

static void *load(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "tests/.libs/%s", name);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        printf("# %s\n", dlerror());
    return h;
}

int main(void)
{
    void *plt = load("libreloc_plt.so");
    void *symbolic = load("libreloc_symbolic.so");
    ok(plt && symbolic, "both builds of the stand-in library loaded");
    ok(tc_reloc_all_reach(plt, "SSL_free", (const void *)SSL_free) == 1,
       "a library calling SSL_free through its linkage table reaches the interposer");
    ok(tc_reloc_all_reach(symbolic, "SSL_free", (const void *)SSL_free) == 0,
       "a library linked -Bsymbolic-functions calls its own SSL_free: not reached");
    ok(tc_reloc_all_reach(plt, "SSL_free", (const void *)main) == 0,
       "an entry that holds another address is no");
    ok(tc_reloc_all_reach(plt, "reloc_lib_free", (const void *)SSL_free) == 0,
       "a function it never refers to through a relocation is no");
    ok(tc_reloc_all_reach(NULL, "SSL_free", (const void *)SSL_free) == 0, "no handle is no");
    return tap_done();
}
