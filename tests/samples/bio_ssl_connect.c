/* bio_ssl_connect: the BIO-chain style (BIO_new_ssl_connect). BIO_free_all
 * on the SSL BIO makes OpenSSL itself call SSL_shutdown, so exactly one
 * close_notify must reach the peer, bare and under the shim (never two). */
#include "sample.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>

int main(int argc, char **argv)
{
	SSL_CTX *ctx;
	BIO *bio;
	char target[300], buf[64];
	size_t len = 0;

	sample_init(argc, argv);
	ctx = sample_client_ctx();
	bio = BIO_new_ssl_connect(ctx);
	if (!bio)
		sample_fail("BIO_new_ssl_connect failed");
	snprintf(target, sizeof target, strchr(sample_host(), ':') ? "[%s]:%d" : "%s:%d",
		 sample_host(), sample_port());
	BIO_set_conn_hostname(bio, target);
	errno = 0;
	if (BIO_do_connect(bio) <= 0)
		sample_fail("BIO_do_connect failed");
	if (BIO_do_handshake(bio) <= 0)
		sample_fail("BIO_do_handshake failed");
	if (BIO_write(bio, "hello\n", 6) != 6)
		sample_fail("BIO_write of the request failed");
	while (len == 0 || buf[len - 1] != '\n') {
		int r;

		if (len == sizeof buf)
			break;
		r = BIO_read(bio, buf + len, (int)(sizeof buf - len));
		if (r > 0)
			len += (size_t)r;
		else if (!BIO_should_retry(bio))
			sample_fail("BIO_read of the response failed");
	}
	if (len != 6 || memcmp(buf, "world\n", 6) != 0) {
		fprintf(stderr, "sample: unexpected response (%zu bytes)\n", len);
		return 1;
	}
	BIO_free_all(bio);
	SSL_CTX_free(ctx);
	sample_done("bio_freed");
	return 0;
}
