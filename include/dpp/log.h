/* Logging for every module: one line per event to stderr, or to the stream
 * and sink the operator console sets (global.log_file and its Log view: never
 * the console's terminal), as text or JSON Lines. */
#ifndef DPP_LOG_H
#define DPP_LOG_H

#include <stdio.h>

enum dpp_log_level {
	DPP_LOG_TRACE = 0,
	DPP_LOG_DEBUG,
	DPP_LOG_INFO,
	DPP_LOG_WARN,
	DPP_LOG_ERROR,
};

enum dpp_log_format {
	DPP_LOG_FORMAT_TEXT = 0,
	DPP_LOG_FORMAT_JSON,
};

/* Level and format may change at any time (SIGHUP); both are atomics, so any
 * thread may call these. */
void dpp_log_set_level(enum dpp_log_level level);
void dpp_log_set_format(enum dpp_log_format format);
enum dpp_log_level dpp_log_get_level(void);

/* Redirects output; NULL restores stderr. Not thread-safe against concurrent
 * dpp_log calls: call before threads start. The stream stays the caller's. */
void dpp_log_set_stream(FILE *stream);

/* A second destination for every line written (the operator console's Log
 * view): fn(arg, level, line) gets the formatted line without its newline,
 * valid during the call only, from whichever thread logs. It must not block
 * or call dpp_log. NULL removes it. Like dpp_log_set_stream, call before
 * threads start (or after they stopped). */
typedef void (*dpp_log_sink_fn)(void *arg, enum dpp_log_level level, const char *line);
void dpp_log_set_sink(dpp_log_sink_fn fn, void *arg);

/* More destinations beside the sink (the control socket's log
 * subscriptions): fn(arg, level, line) as for the sink, called with a lock
 * held, so fn must only copy the line (never block, never call dpp_log).
 * Unlike the sink, taps may be added and removed while other threads log;
 * after dpp_log_remove_tap returns, fn is not running and is never called
 * again. At most 4. Returns 0, or -1 when 4 are registered. Thread-safe. */
int dpp_log_add_tap(dpp_log_sink_fn fn, void *arg);
void dpp_log_remove_tap(dpp_log_sink_fn fn, void *arg);

/* Parses "trace".."error" (case-insensitive; "warning" too). Returns 0, or
 * -1 when unknown (NULL included), leaving *out alone. Thread-safe. */
int dpp_log_parse_level(const char *name, enum dpp_log_level *out);
/* Static name of a level; "info" for values out of range. */
const char *dpp_log_level_name(enum dpp_log_level level);

/* Writes one line when level passes the threshold. Thread-safe: a line is
 * written with a single locked fputs, so lines never interleave. Newlines and
 * control bytes in the message are escaped so one event stays one line. */
void dpp_log(enum dpp_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define dpp_log_trace(...) dpp_log(DPP_LOG_TRACE, __VA_ARGS__)
#define dpp_log_debug(...) dpp_log(DPP_LOG_DEBUG, __VA_ARGS__)
#define dpp_log_info(...) dpp_log(DPP_LOG_INFO, __VA_ARGS__)
#define dpp_log_warn(...) dpp_log(DPP_LOG_WARN, __VA_ARGS__)
#define dpp_log_error(...) dpp_log(DPP_LOG_ERROR, __VA_ARGS__)

#endif
