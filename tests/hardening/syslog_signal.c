/* syslog_signal: a TLS descriptor closed from a signal handler that
 * interrupted the program's own syslog().
 *
 *   syslog_signal --port=N
 *
 * The main thread calls syslog() in a tight loop. A profiling timer
 * (SIGPROF: it counts the CPU time the loop burns) interrupts it, and the
 * first handler that finds the thread inside syslog() closes the TLS
 * connection. The library sends close_notify and logs the event from inside
 * that handler (run with TLSCLOSE_LOG=syslog, TLSCLOSE_LOG_LEVEL=info) while
 * the interrupted syslog() holds glibc's syslog lock: a library that logs
 * with syslog(3) waits for that lock forever. alarm() is the hang guard: a
 * hang ends in SIGALRM (default action, the process dies) instead of
 * blocking the test suite.
 *
 * Output: "ok handler_close=0 fd=FD pid=PID rounds=N ticks=T"; exit 1 when
 * the handler's close failed or no tick ever landed inside syslog(). */
#include "common.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>
#include <unistd.h>

#define HANG_GUARD_S 20
#define MAX_ROUNDS 5000000UL
#define TICK_US 1000

static struct sample a;
static volatile sig_atomic_t in_syslog, closed, handler_close = -2, ticks;

static void on_tick(int sig)
{
	int saved = errno;

	(void)sig;
	ticks++;
	/* Only inside syslog(): that is where glibc holds its lock. */
	if (in_syslog && !closed) {
		handler_close = close(a.fd);
		closed = 1;
	}
	errno = saved;
}

static void set_timer(long usec)
{
	struct itimerval it;

	memset(&it, 0, sizeof it);
	it.it_interval.tv_usec = usec;
	it.it_value.tv_usec = usec;
	if (setitimer(ITIMER_PROF, &it, NULL) != 0)
		sample_fail("setitimer failed");
}

int main(int argc, char **argv)
{
	unsigned long rounds;

	sample_init(argc, argv);
	alarm(HANG_GUARD_S);
	sample_connect(&a);
	openlog("syslog_signal", LOG_NDELAY, LOG_USER);
	hard_handle(SIGPROF, on_tick, 1);
	set_timer(TICK_US);
	for (rounds = 0; !closed && rounds < MAX_ROUNDS; rounds++) {
		in_syslog = 1;
		syslog(LOG_INFO, "round %lu", rounds);
		in_syslog = 0;
	}
	set_timer(0);
	closelog();
	if (!closed) {
		fprintf(stderr, "sample: no timer tick landed inside syslog() in %lu rounds "
			"(%d ticks)\n", rounds, (int)ticks);
		return 1;
	}
	SSL_free(a.ssl);
	sample_done("handler_close=%d fd=%d pid=%ld rounds=%lu ticks=%d", (int)handler_close,
		    a.fd, (long)getpid(), rounds, (int)ticks);
	return handler_close == 0 ? 0 : 1;
}
