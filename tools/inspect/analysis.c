/* analysis.c: the facts and the verdict for an ELF program (see
 * analysis.h). */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "analysis.h"

size_t analysis_libraries(const struct analysis *a)
{
    return a->closure ? a->deps.n : a->elf.n_needed;
}

const char *analysis_library_name(const struct analysis *a, size_t i)
{
    return a->closure ? a->deps.dep[i].name : a->elf.needed[i];
}

const char *analysis_library_path(const struct analysis *a, size_t i)
{
    return a->closure ? a->deps.dep[i].path : NULL;
}

/* The class and machine this helper (and so the library) was built for. */
static bool same_machine_as_host(const struct elf_file *e)
{
    static int bits = -1;
    static unsigned machine;
    if (bits < 0) {
        struct elf_file self;
        char why[64];
        if (elf_read("/proc/self/exe", &self, why, sizeof why) < 0)
            return true; /* cannot tell: do not claim a difference */
        bits = self.bits, machine = self.machine;
        elf_free(&self);
    }
    return e->bits == bits && e->machine == machine;
}

/* Whether a library other than libssl defines SSL_read (OpenSSL linked
 * into it, as a vendor's libnode may have it). */
static bool library_defines_ssl_read(const char *path)
{
    struct elf_file lib;
    char why[64];
    if (!path || elf_read(path, &lib, why, sizeof why) < 0)
        return false;
    bool defines = (lib.symbols & ELF_DEFINES_SSL_READ) != 0;
    elf_free(&lib);
    return defines;
}

static void classify_libraries(struct analysis *a)
{
    for (size_t i = 0; i < analysis_libraries(a); i++) {
        const char *name = analysis_library_name(a, i), *path = analysis_library_path(a, i);
        struct tls_name t = tls_library(name);
        if (t.kind == TLS_OPENSSL && (!a->libssl || a->libssl_missing)) {
            a->libssl = name, a->libssl_what = t.what, a->libssl_path = path;
            a->libssl_missing = a->closure && !path;
        } else if (t.kind == TLS_OPENSSL_OTHER && !a->other_libssl) {
            a->other_libssl = name;
        } else if (t.kind == TLS_FOREIGN && !a->foreign) {
            a->foreign = name, a->foreign_what = t.what;
        } else if (t.kind == TLS_NONE) {
            struct runtime r = runtime_of_library(name);
            if (r.name && !a->runtime.name) {
                a->runtime = r;
                a->runtime_library = name;
            }
            if (a->closure && !a->ssl_in_library && library_defines_ssl_read(path))
                a->ssl_in_library = name;
        }
    }
}

static void decide(struct analysis *a, enum verdict v, bool unreachable, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void decide(struct analysis *a, enum verdict v, bool unreachable, const char *fmt, ...)
{
    va_list ap;
    a->verdict = v;
    a->unreachable = unreachable;
    va_start(ap, fmt);
    vsnprintf(a->reason, sizeof a->reason, fmt, ap);
    va_end(ap);
}

static void verdict(struct analysis *a)
{
    const struct elf_file *e = &a->elf;
    char machine[32];

    if (a->unreadable)
        decide(a, VERDICT_NO, false, "cannot read it (%s)", a->why);
    else if (a->other_machine)
        decide(a, VERDICT_NO, true, "it is built for %d-bit %s, the library for another machine",
               e->bits, elf_machine_name(e->machine, machine, sizeof machine));
    else if (!e->interp && e->go)
        decide(a, VERDICT_NO, true, "a statically linked Go program: its TLS is Go's crypto/tls, and no dynamic loader runs to preload the library");
    else if (!e->interp)
        decide(a, VERDICT_NO, true, "statically linked: no dynamic loader runs, so LD_PRELOAD has no effect");
    else if (e->symbols & ELF_DEFINES_SSL_READ)
        decide(a, VERDICT_NO, true, "OpenSSL is linked into the executable (it defines SSL_read itself, and its own definition wins over the library's)");
    else if (a->libssl && a->libssl_missing)
        decide(a, VERDICT_NO, false, "%s is not found: the program cannot start", a->libssl);
    else if (a->libssl)
        decide(a, VERDICT_YES, false, "%s (%s) is among its libraries", a->libssl, a->libssl_what);
    else if (e->go)
        decide(a, VERDICT_NO, false, "a Go program: its TLS is Go's crypto/tls, not OpenSSL");
    else if (a->other_libssl)
        decide(a, VERDICT_NO, false, "its libssl, %s, is not OpenSSL 1.1.1 or 3.x", a->other_libssl);
    else if (a->foreign)
        decide(a, VERDICT_NO, true, "its TLS library is %s (%s), not OpenSSL", a->foreign_what, a->foreign);
    else if (a->runtime.name && a->runtime.tls == RUNTIME_OWN_TLS)
        decide(a, VERDICT_NO, false, "%s: its TLS is %s, not OpenSSL", a->runtime.name, a->runtime.how);
    else if (a->ssl_in_library)
        decide(a, VERDICT_MAYBE, false, "OpenSSL is linked into %s: the library acts only on the calls that reach it through the dynamic linker", a->ssl_in_library);
    else if (a->runtime.name)
        decide(a, VERDICT_MAYBE, false, "no libssl among its libraries, but %s loads libssl at run time %s, and the library acts on the connections made through it", a->runtime.name, a->runtime.how);
    else if ((e->symbols & ELF_IMPORTS_DLOPEN) && (e->symbols & ELF_IMPORTS_EXEC))
        decide(a, VERDICT_MAYBE, false, "no libssl among its libraries, but it imports dlopen (the library acts if it loads libssl 1.1 or 3 at run time) and runs other programs, which inherit the library: check those with tlsclose --check");
    else if (e->symbols & ELF_IMPORTS_DLOPEN)
        decide(a, VERDICT_MAYBE, false, "no libssl among its libraries, but it imports dlopen: the library acts if it loads libssl 1.1 or 3 at run time");
    else if (e->symbols & ELF_IMPORTS_EXEC)
        decide(a, VERDICT_MAYBE, false, "no libssl among its libraries, but it runs other programs, which inherit the library: check those with tlsclose --check");
    else if (a->closure_tried && !a->closure)
        decide(a, VERDICT_MAYBE, false, "dynamically linked, but its libraries are unknown; the library acts if they include libssl 1.1 or 3");
    else if (!e->symbols_read)
        decide(a, VERDICT_MAYBE, false, "no libssl among its libraries, and its symbols are unknown: it may load libssl at run time");
    else
        decide(a, VERDICT_NO, false, "no TLS library among its libraries, and it loads none at run time (it does not import dlopen) and runs no other program");
}

void analyse_elf(const char *path, bool closure, struct analysis *a)
{
    memset(a, 0, sizeof *a);
    if (elf_read(path, &a->elf, a->why, sizeof a->why) < 0) {
        a->unreadable = true;
    } else {
        a->other_machine = !same_machine_as_host(&a->elf);
        a->runtime = runtime_of_program(path);
        if (closure && a->elf.interp && !a->other_machine) {
            a->closure_tried = true;
            deps_list(path, &a->elf, &a->deps);
            a->closure = a->deps.status == DEPS_LISTED;
        }
        classify_libraries(a);
    }
    verdict(a);
}

void analysis_free(struct analysis *a)
{
    elf_free(&a->elf);
    deps_free(&a->deps);
}
