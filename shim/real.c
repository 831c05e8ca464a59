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

#include "log.h"
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

/* dlsym(RTLD_NEXT) never returns our own definition, but a broken preload
 * order could; treat our own address as "not found". */
static void *next_symbol(const char *name, void *self)
{
    void *p = dlsym(RTLD_NEXT, name);
    return p == self ? NULL : p;
}

#define BIND_LIBC(name, fallback)                                                   \
    do {                                                                            \
        void *p_ = next_symbol(#name, (void *)&name);                               \
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

/* Names of required symbols that were not found, reported in one line. */
struct missing {
    char names[512];
    size_t len;
};

static void *ossl_symbol(void *handle, const char *name, int required, struct missing *m)
{
    void *p = dlsym(handle, name);
    if (!p && required && m->len < sizeof m->names) {
        int n = snprintf(m->names + m->len, sizeof m->names - m->len, "%s%s",
                         m->len ? "," : "", name);
        if (n > 0)
            m->len += (size_t)n;
    }
    return p;
}

#define BIND_OSSL(h, name, required) \
    (tc_ossl.name = (__typeof__(tc_ossl.name))ossl_symbol((h), #name, (required), &missing))

static pthread_mutex_t bind_lock = PTHREAD_MUTEX_INITIALIZER;
int tc_ossl_state; /* 0: not tried, 1: bound, -1: no usable OpenSSL */
void *tc_libssl;

static int bind_all(void *h)
{
    struct missing missing = { "", 0 };
    BIND_OSSL(h, SSL_read, 1);
    BIND_OSSL(h, SSL_read_ex, 1);
    BIND_OSSL(h, SSL_peek, 1);
    BIND_OSSL(h, SSL_peek_ex, 1);
    BIND_OSSL(h, SSL_write, 1);
    BIND_OSSL(h, SSL_write_ex, 1);
    BIND_OSSL(h, SSL_connect, 1);
    BIND_OSSL(h, SSL_accept, 1);
    BIND_OSSL(h, SSL_do_handshake, 1);
    BIND_OSSL(h, SSL_shutdown, 1);
    BIND_OSSL(h, SSL_free, 1);
    BIND_OSSL(h, SSL_up_ref, 1);
    BIND_OSSL(h, SSL_clear, 1);
    BIND_OSSL(h, SSL_get_error, 1);
    BIND_OSSL(h, SSL_is_init_finished, 1);
    BIND_OSSL(h, SSL_get_shutdown, 1);
    BIND_OSSL(h, SSL_set_shutdown, 1);
    BIND_OSSL(h, SSL_get_quiet_shutdown, 1);
    BIND_OSSL(h, SSL_set_quiet_shutdown, 1);
    BIND_OSSL(h, SSL_get_wfd, 1);
    BIND_OSSL(h, SSL_get_rfd, 1);
    BIND_OSSL(h, SSL_want, 1);
    BIND_OSSL(h, SSL_is_dtls, 1);
    BIND_OSSL(h, SSL_is_quic, 0);
    BIND_OSSL(h, SSL_get_version, 1);
    BIND_OSSL(h, SSL_version, 1);
    BIND_OSSL(h, SSL_get_options, 1);
    BIND_OSSL(h, SSL_set_options, 1);
    BIND_OSSL(h, SSL_get_rbio, 1);
    BIND_OSSL(h, SSL_get_wbio, 1);
    BIND_OSSL(h, BIO_find_type, 1);
    BIND_OSSL(h, SSL_set0_wbio, 0);
    BIND_OSSL(h, BIO_new, 0);
    BIND_OSSL(h, BIO_up_ref, 0);
    BIND_OSSL(h, BIO_get_new_index, 0);
    BIND_OSSL(h, BIO_meth_new, 0);
    BIND_OSSL(h, BIO_meth_set_write, 0);
    BIND_OSSL(h, BIO_meth_set_ctrl, 0);
    BIND_OSSL(h, BIO_meth_set_create, 0);
    BIND_OSSL(h, BIO_set_init, 0);
    BIND_OSSL(h, BIO_method_type, 0);
    BIND_OSSL(h, BIO_ctrl, 1);
    BIND_OSSL(h, BIO_test_flags, 1);
    BIND_OSSL(h, CRYPTO_get_ex_new_index, 1);
    BIND_OSSL(h, ERR_peek_error, 1);
    BIND_OSSL(h, ERR_peek_last_error, 1);
    BIND_OSSL(h, ERR_get_error, 1);
    /* Pushing an error: ERR_new/ERR_set_debug/ERR_set_error in 3.x,
     * ERR_put_error in 1.1.1 (a macro in 3.x); eof.c uses what exists. */
    BIND_OSSL(h, ERR_new, 0);
    BIND_OSSL(h, ERR_set_debug, 0);
    BIND_OSSL(h, ERR_set_error, 0);
    BIND_OSSL(h, ERR_put_error, 0);
    BIND_OSSL(h, ERR_get_next_error_library, 1);
    BIND_OSSL(h, ERR_load_strings, 1);
    BIND_OSSL(h, ERR_set_mark, 1);
    BIND_OSSL(h, ERR_pop_to_mark, 1);
    BIND_OSSL(h, OPENSSL_init_crypto, 1);
    BIND_OSSL(h, OpenSSL_version_num, 1);

    /* Everything the shim itself calls is required to act at all; the
     * intercepted functions are checked one by one by their wrappers. */
    const struct tc_ossl *o = &tc_ossl;
    if (!o->SSL_shutdown || !o->SSL_is_init_finished || !o->SSL_get_shutdown ||
        !o->SSL_set_shutdown || !o->SSL_get_quiet_shutdown || !o->SSL_set_quiet_shutdown ||
        !o->SSL_get_wfd || !o->SSL_get_rfd || !o->SSL_want || !o->SSL_is_dtls ||
        !o->SSL_get_version || !o->SSL_version || !o->SSL_get_options || !o->SSL_set_options ||
        !o->ERR_peek_error || !o->ERR_peek_last_error || !o->ERR_get_error ||
        !o->ERR_get_next_error_library || !o->ERR_load_strings || !o->SSL_get_rbio || !o->SSL_get_wbio || !o->BIO_find_type ||
        !o->BIO_ctrl || !o->BIO_test_flags || !o->CRYPTO_get_ex_new_index || !o->ERR_set_mark || !o->ERR_pop_to_mark ||
        !o->OPENSSL_init_crypto || !o->OpenSSL_version_num) {
        tc_log_missing_symbols(missing.names, 1);
        return 0;
    }
    if (missing.len)
        tc_log_missing_symbols(missing.names, 0);
    tc_ossl_v3 = o->OpenSSL_version_num() >= 0x30000000UL;
    tc_ossl_v32 = o->OpenSSL_version_num() >= 0x30200000UL;
    return 1;
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
