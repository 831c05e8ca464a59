/* stalled_alert: the library sends close_notify on the program's behalf
 * while the socket's send buffer cannot take the alert record, and the
 * program then goes on using the SSL object (tests/stalled.py).
 *
 * --variant=TRIGGER,STATE[,filter]
 *   TRIGGER  shutdown: the program calls shutdown(fd, SHUT_WR) (the library
 *              sends close_notify before the real call), then SSL_write,
 *              SSL_get_shutdown, SSL_shutdown and SSL_read on the object
 *              (SIGPIPE ignored: without the library the write gets EPIPE);
 *            reply: the peer's close_notify arrives while the buffer is full
 *              (TLSCLOSE_REPLY answers it inside SSL_read); the program then
 *              answers it itself as a correct non-blocking program does:
 *              SSL_shutdown, retried on WANT_WRITE once the peer reads again.
 *   STATE    none: the send buffer takes no byte more;
 *            partial: it takes exactly 10 bytes more (fewer than any alert
 *              record), then no byte.
 *   filter   a BIO_f_null filter in front of the socket BIO for writing:
 *            the library then sends through OpenSSL's own write instead of
 *            its memory BIO.
 *
 * The socket is non-blocking throughout. Talks to `peer server --mode=hold`
 * and synchronises with the test through its stdout lines, one step each:
 * "filled ..." (the buffer is in STATE: for reply the test then has the peer
 * send close_notify), "used ..." (what the program saw after the trigger:
 * the test then lets the peer read again), "ok ..." (the end). Times are
 * measured with CLOCK_MONOTONIC and printed, not judged here.
 *
 * How the buffer is put exactly in STATE with no record left half-written in
 * OpenSSL (a pending SSL_write is a different case: the library does not send
 * then): the fill records are made by SSL_write into a memory BIO put in place
 * of the write BIO, and sent with send(), so that the program knows how many
 * bytes the kernel took. Linux TCP appends to the last queued segment while
 * there is room in it, and opens a new segment only while the socket's
 * memory is below SO_SNDBUF (SO_MEMINFO tells). MSG_EOR closes a segment to
 * appending. So: (1) records with MSG_EOR while memory is free, until the
 * peer's window is closed and much is queued; (2) SO_SNDBUF just above what
 * is queued, a large send: the kernel takes exactly one new segment, whose
 * size G it returns; SO_SNDBUF large again, the rest with MSG_EOR; (3) for
 * partial: records of exactly G - 10 bytes without MSG_EOR: one segment with
 * 10 bytes of room; (4) SO_SNDBUF minimal: memory is never free again while
 * the peer reads nothing, so the socket takes 0 (none) or 10 (partial) bytes
 * more. When the kernel does not behave so (another TCP stack, loopback
 * segments larger than the batch), the sample says so and exits 77: the
 * test skips rather than judge a state it could not make. */
#include "sample.h"

#include <errno.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>

#define ROOM 10                    /* STATE partial: bytes the socket still takes */
#define UNSENT_TARGET (256 * 1024) /* queued behind the closed window in (1) */
#define FILL_MAX (64L << 20)       /* give up (1) beyond this */
#define BIG_SNDBUF (1 << 20)       /* SO_SNDBUF while filling (the kernel doubles it) */
#define WAIT_MS 10000              /* every wait is bounded */
#define PLAIN_MAX 16384            /* plaintext of a full record */
#define BATCH 16                   /* records sent at once to measure G (256 KiB) */
#define EXIT_CANNOT 77             /* the buffer could not be put in the state */

static struct sample s;
static BIO *mem;       /* the fill records are made here */
static BIO *real_wbio; /* the program's write BIO meanwhile */
static long plain_out; /* plaintext bytes written after the response */
static unsigned char pattern[PLAIN_MAX];

static long ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (long)((t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000);
}

/* The kernel did not do what the fill relies on. */
static _Noreturn void cannot(const char *what)
{
	fprintf(stderr, "sample: cannot put the send buffer in the state: %s\n", what);
	exit(EXIT_CANNOT);
}

static void meminfo(unsigned *queued, unsigned *sndbuf)
{
	unsigned m[SK_MEMINFO_VARS];
	socklen_t len = sizeof m;

	if (getsockopt(s.fd, SOL_SOCKET, SO_MEMINFO, m, &len) != 0)
		cannot("getsockopt SO_MEMINFO failed");
	*queued = m[SK_MEMINFO_WMEM_QUEUED];
	*sndbuf = m[SK_MEMINFO_SNDBUF];
}

/* Bytes queued that TCP has not sent yet (the peer's window is closed). */
static int unsent(void)
{
	int n = 0;

	if (ioctl(s.fd, SIOCOUTQNSD, &n) != 0)
		cannot("ioctl SIOCOUTQNSD failed");
	return n;
}

static void set_sndbuf(int v)
{
	if (setsockopt(s.fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v) != 0)
		sample_fail("setsockopt SO_SNDBUF failed");
}

