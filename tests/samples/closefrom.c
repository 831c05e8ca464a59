/* closefrom: the TLS socket is closed by closefrom(3), together with every
 * other descriptor above stderr, never by close(). */
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
	closefrom(3);
	if (fcntl(s.fd, F_GETFD) != -1 || errno != EBADF)
		sample_fail("the descriptor is still open after closefrom");
	sample_done("closefrom");
	return 0;
#else
	(void)s;
	fprintf(stderr, "sample: closefrom: no glibc wrapper (glibc < 2.34)\n");
	return 77;
#endif
}
