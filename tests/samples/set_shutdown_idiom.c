/* set_shutdown_idiom: mark the connection as shut down in both directions
 * without sending anything (the idiom that keeps the session resumable),
 * then SSL_free and close(fd). */
#include "sample.h"

#include <unistd.h>

int main(int argc, char **argv)
{
	struct sample s;

	sample_init(argc, argv);
	sample_connect(&s);
	SSL_set_shutdown(s.ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(s.ssl);
	if (close(s.fd) != 0)
		sample_fail("close failed");
	SSL_CTX_free(s.ctx);
	sample_done("set_shutdown freed closed");
	return 0;
}
