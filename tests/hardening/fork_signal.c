/* fork_signal: a signal handler that copies a TLS descriptor (dup,
 * fcntl(F_DUPFD)) or shuts it down runs while this thread is inside
 * fork(): the signal arrives during the fork system call and is handled
 * when it returns, before the atfork parent handlers run, while the
 * library's prepare handler still holds its table lock. The handler must
 * not wait for that lock (it would wait for itself).
 *
 *   fork_signal --port=N [--variant=dup|fcntl|shutdown]
 *
 * A helper thread sends SIGUSR1 to the main thread without pause while the
 * main thread forks 300 times (each child exits at once); the handler
 * runs the variant's call on the TLS descriptor (dup: dup + close;
 * fcntl: F_DUPFD + close; shutdown: shutdown(SHUT_RDWR), which ends the
 * connection at the first signal and reaches the library's table at every
 * one). Then (dup, fcntl) the connection is used again ("after fork\n");
 * it is closed.
 * Output "ok forks=300 handled=N". A hang is ended by alarm() (SIGALRM
 * kills the program: the test fails). */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FORKS 300

static struct sample conn;
static pthread_t main_thread;
static int stop; /* atomic */
static int handled; /* atomic: the handler counts, the signaller reads */

static void on_signal(int sig)
{
	int saved = errno;
	const char *v = sample_variant();
	int copy;

	(void)sig;
	if (strcmp(v, "shutdown") == 0) {
		shutdown(conn.fd, SHUT_RDWR);
	} else {
		copy = strcmp(v, "fcntl") == 0 ? fcntl(conn.fd, F_DUPFD, 0) : dup(conn.fd);
		if (copy >= 0)
			close(copy);
	}
	__atomic_fetch_add(&handled, 1, __ATOMIC_RELEASE);
	errno = saved;
}

/* One signal in flight at a time: the next is sent once the handler ran,
 * so that one is nearly always pending when a fork system call returns,
 * without a flood that would starve the main thread. */
static void *signaller(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		int seen = __atomic_load_n(&handled, __ATOMIC_ACQUIRE);

		pthread_kill(main_thread, SIGUSR1);
		while (__atomic_load_n(&handled, __ATOMIC_ACQUIRE) == seen &&
		       !__atomic_load_n(&stop, __ATOMIC_ACQUIRE))
			sched_yield();
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t;

	sample_init(argc, argv);
	alarm(30); /* a hang fails the test instead of blocking the suite */
	sample_connect(&conn);
	main_thread = pthread_self();
	hard_handle(SIGUSR1, on_signal, 1);
	/* One fork before any signal: the connection is alive at a fork and
	 * unused since, so the parent does not own it any more (tlsclose(7),
	 * Ownership across fork) whichever signal comes first: the shutdown
	 * variant sends nothing. */
	pid_t first = fork();
	if (first < 0)
		sample_fail("fork failed");
	if (first == 0)
		_exit(0);
	hard_wait_ok(first, "child");
	if (pthread_create(&t, NULL, signaller, NULL) != 0)
		sample_fail("pthread_create failed");
	for (int i = 0; i < FORKS; i++) {
		pid_t pid = fork();

		if (pid < 0 && errno == EINTR) {
			i--;
			continue;
		}
		if (pid < 0)
			sample_fail("fork failed");
		if (pid == 0)
			_exit(0);
		hard_wait_ok(pid, "child");
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	if (strcmp(sample_variant(), "shutdown") != 0)
		sample_write(&conn, "after fork\n");
	if (close(conn.fd) != 0)
		sample_fail("close failed");
	sample_done("forks=%d handled=%d", FORKS, __atomic_load_n(&handled, __ATOMIC_ACQUIRE));
	return 0;
}
