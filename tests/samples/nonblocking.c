/* nonblocking: O_NONBLOCK socket from before connect(); connect, handshake,
 * request and response are driven by poll() on WANT_READ/WANT_WRITE. Then
 * close(fd) without SSL_shutdown. Under the shim, the close_notify must be
 * sent on a non-blocking socket (bounded wait). */
#include "sample.h"

#include <unistd.h>

int main(int argc, char **argv)
{
	struct sample s;

	sample_init(argc, argv);
	sample_connect_nonblocking(&s);
	if (close(s.fd) != 0)
		sample_fail("close failed");
	sample_done("nonblocking closed");
	return 0;
}
