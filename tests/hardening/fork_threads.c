/* fork_threads: fork() while other threads are busy inside the library,
 * optionally with signals whose handlers close TLS descriptors.
 *
 *   fork_threads --port=N [--threads=4] [--connections=50] [--forks=40]
 *                [--idle=2] [--signals]
 *
 * Before the workers start, the main thread opens IDLE connections and
 * leaves them alone. Each worker thread then makes CONNECTIONS connections
 * one after the other: hello/world, SSL_write "more\n", and an end drawn in
 * turn: close then SSL_free, SSL_free then close, shutdown(SHUT_RDWR) then
 * close and SSL_free, and with --signals also "parked": the descriptor is
 * handed to a signaller thread, which sends the worker SIGUSR1; the handler
 * closes the parked descriptor. Workers keep SIGUSR1 blocked except inside
 * SSL_write (through the library, into OpenSSL) and while they wait for
 * the handler (ppoll), so the handler runs only where the program itself
 * could call close() from a handler safely: a close() that interrupted
 * malloc() in the program's own code would make the library call OpenSSL,
 * which allocates, on top of it (a limit the library documents). With
 * --signals the signaller also sends SIGUSR2 (a handler that only clobbers
 * and restores errno) to random workers all the time, interrupting the
 * library's waits (EINTR). Both handlers are SA_RESTART: the program's own
 * blocking calls are restarted, poll() in the library is not.
 *
 * Meanwhile the main thread forks FORKS times. Each child (alarm(60) as its
 * hang guard) closes every inherited descriptor with closefrom(3) and calls
 * exit(0): the library's exit handler visits every record. A child must
 * send nothing: the connections it inherited are not its own (tlsclose(7),
 * Ownership across fork).
 * Once the workers are done, one more child also SSL_frees the idle
 * connections before it does the same. The parent waits for each child
 * (exit status 0 required), then writes "after fork\n" on each idle
 * connection (using it again makes it its own) and closes it: close_notify.
 *
 * What a child does is limited to what is safe after fork() in a threaded
 * process: OpenSSL itself is not fork-safe. A worker inside SSL_new or
 * SSL_free at the fork holds OpenSSL's ex_data lock, and the child's
 * SSL_free would wait for it forever (seen under ASan); likewise OpenSSL's
 * atexit cleanup, disabled here (OPENSSL_INIT_NO_ATEXIT). Those would be
 * OpenSSL's hangs, not the library's, so only the quiet fork calls
 * SSL_free; close(), closefrom() and exit() through the library are
 * exercised in every child.
 *
 * Output: "ok pid=P connections=N forks=F parked=K signals=S". */
#include "common.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define MAX_THREADS 32
#define MAX_IDLE 16

struct worker {
	pthread_t thread;
	int index;
	int done[2];            /* the SIGUSR1 handler writes here after its close */
	volatile sig_atomic_t parked_fd;
	SSL *parked_ssl;
	int parked_pending;
	int parked;             /* connections ended from the handler */
	int finished;           /* atomic: no more signals for this one */
};

static int opt_threads = 4, opt_connections = 50, opt_forks = 40, opt_idle = 2, opt_signals;
static struct worker workers[MAX_THREADS];
static __thread struct worker *self;
static int request[2];          /* worker index -> signaller: "close my parked fd" */
static int finished;            /* atomic: workers done */
static unsigned long signals_sent;

static void on_close_signal(int sig)
{
	int saved = errno;
	struct worker *w = self;

	(void)sig;
	if (w && w->parked_fd >= 0) {
		int fd = w->parked_fd;

		w->parked_fd = -1;
		close(fd);
		(void)!write(w->done[1], "x", 1);
	}
	errno = saved;
}

static void on_noise_signal(int sig)
{
	int saved = errno;

	(void)sig;
	errno = EIO; /* a careless handler in between: errno restored below */
	errno = saved;
}

static void *signaller(void *arg)
{
	unsigned seed = 1;

	(void)arg;
	/* Every worker waits for the signal of its last parked connection
	 * before it finishes, so no request is left when all have finished. */
	while (__atomic_load_n(&finished, __ATOMIC_ACQUIRE) < opt_threads) {
		struct pollfd p = { .fd = request[0], .events = POLLIN };
		int idx;

		/* The timeout only paces the noise; nothing waits for it. */
		if (poll(&p, 1, 1) == 1 && read(request[0], &idx, sizeof idx) == sizeof idx) {
			pthread_kill(workers[idx].thread, SIGUSR1);
			signals_sent++;
		} else {
			struct worker *w = &workers[rand_r(&seed) % (unsigned)opt_threads];

			/* Not joined before the signaller ends: signalling a
			 * thread that has just returned is harmless. */
			if (!__atomic_load_n(&w->finished, __ATOMIC_ACQUIRE)) {
				pthread_kill(w->thread, SIGUSR2);
				signals_sent++;
			}
		}
	}
	return NULL;
}

