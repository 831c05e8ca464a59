/* shutdown_rdwr: shutdown(fd, SHUT_RDWR) ends the TCP connection (FIN)
 * without close_notify, then close(fd) and SSL_free. Under the shim the
 * close_notify goes out just before the shutdown.
 * --variant=wr: shutdown(fd, SHUT_WR), the write side only, which ends the
 * stream to the peer all the same. */
#include "sample.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sample s;

	sample_init(argc, argv);
	int wr = strcmp(sample_variant(), "wr") == 0;
	sample_connect(&s);
	if (shutdown(s.fd, wr ? SHUT_WR : SHUT_RDWR) != 0)
		sample_fail("shutdown failed");
	if (close(s.fd) != 0)
		sample_fail("close failed");
	SSL_free(s.ssl);
	SSL_CTX_free(s.ctx);
	sample_done("shutdown closed freed");
	return 0;
}
