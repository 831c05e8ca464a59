/* wire.c: the alert on the wire (see wire.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "wire.h"
#include "alertbio.h"
#include "conn.h"
#include "real.h"

/* Draining unread bytes before the real close: at most this much. */
#define DRAIN_MAX_BYTES (256 * 1024)

long long tc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining_ms(long long deadline)
{
    long long left = deadline - tc_now_ms();
    return left > 0 ? (int)left : 0;
}

/* poll() one descriptor until ready or the deadline; 1 when ready. A
 * signal (EINTR) only resumes the wait. While it sleeps in poll() the
 * thread is outside OpenSSL and holds no lock of ours, so a handler's
 * close() may end its own connection normally meanwhile. */
int tc_wait_ready(int fd, short events, long long deadline)
{
    struct pollfd p = { .fd = fd, .events = events };
    for (;;) {
        tc_in_openssl--;
        int r = poll(&p, 1, remaining_ms(deadline));
        tc_in_openssl++;
        if (r > 0)
            return 1;
        if (r == 0 || errno != EINTR)
            return 0;
    }
}

/* --- SIGPIPE ---------------------------------------------------------------
 * OpenSSL writes with write(2), so a peer that reset the connection makes
 * our close_notify raise SIGPIPE. Block it in this thread only, and consume
 * a SIGPIPE our write raised; process-wide SIG_IGN would change the
 * program's behaviour. */
void tc_pipe_guard_enter(struct tc_pipe_guard *g)
{
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, &g->old);
    g->was_blocked = sigismember(&g->old, SIGPIPE);
    g->was_pending = 0;
    if (g->was_blocked) {
        /* The program blocks SIGPIPE itself and may have one pending: that
         * one is its own and must stay. (Costs a system call only here.) */
        sigset_t pending;
        if (sigpending(&pending) == 0)
            g->was_pending = sigismember(&pending, SIGPIPE);
    }
}

void tc_pipe_guard_leave(struct tc_pipe_guard *g, int wrote_to_dead_peer)
{
    if (wrote_to_dead_peer && !g->was_pending) {
        sigset_t pipe;
        sigemptyset(&pipe);
        sigaddset(&pipe, SIGPIPE);
        struct timespec zero = { 0, 0 };
        while (sigtimedwait(&pipe, NULL, &zero) == SIGPIPE)
            ;
    }
    if (!g->was_blocked)
        pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* --- pointing the SSL at the descriptor being closed -----------------------
 * With dup'd descriptors the last one closed may not be the number the
 * SSL's socket BIO holds. For the duration of the send the BIO is pointed
 * at the open descriptor, with BIO_NOCLOSE so that no descriptor is ever
 * closed by the switch, and restored afterwards. */
void tc_bio_switch_enter(struct tc_bio_switch *s, SSL *ssl, int fd)
{
    s->bio = NULL;
    BIO *wbio = tc_ossl.SSL_get_wbio(ssl);
    BIO *b = wbio ? tc_ossl.BIO_find_type(wbio, TC_BIO_TYPE_DESCRIPTOR) : NULL;
    int cur = -1;
    if (!b || tc_ossl.BIO_ctrl(b, TC_BIO_C_GET_FD, 0, &cur) < 0 || cur == fd)
        return;
    s->bio = b;
    s->old_fd = cur;
    s->old_close = tc_ossl.BIO_ctrl(b, TC_BIO_CTRL_GET_CLOSE, 0, NULL);
    tc_ossl.BIO_ctrl(b, TC_BIO_CTRL_SET_CLOSE, 0, NULL);
    tc_ossl.BIO_ctrl(b, TC_BIO_C_SET_FD, 0, &fd);
}

void tc_bio_switch_leave(struct tc_bio_switch *s)
{
    if (!s->bio)
        return;
    tc_ossl.BIO_ctrl(s->bio, TC_BIO_C_SET_FD, 0, &s->old_fd);
    tc_ossl.BIO_ctrl(s->bio, TC_BIO_CTRL_SET_CLOSE, s->old_close, NULL);
}

/* Call the real SSL_shutdown once to write the alert; retry only to flush
 * an alert that a full non-blocking socket refused, within the deadline. */
enum tc_sent tc_write_alert(SSL *ssl, int fd, long long deadline, int *epipe)
{
    if (fd >= 0 && !tc_wait_ready(fd, POLLOUT, deadline))
        return TC_SENT_NOTHING;
    for (;;) {
        errno = 0;
        int r = tc_ossl.SSL_shutdown(ssl);
        if (r >= 0)
            return TC_SENT_OK;
        int e = errno;
        if (e == EPIPE)
            *epipe = 1;
        if (e == EPIPE || e == ECONNRESET || e == ENOTCONN)
            return TC_SENT_PEER_GONE;
        if (tc_ossl.SSL_want(ssl) != TC_SSL_WRITING || fd < 0)
            return TC_SENT_ERROR;
        if (!tc_wait_ready(fd, POLLOUT, deadline))
            return TC_SENT_TIMEOUT;
    }
}

/* --- the alert through the library's own BIO (alertbio.h) ------------------
 * It applies when the SSL writes straight into a descriptor BIO (no filter
 * BIO in front, no kernel TLS) over a socket; otherwise the alert goes out
 * through OpenSSL's own write, guarded as above. */

int tc_alert_bio_fits(SSL *ssl, int fd, int is_socket)
{
    if (fd < 0 || !is_socket)
        return 0;
    BIO *w = tc_ossl.SSL_get_wbio(ssl);
    /* A descriptor BIO is a source/sink: when the SSL's own write BIO is
     * one, no filter BIO sits in front of it. Kernel TLS exists only when
     * the program asked for it (3.x: SSL_OP_ENABLE_KTLS). */
    if (!w || !tc_ossl.BIO_method_type || !(tc_ossl.BIO_method_type(w) & TC_BIO_TYPE_DESCRIPTOR))
        return 0;
    if (tc_ossl_v3)
        return !(tc_ossl.SSL_get_options(ssl) & TC_SSL_OP_ENABLE_KTLS);
    return tc_ossl.BIO_ctrl(w, TC_BIO_CTRL_GET_KTLS_SEND, 0, NULL) <= 0;
}

/* deadline 0: the bound starts at the first wait (the usual send does not
 * wait, and reads no clock). */
static enum tc_sent send_all(int fd, const char *p, long len, long long deadline)
{
    while (len > 0) {
        ssize_t n = send(fd, p, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            p += n;
            len -= n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!deadline)
                deadline = tc_now_ms() + TC_SEND_BOUND_MS;
            if (!tc_wait_ready(fd, POLLOUT, deadline))
                return TC_SENT_TIMEOUT;
            continue;
        }
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN))
            return TC_SENT_PEER_GONE;
        return TC_SENT_ERROR;
    }
    return TC_SENT_OK;
}

