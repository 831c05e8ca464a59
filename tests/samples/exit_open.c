/* exit_open: exit(0) with the connection still open; the kernel closes the
 * socket. Under the shim, its exit handler sends close_notify. */
#include "sample.h"

#include <stdlib.h>

int main(int argc, char **argv)
{
	struct sample s;

	sample_init(argc, argv);
	sample_connect(&s);
	sample_done("exiting");
	exit(0);
}
