/* Shared helper of the sample legacy programs; see sample.h. */
#include "sample.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

/* Upper bound of every wait of the non-blocking variant. */
#define SAMPLE_TIMEOUT_MS 10000

static const char *opt_host = "127.0.0.1";
static const char *opt_cert;
static const char *opt_key;
static int opt_port = -1;
static const char *opt_variant = "";

static _Noreturn void usage(const char *prog, const char *msg)
{
	fprintf(stderr, "sample: %s: %s\n", prog, msg);
	exit(2);
}

static void parse(int argc, char **argv, int server)
{
	const char *prog = argc > 0 && argv[0] ? argv[0] : "sample";
	const char *slash = strrchr(prog, '/');
	struct sigaction sa;
	sigset_t set;

	if (slash)
		prog = slash + 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!server && strncmp(a, "--port=", 7) == 0) {
			char *end;
			long v = strtol(a + 7, &end, 10);

			if (end == a + 7 || *end || v <= 0 || v > 65535)
				usage(prog, "bad --port");
			opt_port = (int)v;
		} else if (strncmp(a, "--variant=", 10) == 0) {
			opt_variant = a + 10;
		} else if (strncmp(a, "--host=", 7) == 0 && a[7]) {
			opt_host = a + 7;
		} else if (server && strncmp(a, "--cert=", 7) == 0 && a[7]) {
			opt_cert = a + 7;
		} else if (server && strncmp(a, "--key=", 6) == 0 && a[6]) {
			opt_key = a + 6;
		} else {
			fprintf(stderr, "sample: %s: unknown argument '%s'\n", prog, a);
			exit(2);
		}
	}
	if (!server && opt_port < 0)
		usage(prog, "--port=N is required");
	if (server && (!opt_cert || !opt_key))
		usage(prog, "--cert=FILE and --key=FILE are required");

	/* Whatever the test harness inherited, the sample must die of SIGPIPE
	 * like an unprotected program: default disposition, not blocked. */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigprocmask(SIG_UNBLOCK, &set, NULL);

	fprintf(stderr, "sample: %s %s\n", prog, OpenSSL_version(OPENSSL_VERSION));
}

void sample_init(int argc, char **argv)
{
	parse(argc, argv, 0);
}

void sample_init_server(int argc, char **argv)
{
	parse(argc, argv, 1);
}

const char *sample_host(void)
{
	return opt_host;
}

const char *sample_variant(void)
{
	return opt_variant;
}

int sample_port(void)
{
	return opt_port;
}

const char *sample_cert(void)
{
	return opt_cert;
}

const char *sample_key(void)
{
	return opt_key;
}

static _Noreturn void fail_common(const char *what, int code, int err)
{
	char line[1024];
	size_t len;
	unsigned long e;

	len = (size_t)snprintf(line, sizeof line, "sample: %s", what);
	if (code >= 0 && len < sizeof line)
		len += (size_t)snprintf(line + len, sizeof line - len, ": SSL_get_error=%d", code);
	if (err && len < sizeof line)
		len += (size_t)snprintf(line + len, sizeof line - len, ": errno=%d (%s)", err, strerror(err));
	while ((e = ERR_get_error()) != 0 && len < sizeof line) {
		char buf[256];

		ERR_error_string_n(e, buf, sizeof buf);
		len += (size_t)snprintf(line + len, sizeof line - len, ": %s", buf);
	}
	fprintf(stderr, "%s\n", line);
	exit(1);
}

void sample_fail(const char *what)
{
	fail_common(what, -1, errno);
}

void sample_fail_ssl(SSL *ssl, int ret, const char *what)
{
	int err = errno;

	fail_common(what, SSL_get_error(ssl, ret), err);
}

void sample_done(const char *fmt, ...)
{
	va_list ap;

	fputs("ok ", stdout);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

const char *sample_tls12_ciphers;

SSL_CTX *sample_client_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx)
		sample_fail("SSL_CTX_new failed");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, 0))
		sample_fail("SSL_CTX_set_{min,max}_proto_version failed");
	if (sample_tls12_ciphers && !SSL_CTX_set_cipher_list(ctx, sample_tls12_ciphers))
		sample_fail("SSL_CTX_set_cipher_list failed");
	return ctx;
}

