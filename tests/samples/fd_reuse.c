/* fd_reuse: the TLS socket is closed with close() (the shim sends
 * close_notify there), then its descriptor number is reused by a plain
 * socketpair. SSL_free on the old SSL, whose BIO still names that number,
 * must not write anything into the plain socket. */
#include "sample.h"

#include <unistd.h>

int main(int argc, char **argv)
{
	struct sample s;

	sample_init(argc, argv);
	sample_connect(&s);
	if (close(s.fd) != 0)
		sample_fail("closing the TLS socket failed");
	return sample_reuse_then_free(&s);
}
