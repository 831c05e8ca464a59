/* fork_handoff: an established connection is handed to a forked child.
 * The parent sent the request, then forks, closes and frees its own copy
 * without using it again, and only then lets the child go on (pipe). The
 * child reads the response, writes "more\n" and closes: the ownership rule
 * (tlsclose(7), Ownership across fork) makes the child the owner (it used
 * the connection) and leaves the parent's copy
 * alone (not used since the fork), so the peer sees "more\n" and then
 * exactly one close_notify, the child's. */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sample s;
	int go[2];
	char byte = 'x';
	pid_t pid;

	sample_init(argc, argv);
	sample_handshake(&s);
	sample_write(&s, "hello\n");
	if (pipe(go) != 0)
		sample_fail("pipe failed");
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		sample_fail("fork failed");
	if (pid == 0) {
		alarm(60); /* hang guard of the child */
		if (read(go[0], &byte, 1) != 1)
			sample_fail("child: read(go) failed");
		hard_read_line(&s);
		sample_write(&s, "more\n");
		if (close(s.fd) != 0)
			sample_fail("child: close failed");
		SSL_free(s.ssl);
		exit(0);
	}
	if (close(s.fd) != 0)
		sample_fail("parent: close failed");
	SSL_free(s.ssl);
	if (write(go[1], &byte, 1) != 1)
		sample_fail("write(go) failed");
	hard_wait_ok(pid, "handoff child");
	sample_done("parent=%ld child=%ld parent_closed_first child_used_and_closed",
		    (long)getpid(), (long)pid);
	return 0;
}
