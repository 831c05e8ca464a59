/* common.c: see common.h. */
#include "common.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

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
