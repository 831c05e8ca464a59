/* write_zero: what openssl s_client does. Right after the handshake the
 * program writes 0 bytes (SSL_write returns 0 then, with SSL_ERROR_SYSCALL
 * and nothing queued: no failure of the connection), exchanges hello/world,
 * reads until the peer's close_notify (--mode=close: SSL_read returns 0,
 * SSL_ERROR_ZERO_RETURN), then calls SSL_shutdown itself and frees.
 * Under TLSCLOSE_REPLY=on the library answers the peer's close_notify as it
 * arrives, and the program's SSL_shutdown then sends nothing more.
 * Output "ok write0=R shutdown=R". */
#include "sample.h"

#include <unistd.h>

int main(int argc, char **argv)
{
	struct sample s;
	char buf[64];
	int w0, n, sd;

	sample_init(argc, argv);
	sample_handshake(&s);
	w0 = SSL_write(s.ssl, "", 0);
	sample_write(&s, "hello\n");
	while ((n = SSL_read(s.ssl, buf, sizeof buf)) > 0)
		;
	if (SSL_get_error(s.ssl, n) != SSL_ERROR_ZERO_RETURN)
		sample_fail_ssl(s.ssl, n, "expected the peer's close_notify");
	sd = SSL_shutdown(s.ssl);
	SSL_free(s.ssl);
	SSL_CTX_free(s.ctx);
	if (close(s.fd) != 0)
		sample_fail("close failed");
	sample_done("write0=%d shutdown=%d", w0, sd);
	return 0;
}
