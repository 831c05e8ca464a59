/* analysis.h: can the library act on an ELF program, and why (not)?
 *
 * The facts come from the file itself (elf_file.h) and from its libraries:
 * all of them as a trusted loader lists them (--check), or only the
 * direct ones, DT_NEEDED (the wrapper's run path, which must stay cheap).
 * The verdict is a pure function of the facts, in this order:
 *   no    another machine; statically linked (no dynamic loader, so no
 *         LD_PRELOAD; Go programs too); OpenSSL linked into the executable
 *         (it defines SSL_read itself, and its own definition wins over
 *         any preloaded one); a libssl dependency that is not found;
 *   yes   libssl.so.3 or libssl.so.1.1 among the libraries;
 *   no    a dynamically linked Go program; another libssl only; another
 *         TLS library only (GnuTLS, NSS, ...); Java (its TLS is Java code);
 *   maybe OpenSSL linked into another library; a language runtime that
 *         loads libssl at run time (Python's ssl module, ...); a program
 *         that imports dlopen (it may load libssl later); one that runs
 *         other programs (they inherit LD_PRELOAD: check them); libraries
 *         unknown;
 *   no    otherwise: no TLS library, and none loaded later. */
#ifndef TC_INSPECT_ANALYSIS_H
#define TC_INSPECT_ANALYSIS_H

#include <stdbool.h>

#include "deps.h"
#include "elf_file.h"
#include "tls_libs.h"

/* The exit statuses of --check. */
enum verdict { VERDICT_YES = 0, VERDICT_NO = 1, VERDICT_MAYBE = 3 };

struct analysis {
    struct elf_file elf;
    bool unreadable;          /* elf_read failed: why[] */
    char why[128];
    bool other_machine;       /* not the class and machine of this build */
    bool closure_tried;       /* a loader was asked for the libraries ... */
    bool closure;             /* ... and listed them (else: DT_NEEDED) */
    struct deps deps;         /* closure only */

    const char *libssl;       /* a supported libssl (soname), its version, */
    const char *libssl_what;  /*   and where it was found (closure only) */
    const char *libssl_path;
    bool libssl_missing;      /* ... but the loader did not find it */
    const char *other_libssl; /* an unsupported libssl */
    const char *foreign;      /* another TLS library (soname) and its name */
    const char *foreign_what;
    const char *ssl_in_library; /* a library other than libssl defining SSL_read */
    struct runtime runtime;   /* a known language runtime, by name ... */
    const char *runtime_library; /* ... or through this library */

    enum verdict verdict;
    bool unreachable;         /* a "no" the wrapper warns about before running */
    char reason[512];
};

/* path: an existing ELF file (absolute). closure: list every library
 * through a trusted loader (a subprocess) instead of reading DT_NEEDED. */
void analyse_elf(const char *path, bool closure, struct analysis *a);
void analysis_free(struct analysis *a);

/* The dependency list to show: the loader's or the direct one, as
 * name/path pairs (path NULL when not found, or not known). */
size_t analysis_libraries(const struct analysis *a);
const char *analysis_library_name(const struct analysis *a, size_t i);
const char *analysis_library_path(const struct analysis *a, size_t i);

#endif
