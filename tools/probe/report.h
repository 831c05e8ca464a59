/* report.h: judging the observations and printing them (table or JSON). */

#ifndef TLSCLOSE_PROBE_REPORT_H
#define TLSCLOSE_PROBE_REPORT_H

#include "probe.h"

/* Prints the report on stdout, the table or with o->json one JSON object on
 * one line; returns the exit status (EXIT_CLEAN, EXIT_UNCLEAN or
 * EXIT_NOT_OBSERVED; 2 if stdout could not be written). */
int report(const struct probe_options *o, const struct probe_result *r);

#endif
