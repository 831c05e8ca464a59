/* atexit_shutdown: a program that ends TLS properly, from its own atexit
 * handler registered before its first OpenSSL call. The shim registers its
 * exit handler later, so it runs first and sends close_notify; the program's
 * SSL_shutdown must then return at once as a first call does, not block
 * reading for the peer's answer as a second call would. */
#include "sample.h"

#include <stdio.h>
#include <stdlib.h>

static struct sample s;

static void end_tls(void)
{
	int r = SSL_shutdown(s.ssl);

	sample_done("shutdown=%d", r);
}

int main(int argc, char **argv)
{
	sample_init(argc, argv);
	if (atexit(end_tls) != 0)
		sample_fail("atexit failed");
	sample_connect(&s);
	exit(0);
}