/* TCP socket to --host:--port; with nonblocking, O_NONBLOCK is set before
 * connect() and the connection is completed with poll(). */
static int tcp_connect(int nonblocking)
{
	struct addrinfo hints, *res;
	char port[16];
	int fd, rc;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(port, sizeof port, "%d", opt_port);
	rc = getaddrinfo(opt_host, port, &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "sample: getaddrinfo %s: %s\n", opt_host, gai_strerror(rc));
		exit(1);
	}
	fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
	if (fd < 0)
		sample_fail("socket failed");
	if (nonblocking && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		sample_fail("fcntl O_NONBLOCK failed");
	rc = connect(fd, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (rc < 0 && nonblocking && errno == EINPROGRESS) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int err = 0;
		socklen_t len = sizeof err;

		rc = poll(&p, 1, SAMPLE_TIMEOUT_MS);
		if (rc == 0) {
			errno = 0;
			sample_fail("connect timed out");
		}
		if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			sample_fail("poll/getsockopt after connect failed");
		errno = err;
		rc = err ? -1 : 0;
	}
	if (rc < 0)
		sample_fail("connect failed");
	return fd;
}

void sample_setup(struct sample *s, int nonblocking)
{
	s->ctx = sample_client_ctx();
	sample_setup_in_ctx(s, nonblocking);
}

void sample_clear_reconnect(struct sample *s)
{
	int r;

	if (close(s->fd) != 0)
		sample_fail("close failed");
	if (SSL_clear(s->ssl) != 1)
		sample_fail("SSL_clear failed");
	s->fd = tcp_connect(0);
	if (!SSL_set_fd(s->ssl, s->fd))
		sample_fail("SSL_set_fd failed");
	r = SSL_connect(s->ssl);
	if (r != 1)
		sample_fail_ssl(s->ssl, r, "second SSL_connect failed");
}

void sample_setup_in_ctx(struct sample *s, int nonblocking)
{
	s->fd = tcp_connect(nonblocking);
	s->ssl = SSL_new(s->ctx);
	if (!s->ssl)
		sample_fail("SSL_new failed");
	if (!SSL_set_fd(s->ssl, s->fd))
		sample_fail("SSL_set_fd failed");
}

void sample_handshake(struct sample *s)
{
	s->ctx = sample_client_ctx();
	sample_handshake_in_ctx(s);
}

void sample_handshake_in_ctx(struct sample *s)
{
	int r;

	sample_setup_in_ctx(s, 0);
	errno = 0;
	r = SSL_connect(s->ssl);
	if (r != 1)
		sample_fail_ssl(s->ssl, r, "SSL_connect failed");
}

void sample_write(struct sample *s, const char *text)
{
	int len = (int)strlen(text);
	int r;
	char what[64];

	errno = 0;
	r = SSL_write(s->ssl, text, len);
	if (r != len) {
		snprintf(what, sizeof what, "SSL_write of %d bytes failed (returned %d)", len, r);
		sample_fail_ssl(s->ssl, r, what);
	}
}

static void check_response(const char *buf, size_t len)
{
	if (len != 6 || memcmp(buf, "world\n", 6) != 0) {
		fprintf(stderr, "sample: unexpected response (%zu bytes): '%.*s'\n",
			len, (int)len, buf);
		exit(1);
	}
}

int sample_connect(struct sample *s)
{
	sample_handshake(s);
	return sample_exchange(s);
}

int sample_connect_in_ctx(struct sample *s)
{
	sample_handshake_in_ctx(s);
	return sample_exchange(s);
}

int sample_exchange(struct sample *s)
{
	char buf[64];
	size_t len = 0;

	sample_write(s, "hello\n");
	while (len == 0 || buf[len - 1] != '\n') {
		int r;

		if (len == sizeof buf)
			check_response(buf, len);
		errno = 0;
		r = SSL_read(s->ssl, buf + len, (int)(sizeof buf - len));
		if (r <= 0)
			sample_fail_ssl(s->ssl, r, "SSL_read of the response failed");
		len += (size_t)r;
	}
	check_response(buf, len);
	return 0;
}

