/* threads: a threaded "legacy" TLS client for the stress test of tlsclose
 * (tests/stress.py).
 *
 *   threads --port=N [--threads=T] [--connections=C] [--seed=S]
 *
 * T threads (default 8) each make C connections (default 500), one after the
 * other, to 127.0.0.1:N: TLS client without verification, TLS 1.2 or 1.3 as
 * the peer decides, "hello\n" written, read until the "\n" of "world\n".
 * Then the thread ends the connection with a trigger drawn with rand_r()
 * (seed S + thread index, so the sequence of each thread is reproducible):
 *
 *   close     close(fd) only; the SSL object is leaked
 *   free      SSL_free, then close(fd)
 *   shutdown  shutdown(fd, SHUT_RDWR), close(fd), SSL_free
 *   dup2      dup2() of a descriptor open on /dev/null onto fd, close of
 *             both, SSL_free
 *   kept      left open until the process exits (at most MAX_KEPT per
 *             thread; when a thread has that many, it draws another trigger)
 *   own       the program's own SSL_shutdown, then close(fd), SSL_free
 *
 * None but "own" sends close_notify without tlsclose; under it the peer must
 * see exactly one close_notify per connection, "own" included. All threads
 * start together (barrier); the connections of different threads overlap and
 * end concurrently.
 *
 * SIGPIPE has its default disposition, unblocked: a write the library makes
 * into a dead connection must not kill the program.
 *
 * Output: after every thread was joined, one line on stdout
 *   ok connections=N close=A free=B shutdown=C dup2=D kept=E own=F
 * and exit(0) with the kept connections still open. Any failure (an OpenSSL
 * error in the exchange, a failed system call) prints one "threads: ..." line
 * on stderr; the program then exits 1 after the join, with the count. Usage
 * errors exit 2.
 *
 * Build: gcc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror \
 *          tests/stress/threads.c -o threads -lssl -lcrypto -lpthread
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#define MAX_THREADS 256
#define MAX_CONNECTIONS 100000
#define MAX_KEPT 20

enum trigger { T_CLOSE, T_FREE, T_SHUTDOWN, T_DUP2, T_KEPT, T_OWN, N_TRIGGERS };

static const char *const trigger_names[N_TRIGGERS] = {
	[T_CLOSE] = "close", [T_FREE] = "free", [T_SHUTDOWN] = "shutdown",
	[T_DUP2] = "dup2",   [T_KEPT] = "kept", [T_OWN] = "own",
};

struct kept {
	SSL *ssl;
	int fd;
};

struct worker {
	pthread_t thread;
	int index;
	unsigned seed;
	long counts[N_TRIGGERS];
	long failures;
	struct kept kept[MAX_KEPT]; /* alive until the process exits */
	int n_kept;
};

static int port;
static int n_threads = 8;
static int n_connections = 500;
static unsigned seed = 1;
static SSL_CTX *ctx;
static pthread_barrier_t start_line;

static void usage(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void usage(const char *fmt, ...)
{
	va_list ap;

	fputs("threads: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (usage: threads --port=N [--threads=T] [--connections=C] [--seed=S])\n", stderr);
	exit(2);
}

static long number(const char *arg, const char *name, long min, long max)
{
	size_t n = strlen(name);
	char *end;
	long v;

	errno = 0;
	v = strtol(arg + n + 1, &end, 10);
	if (errno != 0 || end == arg + n + 1 || *end != '\0' || v < min || v > max)
		usage("%s must be an integer in [%ld, %ld]", name, min, max);
	return v;
}

static int is_option(const char *arg, const char *name)
{
	size_t n = strlen(name);

	return strncmp(arg, name, n) == 0 && arg[n] == '=';
}

static void parse_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (is_option(a, "--port"))
			port = (int)number(a, "--port", 1, 65535);
		else if (is_option(a, "--threads"))
			n_threads = (int)number(a, "--threads", 1, MAX_THREADS);
		else if (is_option(a, "--connections"))
			n_connections = (int)number(a, "--connections", 1, MAX_CONNECTIONS);
		else if (is_option(a, "--seed"))
			seed = (unsigned)number(a, "--seed", 0, UINT_MAX);
		else
			usage("unknown argument '%s'", a);
	}
	if (port == 0)
		usage("--port=N is required");
}

/* One line on stderr for a failure of connection `conn` of thread w, with the
 * thread's first queued OpenSSL error (the queue is per thread) and errno. */
static void report(struct worker *w, int conn, const char *what, int saved_errno)
{
	unsigned long e = ERR_get_error();
	char err[256] = "";

	if (e != 0)
		ERR_error_string_n(e, err, sizeof err);
	fprintf(stderr, "threads: thread %d connection %d: %s%s%s%s%s\n", w->index, conn, what,
		saved_errno ? ": " : "", saved_errno ? strerror(saved_errno) : "",
		e ? ": " : "", err);
	ERR_clear_error();
	w->failures++;
}

/* TCP connect, TLS handshake, "hello\n" out, "world\n" in. Returns the SSL
 * object (its descriptor in *fdp) or NULL after report(). */
