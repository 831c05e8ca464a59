/* spawn_children: with the connection established, the program starts
 * children that share its memory or replace themselves at once: vfork()
 * with the child closing the TLS descriptor and calling _exit(), vfork()
 * with execv("/bin/true"), and posix_spawn() of /bin/true. None of them
 * runs the atfork handlers. They must not disturb the parent: its later
 * close() sends exactly one close_notify, and no child sends anything. */
#include "common.h"

#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

extern char **environ;

static char *const true_argv[] = { "true", NULL };

int main(int argc, char **argv)
{
	struct sample s;
	pid_t pid;

	sample_init(argc, argv);
	sample_connect(&s);
	fflush(NULL);

	pid = vfork();
	if (pid < 0)
		sample_fail("vfork failed");
	if (pid == 0) {
		close(s.fd); /* the child's own copy of the descriptor table */
		_exit(0);
	}
	hard_wait_ok(pid, "vfork + close + _exit");

	pid = vfork();
	if (pid < 0)
		sample_fail("vfork failed");
	if (pid == 0) {
		execv("/bin/true", true_argv);
		_exit(127);
	}
	hard_wait_ok(pid, "vfork + exec /bin/true");

	if (posix_spawn(&pid, "/bin/true", NULL, NULL, true_argv, environ) != 0)
		sample_fail("posix_spawn failed");
	hard_wait_ok(pid, "posix_spawn /bin/true");

	if (close(s.fd) != 0)
		sample_fail("close failed");
	SSL_free(s.ssl);
	sample_done("pid=%ld vfork_exit vfork_exec posix_spawn closed", (long)getpid());
	return 0;
}
