/* libc.c: the libc wrappers. Each is thin: look the descriptor up (one
 * atomic load for descriptors that are not TLS), let the closing routine
 * act, then make the real call whose result and errno the program gets. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "closing.h"
#include "conn.h"
#include "export.h"
#include "real.h"
#include "report.h"

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* A signal handler interrupted this thread inside OpenSSL or inside the
 * table lock and closes a TLS descriptor: calling OpenSSL again (its
 * allocator, the object the thread is using) or waiting for the lock could
 * corrupt or deadlock, so the descriptor is closed plainly, and that is
 * said (closing.h: tc_end_interrupted). The same when the table stayed
 * locked past its bound (a handler that interrupted malloc() while another
 * thread forks: see table_acquire_bounded). */
static void interrupted(struct tc_conn *c, int fd)
{
    if (c) /* no record: no connection to end */
        tc_end_interrupted(c, fd);
}

/* The program is about to close fd (explicitly or implicitly): unpublish
 * it and, if it was the connection's last descriptor, end the connection.
 * Leaves errno as it found it. */
static void closing_fd(int fd)
{
    int saved = errno;
    /* The usual close of a connection that has ended (the program's own
     * close_notify, then close): one table update, and no getpid() below.
     * A vfork() child that gets here only drops an entry its parent would
     * drop at its own close, with nothing left to do for it. */
    if (tc_fd_forget_if_ended(fd)) {
        errno = saved;
        return;
    }
    /* A vfork() child shares our memory but is another process: it must
     * neither act nor change the table its parent relies on. */
    if (getpid() != tc_pid)
        return;
    int locked_out = 0;
    struct tc_conn *c = tc_fd_last(fd, &locked_out);
    if (c && tc_conn_alive(c)) {
        if (tc_in_openssl > 0)
            interrupted(c, fd);
        else
            tc_end_connection(c, TC_TRIGGER_CLOSE, fd);
    }
    if (locked_out) {
        /* The slot stays published (no lock to change it): a later trigger
         * finds the descriptor closed or reused (its identity differs) and
         * sends nothing through it. The connection ends here, without
         * close_notify (unless a copy of the descriptor stays open). */
        interrupted(tc_fd_peek_locked_out(fd), fd);
    } else {
        tc_fd_forget(fd);
    }
    if (c) {
        tc_drain_before_close(c, fd);
        tc_conn_put(c);
    }
    errno = saved;
}

/* close() of a descriptor the shim tracks, or before libc is bound: out of
 * line, so that the common path below needs no stack frame. */
__attribute__((noinline, cold)) static int close_slow(int fd)
{
    if (tc_fd_peek(fd))
        closing_fd(fd);
    return TC_LIBC(close)(fd);
}

/* Every close() of the process passes here: for a descriptor that is not
 * TLS, the inline table lookup and a tail call to libc's close, no lock, no
 * allocation, no system call of ours (doc/design.md, Performance rules). */
TC_EXPORT int close(int fd)
{
    int (*real)(int) = __atomic_load_n(&tc_libc.close, __ATOMIC_ACQUIRE);
    if (__builtin_expect(tc_fd_peek(fd) != NULL || real == NULL, 0))
        return close_slow(fd);
    return real(fd);
}

TC_EXPORT int shutdown(int fd, int how)
{
    if ((how == SHUT_WR || how == SHUT_RDWR) && tc_fd_peek(fd) && getpid() == tc_pid) {
        /* Before the real shutdown: afterwards no alert could be written. */
        int saved = errno;
        int locked_out = 0;
        struct tc_conn *c = tc_fd_hold(fd, 0, &locked_out);
        if (c) {
            if (tc_in_openssl > 0)
                interrupted(c, fd);
            else
                tc_end_connection(c, TC_TRIGGER_SHUTDOWN, fd);
            tc_conn_put(c);
        } else if (locked_out) {
            interrupted(tc_fd_peek_locked_out(fd), fd);
        }
        errno = saved;
    }
    return TC_LIBC(shutdown)(fd, how);
}

static int after_dup(int oldfd, int newfd)
{
    if (newfd >= 0 && getpid() == tc_pid) {
        int saved = errno;
        /* Only a signal handler run while this thread holds the table (or
         * during fork) fails here: the copy is then not known, and closing
         * the original ends the connection early. Said, not waited for. */
        if (!tc_fd_copied(oldfd, newfd))
            tc_report_fd("untracked", TC_LEVEL_WARN, "reason", "interrupted", newfd,
                         "descriptor copied from a signal handler while the library's table "
                         "was locked; the copy is not tracked, so closing the original ends "
                         "the connection");
        errno = saved;
    }
    return newfd;
}

TC_EXPORT int dup(int fd)
{
    return after_dup(fd, TC_LIBC(dup)(fd));
}

/* dup2/dup3 onto a tracked descriptor close it implicitly. That close
 * happens only if the call succeeds, so the source is checked first. */
static void before_dup_onto(int oldfd, int newfd)
{
    if (oldfd == newfd || !tc_fd_peek(newfd))
        return;
    int saved = errno;
    int valid = TC_LIBC(fcntl)(oldfd, F_GETFD) >= 0;
    errno = saved;
    if (valid)
        closing_fd(newfd);
}

TC_EXPORT int dup2(int oldfd, int newfd)
{
    before_dup_onto(oldfd, newfd);
    int r = TC_LIBC(dup2)(oldfd, newfd);
    return oldfd == newfd ? r : after_dup(oldfd, r);
}

TC_EXPORT int dup3(int oldfd, int newfd, int flags)
{
    before_dup_onto(oldfd, newfd);
    return after_dup(oldfd, TC_LIBC(dup3)(oldfd, newfd, flags));
}

/* fcntl's third argument is read as void *, as glibc itself does: the
 * kernel takes an unsigned long and int arguments are passed in the same
 * register. */
static int fcntl_common(int (*real)(int, int, ...), int fd, int cmd, void *arg)
{
    int r = real(fd, cmd, arg);
    if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
        return after_dup(fd, r);
    return r;
}

TC_EXPORT int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return fcntl_common(TC_LIBC(fcntl), fd, cmd, arg);
}

#ifdef HAVE_FCNTL64
TC_EXPORT int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return fcntl_common(TC_LIBC(fcntl64), fd, cmd, arg);
}
#endif

/* CLOSE_RANGE_UNSHARE closes the descriptors in a private copy of the
 * descriptor table that only the calling thread sees from then on (before
 * an exec, typically): for the rest of the process, and for the library's
 * table, they stay open, so no connection ends. */
TC_EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
    if (!((unsigned)flags & (CLOSE_RANGE_CLOEXEC | CLOSE_RANGE_UNSHARE)) && first <= last)
        tc_fd_foreach_in(first, last, closing_fd);
    return TC_LIBC(close_range)(first, last, flags);
}

TC_EXPORT void closefrom(int lowfd)
{
    if (lowfd >= 0)
        tc_fd_foreach_in((unsigned)lowfd, ~0U, closing_fd);
    TC_LIBC(closefrom)(lowfd);
}

/* glibc's fclose closes the descriptor internally, not through close().
 * No NULL test: glibc declares the argument nonnull (gcc 14 warns about the
 * test and may delete it), and fclose(NULL) faults in libc all the same. */
TC_EXPORT int fclose(FILE *stream)
{
    int saved = errno;
    int fd = fileno(stream);
    errno = saved;
    if (tc_fd_peek(fd))
        closing_fd(fd);
    return TC_LIBC(fclose)(stream);
}
