/* shutdown_rd: shutdown(fd, SHUT_RD) only stops reading; the TLS connection
 * must stay usable, so "more\n" is written afterwards. The program then ends
 * with _exit(0), which runs no exit handler: nothing can send close_notify,
 * and the peer sees EOF without it, with app_in_after=5. */
#include "sample.h"

#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sample s;

	sample_init(argc, argv);
	sample_connect(&s);
	if (shutdown(s.fd, SHUT_RD) != 0)
		sample_fail("shutdown(SHUT_RD) failed");
	sample_write(&s, "more\n");
	sample_done("shut_rd wrote_more");
	_exit(0);
}
