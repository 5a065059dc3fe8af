/* The operator console: an ncurses front end over the control interface
 * (dpp/control.h). The only code that calls curses; it runs on the thread
 * that calls dpp_console_run (main's), never on a request thread. */
#ifndef DPP_TUI_CONSOLE_H
#define DPP_TUI_CONSOLE_H

#include <signal.h>
#include <stddef.h>

#include "dpp/control.h"
#include "dpp/log.h"

struct tui_backend; /* backend.h */

struct dpp_console; /* opaque */

struct dpp_console_options {
	int read_only;       /* --read-only: mutating keys are refused */
	size_t history;      /* global.console_history: events kept per list */
	const char *log_path; /* where log lines also go (shown in the Log view) */
};

/* Creates the console state (rings, log buffer); no terminal is touched
 * yet. Returns NULL on allocation failure. */
struct dpp_console *dpp_console_create(const struct dpp_console_options *o);
void dpp_console_free(struct dpp_console *c);

/* The SQLite store's file (copied), read by the Audit and History views
 * through their own read-only connection. Without it they say "store not
 * available". Call before dpp_console_run. */
void dpp_console_set_store(struct dpp_console *c, const char *path);

/* dpp_log sink (dpp_log_set_sink(dpp_console_log_sink, console)): copies the
 * line into the Log view's bounded buffer and wakes the console. Any thread;
 * never blocks beyond a short mutex. */
void dpp_console_log_sink(void *arg, enum dpp_log_level level, const char *line);

/* Why dpp_console_run returned. */
enum dpp_console_exit {
	DPP_CONSOLE_QUIT = 0,   /* the operator confirmed q / F10 */
	DPP_CONSOLE_SIGNAL,     /* SIGTERM / SIGINT */
	DPP_CONSOLE_HANGUP,     /* the terminal went away (SSH dropped, tmux killed) */
	DPP_CONSOLE_FAILED,     /* no terminal could be set up */
};

/* Takes the terminal and runs until the operator quits, a stop signal
 * arrives or the terminal hangs up. `sigs` are the signals the caller has
 * blocked in every thread (SIGTERM, SIGINT, SIGHUP; SIGWINCH is added here):
 * the console reads them through a signalfd. SIGHUP while the terminal is
 * still there is an operator's reload (dpp_control_reload); SIGHUP with the
 * terminal gone is a hangup. The terminal is restored before this returns,
 * and also on fatal signals. */
enum dpp_console_exit dpp_console_run(struct dpp_console *c, struct dpp_control *ctl,
				      const sigset_t *sigs);

/* The same, over any backend (backend.h; borrowed, must outlive the run):
 * dpp_console_run is this with the local one. With a remote backend (the
 * console attached to a daemon) q detaches without a question, SIGTERM,
 * SIGINT and a hangup end only the console, Ctrl-Z suspends it, and when
 * the daemon stops the status line offers r (reconnect) and q (quit). */
enum dpp_console_exit dpp_console_run_backend(struct dpp_console *c, struct tui_backend *be,
					      const sigset_t *sigs);

#endif
