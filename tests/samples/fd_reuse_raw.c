/* fd_reuse_raw: as fd_reuse, but the TLS socket is closed behind the
 * shim's back with syscall(SYS_close), so any table of the shim still maps
 * the number to the connection when the plain socketpair reuses it. SSL_free
 * then must not write any TLS byte into the plain socket. */
#include "sample.h"

#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sample s;

	sample_init(argc, argv);
	sample_connect(&s);
	if (syscall(SYS_close, s.fd) != 0)
		sample_fail("closing the TLS socket failed");
	return sample_reuse_then_free(&s);
}