/* Wait until the handler has closed the parked descriptor, then free. */
static void unpark(struct worker *w)
{
	char byte;
	ssize_t n;

	if (!w->parked_pending)
		return;
	/* poll() first: ThreadSanitizer runs a handler only when the thread
	 * enters one of its interceptors or blocks in one it knows as blocking,
	 * and a read() restarted by SA_RESTART would never let it in. */
	sigset_t open_mask;

	pthread_sigmask(SIG_SETMASK, NULL, &open_mask);
	sigdelset(&open_mask, SIGUSR1);
	for (;;) {
		struct pollfd p = { .fd = w->done[0], .events = POLLIN };

		if (ppoll(&p, 1, NULL, &open_mask) == 1)
			break;
		if (errno != EINTR)
			sample_fail("poll(done) failed");
	}
	do
		n = read(w->done[0], &byte, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		sample_fail("read(done) failed");
	SSL_free(w->parked_ssl);
	w->parked_pending = 0;
	w->parked++;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	int kinds = opt_signals ? 4 : 3;

	sigset_t usr1;

	self = w;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);
	for (int i = 0; i < opt_connections; i++) {
		struct sample s;

		sample_connect(&s);
		pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
		sample_write(&s, "more\n");
		pthread_sigmask(SIG_BLOCK, &usr1, NULL);
		switch ((i + w->index) % kinds) {
		case 0:
			close(s.fd);
			SSL_free(s.ssl);
			break;
		case 1:
			SSL_free(s.ssl);
			close(s.fd);
			break;
		case 2:
			shutdown(s.fd, SHUT_RDWR);
			close(s.fd);
			SSL_free(s.ssl);
			break;
		default:
			unpark(w);
			w->parked_ssl = s.ssl;
			w->parked_pending = 1;
			w->parked_fd = s.fd;
			if (write(request[1], &w->index, sizeof w->index) != sizeof w->index)
				sample_fail("write(request) failed");
			break;
		}
	}
	unpark(w);
	__atomic_store_n(&w->finished, 1, __ATOMIC_RELEASE);
	__atomic_fetch_add(&finished, 1, __ATOMIC_ACQ_REL);
	return NULL;
}

static int number(const char *arg, const char *name, int lo, int hi)
{
	size_t len = strlen(name);

	if (strncmp(arg, name, len) != 0 || arg[len] != '=')
		return -1;
	int v = atoi(arg + len + 1);
	if (v < lo || v > hi) {
		fprintf(stderr, "sample: bad %s\n", name);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	char *rest[4] = { argv[0] };
	int nrest = 1, v;
	struct sample idle[MAX_IDLE];
	pthread_t sig_thread;

	for (int i = 1; i < argc; i++) {
		if ((v = number(argv[i], "--threads", 1, MAX_THREADS)) >= 0)
			opt_threads = v;
		else if ((v = number(argv[i], "--connections", 1, 100000)) >= 0)
			opt_connections = v;
		else if ((v = number(argv[i], "--forks", 0, 100000)) >= 0)
			opt_forks = v;
		else if ((v = number(argv[i], "--idle", 0, MAX_IDLE)) >= 0)
			opt_idle = v;
		else if (strcmp(argv[i], "--signals") == 0)
			opt_signals = 1;
		else if (nrest < 3)
			rest[nrest++] = argv[i];
	}
	sample_init(nrest, rest);
	OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
	hard_handle(SIGUSR1, on_close_signal, 1);
	hard_handle(SIGUSR2, on_noise_signal, 1);
	if (pipe(request) != 0)
		sample_fail("pipe failed");

	for (int i = 0; i < opt_idle; i++)
		sample_connect(&idle[i]);
	for (int i = 0; i < opt_threads; i++) {
		workers[i].index = i;
		workers[i].parked_fd = -1;
		if (pipe(workers[i].done) != 0)
			sample_fail("pipe failed");
	}
	fflush(NULL);
	for (int i = 0; i < opt_threads; i++)
		if (pthread_create(&workers[i].thread, NULL, work, &workers[i]) != 0)
			sample_fail("pthread_create failed");
	if (opt_signals && pthread_create(&sig_thread, NULL, signaller, NULL) != 0)
		sample_fail("pthread_create failed");

	for (int f = 0; f < opt_forks; f++) {
		pid_t pid = fork();

		if (pid < 0)
			sample_fail("fork failed");
		if (pid == 0) {
			alarm(60); /* hang guard: a deadlocked child dies of SIGALRM */
			closefrom(3);
			exit(0);
		}
		hard_wait_ok(pid, "forked child");
	}

	if (opt_signals)
		pthread_join(sig_thread, NULL);
	for (int i = 0; i < opt_threads; i++)
		pthread_join(workers[i].thread, NULL);

	/* The quiet fork: no other thread is left inside OpenSSL. */
	pid_t pid = fork();
	if (pid < 0)
		sample_fail("fork failed");
	if (pid == 0) {
		alarm(60);
		for (int i = 0; i < opt_idle; i++)
			SSL_free(idle[i].ssl);
		closefrom(3);
		exit(0);
	}
	hard_wait_ok(pid, "quiet forked child");
	for (int i = 0; i < opt_idle; i++) {
		sample_write(&idle[i], "after fork\n");
		close(idle[i].fd);
		SSL_free(idle[i].ssl);
	}
	int parked = 0;
	for (int i = 0; i < opt_threads; i++)
		parked += workers[i].parked;
	sample_done("pid=%ld connections=%d forks=%d parked=%d signals=%lu", (long)getpid(),
		    opt_threads * opt_connections + opt_idle, opt_forks, parked, signals_sent);
	return 0;
}
