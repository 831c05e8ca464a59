/* common.h: small helpers shared by the hardening programs (fork, signals,
 * EINTR), on top of tests/samples/sample.h. */
#ifndef TLSCLOSE_HARDENING_COMMON_H
#define TLSCLOSE_HARDENING_COMMON_H

#include "../samples/sample.h"

#include <sys/types.h>

/* SSL_read until a "\n" arrives; exits 1 on failure. */
void hard_read_line(struct sample *s);

/* waitpid for pid; exits 1 unless the child exited with status 0. */
void hard_wait_ok(pid_t pid, const char *what);

/* sigaction for sig without SA_RESTART unless restart is set. */
void hard_handle(int sig, void (*fn)(int), int restart);

/* 1 when thread tid sleeps in poll()/ppoll() on one descriptor, fd (any
 * when fd is -1), for at least one of events: read from its
 * /proc/self/task/TID/syscall line, which names the call and the pollfd
 * address (readable: the thread is in this process). 0 when it does
 * something else, -1 when the file cannot be read. */
int hard_thread_in_poll(long tid, int fd, short events);

/* Watch thread *tid (0 until it stores its id) for up to 5 s until it
 * sleeps in poll() for events (any descriptor): 1 when seen, 0 when *done
 * became non-zero or the time ran out, -1 when /proc cannot tell. The
 * library's waits last at most 200 ms; 5 s allow for a loaded or
 * valgrind-slowed machine. */
int hard_wait_poll_of(const long *tid, const int *done, short events);

/* Fill fd's send buffer with raw bytes (a stalled peer reads nothing),
 * without changing the descriptor's blocking mode. */
void hard_fill_send_buffer(int fd);

/* The calling thread's id (gettid). */
long hard_gettid(void);

#endif
