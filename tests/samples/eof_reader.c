/* eof_reader: reads until the peer's end with one read function and prints
 * what the program sees: the return value, SSL_get_error, errno and the
 * error queue as the program would print it, for the first call at the end
 * and for a second call, then the result of SSL_shutdown. The first call's
 * queue is printed with ERR_error_string_n, plus the library name and the
 * reason text of its oldest entry (ERR_lib_error_string,
 * ERR_reason_error_string); the second call's with ERR_print_errors, each
 * line without its thread id. The receive-side
 * tests compare this with the policy table (tlsclose(7), Receiving).
 *
 *   eof_reader --port=N --fn=read|read_ex|peek|peek_ex [--ignore-eof]
 *              [--bio=custom|custom-eof [--read-error-after=N]] [--then=wait-fin]
 *
 * --then=wait-fin: after the end, make no further OpenSSL call: wait for the
 * peer's TCP FIN and leave with _exit(), so that the only close_notify the
 * peer can get from us is one sent at once when its own arrived.
 *
 * --ignore-eof sets SSL_OP_IGNORE_UNEXPECTED_EOF (OpenSSL 3; in 1.1.1 the
 * bit is reserved and has no effect, as for a program built against 3.x
 * headers and run on 1.1.1).
 *
 * --bio=custom: after the handshake, the connection's I/O goes through a BIO
 * of the program's own (as curl's), a plain recv/send over the socket whose
 * ctrl answers nothing, BIO_CTRL_EOF included: at a silent EOF OpenSSL 3.0
 * and 3.1 then signal what 1.1.1 does (0, SSL_ERROR_SYSCALL, errno 0), 3.2
 * and later -1 (the _ex forms 0) with SSL_ERROR_SYSCALL, errno 0. Nor does
 * it answer BIO_get_fd, so the library cannot learn the descriptor from it.
 *
 * --bio=custom-eof: the same BIO, except that its ctrl answers BIO_CTRL_EOF
 * truthfully: 1 once a recv() returned 0 (the peer's FIN), else 0, as the
 * socket BIO does. OpenSSL 3 then sees a silent EOF as through a socket BIO.
 *
 * --read-error-after=N (with either own BIO): once the program has read N
 * bytes of application data, every read of the BIO fails: -1, no retry
 * flag, errno untouched (0: the reader clears it before each call), and the
 * socket is not read, so the connection stays open (the peer waits, e.g.
 * --mode=normal). A transport error that sets no errno, which is not an end
 * of stream: the shape the library must not take for a silent EOF where it
 * can tell them apart.
 *
 * Output: one JSON line on stdout. */
#include "sample.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#ifndef SSL_OP_IGNORE_UNEXPECTED_EOF
#define SSL_OP_IGNORE_UNEXPECTED_EOF 0x80U
#endif

enum fn { FN_READ, FN_READ_EX, FN_PEEK, FN_PEEK_EX };
static const char *const fn_names[] = { "read", "read_ex", "peek", "peek_ex" };

struct outcome {
	int ret;
	int ssl_error;
	int err;               /* errno right after the call */
	char errors[512];      /* the queue, as ERR_error_string_n or ERR_print_errors prints it */
	char lib[64];          /* the oldest entry's library name ... */
	char reason[128];      /* ... and reason text */
};

/* One call of the chosen function; for the peek forms, the peeked bytes are
 * then consumed with SSL_read so that the loop advances. *n = bytes. */
static int call(SSL *ssl, enum fn fn, char *buf, int size, size_t *n)
{
	int r;

	*n = 0;
	switch (fn) {
	case FN_READ:
		r = SSL_read(ssl, buf, size);
		*n = r > 0 ? (size_t)r : 0;
		return r;
	case FN_READ_EX:
		return SSL_read_ex(ssl, buf, (size_t)size, n);
	case FN_PEEK:
		r = SSL_peek(ssl, buf, size);
		if (r > 0)
			*n = (size_t)SSL_read(ssl, buf, r);
		return r;
	case FN_PEEK_EX:
		r = SSL_peek_ex(ssl, buf, (size_t)size, n);
		if (r > 0)
			*n = (size_t)SSL_read(ssl, buf, (int)*n);
		return r;
	}
	return -1;
}

