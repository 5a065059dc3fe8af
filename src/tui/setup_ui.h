/* Internal: the two interactive front ends of the wizard. Both walk the
 * same struct setup_flow. Return a sysexits(3) code: 0 saved, 1 cancelled
 * (nothing written). */
#ifndef DPP_SETUP_UI_H
#define DPP_SETUP_UI_H

#include <stdio.h>

#include "setup_flow.h"

/* Line prompts on in/out: "<" goes back, "." is an empty answer, end of
 * input cancels. */
int setup_run_plain(struct setup_flow *f, FILE *in, FILE *out);

/* Full screen (ncursesw), 80x24 and up, NO_COLOR respected; Esc goes back.
 * The terminal is restored on every exit. */
int setup_run_curses(struct setup_flow *f);

#endif
