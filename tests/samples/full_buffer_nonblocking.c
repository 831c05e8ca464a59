/* full_buffer_nonblocking: close() of a TLS socket whose send buffer is full (the
 * peer stopped reading), the socket non-blocking. The shim cannot
 * write close_notify: it must give up within its bound (200 ms), log it,
 * and close() must return as it would without the shim. */
#include "sample.h"

int main(int argc, char **argv)
{
	struct sample s;

	sample_init(argc, argv);
	sample_connect(&s);
	return sample_fill_then_close(&s, 0);
}
