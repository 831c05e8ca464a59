/* tls_libs.c: the names of TLS libraries and language runtimes (see
 * tls_libs.h). */
#include "config.h"

#include <string.h>

#include "tls_libs.h"

struct library_prefix {
    const char *prefix;
    struct tls_name name;
};

/* NSS's own SSL library is libssl3.so: it must not read as OpenSSL's. */
static const struct library_prefix libraries[] = {
    { "libssl.so.3", { TLS_OPENSSL, "OpenSSL 3.x" } },
    { "libssl.so.1.1", { TLS_OPENSSL, "OpenSSL 1.1.1" } },
    { "libssl.so", { TLS_OPENSSL_OTHER, "a libssl other than OpenSSL 1.1.1 and 3.x (OpenSSL 1.0, LibreSSL, ...)" } },
    { "libgnutls.so", { TLS_FOREIGN, "GnuTLS" } },
    { "libgnutls-openssl.so", { TLS_FOREIGN, "GnuTLS" } },
    { "libnss3.so", { TLS_FOREIGN, "NSS" } },
    { "libssl3.so", { TLS_FOREIGN, "NSS" } },
    { "libwolfssl.so", { TLS_FOREIGN, "wolfSSL" } },
    { "libmbedtls.so", { TLS_FOREIGN, "Mbed TLS" } },
    { "libbearssl.so", { TLS_FOREIGN, "BearSSL" } },
    { "libs2n.so", { TLS_FOREIGN, "s2n-tls" } },
    { "librustls", { TLS_FOREIGN, "rustls" } },
    { "libtls.so", { TLS_FOREIGN, "LibreSSL's libtls" } },
    { "libboringssl", { TLS_FOREIGN, "BoringSSL" } },
};

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

struct tls_name tls_library(const char *soname)
{
    const char *base = base_name(soname);
    for (size_t i = 0; i < sizeof libraries / sizeof libraries[0]; i++) {
        /* A whole name part: "libssl.so.3" takes "libssl.so.3" and
         * "libssl.so.3.0", not "libssl.so.30". */
        size_t len = strlen(libraries[i].prefix);
        if (starts_with(base, libraries[i].prefix) && strchr(".-_", base[len]))
            return libraries[i].name;
    }
    return (struct tls_name){ TLS_NONE, NULL };
}

struct runtime_prefix {
    const char *program; /* base name prefix of the program */
    const char *library; /* base name prefix of its shared library */
    struct runtime runtime;
};

static const struct runtime_prefix runtimes[] = {
    { "python", "libpython", { "Python", RUNTIME_LOADS_OPENSSL, "through its ssl module (_ssl)" } },
    { "pypy", "libpypy", { "PyPy", RUNTIME_LOADS_OPENSSL, "through its ssl module" } },
    { "perl", "libperl", { "Perl", RUNTIME_LOADS_OPENSSL, "through Net::SSLeay (IO::Socket::SSL)" } },
    { "ruby", "libruby", { "Ruby", RUNTIME_LOADS_OPENSSL, "through its openssl extension" } },
    { "php", "libphp", { "PHP", RUNTIME_LOADS_OPENSSL, "through its openssl extension" } },
    { "lua", "liblua", { "Lua", RUNTIME_LOADS_OPENSSL, "through LuaSec" } },
    { "java", "libjli", { "Java", RUNTIME_OWN_TLS, "JSSE, Java code" } },
    { NULL, "libjvm", { "Java", RUNTIME_OWN_TLS, "JSSE, Java code" } },
};

struct runtime runtime_of_program(const char *path)
{
    const char *base = base_name(path);
    for (size_t i = 0; i < sizeof runtimes / sizeof runtimes[0]; i++)
        if (runtimes[i].program && starts_with(base, runtimes[i].program))
            return runtimes[i].runtime;
    return (struct runtime){ NULL, RUNTIME_LOADS_OPENSSL, NULL };
}

struct runtime runtime_of_library(const char *soname)
{
    const char *base = base_name(soname);
    for (size_t i = 0; i < sizeof runtimes / sizeof runtimes[0]; i++)
        if (starts_with(base, runtimes[i].library))
            return runtimes[i].runtime;
    return (struct runtime){ NULL, RUNTIME_LOADS_OPENSSL, NULL };
}
