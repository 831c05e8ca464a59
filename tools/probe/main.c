/* main.c: tlsclose-probe, a diagnosis of how a TLS server closes its
 * connections (manual page tlsclose-probe(1), doc/tlsclose-probe.1).
 *
 * A normal program, linked against libssl at build time; unlike the shim it
 * is never preloaded. */

#include "config.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "experiments.h"
#include "probe.h"
#include "report.h"

void fail(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fputs(PROBE_NAME ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(EXIT_FAILURE_TO_PROBE);
}

int main(int argc, char **argv)
{
    struct probe_options o;
    struct probe_result r = { 0 };
    int status;

    /* A server that resets must make our writes fail with EPIPE or
     * ECONNRESET, not kill the probe: OpenSSL writes with plain write(). */
    signal(SIGPIPE, SIG_IGN);
    parse_options(&o, argc, argv);
    run_probe(&o, &r);
    status = report(&o, &r);
    free_options(&o);
    return status;
}