enum tc_sent tc_write_alert_buffered(SSL *ssl, BIO *mem, int fd, long long deadline)
{
    BIO *w = tc_ossl.SSL_get_wbio(ssl);
    /* SSL_set0_wbio frees the BIO it replaces: one more reference on each
     * keeps both alive through the swap and the swap back. */
    tc_ossl.BIO_up_ref(w);
    tc_ossl.BIO_up_ref(mem);
    tc_ossl.SSL_set0_wbio(ssl, mem);
    int r = tc_ossl.SSL_shutdown(ssl);
    tc_ossl.SSL_set0_wbio(ssl, w);
    long len;
    const char *data = tc_alert_bio_data(&len);
    if (r < 0 || len <= 0)
        return TC_SENT_ERROR;
    return send_all(fd, data, len, deadline);
}

/* TLSCLOSE_WAIT_MS: read until the peer's close_notify or the deadline.
 * The socket is made non-blocking meanwhile so that no read can outlast the
 * deadline. Returns 1 when the peer answered. */
int tc_await_reply(SSL *ssl, int fd, long long deadline)
{
    if (fd < 0)
        return 0;
    int fl = TC_LIBC(fcntl)(fd, F_GETFL);
    if (fl < 0 || (!(fl & O_NONBLOCK) && TC_LIBC(fcntl)(fd, F_SETFL, fl | O_NONBLOCK) < 0))
        return 0;
    int answered = 0;
    while (tc_wait_ready(fd, POLLIN, deadline)) {
        int r = tc_ossl.SSL_shutdown(ssl);
        if (r == 1) {
            answered = 1;
            break;
        }
        if (r == 0 || tc_ossl.SSL_want(ssl) != TC_SSL_READING)
            break;
    }
    if (!(fl & O_NONBLOCK))
        TC_LIBC(fcntl)(fd, F_SETFL, fl);
    return answered;
}

/* Read and discard what the peer already sent (TLS 1.3 session tickets,
 * unread records) so that the kernel ends the connection with FIN, not RST.
 * Never blocks; bounded. A short read means the queue is empty, so the
 * usual case costs a single recv(). */
void tc_drain(int fd)
{
    char buf[16384];
    size_t total = 0;
    while (total < DRAIN_MAX_BYTES) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < (ssize_t)sizeof buf)
            break;
        total += (size_t)n;
    }
}
