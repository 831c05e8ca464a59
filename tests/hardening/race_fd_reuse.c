/* race_fd_reuse: while the library ends a connection at SSL_free or at exit
 * and waits for room in a full send buffer, another thread closes the
 * connection's descriptor number and a new socket takes it. The alert must
 * go to the connection's socket or nowhere, never into the new socket.
 *
 *   race_fd_reuse MODE --port=N        (the peer stalls: --mode=stall)
 *
 * free  thread A calls SSL_free. Once the main thread sees A waiting in
 *       poll(POLLOUT), it keeps a copy of the descriptor (dup), closes the
 *       number, takes it again with a socketpair and wakes every waiter on
 *       the old socket (shutdown(copy, SHUT_RD)): a wait that looks at the
 *       number again finds the socketpair writable. Then it counts the
 *       bytes that reached the socketpair's other end.
 * exit  the same with thread A calling exit(0); the program's own atexit
 *       handler, registered before any OpenSSL call (so it runs after the
 *       library's), counts the bytes.
 *
 * Output "ok plain_bytes=N swapped=1 seen_waiting=1" (from the atexit
 * handler in exit mode). Exit 3 when A was never seen waiting (the driver
 * runs it again), 77 when /proc cannot tell, 4 when the socketpair did not
 * get the number. */
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
static const char *mode;
static long a_tid;
static int a_done;   /* atomic */
static int swapped;  /* atomic */
static int seen;     /* atomic */
static int plain[2] = { -1, -1 }; /* plain[0] took the number; plain[1] is read */

static void *thread_a(void *arg)
{
	(void)arg;
	__atomic_store_n(&a_tid, hard_gettid(), __ATOMIC_RELEASE);
	if (strcmp(mode, "exit") == 0)
		exit(0);
	SSL_free(conn.ssl);
	__atomic_store_n(&a_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static long plain_bytes(void)
{
	char buf[4096];
	long total = 0;
	ssize_t n;

	if (plain[1] < 0)
		return 0;
	while ((n = recv(plain[1], buf, sizeof buf, MSG_DONTWAIT)) > 0)
		total += n;
	return total;
}

static void report(void)
{
	sample_done("plain_bytes=%ld swapped=%d seen_waiting=%d", plain_bytes(),
		    __atomic_load_n(&swapped, __ATOMIC_ACQUIRE), __atomic_load_n(&seen, __ATOMIC_ACQUIRE));
}

/* The number changes hands while A waits on the old socket. */
static void swap_number(void)
{
	int fd = conn.fd, copy = dup(fd);

	if (copy < 0 || close(fd) != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, plain) != 0)
		sample_fail("dup/close/socketpair failed");
	if (plain[0] != fd) {
		if (plain[1] != fd) {
			fprintf(stderr, "sample: the socketpair did not get descriptor %d\n", fd);
			exit(4);
		}
		int t = plain[0];
		plain[0] = plain[1];
		plain[1] = t;
	}
	__atomic_store_n(&swapped, 1, __ATOMIC_RELEASE);
	shutdown(copy, SHUT_RD); /* wakes every poll() on the old socket */
}

int main(int argc, char **argv)
{
	pthread_t t;

	mode = argc > 1 ? argv[1] : "";
	if (strcmp(mode, "free") != 0 && strcmp(mode, "exit") != 0) {
		fprintf(stderr, "usage: race_fd_reuse free|exit --port=N\n");
		return 2;
	}
	sample_init(argc - 1, argv + 1);
	alarm(60); /* a hang fails the test instead of blocking the suite */
	if (strcmp(mode, "exit") == 0)
		atexit(report); /* before any OpenSSL call: runs after the library's handler */
	sample_connect(&conn);
	hard_fill_send_buffer(conn.fd);
	if (pthread_create(&t, NULL, thread_a, NULL) != 0)
		sample_fail("pthread_create failed");
	switch (hard_wait_poll_of(&a_tid, &a_done, POLLOUT)) {
	case -1:
		if (strcmp(mode, "exit") == 0)
			break; /* A's task is gone: the process is ending */
		fprintf(stderr, "sample: cannot read /proc/self/task/TID/syscall\n");
		exit(77);
	case 1:
		__atomic_store_n(&seen, 1, __ATOMIC_RELEASE);
		swap_number();
		break;
	}
	if (strcmp(mode, "exit") == 0)
		for (;;)
			pause(); /* A's exit ends the process */
	pthread_join(t, NULL);
	if (!__atomic_load_n(&seen, __ATOMIC_ACQUIRE)) {
		fprintf(stderr, "sample: thread A was never seen waiting\n");
		report();
		return 3;
	}
	report();
	return 0;
}
