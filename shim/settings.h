/* settings.h: the library's configuration, read from the environment once
 * at start-up (init.c) and immutable afterwards. The bottom layer: every
 * other file may read it, and it calls nothing but the parser (policy.c).
 * Problems found are returned to the caller, which reports them (log.c
 * sits above this file). */
#ifndef TC_SETTINGS_H
#define TC_SETTINGS_H

#include "policy.h"

/* The configuration; the defaults until tc_settings_load() has run (a
 * wrapper reached from another library's constructor, before ours). */
const struct tc_config *tc_cfg(void);

/* Reads the TLSCLOSE_* environment (secure_getenv where available) and
 * publishes the result; *errors gets what was wrong with it, unknown
 * TLSCLOSE_* names included (none for a set-user-ID program, which reads
 * no variable). Once, from the constructor. */
void tc_settings_load(struct tc_config_errors *errors);

#endif
