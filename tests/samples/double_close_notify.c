/* double_close_notify: a control for the strict peer, not a pattern to fix.
 * The program ends with its own SSL_shutdown, whose close_notify record it
 * catches in a memory BIO and sends twice. The peer must report the second
 * record as extra bytes after the first: that is how every "exactly one
 * close_notify" verdict of the suites would catch a library that sent a
 * second one. Under the library nothing changes (the program sent its own). */
#include "sample.h"

#include <sys/socket.h>
#include <unistd.h>

static void send_all(int fd, const char *p, long len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, (size_t)len, MSG_NOSIGNAL);

		if (n <= 0)
			sample_fail("send of the close_notify record failed");
		p += n;
		len -= n;
	}
}

int main(int argc, char **argv)
{
	struct sample s;
	BIO *mem;
	char *record;
	long len;
	int r;

	sample_init(argc, argv);
	sample_connect(&s);
	mem = BIO_new(BIO_s_mem());
	if (mem == NULL)
		sample_fail("BIO_new failed");
	SSL_set0_wbio(s.ssl, mem); /* the SSL owns it now */
	r = SSL_shutdown(s.ssl);
	if (r < 0)
		sample_fail_ssl(s.ssl, r, "SSL_shutdown failed");
	len = BIO_get_mem_data(mem, &record);
	if (len <= 0)
		sample_fail("no close_notify record in the memory BIO");
	send_all(s.fd, record, len);
	send_all(s.fd, record, len);
	if (close(s.fd) != 0)
		sample_fail("close failed");
	SSL_free(s.ssl);
	SSL_CTX_free(s.ctx);
	sample_done("record=%ld sent_twice", len);
	return 0;
}
