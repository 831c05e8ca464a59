/* real.c: binding the real libc and OpenSSL functions (see real.h). */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "real.h"

struct tc_libc tc_libc;
struct tc_ossl tc_ossl;
int tc_ossl_v3;
int tc_ossl_v32;

/* --- libc ------------------------------------------------------------ */

/* Fallbacks used only if dlsym(RTLD_NEXT) cannot find a libc function (a
 * static or exotic libc): the raw system call keeps the wrapper honest
 * instead of calling NULL. */
static int sys_close(int fd) { return (int)syscall(SYS_close, fd); }
static int sys_shutdown(int fd, int how) { return (int)syscall(SYS_shutdown, fd, how); }
static int sys_dup(int fd) { return (int)syscall(SYS_dup, fd); }
static int sys_dup2(int fd, int fd2)
{
    if (fd == fd2)
        return (int)syscall(SYS_fcntl, fd, F_GETFD) < 0 ? -1 : fd;
    return (int)syscall(SYS_dup3, fd, fd2, 0);
}
static int sys_dup3(int fd, int fd2, int flags) { return (int)syscall(SYS_dup3, fd, fd2, flags); }
static int sys_fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return (int)syscall(SYS_fcntl, fd, cmd, arg);
}
static int sys_close_range(unsigned int first, unsigned int last, int flags)
{
#ifdef SYS_close_range
    return (int)syscall(SYS_close_range, first, last, flags);
#else
    errno = ENOSYS;
    return -1;
#endif
}
static void sys_closefrom(int lowfd) { sys_close_range((unsigned int)lowfd, ~0U, 0); }
static int no_fclose(FILE *f)
{
    (void)f;
    errno = ENOSYS;
    return EOF;
}

void *tc_own_symbol(const char *name)
{
    static void *self, *self_base;
    Dl_info info;
    void *h = __atomic_load_n(&self, __ATOMIC_ACQUIRE);
    if (!h) {
        /* This library's own file, found from one of its functions; already
         * loaded, so RTLD_NOLOAD only returns a handle (benign race: every
         * thread gets the same one). */
        if (!dladdr((void *)tc_own_symbol, &info) || !info.dli_fname)
            return NULL;
        h = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
        if (!h)
            return NULL;
        __atomic_store_n(&self_base, info.dli_fbase, __ATOMIC_RELAXED);
        __atomic_store_n(&self, h, __ATOMIC_RELEASE);
    }
    /* dlsym() searches the object's dependencies too: only a definition in
     * this very object counts. */
    void *p = dlsym(h, name);
    return p && dladdr(p, &info) && info.dli_fbase == __atomic_load_n(&self_base, __ATOMIC_RELAXED)
               ? p
               : NULL;
}

/* dlsym(RTLD_NEXT) never returns our own definition, but a broken preload
 * order could; treat our own address as "not found". */
static void *next_symbol(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    return p && p == tc_own_symbol(name) ? NULL : p;
}

