/* fork_handoff: the parent hands an established connection to a forked
 * child and closes its own copy without using it again; the child writes
 * "child\n" and closes the last descriptor. By tlsclose(7), Ownership across
 * fork, the child became the owner by using the connection, so its close
 * sends the one close_notify;
 * the parent's close (before or after the child's) sends nothing, which
 * would otherwise end the child's session or add a second alert. */
#include "sample.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sample s;
	pid_t pid;
	int status, go[2];

	sample_init(argc, argv);
	sample_connect(&s);
	if (pipe(go) != 0)
		sample_fail("pipe failed");
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		sample_fail("fork failed");
	if (pid == 0) {
		char byte;

		/* Wait until the parent has closed its copy. */
		close(go[1]);
		if (read(go[0], &byte, 1) != 0)
			sample_fail("child: unexpected byte");
		sample_write(&s, "child\n");
		close(s.fd);
		exit(0);
	}
	close(go[0]);
	if (close(s.fd) != 0)
		sample_fail("close failed");
	close(go[1]); /* the child goes on */
	if (waitpid(pid, &status, 0) != pid)
		sample_fail("waitpid failed");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "sample: child did not exit 0 (status 0x%x)\n", (unsigned)status);
		return 1;
	}
	sample_done("parent_closed child_wrote child_closed");
	return 0;
}
