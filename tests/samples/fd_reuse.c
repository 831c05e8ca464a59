/* fd_reuse: the TLS socket is closed with close() (the shim sends
 * close_notify there), then its descriptor number is reused by a plain
 * socketpair. SSL_free on the old SSL, whose BIO still names that number,
 * must not write anything into the plain socket. */
#include "sample.h"

#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sample s;
	int sv[2];
	long n = 0;
	char buf[4096];
	ssize_t r;

	sample_init(argc, argv);
	sample_connect(&s);
	if (close(s.fd) != 0)
		sample_fail("closing the TLS socket failed");
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		sample_fail("socketpair failed");
	if (sv[0] != s.fd) {
		fprintf(stderr, "sample: fd not reused (tls fd %d, socketpair %d,%d)\n",
			s.fd, sv[0], sv[1]);
		return 3;
	}
	SSL_free(s.ssl);
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
