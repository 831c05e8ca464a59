/* clear_reuse: one SSL object for two connections, one after the other, as
 * servers and clients that keep their objects do: exchange, SSL_shutdown
 * (the program's own close_notify), close, SSL_clear; then a new TCP
 * connection on the same object (SSL_set_fd, SSL_connect), exchange, and
 * the sloppy end: close only. The peer serves two connections (--count=2).
 * Under the library: two connections, the first ended by the program, the
 * second by the library's close_notify at close().
 * Output "ok shutdown=R". */
#include "sample.h"

#include <unistd.h>

int main(int argc, char **argv)
{
	struct sample s;
	int sd;

	sample_init(argc, argv);
	sample_connect(&s);
	sd = SSL_shutdown(s.ssl);
	sample_clear_reconnect(&s);
	sample_exchange(&s);
	if (close(s.fd) != 0)
		sample_fail("close failed");
	sample_done("shutdown=%d", sd);
	return 0;
}
