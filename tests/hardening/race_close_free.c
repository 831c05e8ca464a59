/* race_close_free: close() of a connection in one thread while another
 * thread SSL_free()s its object. Bare, this is race-free: close() does not
 * touch the SSL object and SSL_free does not touch the descriptor (the
 * socket BIO of SSL_set_fd does not own it). Under the library close()
 * sends close_notify with the object, so SSL_free must not free it under
 * that send.
 *
 *   race_close_free MODE --port=N [--connections=N]
 *
 * stalled  the peer stalls (--mode=stall): the send buffer is full, so a
 *          thread's close() waits in the library for room (poll, up to its
 *          200 ms bound). Once the main thread sees that thread in poll(),
 *          it calls SSL_free, which must wait for the send to end before
 *          freeing: SSL_free returns after close() did.
 *          Output "ok close_first=1 close=0".
 * race     N connections one after the other; for each a thread's close()
 *          and the main thread's SSL_free start together (a barrier). Run
 *          under AddressSanitizer and ThreadSanitizer in CI.
 *          Output "ok connections=N".
 *
 * Exit 3 when the main thread never saw the closing thread in poll()
 * (stalled mode; the driver runs it again), 77 when /proc cannot tell. */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct sample conn;
static pthread_barrier_t start;
static long closer_tid;
static int close_result = -2;
static int close_returned; /* atomic */

static void *closer(void *arg)
{
	(void)arg;
	__atomic_store_n(&closer_tid, hard_gettid(), __ATOMIC_RELEASE);
	pthread_barrier_wait(&start);
	close_result = close(conn.fd);
	__atomic_store_n(&close_returned, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int mode_stalled(void)
{
	pthread_t t;
	int seen = 0;

	sample_connect(&conn);
	hard_fill_send_buffer(conn.fd);
	pthread_barrier_init(&start, NULL, 2);
	if (pthread_create(&t, NULL, closer, NULL) != 0)
		sample_fail("pthread_create failed");
	pthread_barrier_wait(&start);
	switch (hard_wait_poll_of(&closer_tid, &close_returned, POLLOUT)) {
	case -1:
		fprintf(stderr, "sample: cannot read /proc/self/task/TID/syscall\n");
		exit(77);
	case 1:
		seen = 1;
		break;
	default:
		if (!__atomic_load_n(&close_returned, __ATOMIC_ACQUIRE)) {
			fprintf(stderr, "sample: the closing thread was never seen waiting\n");
			exit(3);
		}
	}
	SSL_free(conn.ssl);
	/* Read before the join: did SSL_free wait for the close()? (Bare,
	 * close() does not wait at all, so it has long returned.) */
	int close_first = __atomic_load_n(&close_returned, __ATOMIC_ACQUIRE);
	pthread_join(t, NULL);
	SSL_CTX_free(conn.ctx);
	sample_done("close_first=%d close=%d seen_waiting=%d", close_first, close_result, seen);
	return 0;
}

static int mode_race(int connections)
{
	for (int i = 0; i < connections; i++) {
		pthread_t t;

		sample_connect(&conn);
		__atomic_store_n(&close_returned, 0, __ATOMIC_RELEASE);
		pthread_barrier_init(&start, NULL, 2);
		if (pthread_create(&t, NULL, closer, NULL) != 0)
			sample_fail("pthread_create failed");
		pthread_barrier_wait(&start);
		SSL_free(conn.ssl);
		pthread_join(t, NULL);
		pthread_barrier_destroy(&start);
		if (close_result != 0)
			sample_fail("close failed");
		SSL_CTX_free(conn.ctx);
	}
	sample_done("connections=%d", connections);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	int connections = 100, n = 0;
	char *rest[16];

	/* The sample helper parses the rest (argv[1], the mode, stands in for
	 * the program name). */
	for (int i = 1; i < argc && n < 15; i++) {
		if (strncmp(argv[i], "--connections=", 14) == 0)
			connections = atoi(argv[i] + 14);
		else
			rest[n++] = argv[i];
	}
	rest[n] = NULL;
	sample_init(n, rest);
	alarm(120); /* a hang fails the test instead of blocking the suite */
	if (strcmp(mode, "stalled") == 0)
		return mode_stalled();
	if (strcmp(mode, "race") == 0)
		return mode_race(connections);
	fprintf(stderr, "usage: race_close_free stalled|race --port=N [--connections=N]\n");
	return 2;
}