static const char *error_name(int e)
{
	switch (e) {
	case SSL_ERROR_NONE: return "SSL_ERROR_NONE";
	case SSL_ERROR_SSL: return "SSL_ERROR_SSL";
	case SSL_ERROR_WANT_READ: return "SSL_ERROR_WANT_READ";
	case SSL_ERROR_WANT_WRITE: return "SSL_ERROR_WANT_WRITE";
	case SSL_ERROR_SYSCALL: return "SSL_ERROR_SYSCALL";
	case SSL_ERROR_ZERO_RETURN: return "SSL_ERROR_ZERO_RETURN";
	default: return "other";
	}
}

static void copy_string(char *to, size_t size, const char *from)
{
	snprintf(to, size, "%s", from ? from : "");
}

/* ERR_print_errors' lines without the thread id that starts each one, joined
 * with " | " like the other form. Drains the queue. */
static void print_errors(char *to, size_t size)
{
	BIO *mem = BIO_new(BIO_s_mem());
	char *text, *line, *save = NULL;
	long n;
	size_t len = 0;

	to[0] = '\0';
	if (!mem)
		return;
	ERR_print_errors(mem);
	BIO_write(mem, "", 1);
	n = BIO_get_mem_data(mem, &text);
	for (line = n > 0 ? strtok_r(text, "\n", &save) : NULL; line && len + 4 < size;
	     line = strtok_r(NULL, "\n", &save)) {
		const char *start = strstr(line, ":error:");
		len += (size_t)snprintf(to + len, size - len, "%s%s", len ? " | " : "",
					start ? start + 1 : line);
	}
	BIO_free(mem);
}

/* The end as the program sees it: SSL_get_error first (it must run before
 * anything touches the queue), then the queue, drained. */
static void observe(SSL *ssl, int ret, int err, int with_print_errors, struct outcome *o)
{
	unsigned long e;
	size_t len = 0;

	o->ret = ret;
	o->err = err;
	o->ssl_error = SSL_get_error(ssl, ret);
	e = ERR_peek_error();
	copy_string(o->lib, sizeof o->lib, e ? ERR_lib_error_string(e) : NULL);
	copy_string(o->reason, sizeof o->reason, e ? ERR_reason_error_string(e) : NULL);
	if (with_print_errors) {
		print_errors(o->errors, sizeof o->errors);
		return;
	}
	o->errors[0] = '\0';
	while ((e = ERR_get_error()) != 0 && len + 4 < sizeof o->errors) {
		char line[256];

		ERR_error_string_n(e, line, sizeof line);
		len += (size_t)snprintf(o->errors + len, sizeof o->errors - len, "%s%s",
					len ? " | " : "", line);
	}
}

static void print_json_string(const char *s)
{
	putchar('"');
	for (const char *p = s; *p; p++)
		printf(*p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
	putchar('"');
}

static void print_outcome(const char *key, const struct outcome *o)
{
	printf("\"%s\":{\"ret\":%d,\"ssl_error\":\"%s\",\"errno\":%d,\"errors\":",
	       key, o->ret, error_name(o->ssl_error), o->err);
	print_json_string(o->errors);
	printf(",\"lib\":");
	print_json_string(o->lib);
	printf(",\"reason\":");
	print_json_string(o->reason);
	printf("}");
}

/* The custom BIOs' state (one connection per process): the socket, whether
 * BIO_CTRL_EOF is answered, whether a recv() saw the peer's FIN, and whether
 * reads now fail (--read-error-after). */
static struct {
	int fd;
	int answers_eof;
	int eof;
	int failing;
} own;

static int custom_read(BIO *b, char *buf, int len)
{
	ssize_t n;

	BIO_clear_retry_flags(b);
	if (own.failing)
		return -1;
	n = recv(own.fd, buf, (size_t)len, 0);
	if (n == 0)
		own.eof = 1;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		BIO_set_retry_read(b);
	return (int)n;
}

static int custom_write(BIO *b, const char *buf, int len)
{
	ssize_t n = send(own.fd, buf, (size_t)len, MSG_NOSIGNAL);

	BIO_clear_retry_flags(b);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		BIO_set_retry_write(b);
	return (int)n;
}

/* A flush is answered (OpenSSL flushes after every record it writes), and
 * with --bio=custom-eof BIO_CTRL_EOF; everything else, BIO_C_GET_FD
 * included, gets 0, as from many programs' own BIOs. */
static long custom_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	if (cmd == BIO_CTRL_EOF && own.answers_eof)
		return own.eof;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static BIO_METHOD *custom_method;

static void use_custom_bio(struct sample *s, int answers_eof)
{
	BIO_METHOD *m = custom_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
				     "eof_reader custom");
	BIO *b;

	if (m == NULL || !BIO_meth_set_read(m, custom_read) ||
	    !BIO_meth_set_write(m, custom_write) || !BIO_meth_set_ctrl(m, custom_ctrl))
		sample_fail("BIO_meth_new");
	b = BIO_new(m);
	if (b == NULL)
		sample_fail("BIO_new");
	own.fd = s->fd;
	own.answers_eof = answers_eof;
	BIO_set_init(b, 1);
	SSL_set_bio(s->ssl, b, b); /* frees the socket BIO, which does not close */
}

