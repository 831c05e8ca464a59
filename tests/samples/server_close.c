/* server_close: a sloppy TLS server. It listens on an ephemeral loopback
 * port, prints {"port":N}, serves one client ("hello\n" -> "world\n") and
 * then close()s the connection without SSL_shutdown (the SSL leaks). Under
 * the shim the client must receive close_notify. */
#include "sample.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACCEPT_WAIT_MS 10000

static int listen_ephemeral(void)
{
	struct addrinfo hints, *res;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char port[NI_MAXSERV];
	int fd, rc, one = 1;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	rc = getaddrinfo(sample_host(), "0", &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "sample: getaddrinfo %s: %s\n", sample_host(), gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 1) != 0)
		sample_fail("socket/bind/listen failed");
	freeaddrinfo(res);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0 ||
	    getnameinfo((struct sockaddr *)&ss, sl, NULL, 0, port, sizeof port, NI_NUMERICSERV) != 0)
		sample_fail("getsockname failed");
	printf("{\"port\":%s}\n", port);
	fflush(stdout);
	return fd;
}

int main(int argc, char **argv)
{
	struct sample s;
	struct pollfd p;
	char buf[64];
	size_t len = 0;
	int lfd, r;

	sample_init_server(argc, argv);
	s.ctx = SSL_CTX_new(TLS_server_method());
	if (!s.ctx || !SSL_CTX_set_min_proto_version(s.ctx, TLS1_2_VERSION))
		sample_fail("SSL_CTX_new failed");
	if (SSL_CTX_use_certificate_chain_file(s.ctx, sample_cert()) != 1 ||
	    SSL_CTX_use_PrivateKey_file(s.ctx, sample_key(), SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(s.ctx) != 1)
		sample_fail("loading the certificate and key failed");

	lfd = listen_ephemeral();
	if (lfd < 0)
		return 1;
	p.fd = lfd;
	p.events = POLLIN;
	if (poll(&p, 1, ACCEPT_WAIT_MS) != 1) {
		errno = 0;
		sample_fail("no client within 10 s");
	}
	s.fd = accept(lfd, NULL, NULL);
	if (s.fd < 0)
		sample_fail("accept failed");
	close(lfd);

	s.ssl = SSL_new(s.ctx);
	if (!s.ssl || !SSL_set_fd(s.ssl, s.fd))
		sample_fail("SSL_new/SSL_set_fd failed");
	errno = 0;
	if ((r = SSL_accept(s.ssl)) != 1)
		sample_fail_ssl(s.ssl, r, "SSL_accept failed");
	while (len == 0 || buf[len - 1] != '\n') {
		if (len == sizeof buf)
			break;
		errno = 0;
		r = SSL_read(s.ssl, buf + len, (int)(sizeof buf - len));
		if (r <= 0)
			sample_fail_ssl(s.ssl, r, "SSL_read of the request failed");
		len += (size_t)r;
	}
	if (len != 6 || memcmp(buf, "hello\n", 6) != 0) {
		fprintf(stderr, "sample: unexpected request (%zu bytes)\n", len);
		return 1;
	}
	sample_write(&s, "world\n");
	if (close(s.fd) != 0)
		sample_fail("close failed");
	sample_done("served");
	return 0;
}
