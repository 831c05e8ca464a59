/* dup_close: closing one of two descriptors of the TLS socket must not end
 * the connection. The copy made with dup() is closed first, then "more\n"
 * is written (this fails if close_notify went out at the first close), then
 * the original, last descriptor is closed: now close_notify is due. */
#include "sample.h"

#include <unistd.h>

int main(int argc, char **argv)
{
	struct sample s;
	int copy;

	sample_init(argc, argv);
	sample_connect(&s);
	copy = dup(s.fd);
	if (copy < 0)
		sample_fail("dup failed");
	if (close(copy) != 0)
		sample_fail("close of the copy failed");
	sample_write(&s, "more\n");
	if (close(s.fd) != 0)
		sample_fail("close of the last descriptor failed");
	sample_done("dup_closed wrote_more closed");
	return 0;
}
