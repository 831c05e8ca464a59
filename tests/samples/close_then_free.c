/* close_then_free: close(fd) first, then SSL_free on an SSL whose socket is
 * gone. The shim sends close_notify at close(); SSL_free must then send
 * nothing (the descriptor no longer belongs to the connection). */
#include "sample.h"

#include <unistd.h>

int main(int argc, char **argv)
{
	struct sample s;

	sample_init(argc, argv);
	sample_connect(&s);
	if (close(s.fd) != 0)
		sample_fail("close failed");
	SSL_free(s.ssl);
	SSL_CTX_free(s.ctx);
	sample_done("closed freed");
	return 0;
}
