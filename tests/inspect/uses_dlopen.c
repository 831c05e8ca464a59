/* uses_dlopen: imports dlopen, as a program that may load libssl at run
 * time does (tests/inspect.test). */
#include <dlfcn.h>

int main(int argc, char **argv)
{
    (void)argv;
    /* Referenced, never called: the import is what is inspected. */
    return argc > 100 && dlopen("libssl.so.3", RTLD_NOW) != 0;
}
