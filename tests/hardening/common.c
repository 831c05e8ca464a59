/* common.c: see common.h. */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void hard_read_line(struct sample *s)
{
	char buf[256];

	for (;;) {
		int n = SSL_read(s->ssl, buf, sizeof buf);

		if (n <= 0)
			sample_fail_ssl(s->ssl, n, "SSL_read failed");
		if (memchr(buf, '\n', (size_t)n))
			return;
	}
}

void hard_wait_ok(pid_t pid, const char *what)
{
	int status;
	pid_t r;

	do
		r = waitpid(pid, &status, 0);
	while (r < 0 && errno == EINTR);
	if (r != pid)
		sample_fail("waitpid failed");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "sample: %s: child status 0x%x%s\n", what, (unsigned)status,
			WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM ?
				" (hung: killed by its alarm)" : "");
		exit(1);
	}
}

void hard_handle(int sig, void (*fn)(int), int restart)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = restart ? SA_RESTART : 0;
	if (sigaction(sig, &sa, NULL) != 0)
		sample_fail("sigaction failed");
}

int hard_thread_in_poll(long tid, int fd, short events)
{
	char path[64], line[256];
	unsigned long nr, arg0, arg1;
	struct pollfd p;
	int f, n;

	snprintf(path, sizeof path, "/proc/self/task/%ld/syscall", tid);
	f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return -1;
	n = (int)read(f, line, sizeof line - 1);
	close(f);
	if (n <= 0)
		return -1;
	line[n] = '\0';
	if (sscanf(line, "%lu 0x%lx 0x%lx", &nr, &arg0, &arg1) != 3)
		return 0; /* "running" */
	if (nr != (unsigned long)SYS_ppoll
#ifdef SYS_poll
	    && nr != (unsigned long)SYS_poll
#endif
	)
		return 0;
	if (arg1 != 1)
		return 0;
	/* The pollfd is on the other thread's stack: read it through
	 * /proc/self/mem, a copy by the kernel, not a racing load of ours
	 * (ThreadSanitizer would rightly flag one). */
	f = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return -1;
	n = (int)pread(f, &p, sizeof p, (off_t)arg0);
	close(f);
	if (n != (int)sizeof p)
		return -1;
	return (fd < 0 || p.fd == fd) && (p.events & events);
}

void hard_fill_send_buffer(int fd)
{
	static char junk[65536];

	for (;;) {
		ssize_t n = send(fd, junk, sizeof junk, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0)
			sample_fail("send failed");
	}
}

int hard_wait_poll_of(const long *tid, const int *done, short events)
{
	struct timespec deadline, now;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += 5;
	while (!__atomic_load_n(done, __ATOMIC_ACQUIRE)) {
		long t = __atomic_load_n(tid, __ATOMIC_ACQUIRE);
		int r = t ? hard_thread_in_poll(t, -1, events) : 0;

		/* A thread that finished between the two looks has no task file
		 * any more: it was done (it says so before it returns), not a
		 * /proc that cannot tell. */
		if (r < 0 && __atomic_load_n(done, __ATOMIC_ACQUIRE))
			return 0;
		if (r != 0)
			return r;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > deadline.tv_sec ||
		    (now.tv_sec == deadline.tv_sec && now.tv_nsec > deadline.tv_nsec))
			return 0;
		sched_yield();
	}
	return 0;
}

long hard_gettid(void)
{
	return (long)syscall(SYS_gettid);
}
