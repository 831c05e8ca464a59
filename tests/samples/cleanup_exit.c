/* cleanup_exit: the program calls OPENSSL_cleanup() itself and then exits
 * with the connection open, over a TLS 1.2 CBC suite when the peer speaks
 * TLS 1.2. Any OpenSSL call after the cleanup is undefined (with CBC,
 * SSL_shutdown crashes in RAND): the shim's exit handler must notice the
 * cleanup and leave the connection alone. */
#include "sample.h"

#include <stdlib.h>

#include <openssl/crypto.h>

int main(int argc, char **argv)
{
	struct sample s;

	/* ECDSA certificate of the test peer: an ECDHE-ECDSA CBC suite. */
	sample_tls12_ciphers = "ECDHE-ECDSA-AES128-SHA";
	sample_init(argc, argv);
	sample_connect(&s);
	OPENSSL_cleanup();
	sample_done("cleaned up");
	exit(0);
}
