/* handshake_close: the client sends its ClientHello and, while SSL_connect
 * waits for the server's answer (SSL_ERROR_WANT_READ), gives up: close(fd),
 * then SSL_free. The connection was never established, so there is no TLS
 * session to end: the peer must get no alert, bare or under the library
 * (which logs it skipped, "not established").
 *
 * The SSL reads from an empty memory BIO and writes to the socket: the
 * ClientHello goes out and SSL_connect stops at SSL_ERROR_WANT_READ whatever
 * the server does meanwhile (a non-blocking socket would race with its
 * answer). The program then waits until the answer is in its socket, so
 * that the close always leaves it unread: the kernel ends the connection
 * with a reset, every run alike. */
#include "sample.h"

#include <errno.h>
#include <poll.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sample s;
	BIO *rbio, *wbio;
	int r, e;

	sample_init(argc, argv);
	sample_setup(&s, 0);
	rbio = BIO_new(BIO_s_mem()); /* empty: a read asks to retry */
	wbio = BIO_new_socket(s.fd, BIO_NOCLOSE);
	if (rbio == NULL || wbio == NULL)
		sample_fail("BIO_new failed");
	SSL_set_bio(s.ssl, rbio, wbio);
	r = SSL_connect(s.ssl);
	e = SSL_get_error(s.ssl, r);
	if (r == 1 || e != SSL_ERROR_WANT_READ)
		sample_fail_ssl(s.ssl, r, "SSL_connect did not wait for the server");
	struct pollfd p = { .fd = s.fd, .events = POLLIN };
	if (poll(&p, 1, 10000) != 1)
		sample_fail("no answer from the server within 10 s");
	errno = 0;
	if (close(s.fd) != 0)
		sample_fail("close failed");
	SSL_free(s.ssl);
	SSL_CTX_free(s.ctx);
	sample_done("closed_in_handshake");
	return 0;
}
