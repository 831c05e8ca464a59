/* dup2_over: dup2() of /dev/null onto the TLS descriptor closes the
 * socket implicitly (no close() call for it). The shim must send
 * close_notify before the descriptor is replaced. The number then refers to
 * /dev/null, which is closed at the end. */
#include "sample.h"

#include <fcntl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sample s;
	int null;

	sample_init(argc, argv);
	sample_connect(&s);
	null = open("/dev/null", O_WRONLY);
	if (null < 0)
		sample_fail("open /dev/null failed");
	if (dup2(null, s.fd) != s.fd)
		sample_fail("dup2 failed");
	if (close(null) != 0)
		sample_fail("close of /dev/null failed");
	if (close(s.fd) != 0)
		sample_fail("close of the replaced descriptor failed");
	sample_done("dup2_over closed");
	return 0;
}
