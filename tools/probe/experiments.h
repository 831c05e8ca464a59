/* experiments.h: the probe's two connections (see probe.h). */

#ifndef TLSCLOSE_PROBE_EXPERIMENTS_H
#define TLSCLOSE_PROBE_EXPERIMENTS_H

#include "probe.h"

/* Runs both connections and fills in r. Connection and handshake errors
 * exit with status 2 (fail()). */
void run_probe(const struct probe_options *o, struct probe_result *r);

#endif
