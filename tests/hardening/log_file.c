/* log_file: the library's log file (TLSCLOSE_LOG=PATH) against programs that
 * take its descriptor or move its file, with events after start-up (a TLS
 * connection closed by close()). Run by tests/events.test.
 *
 *   log_file --port=N --variant=MODE
 *
 * reuse           the program finds the descriptor the library holds on
 *                 PATH, closes every descriptor from 3 up (as daemons do),
 *                 opens PATH.program and moves it to that number, then
 *                 closes a TLS connection: the event must reach PATH, not
 *                 one byte PATH.program, and the program's descriptor must
 *                 stay open.
 * rotate          closes connection A, renames PATH to PATH.1 (logrotate),
 *                 closes B: A's event in PATH.1, B's in a new PATH; the
 *                 library then holds PATH open, not PATH.1 (whose space a
 *                 rotation frees).
 * rotate-symlink  as rotate, but a symbolic link to PATH.target is planted
 *                 at PATH after the rename: B's event stays in PATH.1 and
 *                 PATH.target is not created.
 *
 * Output: "ok mode=... log_fd=N ..." (log_fd: the library's descriptor on
 * PATH at start, -1 when it holds none); exit 1 on failure. */
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char log_path[PATH_MAX];

static void derived(char *buf, size_t size, const char *suffix)
{
	if ((size_t)snprintf(buf, size, "%s%s", log_path, suffix) >= size)
		sample_fail("path too long");
}

/* The lowest descriptor that names path (and how many do), from
 * /proc/self/fd. */
static int fd_on(const char *path, int *count)
{
	char link[64], target[PATH_MAX];
	struct dirent *d;
	DIR *dir = opendir("/proc/self/fd");
	int found = -1;

	if (!dir)
		sample_fail("opendir /proc/self/fd failed");
	*count = 0;
	while ((d = readdir(dir)) != NULL) {
		int fd = atoi(d->d_name);
		ssize_t n;

		if (d->d_name[0] == '.' || fd == dirfd(dir))
			continue;
		snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
		n = readlink(link, target, sizeof target - 1);
		if (n < 0)
			continue;
		target[n] = '\0';
		if (strcmp(target, path) == 0) {
			if (found < 0 || fd < found)
				found = fd;
			++*count;
		}
	}
	closedir(dir);
	return found;
}

static void close_tls(struct sample *s)
{
	if (close(s->fd) != 0)
		sample_fail("close failed");
	SSL_free(s->ssl);
}

static void close_from_3(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
	closefrom(3);
#else
	for (int fd = 3; fd < 65536; fd++)
		close(fd);
#endif
}

static int mode_reuse(void)
{
	char own_path[PATH_MAX];
	struct sample a;
	struct stat before, after;
	int count, log_fd = fd_on(log_path, &count), own;

	derived(own_path, sizeof own_path, ".program");
	close_from_3();
	own = open(own_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (own < 0)
		sample_fail("open failed");
	if (log_fd >= 0 && own != log_fd) {
		if (dup2(own, log_fd) != log_fd)
			sample_fail("dup2 failed");
		close(own);
		own = log_fd;
	}
	if (fstat(own, &before) != 0)
		sample_fail("fstat failed");
	sample_connect(&a);
	close_tls(&a);
	/* The library must have left the program's descriptor alone. */
	int kept = fstat(own, &after) == 0 && after.st_ino == before.st_ino &&
		   after.st_dev == before.st_dev;
	sample_done("mode=reuse log_fd=%d own_fd=%d kept=%d tls_fd=%d", log_fd, own, kept, a.fd);
	return kept ? 0 : 1;
}

static int mode_rotate(int plant)
{
	char rotated[PATH_MAX], target[PATH_MAX];
	struct sample a, b;
	int count, old_count, new_count, log_fd = fd_on(log_path, &count), new_fd;

	derived(rotated, sizeof rotated, ".1");
	derived(target, sizeof target, ".target");
	sample_connect(&a);
	sample_connect(&b);
	close_tls(&a);
	if (rename(log_path, rotated) != 0)
		sample_fail("rename failed");
	if (plant && symlink(target, log_path) != 0)
		sample_fail("symlink failed");
	close_tls(&b);
	fd_on(rotated, &old_count);
	new_fd = fd_on(log_path, &new_count);
	sample_done("mode=%s log_fd=%d a_fd=%d b_fd=%d rotated_open=%d new_fd=%d new_open=%d",
		    plant ? "rotate-symlink" : "rotate", log_fd, a.fd, b.fd, old_count, new_fd,
		    new_count);
	return 0;
}

int main(int argc, char **argv)
{
	const char *log = getenv("TLSCLOSE_LOG"), *mode;

	sample_init(argc, argv);
	mode = sample_variant();
	if (!log || log[0] != '/' || strlen(log) >= sizeof log_path)
		sample_fail("TLSCLOSE_LOG must be an absolute path");
	strcpy(log_path, log);
	if (strcmp(mode, "reuse") == 0)
		return mode_reuse();
	if (strcmp(mode, "rotate") == 0)
		return mode_rotate(0);
	if (strcmp(mode, "rotate-symlink") == 0)
		return mode_rotate(1);
	fprintf(stderr, "sample: unknown --variant '%s'\n", mode);
	return 2;
}