#define BIND_LIBC(name, fallback)                                                   \
    do {                                                                            \
        void *p_ = next_symbol(#name);                                              \
        __atomic_store_n(&tc_libc.name, p_ ? (__typeof__(tc_libc.name))p_ : fallback, \
                         __ATOMIC_RELEASE);                                         \
    } while (0)

void tc_bind_libc(void)
{
    /* Idempotent: concurrent callers store identical values. close is bound
     * last so that TC_LIBC(close) != NULL implies the whole table is ready. */
    BIND_LIBC(shutdown, sys_shutdown);
    BIND_LIBC(dup, sys_dup);
    BIND_LIBC(dup2, sys_dup2);
    BIND_LIBC(dup3, sys_dup3);
    BIND_LIBC(fcntl, sys_fcntl);
#ifdef HAVE_FCNTL64
    BIND_LIBC(fcntl64, tc_libc.fcntl);
#else
    tc_libc.fcntl64 = tc_libc.fcntl;
#endif
#ifdef HAVE_CLOSE_RANGE
    BIND_LIBC(close_range, sys_close_range);
#else
    tc_libc.close_range = sys_close_range;
#endif
#ifdef HAVE_CLOSEFROM
    BIND_LIBC(closefrom, sys_closefrom);
#else
    tc_libc.closefrom = sys_closefrom;
#endif
    BIND_LIBC(fclose, no_fclose);
    BIND_LIBC(close, sys_close);
}

/* --- OpenSSL --------------------------------------------------------- */

static const char *const libssl_sonames[] = { "libssl.so.3", "libssl.so.1.1" };

/* Find the libssl the program uses, without ever loading one. RTLD_NEXT
 * sees a libssl in the global scope; one loaded RTLD_LOCAL (Python's _ssl,
 * plugins) is reachable only through dlopen(soname, RTLD_NOLOAD). Symbols
 * are then taken from that one handle, so libssl and libcrypto functions
 * always come from the same OpenSSL. */
static void *find_libssl(void)
{
    void *probe = dlsym(RTLD_NEXT, "SSL_shutdown");
    Dl_info info;
    if (probe && dladdr(probe, &info) && info.dli_fname) {
        void *h = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
        if (h)
            return h;
    }
    for (size_t i = 0; i < sizeof libssl_sonames / sizeof libssl_sonames[0]; i++) {
        void *h = dlopen(libssl_sonames[i], RTLD_LAZY | RTLD_NOLOAD);
        if (h)
            return h;
    }
    return NULL;
}

/* How much the library depends on each function it binds:
 *  WRAPPED:  a function it intercepts; if missing, its wrapper fails the
 *            call as the program's own call would have (named in the
 *            missing-symbol line);
 *  NEEDED:   a function the library itself calls to act; if one is
 *            missing, the library leaves the program's TLS alone;
 *  OPTIONAL: used when present (newer versions, BIO methods). */
enum need { OPTIONAL, WRAPPED, NEEDED };

static struct {
    char names[512]; /* the missing WRAPPED and NEEDED functions, comma-separated */
    size_t len;
    int disabled;    /* a NEEDED one is missing */
} missing;

static void *ossl_symbol(void *handle, const char *name, enum need need)
{
    void *p = dlsym(handle, name);
    if (p || need == OPTIONAL)
        return p;
    if (need == NEEDED)
        missing.disabled = 1;
    if (missing.len < sizeof missing.names) {
        int n = snprintf(missing.names + missing.len, sizeof missing.names - missing.len, "%s%s",
                         missing.len ? "," : "", name);
        if (n > 0)
            missing.len += (size_t)n;
    }
    return NULL;
}

#define BIND_OSSL(h, name, need) \
    (tc_ossl.name = (__typeof__(tc_ossl.name))ossl_symbol((h), #name, (need)))

static pthread_mutex_t bind_lock = PTHREAD_MUTEX_INITIALIZER;
int tc_ossl_state; /* 0: not tried, 1: bound, -1: no usable OpenSSL */
void *tc_libssl;

static int bind_all(void *h)
{
    BIND_OSSL(h, SSL_read, WRAPPED);
    BIND_OSSL(h, SSL_read_ex, WRAPPED);
    BIND_OSSL(h, SSL_peek, WRAPPED);
    BIND_OSSL(h, SSL_peek_ex, WRAPPED);
    BIND_OSSL(h, SSL_write, WRAPPED);
    BIND_OSSL(h, SSL_write_ex, WRAPPED);
    BIND_OSSL(h, SSL_connect, WRAPPED);
    BIND_OSSL(h, SSL_accept, WRAPPED);
    BIND_OSSL(h, SSL_do_handshake, WRAPPED);
    BIND_OSSL(h, SSL_shutdown, NEEDED);
    BIND_OSSL(h, SSL_free, WRAPPED);
    BIND_OSSL(h, SSL_up_ref, WRAPPED);
    BIND_OSSL(h, SSL_clear, WRAPPED);
    BIND_OSSL(h, SSL_get_error, WRAPPED);
    BIND_OSSL(h, SSL_is_init_finished, NEEDED);
    BIND_OSSL(h, SSL_get_shutdown, NEEDED);
    BIND_OSSL(h, SSL_set_shutdown, NEEDED);
    BIND_OSSL(h, SSL_get_quiet_shutdown, NEEDED);
    BIND_OSSL(h, SSL_set_quiet_shutdown, NEEDED);
    BIND_OSSL(h, SSL_get_wfd, NEEDED);
    BIND_OSSL(h, SSL_want, NEEDED);
    BIND_OSSL(h, SSL_is_dtls, NEEDED);
    BIND_OSSL(h, SSL_is_quic, OPTIONAL);
    BIND_OSSL(h, SSL_get_version, NEEDED);
    BIND_OSSL(h, SSL_version, NEEDED);
    BIND_OSSL(h, SSL_get_options, NEEDED);
    BIND_OSSL(h, SSL_set_options, NEEDED);
    BIND_OSSL(h, SSL_get_rbio, NEEDED);
    BIND_OSSL(h, SSL_get_wbio, NEEDED);
    BIND_OSSL(h, BIO_find_type, NEEDED);
    BIND_OSSL(h, SSL_set0_wbio, OPTIONAL);
    BIND_OSSL(h, BIO_new, OPTIONAL);
    BIND_OSSL(h, BIO_up_ref, OPTIONAL);
    BIND_OSSL(h, BIO_get_new_index, OPTIONAL);
    BIND_OSSL(h, BIO_meth_new, OPTIONAL);
    BIND_OSSL(h, BIO_meth_set_write, OPTIONAL);
    BIND_OSSL(h, BIO_meth_set_ctrl, OPTIONAL);
    BIND_OSSL(h, BIO_meth_set_create, OPTIONAL);
    BIND_OSSL(h, BIO_set_init, OPTIONAL);
    BIND_OSSL(h, BIO_method_type, OPTIONAL);
    BIND_OSSL(h, BIO_ctrl, NEEDED);
    BIND_OSSL(h, BIO_test_flags, NEEDED);
    BIND_OSSL(h, CRYPTO_get_ex_new_index, NEEDED);
    BIND_OSSL(h, ERR_peek_error, NEEDED);
    BIND_OSSL(h, ERR_peek_last_error, NEEDED);
    BIND_OSSL(h, ERR_get_error, NEEDED);
    /* Pushing an error: ERR_new/ERR_set_debug/ERR_set_error in 3.x,
     * ERR_put_error in 1.1.1 (a macro in 3.x); eof.c uses what exists. */
    BIND_OSSL(h, ERR_new, OPTIONAL);
    BIND_OSSL(h, ERR_set_debug, OPTIONAL);
    BIND_OSSL(h, ERR_set_error, OPTIONAL);
    BIND_OSSL(h, ERR_put_error, OPTIONAL);
    BIND_OSSL(h, ERR_get_next_error_library, NEEDED);
    BIND_OSSL(h, ERR_load_strings, NEEDED);
    BIND_OSSL(h, ERR_set_mark, NEEDED);
    BIND_OSSL(h, ERR_pop_to_mark, NEEDED);
    BIND_OSSL(h, OPENSSL_init_crypto, NEEDED);
    BIND_OSSL(h, OpenSSL_version_num, NEEDED);
    if (missing.disabled)
        return 0;
    tc_ossl_v3 = tc_ossl.OpenSSL_version_num() >= 0x30000000UL;
    tc_ossl_v32 = tc_ossl.OpenSSL_version_num() >= 0x30200000UL;
    return 1;
}

const char *tc_ossl_missing(int *disabled)
{
    *disabled = missing.disabled;
    return missing.len ? missing.names : NULL;
}

int tc_bind_openssl_slow(void)
{
    int state;
    pthread_mutex_lock(&bind_lock);
    if (!tc_ossl_state) {
        void *h = find_libssl();
        /* No libssl in the process: a wrapper was reached through some other
         * path (e.g. dlsym(RTLD_DEFAULT)); try again at the next call. */
        if (h) {
            tc_libssl = h;
            __atomic_store_n(&tc_ossl_state, bind_all(h) ? 1 : -1, __ATOMIC_RELEASE);
        }
    }
    state = tc_ossl_state;
    pthread_mutex_unlock(&bind_lock);
    return state > 0;
}
