/* close_range: the TLS socket is closed by close_range(fd, fd + 10, 0) (the
 * glibc wrapper, as a program would call it), never by close(). */
#include "sample.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sample s;

	sample_init(argc, argv);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
	sample_connect(&s);
	if (close_range((unsigned int)s.fd, (unsigned int)s.fd + 10, 0) != 0)
		sample_fail("close_range failed");
	if (fcntl(s.fd, F_GETFD) != -1 || errno != EBADF)
		sample_fail("the descriptor is still open after close_range");
	sample_done("close_range");
	return 0;
#else
	(void)s;
	fprintf(stderr, "sample: close_range: no glibc wrapper (glibc < 2.34)\n");
	return 77;
#endif
}
