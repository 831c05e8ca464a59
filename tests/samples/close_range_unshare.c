/* close_range_unshare: a helper thread calls close_range(fd, fd,
 * CLOSE_RANGE_UNSHARE), which closes the descriptor only in a private copy
 * of the descriptor table that the helper gets (as before an exec); for
 * the main thread the connection stays open, and it goes on: SSL_write of
 * "after\n", then its own close(). The library must not end the connection
 * at the helper's call. Output "ok write=6". */
#include "sample.h"

#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif

static struct sample s;
static int helper_result = -2;

static void *helper(void *arg)
{
	(void)arg;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
	helper_result = close_range((unsigned int)s.fd, (unsigned int)s.fd, CLOSE_RANGE_UNSHARE);
#endif
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t;

	sample_init(argc, argv);
#if !(defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34)))
	fprintf(stderr, "sample: close_range: no glibc wrapper (glibc < 2.34)\n");
	return 77;
#endif
	sample_connect(&s);
	if (pthread_create(&t, NULL, helper, NULL) != 0 || pthread_join(t, NULL) != 0)
		sample_fail("pthread failed");
	if (helper_result != 0)
		sample_fail("close_range(CLOSE_RANGE_UNSHARE) failed");
	int w = SSL_write(s.ssl, "after\n", 6);
	if (w != 6)
		sample_fail_ssl(s.ssl, w, "SSL_write after the helper's close_range failed");
	if (close(s.fd) != 0)
		sample_fail("close failed");
	SSL_free(s.ssl);
	SSL_CTX_free(s.ctx);
	sample_done("write=%d", w);
	return 0;
}
