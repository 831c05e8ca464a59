/* errno_errqueue: the shim sends close_notify inside SSL_free and on
 * close(), and must leave errno and the thread's OpenSSL error queue exactly
 * as they were: a sentinel error (ERR_LIB_USER, reason 42) stays the only
 * queued entry, and errno keeps the value the program set. */
#include "sample.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>

#define SENTINEL_REASON 42

static void push_sentinel(void)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	ERR_raise(ERR_LIB_USER, SENTINEL_REASON);
#else
	ERR_put_error(ERR_LIB_USER, 0, SENTINEL_REASON, __FILE__, __LINE__);
#endif
}

int main(int argc, char **argv)
{
	struct sample s;
	unsigned long sentinel, first, second;
	int e, r;

	sample_init(argc, argv);
	sample_connect(&s);
	ERR_clear_error();
	push_sentinel();
	sentinel = ERR_peek_error();
	if (ERR_GET_LIB(sentinel) != ERR_LIB_USER || ERR_GET_REASON(sentinel) != SENTINEL_REASON) {
		fprintf(stderr, "sample: could not push the sentinel error (got %lx)\n", sentinel);
		return 1;
	}

	errno = EDOM;
	SSL_free(s.ssl);
	e = errno;
	if (e != EDOM) {
		fprintf(stderr, "sample: SSL_free changed errno from %d (EDOM) to %d (%s)\n",
			EDOM, e, strerror(e));
		return 1;
	}
	first = ERR_get_error();
	second = ERR_get_error();
	if (first != sentinel || second != 0) {
		char b1[256], b2[256];

		ERR_error_string_n(first, b1, sizeof b1);
		ERR_error_string_n(second, b2, sizeof b2);
		fprintf(stderr, "sample: error queue changed by SSL_free: expected [%lx] got "
			"[%lx %s] then [%lx %s]\n", sentinel, first, b1, second, second ? b2 : "");
		return 1;
	}

	errno = ERANGE;
	r = close(s.fd);
	e = errno;
	if (r != 0 || e != ERANGE) {
		fprintf(stderr, "sample: close returned %d with errno %d (%s); expected 0 with "
			"errno kept at %d (ERANGE)\n", r, e, strerror(e), ERANGE);
		return 1;
	}
	if ((first = ERR_get_error()) != 0) {
		fprintf(stderr, "sample: close left an error on the queue: %lx\n", first);
		return 1;
	}
	SSL_CTX_free(s.ctx);
	sample_done("errno_kept queue_kept");
	return 0;
}
