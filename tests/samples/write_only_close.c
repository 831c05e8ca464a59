/* write_only_close: a TLS client that never reads after the handshake. It
 * writes "hello\n" and closes the socket while the server's response (and,
 * with TLS 1.3, its NewSessionTickets) sit unread in the receive queue: bare,
 * Linux answers close() with RST. The shim must drain those bytes, so the
 * peer sees close_notify and then FIN.
 *
 * To make that deterministic, the program waits (bounded) until the response
 * record has arrived, without reading anything: it peeks at the record
 * headers and waits for more bytes with SO_RCVLOWAT. The response is the
 * only short application-data record (~30 bytes; tickets are ~250). */
#include "sample.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RESPONSE_WAIT_MS 5000
#define SHORT_RECORD 100

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Returns 1 if a complete short application-data record is queued, else 0
 * and the number of queued bytes in *queued. */
static int response_queued(int fd, int *queued)
{
	static unsigned char buf[65536];
	ssize_t n = recv(fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
	size_t off = 0;

	if (n < 0 && errno != EAGAIN && errno != EINTR)
		sample_fail("recv(MSG_PEEK) failed");
	if (n == 0) {
		errno = 0;
		sample_fail("EOF from the peer before its response");
	}
	*queued = n < 0 ? 0 : (int)n;
	while (n > 0 && off + 5 <= (size_t)n) {
		size_t len = (size_t)buf[off + 3] << 8 | buf[off + 4];

		if (off + 5 + len > (size_t)n)
			break;
		if (buf[off] == 23 && len < SHORT_RECORD)
			return 1;
		off += 5 + len;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sample s;
	long deadline;
	int queued, one = 1;

	sample_init(argc, argv);
	sample_handshake(&s);
	sample_write(&s, "hello\n");

	deadline = now_ms() + RESPONSE_WAIT_MS;
	while (!response_queued(s.fd, &queued)) {
		int lowat = queued + 1;
		struct pollfd p = { .fd = s.fd, .events = POLLIN };
		long left = deadline - now_ms();

		/* poll() reports POLLIN only once more than `queued` bytes are there. */
		if (setsockopt(s.fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat) != 0)
			sample_fail("setsockopt(SO_RCVLOWAT) failed");
		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			errno = 0;
			sample_fail("the response did not arrive within 5 s");
		}
	}
	if (setsockopt(s.fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one) != 0)
		sample_fail("setsockopt(SO_RCVLOWAT) failed");

	if (close(s.fd) != 0)
		sample_fail("close failed");
	sample_done("closed unread=%d", queued);
	return 0;
}
