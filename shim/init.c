/* init.c: start-up, binding OpenSSL, fork and exit handling (see init.h). */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "closing.h"
#include "conn.h"
#include "init.h"
#include "log.h"
#include "report.h"
#include "settings.h"

/* The process the program started as: a forked child (that did not exec)
 * is not a program of its own for the exit summary. */
static pid_t start_pid;

static void load_config(void)
{
    struct tc_config_errors errors;
    tc_settings_load(&errors);
    tc_log_setup(tc_cfg());
    tc_log_config_errors(&errors);
}

static void atfork_prepare(void) { tc_conn_atfork_prepare(); }
static void atfork_parent(void) { tc_conn_atfork_parent(); }
static void atfork_child(void)
{
    tc_conn_atfork_child();
    tc_report_atfork_child();
}

__attribute__((constructor)) static void tc_init(void)
{
    tc_pid = start_pid = getpid();
    tc_bind_libc();
    load_config();
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* --- exit -------------------------------------------------------------------
 * Registered at the first intercepted OpenSSL call: by then OpenSSL has
 * registered its own atexit cleanup, and handlers run in reverse order, so
 * ours runs while OpenSSL is still usable. A program that called
 * OPENSSL_cleanup() itself is detected and left alone: any OpenSSL call
 * after cleanup is undefined (CBC suites crash). */
static void end_at_exit(struct tc_conn *c)
{
    tc_end_connection(c, TC_TRIGGER_EXIT, -1);
}

/* After OPENSSL_cleanup: no OpenSSL call, so the reason comes from what the
 * library noted. A connection whose final event was logged (the program's
 * or the library's close_notify, a skip for good) is left out. */
static void log_after_cleanup(struct tc_conn *c)
{
    unsigned flags = tc_flags(c);
    if (flags & (TC_F_ENDED | TC_F_CLAIMED | TC_F_ALERT_WRITTEN))
        return;
    if (flags & TC_F_FAILED)
        tc_report_skipped(c, NULL, "failed", TC_LEVEL_INFO, c->fd, c->fd, NULL);
    else if (!(flags & TC_F_FD_BOUND))
        tc_report_skipped(c, NULL, "not established", TC_LEVEL_INFO, c->fd, c->fd, NULL);
    else
        tc_report_skipped(c, NULL, "after cleanup", TC_LEVEL_WARN, c->fd, c->fd, NULL);
}

static int forked_child(void)
{
    return getpid() != start_pid;
}

static void at_exit(void)
{
    int saved = errno;
    if (tc_ossl.OPENSSL_init_crypto(TC_OPENSSL_INIT_BASE_ONLY, NULL) != 1)
        tc_conn_foreach(log_after_cleanup);
    else
        tc_conn_foreach(end_at_exit);
    tc_report_summary(forked_child());
    errno = saved;
}

/* The last thing the library does in the process, after every atexit
 * handler (the program's own included: they may still read a socket): the
 * connections it ended at exit (or at SSL_free) whose descriptors are
 * still open are drained, so that the kernel's close of them at process
 * end sends FIN, not RST (unread TLS 1.3 session tickets). */
static void drain_at_end(int fd)
{
    int locked_out = 0;
    struct tc_conn *c = tc_fd_hold(fd, 1, &locked_out);
    if (c) {
        tc_drain_before_close(c, fd);
        tc_conn_put(c);
    }
}

__attribute__((destructor)) static void tc_fini(void)
{
    int saved = errno;
    if (getpid() == tc_pid)
        tc_fd_foreach_in(0, ~0U, drain_at_end);
    /* A process whose exit handler was never registered (OpenSSL never
     * called, or not even loaded) still writes its summary, under
     * TLSCLOSE_LOG_LEVEL=info: "no TLS connection" is not "not loaded".
     * Once per process (at_exit() may have written it); never in a forked
     * child, which is no program of its own. No OpenSSL call. */
    tc_report_summary(forked_child());
    errno = saved;
}

/* --- the first OpenSSL call ------------------------------------------------------ */

int tc_openssl_bound_slow(void)
{
    static int reported;
    int bound = tc_bind_openssl_slow();
    /* Said once, by whichever thread gets here first after the binding. */
    if (__atomic_load_n(&tc_ossl_state, __ATOMIC_ACQUIRE) &&
        !__atomic_exchange_n(&reported, 1, __ATOMIC_ACQ_REL)) {
        int disabled;
        const char *names = tc_ossl_missing(&disabled);
        if (names)
            tc_log_missing_symbols(names, disabled);
    }
    return bound;
}

/* An SSL object freed inside OpenSSL, where the SSL_free wrapper does not
 * see it (conn.h: tc_conn_setup): its connection ends without the library. */
static void freed_inside_openssl(struct tc_conn *c)
{
    tc_report_skipped(c, NULL, "freed by OpenSSL", TC_LEVEL_INFO, c->fd, -1,
                      "the SSL object was freed inside OpenSSL, where the library "
                      "cannot act (whether close_notify went out is not known)");
}

static pthread_mutex_t ready_lock = PTHREAD_MUTEX_INITIALIZER;
int tc_ready;

int tc_openssl_ready_slow(void)
{
    /* Not once-only: if a wrapper is reached before any libssl is loaded,
     * a later call tries again. */
    pthread_mutex_lock(&ready_lock);
    if (!tc_ready && tc_openssl_bound() && tc_conn_setup(tc_libssl, freed_inside_openssl)) {
        atexit(at_exit);
        __atomic_store_n(&tc_ready, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&ready_lock);
    return __atomic_load_n(&tc_ready, __ATOMIC_ACQUIRE);
}
