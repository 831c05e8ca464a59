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

#endif