/* Waits (bounded) until the socket is ready for what SSL asked for after a
 * call returned r; exits on any other error. */
static void nb_wait(struct sample *s, int r, const char *what)
{
	int err = SSL_get_error(s->ssl, r);
	struct pollfd p = { .fd = s->fd };
	int rc;

	if (err == SSL_ERROR_WANT_READ)
		p.events = POLLIN;
	else if (err == SSL_ERROR_WANT_WRITE)
		p.events = POLLOUT;
	else
		sample_fail_ssl(s->ssl, r, what);
	rc = poll(&p, 1, SAMPLE_TIMEOUT_MS);
	if (rc < 0 && errno != EINTR)
		sample_fail("poll failed");
	if (rc == 0) {
		char msg[128];

		errno = 0;
		snprintf(msg, sizeof msg, "%s: timed out waiting for %s", what,
			 err == SSL_ERROR_WANT_READ ? "POLLIN" : "POLLOUT");
		sample_fail(msg);
	}
}

int sample_connect_nonblocking(struct sample *s)
{
	static const char req[] = "hello\n";
	char buf[64];
	size_t len = 0;
	int r;

	sample_setup(s, 1);
	while (errno = 0, (r = SSL_connect(s->ssl)) != 1)
		nb_wait(s, r, "SSL_connect failed");
	/* A retried SSL_write must repeat the same arguments. */
	while (errno = 0, (r = SSL_write(s->ssl, req, (int)sizeof req - 1)) <= 0)
		nb_wait(s, r, "SSL_write of the request failed");
	if (r != (int)sizeof req - 1)
		sample_fail("short SSL_write of the request");
	while (len == 0 || buf[len - 1] != '\n') {
		if (len == sizeof buf)
			check_response(buf, len);
		errno = 0;
		r = SSL_read(s->ssl, buf + len, (int)(sizeof buf - len));
		if (r > 0)
			len += (size_t)r;
		else
			nb_wait(s, r, "SSL_read of the response failed");
	}
	check_response(buf, len);
	return 0;
}

int sample_reuse_then_free(struct sample *s)
{
	int sv[2];
	long n = 0;
	char buf[4096];
	ssize_t r;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		sample_fail("socketpair failed");
	if (sv[0] != s->fd) {
		fprintf(stderr, "sample: fd not reused (tls fd %d, socketpair %d,%d)\n",
			s->fd, sv[0], sv[1]);
		return 3;
	}
	SSL_free(s->ssl);
	if (close(sv[0]) != 0)
		sample_fail("close of the plain socket failed");
	/* sv[0] is closed: reading sv[1] ends with EOF after whatever was sent. */
	while ((r = read(sv[1], buf, sizeof buf)) != 0) {
		if (r < 0 && errno != EINTR)
			sample_fail("read from the plain socket failed");
		if (r > 0)
			n += r;
	}
	close(sv[1]);
	if (n != 0) {
		fprintf(stderr, "sample: %ld bytes reached the plain socket\n", n);
		return 4;
	}
	sample_done("plain_bytes=%ld", n);
	return 0;
}

int sample_fill_then_close(struct sample *s, int blocking)
{
	static char junk[65536];
	long total = 0;
	int flags = fcntl(s->fd, F_GETFL);
	struct timespec t0, t1;
	int r, err;

	/* Raw bytes, not TLS records: the peer reads nothing any more, and an
	 * SSL_write left pending would be a different case (write pending). */
	if (flags < 0 || fcntl(s->fd, F_SETFL, flags | O_NONBLOCK) < 0)
		sample_fail("fcntl O_NONBLOCK failed");
	while (total < (64L << 20)) {
		ssize_t n = send(s->fd, junk, sizeof junk, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0)
			sample_fail("send failed");
		total += n;
	}
	if (blocking && fcntl(s->fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
		sample_fail("fcntl ~O_NONBLOCK failed");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	errno = 0;
	r = close(s->fd);
	err = errno;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	sample_done("close=%d errno=%d filled=%ld close_ms=%ld", r, err, total,
		    (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
	return 0;
}
