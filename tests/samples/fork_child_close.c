/* fork_child_close: a forked child closes and frees its inherited copy of
 * the connection and exits normally (atexit handlers run). It must not end
 * the parent's session: the parent then writes "more\n" (must succeed) and
 * closes the last descriptor, which is when close_notify is due. */
#include "sample.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sample s;
	pid_t pid;
	int status;

	sample_init(argc, argv);
	sample_connect(&s);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		sample_fail("fork failed");
	if (pid == 0) {
		close(s.fd);
		SSL_free(s.ssl);
		exit(0);
	}
	if (waitpid(pid, &status, 0) != pid)
		sample_fail("waitpid failed");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "sample: child did not exit 0 (status 0x%x)\n", (unsigned)status);
		return 1;
	}
	sample_write(&s, "more\n");
	if (close(s.fd) != 0)
		sample_fail("close failed");
	sample_done("child_closed wrote_more closed");
	return 0;
}
