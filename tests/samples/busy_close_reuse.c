/* busy_close_reuse: a thread is inside SSL_read on the connection when the
 * main thread close()s its socket, so the library cannot send close_notify
 * then (skipped, busy). The number is then reused by a plain socketpair and
 * the old SSL freed: its BIO still names that number, and a close_notify
 * written at SSL_free would land in the plain socket (the library skips it:
 * fd closed).
 *
 * Made deterministic with a BIO callback on the socket BIO: the reading
 * thread stops in it, before its read(), until the main thread has closed
 * and reused the descriptor; the callback then fails the read with "retry"
 * (SSL_ERROR_WANT_READ, nothing happened to the connection). */
#include "sample.h"

#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <unistd.h>

static int to_main[2], to_reader[2];
static volatile int armed;

static long stop_in_read(BIO *b, int oper, const char *argp, size_t len, int argi, long argl,
			 int ret, size_t *processed)
{
	char byte = 0;

	(void)argp, (void)len, (void)argi, (void)argl, (void)processed;
	if (oper != BIO_CB_READ || !armed)
		return ret; /* other operations, and after the operation, as they were */
	armed = 0;
	if (write(to_main[1], &byte, 1) != 1 || read(to_reader[0], &byte, 1) != 1)
		sample_fail("reader: pipe failed");
	BIO_set_retry_read(b);
	return -1;
}

static void *reader(void *arg)
{
	struct sample *s = arg;
	char buf[64];
	int r = SSL_read(s->ssl, buf, sizeof buf);

	if (r > 0 || SSL_get_error(s->ssl, r) != SSL_ERROR_WANT_READ)
		sample_fail("reader: SSL_read did not stop for a retry");
	return NULL;
}

int main(int argc, char **argv)
{
	struct sample s;
	pthread_t t;
	char byte;
	int status;

	sample_init(argc, argv);
	sample_connect(&s);
	if (pipe(to_main) != 0 || pipe(to_reader) != 0)
		sample_fail("pipe failed");
	BIO_set_callback_ex(SSL_get_rbio(s.ssl), stop_in_read);
	armed = 1;
	if (pthread_create(&t, NULL, reader, &s) != 0)
		sample_fail("pthread_create failed");
	if (read(to_main[0], &byte, 1) != 1)
		sample_fail("pipe read failed");
	/* The reader is inside SSL_read now. */
	if (close(s.fd) != 0)
		sample_fail("closing the TLS socket failed");
	if (write(to_reader[1], &byte, 1) != 1)
		sample_fail("pipe write failed");
	if (pthread_join(t, NULL) != 0)
		sample_fail("pthread_join failed");
	BIO_set_callback_ex(SSL_get_rbio(s.ssl), NULL);
	/* The pipes were made before the close: the lowest free number, which
	 * the socketpair gets, is the socket's. */
	status = sample_reuse_then_free(&s);
	return status;
}
