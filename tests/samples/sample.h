/* Shared helper of the sample legacy programs in tests/samples.
 *
 * Each sample connects to the test peer, exchanges "hello\n" / "world\n" and
 * then ends its TLS connection in one specific, mostly sloppy, way. The helper
 * hides everything that is not part of that pattern. It builds against the
 * OpenSSL 1.1.1 and 3.x headers alike.
 *
 * Output contract: one line "sample: <program> <OpenSSL version>" on stderr at
 * start; on success exactly one "ok <details>" line on stdout and exit 0; on
 * failure one "sample: <what failed>..." line on stderr and exit 1 (2 for
 * usage errors).
 */
#ifndef TLSCLOSE_SAMPLE_H
#define TLSCLOSE_SAMPLE_H

#include <openssl/ssl.h>

struct sample {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
};

/* Parses --port=N (required), --host=ADDR (default 127.0.0.1) and
 * --variant=NAME, prints the "sample:" line and resets SIGPIPE to its
 * default disposition, unblocked, so that a sample dies of SIGPIPE as an
 * unprotected real program would. */
void sample_init(int argc, char **argv);

/* The same for a sample server: --cert=PEM and --key=PEM are required,
 * --host=ADDR is the listening address (default 127.0.0.1), no --port. */
void sample_init_server(int argc, char **argv);

const char *sample_host(void);
/* --variant=NAME: which form of its pattern a sample runs ("" by default);
 * each sample documents its own. */
const char *sample_variant(void);
int sample_port(void);
const char *sample_cert(void);
const char *sample_key(void);

/* TLS 1.2 cipher list for the client context when set (NULL: the default). */
extern const char *sample_tls12_ciphers;

/* Client context: TLS_client_method, no verification, TLS 1.2 and 1.3. */
SSL_CTX *sample_client_ctx(void);

/* TCP connection (O_NONBLOCK from before connect() with nonblocking) and
 * an SSL over it (s->ctx, s->ssl, s->fd set): no handshake yet. */
void sample_setup(struct sample *s, int nonblocking);

/* sample_setup with the context already in s->ctx. */
void sample_setup_in_ctx(struct sample *s, int nonblocking);

/* One SSL object for a second connection, as programs that keep their
 * objects do: close(s->fd), SSL_clear, then a new blocking TCP connection
 * for the same object (SSL_set_fd, SSL_connect; s->fd set). Exits 1 on
 * failure. */
void sample_clear_reconnect(struct sample *s);

/* Blocking TCP connect + SSL_connect (s->ctx, s->ssl, s->fd set), no data.
 * _in_ctx: over the context already in s->ctx. */
void sample_handshake(struct sample *s);
void sample_handshake_in_ctx(struct sample *s);

/* sample_handshake, then SSL_write "hello\n" and SSL_read until the "\n" of
 * "world\n". Returns 0; on failure prints a "sample:" line and exits 1. */
int sample_connect(struct sample *s);

/* sample_connect over the context already in s->ctx (a new SSL), and the
 * exchange alone ("hello\n", then "world\n"). */
int sample_connect_in_ctx(struct sample *s);
int sample_exchange(struct sample *s);

/* As sample_connect, with the socket O_NONBLOCK from before connect(); every
 * step (connect, SSL_connect, SSL_write, SSL_read) is driven by poll() on
 * SSL_ERROR_WANT_READ/WANT_WRITE. The socket stays non-blocking. */
int sample_connect_nonblocking(struct sample *s);

/* SSL_write of the whole text on a blocking connection; exits 1 on failure. */
void sample_write(struct sample *s, const char *text);

/* Prints "sample: <what>" followed by errno (if set) and the OpenSSL error
 * queue, then exits 1. */
_Noreturn void sample_fail(const char *what);

/* As sample_fail, with the SSL_get_error() code of the failed call. */
_Noreturn void sample_fail_ssl(SSL *ssl, int ret, const char *what);

/* Prints "ok <details>" on stdout and flushes. Does not exit. */
void sample_done(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* After the program closed the TLS socket (s->fd) its own way: reuse the
 * number for a plain socketpair, SSL_free the old SSL (whose BIO still names
 * that number), close the plain end and count the bytes that reached it.
 * Prints "ok plain_bytes=0" and returns 0, or returns 3 (number not reused)
 * or 4 (bytes reached the plain socket) with a "sample:" line. */
int sample_reuse_then_free(struct sample *s);

/* Fill the connection's send buffer (the peer reads nothing: --mode=stall)
 * with raw bytes on the non-blocking socket, make it blocking again if
 * asked, then close() it and print "ok close=R errno=E filled=N close_ms=T". */
int sample_fill_then_close(struct sample *s, int blocking);

#endif
