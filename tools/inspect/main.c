/* main.c: tlsclose-inspect MODE COMMAND (see inspect.h). Not meant to be
 * run by hand: the tlsclose wrapper calls it, and its messages are the
 * wrapper's. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "inspect.h"

const char *printable(const char *s, char *buf, unsigned size)
{
    unsigned n = 0;
    for (; *s && n + 1 < size; s++, n++)
        buf[n] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
    buf[n] = '\0';
    return buf;
}

void message(const char *fmt, ...)
{
    char line[4096], shown[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fflush(stdout);
    /* Names in it may come from the files inspected: one line always. */
    fprintf(stderr, MESSAGE_PREFIX "%s\n", printable(line, shown, sizeof shown));
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "check") == 0)
        return check_command(argv[2]);
    if (argc == 3 && strcmp(argv[1], "run") == 0)
        return run_command(argv[2]);
    message("usage: tlsclose-inspect check|run COMMAND (a helper of the tlsclose command)");
    return EXIT_USAGE;
}
