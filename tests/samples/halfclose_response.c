/* halfclose_response: an HTTP/1.0-style client: it sends its request,
 * then shutdown(fd, SHUT_WR) to say it is done, and only then reads the
 * response. Under the library close_notify goes out at the shutdown; with
 * TLSCLOSE_WAIT_MS set the library must still not read on the program's
 * behalf (the response is the program's). Output "ok response=world". */
#include "sample.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sample s;
	char buf[64];
	size_t got = 0;

	sample_init(argc, argv);
	sample_handshake(&s);
	sample_write(&s, "hello\n");
	if (shutdown(s.fd, SHUT_WR) != 0)
		sample_fail("shutdown failed");
	while (got < sizeof buf - 1 && !memchr(buf, '\n', got)) {
		int n = SSL_read(s.ssl, buf + got, (int)(sizeof buf - 1 - got));

		if (n <= 0)
			sample_fail_ssl(s.ssl, n, "SSL_read of the response after shutdown(SHUT_WR) failed");
		got += (size_t)n;
	}
	buf[got] = '\0';
	if (strcmp(buf, "world\n") != 0)
		sample_fail("unexpected response");
	if (close(s.fd) != 0)
		sample_fail("close failed");
	SSL_free(s.ssl);
	SSL_CTX_free(s.ctx);
	sample_done("response=world");
	return 0;
}
