/* inspect.h: the modes of tlsclose-inspect, the helper of the tlsclose
 * wrapper (tools/tlsclose.in) that does what a shell script cannot do well:
 * read ELF files, follow "#!" chains, read file capabilities, and validate
 * the TLSCLOSE_* environment with the library's own parser.
 *
 *   tlsclose-inspect check COMMAND   the report of "tlsclose --check"
 *   tlsclose-inspect run COMMAND     before the wrapper's exec: validate the
 *                                    environment, resolve COMMAND, refuse a
 *                                    privileged one, warn about one the
 *                                    library cannot reach; prints the path
 *
 * Messages go to stderr as "tlsclose: ..." lines: they are the wrapper's. */
#ifndef TC_INSPECT_H
#define TC_INSPECT_H

#define MESSAGE_PREFIX "tlsclose: "

/* Exit statuses shared with the wrapper (tlsclose(1)). */
#define EXIT_USAGE 2          /* bad usage or setup, refused program */
#define EXIT_CANNOT_RUN 126   /* found but not executable */
#define EXIT_NOT_FOUND 127

int check_command(const char *command);
int run_command(const char *command);

/* Validates the TLSCLOSE_* environment: 0, or prints the first problem as
 * one line and returns EXIT_USAGE. *quiet tells whether the log level is
 * "error" (-q), which silences the wrapper's warnings too. */
int validate_environment(int *quiet);

/* "tlsclose: " and the message, on stderr; one line (control characters
 * of names and paths are shown as '?'). */
void message(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A user-supplied string made printable for a one-line message. */
const char *printable(const char *s, char *buf, unsigned size);

#endif