/* Until the peer's FIN (recv returns 0) or a reset, bounded. */
static void wait_for_fin(int fd)
{
	char buf[4096];
	struct pollfd p = { .fd = fd, .events = POLLIN };

	while (poll(&p, 1, 10000) > 0 && recv(fd, buf, sizeof buf, 0) > 0)
		;
}

int main(int argc, char **argv)
{
	struct sample s;
	enum fn fn = FN_READ;
	int ignore_eof = 0, custom_bio = 0, custom_eof = 0, wait_fin = 0, rest = 1, r, err;
	char buf[4096];
	size_t n, total = 0, error_after = 0;
	struct outcome first, again;

	/* Our own options; the rest goes to sample_init. */
	for (int i = 1; i < argc; i++) {
		int known = 0;

		for (int f = 0; f < 4; f++)
			if (strncmp(argv[i], "--fn=", 5) == 0 && strcmp(argv[i] + 5, fn_names[f]) == 0) {
				fn = (enum fn)f;
				known = 1;
			}
		if (strcmp(argv[i], "--ignore-eof") == 0)
			ignore_eof = known = 1;
		if (strcmp(argv[i], "--bio=custom") == 0)
			custom_bio = known = 1;
		if (strcmp(argv[i], "--bio=custom-eof") == 0)
			custom_bio = custom_eof = known = 1;
		if (strncmp(argv[i], "--read-error-after=", 19) == 0) {
			char *end;

			error_after = strtoul(argv[i] + 19, &end, 10);
			if (*end || error_after == 0) {
				fprintf(stderr, "sample: bad %s\n", argv[i]);
				return 2;
			}
			known = 1;
		}
		if (strcmp(argv[i], "--then=wait-fin") == 0)
			wait_fin = known = 1;
		if (!known)
			argv[rest++] = argv[i];
	}
	if (error_after && !custom_bio) {
		fprintf(stderr, "sample: --read-error-after needs --bio=custom or custom-eof\n");
		return 2;
	}
	sample_init(rest, argv);
	sample_handshake(&s);
	if (custom_bio)
		use_custom_bio(&s, custom_eof);
	if (ignore_eof)
		SSL_set_options(s.ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
	sample_write(&s, "hello\n");

	for (;;) {
		errno = 0;
		r = call(s.ssl, fn, buf, sizeof buf, &n);
		err = errno;
		if (r <= 0)
			break;
		total += n;
		if (error_after && total >= error_after)
			own.failing = 1;
	}
	observe(s.ssl, r, err, 0, &first);
	if (wait_fin) {
		printf("{\"fn\":\"%s\",\"bytes\":%zu,", fn_names[fn], total);
		print_outcome("end", &first);
		printf("}\n");
		fflush(stdout);
		wait_for_fin(s.fd);
		_exit(0);
	}
	errno = 0;
	r = call(s.ssl, fn, buf, sizeof buf, &n);
	observe(s.ssl, r, errno, 1, &again);
	ERR_clear_error();
	r = SSL_shutdown(s.ssl);
	ERR_clear_error();

	printf("{\"fn\":\"%s\",\"ignore_eof\":%s,\"bio\":\"%s\",\"bytes\":%zu,",
	       fn_names[fn], ignore_eof ? "true" : "false",
	       custom_eof ? "custom-eof" : custom_bio ? "custom" : "socket", total);
	print_outcome("end", &first);
	printf(",");
	print_outcome("again", &again);
	printf(",\"shutdown\":%d}\n", r);
	fflush(stdout);
	SSL_free(s.ssl);
	BIO_meth_free(custom_method);
	SSL_CTX_free(s.ctx);
	close(s.fd);
	return 0;
}