/* Records for plain bytes of plaintext, appended to *buf (*len, *cap). */
static void produce(size_t plain, unsigned char **buf, size_t *len, size_t *cap)
{
	int r, n;

	errno = 0;
	r = SSL_write(s.ssl, pattern, (int)plain);
	if (r != (int)plain)
		sample_fail_ssl(s.ssl, r, "SSL_write into the memory BIO failed");
	plain_out += (long)plain;
	n = (int)BIO_pending(mem);
	if (*len + (size_t)n > *cap) {
		*cap = (*len + (size_t)n) * 2;
		*buf = realloc(*buf, *cap);
		if (!*buf)
			sample_fail("realloc failed");
	}
	if (BIO_read(mem, *buf + *len, n) != n)
		sample_fail("BIO_read from the memory BIO failed");
	*len += (size_t)n;
}

/* send() that must take everything at once. */
static void send_whole(const unsigned char *p, size_t len, int flags, const char *what)
{
	ssize_t n = send(s.fd, p, len, flags | MSG_DONTWAIT | MSG_NOSIGNAL);

	if (n != (ssize_t)len) {
		char msg[160];

		snprintf(msg, sizeof msg, "%s: send of %zu bytes returned %zd (errno %d)", what, len,
			 n, n < 0 ? errno : 0);
		cannot(msg);
	}
}

/* Puts the send buffer in the state of the variant; returns the segment
 * size G measured in (2). */
