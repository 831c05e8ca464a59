/* quiet: quiet shutdown. SSL_shutdown returns 1 without writing anything,
 * then close(fd) and SSL_free. The shim sends close_notify here only with
 * TLSCLOSE_NOTIFY=always. */
#include "sample.h"

#include <errno.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sample s;
	int r;

	sample_init(argc, argv);
	sample_connect(&s);
	SSL_set_quiet_shutdown(s.ssl, 1);
	errno = 0;
	r = SSL_shutdown(s.ssl);
	if (r != 1)
		sample_fail_ssl(s.ssl, r, "quiet SSL_shutdown did not return 1");
	if (close(s.fd) != 0)
		sample_fail("close failed");
	SSL_free(s.ssl);
	SSL_CTX_free(s.ctx);
	sample_done("quiet_shutdown=%d", r);
	return 0;
}
