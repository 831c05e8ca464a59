/* clear_after_eof: one SSL object for two connections, the first ended by
 * the peer's silent EOF: exchange, then SSL_read until it fails (a
 * truncation, reported as a failure under TLSCLOSE_EOF=error), close,
 * SSL_clear; then a new TCP connection on the same object (SSL_set_fd,
 * SSL_connect), whose exchange must work like any new connection's: what
 * the first connection's end left in the library's record must not reach
 * it. The second ends sloppily (close only). The peer serves two
 * connections (--mode=truncate,normal).
 * Output "ok first_end=R". */
#include "sample.h"

#include <unistd.h>

int main(int argc, char **argv)
{
	struct sample s;
	char buf[64];
	int end;

	sample_init(argc, argv);
	sample_connect(&s);
	while ((end = SSL_read(s.ssl, buf, sizeof buf)) > 0)
		;
	sample_clear_reconnect(&s);
	sample_exchange(&s);
	if (close(s.fd) != 0)
		sample_fail("close failed");
	sample_done("first_end=%d", end);
	return 0;
}
