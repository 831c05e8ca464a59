/* free_then_close: SSL_free without SSL_shutdown, then close(fd). The shim
 * sends close_notify inside SSL_free, while the descriptor is still open. */
#include "sample.h"

#include <unistd.h>

int main(int argc, char **argv)
{
	struct sample s;

	sample_init(argc, argv);
	sample_connect(&s);
	SSL_free(s.ssl);
	if (close(s.fd) != 0)
		sample_fail("close failed");
	SSL_CTX_free(s.ctx);
	sample_done("freed closed");
	return 0;
}
