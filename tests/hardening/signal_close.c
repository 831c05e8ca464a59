/* signal_close: close() of TLS descriptors from signal handlers, and
 * signals interrupting the library's own waits (EINTR). One mode a run:
 *
 *   signal_close MODE --port=N
 *
 * handler     a helper thread signals the main thread, blocked in read() of
 *             a pipe outside the library; the handler closes the connection
 *             (A) and writes to the pipe. The library is free: close_notify.
 * locked      the handler runs while the main thread holds the library's
 *             table lock: calloc() (this program's own, see below) raises
 *             the signal when the library allocates the fd-table chunk for
 *             descriptor 1500 under its lock, during dup2(A, 1500). The
 *             handler duplicates A's descriptor and closes connection B:
 *             the library cannot take its lock again, so the copy is not
 *             tracked and B is closed plainly, and both must be logged. The
 *             program closes the copy before A's own descriptors.
 * reply-wait  TLSCLOSE_WAIT_MS set: the main thread closes A and waits in
 *             the library for the peer's close_notify, which the peer never
 *             sends. A watcher thread sees the main thread in poll(POLLIN)
 *             on A (/proc/self/task/TID/syscall) and signals it (no
 *             SA_RESTART); the handler closes B. The thread sleeps in poll(),
 *             outside OpenSSL and the library's lock, so B gets its
 *             close_notify from inside the handler; A's wait is interrupted
 *             (EINTR) and resumed within its bound; close(A) returns 0 with
 *             the program's errno intact.
 * pollout     the peer stalls; A's send buffer is full, A blocking again.
 *             close(A) waits in the library for POLLOUT; the watcher signals
 *             the main thread there (no SA_RESTART). The wait is resumed
 *             and gives up within its bound (timeout); close returns 0 with
 *             the program's errno intact.
 *
 * Output: "ok mode=... close=R errno_kept=1 handled=1 ..."; exit 3 when the
 * watcher did not catch the main thread inside close() (the driver runs it
 * again), 77 when the mode cannot run here. */
#include "common.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define HIGH_FD 1500
/* The library's fd table chunk: 1024 slots of one pointer (shim/conn.c). */
#define CHUNK_SLOTS 1024

static struct sample a, b;
static int wake[2];
static volatile sig_atomic_t handled, handled_in_close, in_close, b_close = -2, b_errno;
static volatile sig_atomic_t close_b_in_handler, dup_a_in_handler, a_copy = -2;

static void on_signal(int sig)
{
	int saved = errno;

	(void)sig;
	handled = 1;
	handled_in_close = in_close;
	if (dup_a_in_handler)
		a_copy = dup(a.fd);
	if (close_b_in_handler) {
		errno = 0;
		b_close = close(b.fd);
		b_errno = errno;
	}
	if (wake[1] > 0)
		(void)!write(wake[1], "x", 1);
	errno = saved;
}

/* --- calloc, to run the handler while the library holds its lock -------- */

static void *(*next_calloc)(size_t, size_t);
static volatile int calloc_armed;

/* dlsym may allocate while it resolves calloc: served from here. */
static char boot_heap[4096] __attribute__((aligned(16)));
static size_t boot_used;

void *calloc(size_t n, size_t size)
{
	static int resolving;

	if (!next_calloc) {
		if (resolving) {
			size_t want = (n * size + 15) & ~(size_t)15;

			if (want > sizeof boot_heap - boot_used)
				return NULL;
			boot_used += want;
			return boot_heap + boot_used - want;
		}
		resolving = 1;
		next_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
		resolving = 0;
		if (!next_calloc)
			abort();
	}
	if (calloc_armed && n == CHUNK_SLOTS && size == sizeof(void *)) {
		calloc_armed = 0;
		raise(SIGUSR1);
	}
	return next_calloc(n, size);
}

/* --- the watcher ------------------------------------------------------- */

static pthread_t main_thread;
static long main_tid;
static volatile int watch_fd;
static volatile short watch_events;
static int close_done; /* atomic */

/* 1 when the main thread sleeps in poll()/ppoll() on watch_fd for
 * watch_events. */
static int main_in_poll(void)
{
	return hard_thread_in_poll(main_tid, watch_fd, watch_events);
}

static void *watcher(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&close_done, __ATOMIC_ACQUIRE)) {
		int r = main_in_poll();

		if (r < 0) {
			fprintf(stderr, "sample: cannot read /proc/self/task/%ld/syscall\n", main_tid);
			exit(77);
		}
		if (r == 1) {
			pthread_kill(main_thread, SIGUSR1);
			return NULL;
		}
		sched_yield();
	}
	return NULL;
}

static int signaller_fd;

static void *signaller(void *arg)
{
	char byte;

	(void)arg;
	if (read(signaller_fd, &byte, 1) == 1)
		pthread_kill(main_thread, SIGUSR1);
	return NULL;
}

/* --- the modes ---------------------------------------------------------- */

