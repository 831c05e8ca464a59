/* tls_libs.h: what a library or program name says about TLS: a libssl
 * the library supports (OpenSSL 1.1.1, 3.x), another libssl, another TLS
 * library (out of the library's reach), or a language runtime that loads
 * its TLS at run time. */
#ifndef TC_INSPECT_TLS_LIBS_H
#define TC_INSPECT_TLS_LIBS_H

enum tls_kind {
    TLS_NONE,
    TLS_OPENSSL,       /* libssl.so.3, libssl.so.1.1: the library acts */
    TLS_OPENSSL_OTHER, /* another libssl.so.N (OpenSSL 1.0, LibreSSL) */
    TLS_FOREIGN,       /* GnuTLS, NSS, wolfSSL, ...: out of reach */
};

struct tls_name {
    enum tls_kind kind;
    const char *what; /* "OpenSSL 3.x", "GnuTLS", ...; NULL for TLS_NONE */
};

/* A library by its soname or file name. */
struct tls_name tls_library(const char *soname);

enum runtime_tls {
    RUNTIME_LOADS_OPENSSL, /* its TLS module links libssl, loaded at run time */
    RUNTIME_OWN_TLS,       /* its TLS is its own code (Java's JSSE) */
};

struct runtime {
    const char *name;      /* "Python", ...; NULL when not a known runtime */
    enum runtime_tls tls;
    const char *how;       /* "through its ssl module (_ssl)", ... */
};

/* A language runtime by the base name of its program (python3.11) or of
 * one of its libraries (libpython3.11.so.1.0). */
struct runtime runtime_of_program(const char *path);
struct runtime runtime_of_library(const char *soname);

#endif
