/* fcntl_dupfd: as dup_close, with the copy made by fcntl(F_DUPFD, 10)
 * (--variant=cloexec: F_DUPFD_CLOEXEC). Closing the copy must not end the
 * connection ("more\n" must still go through); closing the original, last
 * descriptor must. */
#include "sample.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sample s;
	int copy;

	sample_init(argc, argv);
	sample_connect(&s);
	copy = fcntl(s.fd, strcmp(sample_variant(), "cloexec") == 0 ? F_DUPFD_CLOEXEC : F_DUPFD, 10);
	if (copy < 10)
		sample_fail("fcntl(F_DUPFD[_CLOEXEC], 10) failed");
	if (close(copy) != 0)
		sample_fail("close of the copy failed");
	sample_write(&s, "more\n");
	if (close(s.fd) != 0)
		sample_fail("close of the last descriptor failed");
	sample_done("dupfd_closed wrote_more closed");
	return 0;
}
