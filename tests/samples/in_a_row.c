/* in_a_row: connections one after the other over one client context, each
 * ended sloppily (close(), then SSL_free). A new SSL object is often
 * allocated where one freed before was: the library must have forgotten
 * the old object at its SSL_free, and count and end each connection as
 * one of its own. Prints how many objects took an address an earlier one
 * had ("reused=N"), so that a run where none did can be told apart. */
#include "sample.h"

#include <unistd.h>

#define CONNECTIONS 3

int main(int argc, char **argv)
{
	struct sample s;
	const void *seen[CONNECTIONS];
	int reused = 0;

	sample_init(argc, argv);
	s.ctx = sample_client_ctx();
	for (int i = 0; i < CONNECTIONS; i++) {
		sample_connect_in_ctx(&s);
		seen[i] = s.ssl;
		for (int j = 0; j < i; j++)
			reused += seen[j] == seen[i];
		if (close(s.fd) != 0)
			sample_fail("close failed");
		SSL_free(s.ssl);
	}
	SSL_CTX_free(s.ctx);
	sample_done("reused=%d", reused);
	return 0;
}
