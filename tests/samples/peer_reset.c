/* peer_reset: run against the peer in --mode=reset (it answers, then resets
 * the TCP connection). The program waits for the reset and consumes the
 * socket error with recv(), so that any later write raises SIGPIPE. Then it
 * closes the socket. Bare, close() writes nothing. Under the shim, close()
 * may try to send close_notify into the dead connection: the SIGPIPE that
 * write raises must not reach the program, and close() must still return
 * 0 with errno untouched.
 * --variant=sigpipe-pending: the program blocks SIGPIPE and has one of its
 * own pending when it closes: that one must still be pending afterwards
 * (the library consumes only a SIGPIPE its own write raised). */
#include "sample.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RESET_WAIT_MS 5000

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	struct sample s;
	long deadline;
	int eof = 0, r, e;

	sample_init(argc, argv);
	sample_connect(&s);
	deadline = now_ms() + RESET_WAIT_MS;
	for (;;) {
		/* After an EOF (FIN) POLLIN stays set: then wait for POLLERR or
		 * POLLHUP only (always reported), which the RST brings. */
		struct pollfd p = { .fd = s.fd, .events = eof ? 0 : POLLIN };
		long left = deadline - now_ms();
		char buf[4096];
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			errno = 0;
			sample_fail("no reset from the peer within 5 s");
		}
		n = recv(s.fd, buf, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n < 0 && errno == ECONNRESET)
			break;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			sample_fail("recv while waiting for the reset failed");
		if (n == 0)
			eof = 1;
		/* Unexpected bytes: consume them so that the peek moves on. */
		if (n > 0 && recv(s.fd, buf, sizeof buf, MSG_DONTWAIT) < 0 && errno != EAGAIN)
			sample_fail("recv of pending bytes failed");
	}
	int keep_pending = strcmp(sample_variant(), "sigpipe-pending") == 0;
	sigset_t pipe, pending;

	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	if (keep_pending && (sigprocmask(SIG_BLOCK, &pipe, NULL) != 0 || raise(SIGPIPE) != 0))
		sample_fail("blocking and raising SIGPIPE failed");
	errno = 0;
	r = close(s.fd);
	e = errno;
	if (!keep_pending) {
		sample_done("close=%d errno=%d", r, e);
		return 0;
	}
	if (sigpending(&pending) != 0)
		sample_fail("sigpending failed");
	sample_done("close=%d errno=%d sigpipe_pending=%d", r, e, sigismember(&pending, SIGPIPE));
	return 0;
}
