/* plaintext_after_tls: the TLS session ends and the socket stays open for
 * what the peer sends next (a protocol that goes on in the clear after TLS).
 * The peer sends close_notify and then more bytes (--mode=close
 * --data-after-close=20); the program reads the close_notify, waits until
 * those bytes are there, ends TLS without SSL_shutdown (SSL_free; with
 * --variant=exit: exit(0)), then reads them from the socket itself (in
 * exit mode, from its own atexit handler, which runs after the library's).
 * Nothing may have taken them. Output "ok plaintext=kept bytes=N". */
#include "sample.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct sample s;

static void read_plaintext(void)
{
	char buf[4096];
	long total = 0;
	ssize_t n;

	while ((n = recv(s.fd, buf, sizeof buf, MSG_DONTWAIT)) > 0)
		total += n;
	/* The peer's record: 5 bytes of header and 20 of data, at least. */
	sample_done("plaintext=%s bytes=%ld", total >= 25 ? "kept" : "lost", total);
}

int main(int argc, char **argv)
{
	struct pollfd p;
	char buf[64];
	int exit_variant, n;

	sample_init(argc, argv);
	exit_variant = strcmp(sample_variant(), "exit") == 0;
	if (exit_variant)
		atexit(read_plaintext); /* before any OpenSSL call */
	sample_connect(&s);
	n = SSL_read(s.ssl, buf, sizeof buf);
	if (n != 0 || SSL_get_error(s.ssl, n) != SSL_ERROR_ZERO_RETURN)
		sample_fail_ssl(s.ssl, n, "expected the peer's close_notify");
	p.fd = s.fd;
	p.events = POLLIN;
	if (poll(&p, 1, 5000) != 1)
		sample_fail("the bytes after close_notify did not arrive");
	if (exit_variant)
		exit(0);
	SSL_free(s.ssl);
	read_plaintext();
	close(s.fd);
	SSL_CTX_free(s.ctx);
	return 0;
}
