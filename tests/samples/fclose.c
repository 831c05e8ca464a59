/* fclose: the TLS socket is wrapped in a stdio stream with fdopen() and
 * closed by fclose() (glibc closes the descriptor internally, without going
 * through the exported close()). */
#include "sample.h"

#include <stdio.h>

int main(int argc, char **argv)
{
	struct sample s;
	FILE *f;

	sample_init(argc, argv);
	sample_connect(&s);
	f = fdopen(s.fd, "r+");
	if (!f)
		sample_fail("fdopen failed");
	if (fclose(f) != 0)
		sample_fail("fclose failed");
	sample_done("fclosed");
	return 0;
}
