/* no_tls: a program that never uses TLS and does not link OpenSSL. It
 * exercises every descriptor call the shim wraps (open, pipe, dup, dup2,
 * dup3, fcntl F_DUPFD, close, close_range, fdopen/fclose, shutdown, fork)
 * and prints a fixed text: its output must be the same with and without the
 * preload, and the preload must not map libssl or libcrypto into it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define RANGE_BASE 200
#define RANGE_COUNT 5

static void fail(const char *what)
{
	fprintf(stderr, "sample: no_tls: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void step(const char *text)
{
	printf("%s\n", text);
}

static int is_closed(int fd)
{
	return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

int main(void)
{
	int null, p[2], sv[2], copy, range[RANGE_COUNT], mapped = 0;
	char buf[512];
	FILE *f;
	pid_t pid;
	int status;

	fprintf(stderr, "sample: no_tls no-openssl\n");

	null = open("/dev/null", O_WRONLY);
	if (null < 0)
		fail("open /dev/null");
	if (pipe(p) != 0)
		fail("pipe");
	step("open and pipe: done");

	copy = dup(p[1]);
	if (copy < 0 || write(copy, "abc", 3) != 3 || close(copy) != 0)
		fail("dup/write/close");
	if (read(p[0], buf, sizeof buf) != 3 || memcmp(buf, "abc", 3) != 0)
		fail("read through the pipe");
	step("dup, write, close: the pipe carried 3 bytes");

	copy = dup(p[1]);
	if (copy < 0 || dup2(null, copy) != copy || close(copy) != 0)
		fail("dup2 onto a pipe copy");
	copy = dup(p[1]);
	if (copy < 0 || dup3(null, copy, O_CLOEXEC) != copy || close(copy) != 0)
		fail("dup3 onto a pipe copy");
	if (dup2(null, null) != null)
		fail("dup2 onto itself");
	step("dup2, dup3, dup2 onto itself: done");

	for (int i = 0; i < RANGE_COUNT; i++) {
		range[i] = fcntl(p[1], i % 2 ? F_DUPFD_CLOEXEC : F_DUPFD, RANGE_BASE);
		if (range[i] < RANGE_BASE)
			fail("fcntl F_DUPFD");
	}
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
	if (close_range((unsigned)range[0], (unsigned)range[RANGE_COUNT - 1], 0) != 0)
		fail("close_range");
#else
	for (int i = 0; i < RANGE_COUNT; i++)
		close(range[i]);
#endif
	for (int i = 0; i < RANGE_COUNT; i++)
		if (!is_closed(range[i]))
			fail("a descriptor survived close_range");
	step("fcntl F_DUPFD x5, close_range: all closed");

	if (close(-1) != -1 || errno != EBADF)
		fail("close(-1) did not fail with EBADF");
	if (close(range[0]) != -1 || errno != EBADF)
		fail("second close did not fail with EBADF");
	step("close of bad descriptors: EBADF");

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		fail("socketpair");
	if (write(sv[0], "ping", 4) != 4 || shutdown(sv[0], SHUT_WR) != 0)
		fail("write/shutdown on the socketpair");
	if (read(sv[1], buf, sizeof buf) != 4 || read(sv[1], buf, sizeof buf) != 0)
		fail("read after shutdown");
	if (close(sv[0]) != 0 || close(sv[1]) != 0)
		fail("close of the socketpair");
	step("socketpair, shutdown(SHUT_WR): 4 bytes then EOF");

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		fail("fork");
	if (pid == 0) {
		close(p[0]);
		close(p[1]);
		close(null);
		exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail("child did not exit 0");
	step("fork: the child closed its descriptors and exited 0");

	copy = dup(p[1]);
	if (copy < 0)
		fail("dup for fdopen");
	f = fdopen(copy, "w");
	if (!f || fputs("def", f) < 0 || fclose(f) != 0)
		fail("fdopen/fputs/fclose");
	if (close(p[1]) != 0)
		fail("close of the write end");
	if (read(p[0], buf, sizeof buf) != 3 || read(p[0], buf, sizeof buf) != 0)
		fail("read after fclose");
	if (close(p[0]) != 0 || close(null) != 0)
		fail("final close");
	step("fdopen, fclose, pipe EOF: done");

	f = fopen("/proc/self/maps", "r");
	if (!f)
		fail("open /proc/self/maps");
	while (fgets(buf, sizeof buf, f))
		if (strstr(buf, "libssl") || strstr(buf, "libcrypto"))
			mapped = 1;
	fclose(f);
	printf("ok libssl_mapped=%d\n", mapped);
	fflush(stdout);
	return 0;
}
