/* clear_reuse: one SSL object for two connections, one after the other, as
 * servers and clients that keep their objects do: exchange, SSL_shutdown
 * (the program's own close_notify), close, SSL_clear; then a new TCP
 * connection on the same object (SSL_set_fd, SSL_connect), exchange, and
 * the sloppy end: close only. The peer serves two connections (--count=2).
 * Under the library: two connections, the first ended by the program, the
 * second by the library's close_notify at close().
 * Output "ok shutdown=R clear=R". */
#include "sample.h"

#include <unistd.h>

static void exchange(struct sample *s)
{
	char buf[64];
	int n, got = 0;

	sample_write(s, "hello\n");
	while (got < 6 && (n = SSL_read(s->ssl, buf, sizeof buf)) > 0)
		got += n;
	if (got < 6)
		sample_fail_ssl(s->ssl, n, "expected world");
}

int main(int argc, char **argv)
{
	struct sample s;
	int sd, cl;

	sample_init(argc, argv);
	sample_connect(&s);
	sd = SSL_shutdown(s.ssl);
	if (close(s.fd) != 0)
		sample_fail("close failed");
	cl = SSL_clear(s.ssl);
	if (cl != 1)
		sample_fail("SSL_clear failed");
	sample_reconnect(&s);
	exchange(&s);
	if (close(s.fd) != 0)
		sample_fail("close failed");
	sample_done("shutdown=%d clear=%d", sd, cl);
	return 0;
}