static SSL *open_connection(struct worker *w, int conn, int *fdp)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	char line[16];
	size_t got = 0;
	int one = 1;
	int fd, r;
	SSL *ssl;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		report(w, conn, "socket", errno);
		return NULL;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		report(w, conn, "connect", errno);
		close(fd);
		return NULL;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	ssl = SSL_new(ctx);
	if (ssl == NULL || !SSL_set_fd(ssl, fd) || !SSL_set_tlsext_host_name(ssl, "localhost")) {
		report(w, conn, "SSL_new/SSL_set_fd", 0);
		goto fail;
	}
	errno = 0;
	if ((r = SSL_connect(ssl)) != 1) {
		report(w, conn, "SSL_connect", errno);
		goto fail;
	}
	errno = 0;
	if (SSL_write(ssl, "hello\n", 6) != 6) {
		report(w, conn, "SSL_write", errno);
		goto fail;
	}
	while (got == 0 || line[got - 1] != '\n') {
		errno = 0;
		r = SSL_read(ssl, line + got, (int)(sizeof line - 1 - got));
		if (r <= 0) {
			report(w, conn, "SSL_read", errno);
			goto fail;
		}
		got += (size_t)r;
		if (got == sizeof line - 1)
			break;
	}
	line[got] = '\0';
	if (strcmp(line, "world\n") != 0) {
		report(w, conn, "unexpected response", 0);
		goto fail;
	}
	*fdp = fd;
	return ssl;
fail:
	SSL_free(ssl);
	close(fd);
	return NULL;
}

/* Ends the connection as trigger t says. */
static void end_connection(struct worker *w, int conn, enum trigger t, SSL *ssl, int fd)
{
	int null;

	switch (t) {
	case T_CLOSE:
		if (close(fd) != 0)
			report(w, conn, "close", errno);
		break; /* the SSL object is leaked on purpose */
	case T_FREE:
		SSL_free(ssl);
		if (close(fd) != 0)
			report(w, conn, "close after SSL_free", errno);
		break;
	case T_SHUTDOWN:
		if (shutdown(fd, SHUT_RDWR) != 0)
			report(w, conn, "shutdown(SHUT_RDWR)", errno);
		if (close(fd) != 0)
			report(w, conn, "close after shutdown", errno);
		SSL_free(ssl);
		break;
	case T_DUP2:
		null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (null < 0) {
			report(w, conn, "open /dev/null", errno);
			close(fd);
		} else {
			if (dup2(null, fd) != fd)
				report(w, conn, "dup2 onto the TLS descriptor", errno);
			if (close(fd) != 0)
				report(w, conn, "close of the replaced descriptor", errno);
			if (close(null) != 0)
				report(w, conn, "close of /dev/null", errno);
		}
		SSL_free(ssl);
		break;
	case T_KEPT:
		w->kept[w->n_kept++] = (struct kept){ ssl, fd };
		break;
	case T_OWN:
		/* 0: close_notify sent, the peer's not received (it sends none). */
		errno = 0;
		if (SSL_shutdown(ssl) < 0)
			report(w, conn, "SSL_shutdown", errno);
		if (close(fd) != 0)
			report(w, conn, "close after SSL_shutdown", errno);
		SSL_free(ssl);
		break;
	case N_TRIGGERS:
		break;
	}
}

static enum trigger draw(struct worker *w)
{
	enum trigger t = (enum trigger)(rand_r(&w->seed) % N_TRIGGERS);

	while (t == T_KEPT && w->n_kept == MAX_KEPT)
		t = (enum trigger)(rand_r(&w->seed) % N_TRIGGERS);
	return t;
}

static void *run_worker(void *arg)
{
	struct worker *w = arg;

	pthread_barrier_wait(&start_line);
	for (int conn = 1; conn <= n_connections; conn++) {
		enum trigger t = draw(w);
		int fd = -1;
		SSL *ssl = open_connection(w, conn, &fd);

		if (ssl == NULL)
			continue;
		end_connection(w, conn, t, ssl, fd);
		w->counts[t]++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct worker *workers;
	long counts[N_TRIGGERS] = { 0 };
	long failures = 0, total = 0;
	sigset_t pipe_set;
	int err;

	parse_args(argc, argv);
	/* As an unprotected real program: SIGPIPE kills it. */
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigprocmask(SIG_UNBLOCK, &pipe_set, NULL);

	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
		fputs("threads: SSL_CTX_new failed\n", stderr);
		return 1;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);

	workers = calloc((size_t)n_threads, sizeof *workers);
	if (workers == NULL || pthread_barrier_init(&start_line, NULL, (unsigned)n_threads) != 0) {
		fputs("threads: out of memory\n", stderr);
		return 1;
	}
	for (int i = 0; i < n_threads; i++) {
		workers[i].index = i;
		workers[i].seed = seed + (unsigned)i;
		err = pthread_create(&workers[i].thread, NULL, run_worker, &workers[i]);
		if (err != 0) {
			fprintf(stderr, "threads: pthread_create: %s\n", strerror(err));
			return 1;
		}
	}
	for (int i = 0; i < n_threads; i++) {
		pthread_join(workers[i].thread, NULL);
		failures += workers[i].failures;
		for (int t = 0; t < N_TRIGGERS; t++)
			counts[t] += workers[i].counts[t];
	}
	if (failures != 0) {
		fprintf(stderr, "threads: %ld failures (see above)\n", failures);
		exit(1);
	}
	for (int t = 0; t < N_TRIGGERS; t++)
		total += counts[t];
	printf("ok connections=%ld", total);
	for (int t = 0; t < N_TRIGGERS; t++)
		printf(" %s=%ld", trigger_names[t], counts[t]);
	printf("\n");
	fflush(stdout);
	/* The kept connections are still open: tlsclose ends them at exit. */
	exit(0);
}
