/* halfclose_eof: the program sends its close_notify first (one SSL_shutdown),
 * then reads until the peer's end, then calls SSL_shutdown again. Against a
 * peer that ends with a FIN and no close_notify, under TLSCLOSE_EOF=clean,
 * the second call must not send a second close_notify (OpenSSL 3.0 forgets
 * that one was sent when it records such an EOF). */
#include "sample.h"

int main(int argc, char **argv)
{
	struct sample s;
	char buf[256];
	int first, second;

	sample_init(argc, argv);
	sample_connect(&s);
	first = SSL_shutdown(s.ssl);
	while (SSL_read(s.ssl, buf, sizeof buf) > 0)
		;
	second = SSL_shutdown(s.ssl);
	sample_done("first=%d second=%d", first, second);
	SSL_free(s.ssl);
	SSL_CTX_free(s.ctx);
	return 0;
}