static long fill(int partial)
{
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0, overhead, full, target, left;
	unsigned queued, sndbuf;
	long total = 0;
	ssize_t g;

	real_wbio = SSL_get_wbio(s.ssl);
	mem = BIO_new(BIO_s_mem());
	if (!mem || !BIO_up_ref(real_wbio))
		sample_fail("BIO setup failed");
	SSL_set0_wbio(s.ssl, mem); /* owns mem; our reference keeps real_wbio */
	set_sndbuf(BIG_SNDBUF);

	/* (1) */
	produce(PLAIN_MAX, &buf, &len, &cap);
	overhead = len - PLAIN_MAX;
	full = len;
	for (;;) {
		meminfo(&queued, &sndbuf);
		if (queued >= sndbuf || total > FILL_MAX)
			cannot("the send buffer filled up before the peer's window closed");
		send_whole(buf, len, MSG_EOR, "fill");
		total += (long)len;
		len = 0;
		if (unsent() >= UNSENT_TARGET)
			break;
		produce(PLAIN_MAX, &buf, &len, &cap);
	}

	/* (2) */
	for (int i = 0; i < BATCH; i++)
		produce(PLAIN_MAX, &buf, &len, &cap);
	meminfo(&queued, &sndbuf);
	set_sndbuf((int)(queued + 2) / 2);
	g = send(s.fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (g <= 0 || (size_t)g >= len) {
		char msg[160];

		snprintf(msg, sizeof msg, "measuring the segment size: send of %zu bytes returned "
			 "%zd (errno %d)", len, g, g < 0 ? errno : 0);
		cannot(msg);
	}
	set_sndbuf(BIG_SNDBUF);
	send_whole(buf + g, len - (size_t)g, MSG_EOR, "the rest after measuring");
	len = 0;

	/* (3): the last record has at least one byte of plaintext. */
	if (partial) {
		if ((size_t)g < ROOM + 2 * (overhead + 1))
			cannot("segment too small");
		target = (size_t)g - ROOM;
		left = target;
		while (left > 0) {
			size_t rec;

			if (left <= full)
				rec = left;
			else if (left - full >= overhead + 1)
				rec = full;
			else
				rec = left - (overhead + 1);
			produce(rec - overhead, &buf, &len, &cap);
			left -= rec;
		}
		if (len != target) {
			char msg[96];

			snprintf(msg, sizeof msg, "records of %zu bytes instead of %zu", len, target);
			cannot(msg);
		}
		send_whole(buf, len, 0, "the segment with room left");
	}

	/* (4) */
	set_sndbuf(1);
	meminfo(&queued, &sndbuf);
	if (queued < sndbuf)
		cannot("the socket's memory is still free");
	SSL_set0_wbio(s.ssl, real_wbio); /* frees mem, takes our reference back */
	free(buf);
	return (long)g;
}

/* SSL_get_error and the reason of the oldest queued error ("-" if none),
 * then the queue cleared. */
static void outcome(int ret, int *err, char *reason, size_t size)
{
	unsigned long e = ERR_peek_error();

	*err = SSL_get_error(s.ssl, ret);
	if (e == 0)
		snprintf(reason, size, "-");
	else
		snprintf(reason, size, "%d", ERR_GET_REASON(e));
	ERR_clear_error();
}

static void wait_for(short events, const char *what)
{
	struct pollfd p = { .fd = s.fd, .events = events };
	int r;

	while ((r = poll(&p, 1, WAIT_MS)) < 0 && errno == EINTR)
		;
	if (r <= 0) {
		char msg[128];

		errno = r < 0 ? errno : 0;
		snprintf(msg, sizeof msg, "timed out waiting for %s", what);
		sample_fail(msg);
	}
}

static int after_shutdown(int unsent_before)
{
	struct timespec t0;
	char buf[64], wreason[16], sreason[16], rreason[16];
	int r, e, w, werr, gs, sd, serr, rd, rerr;
	long ms;

	signal(SIGPIPE, SIG_IGN);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	errno = 0;
	r = shutdown(s.fd, SHUT_WR);
	e = errno;
	ms = ms_since(&t0);
	printf("trigger shutdown=%d errno=%d shutdown_ms=%ld unsent_delta=%d\n", r, e, ms,
	       unsent() - unsent_before);
	fflush(stdout);

	errno = 0;
	w = SSL_write(s.ssl, "late\n", 5);
	e = errno;
	outcome(w, &werr, wreason, sizeof wreason);
	gs = SSL_get_shutdown(s.ssl);
	sd = SSL_shutdown(s.ssl);
	outcome(sd, &serr, sreason, sizeof sreason);
	rd = SSL_read(s.ssl, buf, sizeof buf);
	outcome(rd, &rerr, rreason, sizeof rreason);
	printf("used write=%d write_err=%d write_errno=%d write_reason=%s get_shutdown=%d "
	       "ssl_shutdown=%d ssl_shutdown_err=%d ssl_shutdown_reason=%s read=%d read_err=%d "
	       "read_reason=%s\n",
	       w, werr, e, wreason, gs, sd, serr, sreason, rd, rerr, rreason);
	fflush(stdout);
	if (close(s.fd) != 0)
		sample_fail("close failed");
	sample_done("plain_out=%ld", plain_out);
	return 0;
}

static int after_reply(int unsent_before)
{
	struct timespec t0;
	char buf[64], reason[16];
	int rd, rerr, gs, sd, serr, first, tries = 1;
	long ms, shutdown_ms;

	/* The peer's close_notify comes in one record: one SSL_read reads it
	 * (a WANT_READ before all of it arrived is retried). */
	do {
		wait_for(POLLIN, "the peer's close_notify");
		clock_gettime(CLOCK_MONOTONIC, &t0);
		errno = 0;
		rd = SSL_read(s.ssl, buf, sizeof buf);
		ms = ms_since(&t0);
		outcome(rd, &rerr, reason, sizeof reason);
	} while (rd < 0 && rerr == SSL_ERROR_WANT_READ);
	gs = SSL_get_shutdown(s.ssl);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	sd = SSL_shutdown(s.ssl);
	shutdown_ms = ms_since(&t0);
	outcome(sd, &serr, reason, sizeof reason);
	first = sd;
	printf("used read=%d read_err=%d read_ms=%ld get_shutdown=%d shutdown1=%d "
	       "shutdown1_err=%d shutdown1_ms=%ld unsent_delta=%d\n",
	       rd, rerr, ms, gs, sd, serr, shutdown_ms, unsent() - unsent_before);
	fflush(stdout);
	/* The test now lets the peer read: the answer can go out. */
	while (sd < 0 && (serr == SSL_ERROR_WANT_WRITE || serr == SSL_ERROR_WANT_READ)) {
		wait_for(serr == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, "SSL_shutdown");
		sd = SSL_shutdown(s.ssl);
		outcome(sd, &serr, reason, sizeof reason);
		tries++;
	}
	if (close(s.fd) != 0)
		sample_fail("close failed");
	sample_done("shutdown_first=%d shutdown_final=%d shutdown_err=%d shutdown_reason=%s "
		    "shutdown_calls=%d plain_out=%ld", first, sd, serr, reason, tries, plain_out);
	return 0;
}

int main(int argc, char **argv)
{
	const char *v;
	int reply, partial, filter, unsent_before;
	long g;

	sample_init(argc, argv);
	v = sample_variant();
	reply = strncmp(v, "reply,", 6) == 0;
	if (!reply && strncmp(v, "shutdown,", 9) != 0) {
		fprintf(stderr, "sample: --variant=shutdown|reply,none|partial[,filter]\n");
		return 2;
	}
	v = strchr(v, ',') + 1;
	partial = strncmp(v, "partial", 7) == 0;
	if (!partial && strncmp(v, "none", 4) != 0) {
		fprintf(stderr, "sample: --variant=shutdown|reply,none|partial[,filter]\n");
		return 2;
	}
	filter = strstr(v, ",filter") != NULL;
	memset(pattern, 'x', sizeof pattern);

	sample_connect_nonblocking(&s);
	if (filter) {
		/* The socket BIO keeps reading; writes go through the filter. */
		BIO *sock = SSL_get_wbio(s.ssl);
		BIO *f = BIO_new(BIO_f_null());

		if (!f || !BIO_up_ref(sock))
			sample_fail("BIO_f_null setup failed");
		BIO_push(f, sock);
		SSL_set0_wbio(s.ssl, f);
	}
	g = fill(partial);
	unsent_before = unsent();
	printf("filled segment=%ld room=%d unsent=%d plain_out=%ld\n", g, partial ? ROOM : 0,
	       unsent_before, plain_out);
	fflush(stdout);
	return reply ? after_reply(unsent_before) : after_shutdown(unsent_before);
}
