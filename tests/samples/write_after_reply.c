/* write_after_reply: the peer sends close_notify first (--mode=close); the
 * program reads it (SSL_read returns 0), then still writes "more\n" (which
 * TLS 1.3, and OpenSSL for every version, allow after receiving
 * close_notify), then closes. When the library has answered the peer's
 * close_notify at once (TLSCLOSE_REPLY), OpenSSL refuses that write; what
 * the program sees must agree: SSL_get_shutdown shows the close_notify
 * sent once the write failed.
 * Output "ok write=R shutdown_before=S shutdown_after=S". */
#include "sample.h"

#include <openssl/err.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sample s;
	char buf[64];
	int n;

	sample_init(argc, argv);
	sample_connect(&s);
	n = SSL_read(s.ssl, buf, sizeof buf);
	if (n != 0 || SSL_get_error(s.ssl, n) != SSL_ERROR_ZERO_RETURN)
		sample_fail_ssl(s.ssl, n, "expected the peer's close_notify");
	int before = SSL_get_shutdown(s.ssl);
	int w = SSL_write(s.ssl, "more\n", 5);
	int after = SSL_get_shutdown(s.ssl);
	ERR_clear_error();
	if (close(s.fd) != 0)
		sample_fail("close failed");
	SSL_free(s.ssl);
	SSL_CTX_free(s.ctx);
	sample_done("write=%d shutdown_before=%d shutdown_after=%d", w, before, after);
	return 0;
}