static int mode_handler(void)
{
	int go[2];
	pthread_t t;
	char byte;
	ssize_t n;

	sample_connect(&a);
	if (pipe(go) != 0 || pipe(wake) != 0)
		sample_fail("pipe failed");
	b = a; /* the handler closes b.fd: here A's descriptor */
	close_b_in_handler = 1;
	signaller_fd = go[0];
	if (pthread_create(&t, NULL, signaller, NULL) != 0)
		sample_fail("pthread_create failed");
	/* Ask the helper for the signal, then block in read() outside the
	 * library until the handler has closed A and written to wake. */
	if (write(go[1], "g", 1) != 1)
		sample_fail("write failed");
	do
		n = read(wake[0], &byte, 1);
	while (n < 0 && errno == EINTR);
	pthread_join(t, NULL);
	if (n != 1 || !handled)
		sample_fail("the handler did not run");
	SSL_free(a.ssl);
	sample_done("mode=handler handler_close=%d handler_errno=%d", (int)b_close, (int)b_errno);
	return b_close == 0 ? 0 : 1;
}

static int mode_locked(void)
{
	struct rlimit rl;
	int r1, r2;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		sample_fail("getrlimit failed");
	if (rl.rlim_cur <= HIGH_FD) {
		if (rl.rlim_max <= HIGH_FD) {
			fprintf(stderr, "sample: RLIMIT_NOFILE hard limit %ld <= %d\n",
				(long)rl.rlim_max, HIGH_FD);
			return 77;
		}
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			sample_fail("setrlimit failed");
	}
	sample_connect(&a);
	sample_connect(&b);
	close_b_in_handler = 1;
	dup_a_in_handler = 1;
	calloc_armed = 1;
	if (dup2(a.fd, HIGH_FD) != HIGH_FD)
		sample_fail("dup2 failed");
	calloc_armed = 0;
	if (!handled) {
		fprintf(stderr, "sample: the library allocated no table chunk under its lock\n");
		return 1;
	}
	if (a_copy < 0 || close(a_copy) != 0)
		sample_fail("the handler's dup, or its close, failed");
	r1 = close(HIGH_FD);
	r2 = close(a.fd);
	SSL_free(a.ssl);
	SSL_free(b.ssl);
	sample_done("mode=locked handler_close_b=%d handler_errno=%d close_alias=%d close_a=%d "
		    "b_fd=%d a_copy=%d", (int)b_close, (int)b_errno, r1, r2, b.fd, (int)a_copy);
	return b_close == 0 && r1 == 0 && r2 == 0 ? 0 : 1;
}

static void start_watcher(pthread_t *t, int fd, short events)
{
	watch_fd = fd;
	watch_events = events;
	if (pthread_create(t, NULL, watcher, NULL) != 0)
		sample_fail("pthread_create failed");
}

static int close_watched(int fd, int *err)
{
	int r;

	in_close = 1;
	errno = EDOM; /* the program's errno: close() must not change it */
	r = close(fd);
	*err = errno;
	in_close = 0;
	__atomic_store_n(&close_done, 1, __ATOMIC_RELEASE);
	return r;
}

static int mode_reply_wait(void)
{
	pthread_t t;
	int r, err;

	sample_connect(&a);
	sample_connect(&b);
	close_b_in_handler = 1;
	start_watcher(&t, a.fd, POLLIN);
	r = close_watched(a.fd, &err);
	pthread_join(t, NULL);
	if (!handled_in_close) {
		fprintf(stderr, "sample: the signal did not arrive inside close()\n");
		return 3;
	}
	SSL_free(a.ssl);
	SSL_free(b.ssl);
	sample_done("mode=reply-wait close=%d errno_kept=%d handled=1 handler_close_b=%d b_fd=%d",
		    r, err == EDOM, (int)b_close, b.fd);
	return r == 0 && err == EDOM && b_close == 0 ? 0 : 1;
}

static int mode_pollout(void)
{
	static char junk[65536];
	pthread_t t;
	int r, err, flags;

	sample_connect(&a);
	flags = fcntl(a.fd, F_GETFL);
	if (flags < 0 || fcntl(a.fd, F_SETFL, flags | O_NONBLOCK) < 0)
		sample_fail("fcntl failed");
	for (long total = 0; total < (64L << 20);) {
		ssize_t n = send(a.fd, junk, sizeof junk, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0)
			sample_fail("send failed");
		total += n;
	}
	if (fcntl(a.fd, F_SETFL, flags) < 0)
		sample_fail("fcntl failed");
	start_watcher(&t, a.fd, POLLOUT);
	r = close_watched(a.fd, &err);
	pthread_join(t, NULL);
	if (!handled_in_close) {
		fprintf(stderr, "sample: the signal did not arrive inside close()\n");
		return 3;
	}
	SSL_free(a.ssl);
	sample_done("mode=pollout close=%d errno_kept=%d handled=1", r, err == EDOM);
	return r == 0 && err == EDOM ? 0 : 1;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	if (argc < 2) {
		fprintf(stderr, "usage: signal_close handler|locked|reply-wait|pollout --port=N\n");
		return 2;
	}
	sample_init(argc - 1, argv + 1);
	main_thread = pthread_self();
	main_tid = hard_gettid();
	hard_handle(SIGUSR1, on_signal, 0);
	if (strcmp(mode, "handler") == 0)
		return mode_handler();
	if (strcmp(mode, "locked") == 0)
		return mode_locked();
	if (strcmp(mode, "reply-wait") == 0)
		return mode_reply_wait();
	if (strcmp(mode, "pollout") == 0)
		return mode_pollout();
	fprintf(stderr, "sample: unknown mode '%s'\n", mode);
	return 2;
}
