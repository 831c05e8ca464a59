/* close.c: item 1, close() of descriptors that are not TLS. Opens a batch
 * of descriptors of one kind, closes them all in bench_close_batch() (the
 * measured region; callgrind counts instructions inside it with
 * --toggle-collect), and repeats.
 *
 *   bench/close --kind=devnull|pipe|socket [--batch=N] [--rounds=N]
 *
 * Prints one JSON line: close() calls and nanoseconds per call (the time of
 * the close loops only, not of opening).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tests/peer_util.h"
#include "bench_util.h"

int main(int argc, char **argv)
{
    prog_name = "bench/close";
    const char *kind = NULL;
    int batch = 1000;
    long rounds = 100;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if ((v = option_value(argv[i], "--kind")) &&
            (strcmp(v, "devnull") == 0 || strcmp(v, "pipe") == 0 || strcmp(v, "socket") == 0))
            kind = v;
        else if ((v = option_value(argv[i], "--batch")))
            batch = (int)parse_number("--batch", v, 2, 100000) & ~1; /* pipes come in pairs */
        else if ((v = option_value(argv[i], "--rounds")))
            rounds = parse_number("--rounds", v, 1, 10000000);
        else
            usage_error("unknown argument '%s'", argv[i]);
    }
    if (!kind)
        usage_error("--kind=devnull|pipe|socket is required");
    int *fds = calloc((size_t)batch, sizeof *fds);
    if (!fds)
        die("out of memory");

    int64_t spent = close_rounds(kind, fds, batch, rounds);
    long long calls = (long long)rounds * batch;
    struct json j;
    json_begin(&j, stdout);
    json_int(&j, "calls", calls);
    json_key(&j, "ns_per_call");
    fprintf(stdout, "%.2f", (double)spent / (double)calls);
    json_end(&j);
    free(fds);
    return 0;
}
