/* close_only: the sloppiest ending. After the exchange the program closes the
 * socket and never calls SSL_shutdown or SSL_free (the SSL and the SSL_CTX
 * leak). Under the shim, close() of the last descriptor sends close_notify. */
#include "sample.h"

#include <unistd.h>

int main(int argc, char **argv)
{
	struct sample s;

	sample_init(argc, argv);
	sample_connect(&s);
	if (close(s.fd) != 0)
		sample_fail("close failed");
	sample_done("closed");
	return 0;
}
