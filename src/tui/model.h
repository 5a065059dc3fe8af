/* The console's view models: everything that can be decided without a
 * terminal (filter language, column layout, the key table, bounded event and
 * log rings, cell formatting). No curses here, so cmocka tests it directly.
 * Not thread-safe unless a function says so: the console thread owns it. */
#ifndef DPP_TUI_MODEL_H
#define DPP_TUI_MODEL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "dpp/cidr.h"
#include "dpp/event.h"

/* ---- views and keys ----------------------------------------------------- */

enum tui_view {
	TUI_VIEW_LIVE = 0,
	TUI_VIEW_DENIALS,
	TUI_VIEW_RULES,
	TUI_VIEW_LIMITS,
	TUI_VIEW_AUDIT,
	TUI_VIEW_HISTORY,
	TUI_VIEW_LOG,
	TUI_VIEW_COUNT,
};

#define TUI_IN(v) (1u << (unsigned)(v))
#define TUI_ALL_VIEWS ((1u << TUI_VIEW_COUNT) - 1)
#define TUI_EVENT_VIEWS (TUI_IN(TUI_VIEW_LIVE) | TUI_IN(TUI_VIEW_DENIALS))

/* Titles "Live", "Denials", ... (static). */
const char *tui_view_name(enum tui_view v);

enum tui_action {
	TUI_ACT_NONE = 0,
	TUI_ACT_VIEW_1, TUI_ACT_VIEW_2, TUI_ACT_VIEW_3, TUI_ACT_VIEW_4, TUI_ACT_VIEW_5,
	TUI_ACT_VIEW_6, TUI_ACT_VIEW_7,
	TUI_ACT_NEXT_VIEW, TUI_ACT_PREV_VIEW,
	TUI_ACT_UP, TUI_ACT_DOWN, TUI_ACT_PAGE_UP, TUI_ACT_PAGE_DOWN, TUI_ACT_HOME, TUI_ACT_END,
	TUI_ACT_BACK, TUI_ACT_REDRAW, TUI_ACT_HELP, TUI_ACT_QUIT,
	TUI_ACT_PAUSE, TUI_ACT_FILTER, TUI_ACT_DETAILS,
	TUI_ACT_TOGGLE_DRY_RUN, TUI_ACT_PRIO_UP, TUI_ACT_PRIO_DOWN, TUI_ACT_EDIT_RULE,
	TUI_ACT_NEW_RULE, TUI_ACT_DELETE_RULE, TUI_ACT_EDIT_CONFIG, TUI_ACT_UNDO,
	TUI_ACT_SHOW_VERSION, TUI_ACT_DIFF_VERSION, TUI_ACT_ROLLBACK,
	TUI_ACT_COUNT,
};

/* Key codes beyond a byte use curses' KEY_* numbers; the table keeps them
 * as plain ints so this header needs no curses. */
struct tui_key {
	int key;               /* ch or KEY_* value */
	const char *label;     /* "q", "F10", "PgUp" (for help and the footer) */
	unsigned views;        /* TUI_IN() set where it applies */
	enum tui_action action;
	int mutating;          /* refused in --read-only */
	int footer;            /* shown in the footer of the views it applies to */
	const char *help;
};

/* The one key table: dispatch, the help screen and the footer read it. *n
 * gets its length. Static storage. */
const struct tui_key *tui_keys(size_t *n);
/* The binding for key in view v, or NULL. */
const struct tui_key *tui_key_lookup(int key, enum tui_view v);
/* Action name for tests and logs ("toggle_dry_run"); "?" when unknown. */
const char *tui_action_name(enum tui_action a);
/* One short word for the footer ("dry-run", "prio+"). Static. */
const char *tui_action_hint(enum tui_action a);

/* ---- filter ---------------------------------------------------------------- */

#define TUI_FILTER_TERMS 16

enum tui_term_kind {
	TUI_TERM_TEXT = 0, /* case-insensitive substring of any shown field */
	TUI_TERM_RULE,     /* rule:NAME, exact (case-sensitive: rule names are) */
	TUI_TERM_IP,       /* ip:CIDR, the client address */
	TUI_TERM_STATUS,   /* status:404, status:4xx */
	TUI_TERM_METHOD,   /* method:POST, case-insensitive */
	TUI_TERM_ID,       /* id:IDENTITY, case-insensitive substring of identity or role */
	TUI_TERM_SINCE,    /* since:2h, events of the last two hours */
	TUI_TERM_UNTIL,    /* until:1d, events older than a day */
};

struct tui_term {
	enum tui_term_kind kind;
	char text[128];
	struct dpp_cidr cidr; /* TUI_TERM_IP */
	int status_lo, status_hi;
	int64_t age_ms; /* since/until */
};

struct tui_filter {
	size_t n;
	struct tui_term t[TUI_FILTER_TERMS];
	char source[256]; /* as typed, for the status line */
};

/* Parses space-separated terms, all of which must hold: plain words (text
 * anywhere), rule:NAME, ip:CIDR, status:NNN|Nxx, method:M, id:IDENTITY,
 * since:AGE, until:AGE (30s, 15m, 2h, 7d: the time range, for Audit).
 * "" gives the empty filter (matches all). Returns 0, or -1 with *err (static
 * text naming the problem) leaving f cleared. */
int tui_filter_parse(const char *s, struct tui_filter *f, const char **err);
/* 1 when ev passes f. */
int tui_filter_match(const struct tui_filter *f, const struct dpp_event *ev);

/* ---- column layout ----------------------------------------------------------- */

enum tui_col {
	TUI_COL_TIME = 0, TUI_COL_CLIENT, TUI_COL_IDENTITY, TUI_COL_METHOD, TUI_COL_PATH,
	TUI_COL_STATUS, TUI_COL_DECISION, TUI_COL_RULE, TUI_COL_LATENCY, TUI_COL_BYTES,
	TUI_COL_COUNT,
};

struct tui_layout {
	int width[TUI_COL_COUNT]; /* 0: column hidden */
	int x[TUI_COL_COUNT];     /* start column */
};

/* Lays out the event list for a screen `cols` wide: fixed columns keep
 * their width, the identity column appears from 100 columns, the path takes
 * what is left. The sum of widths plus one space between shown columns
 * never exceeds cols (cols >= 40; narrower screens get the 40 layout cut by
 * the terminal). */
void tui_layout_events(int cols, struct tui_layout *out);
const char *tui_col_title(enum tui_col c);

/* ---- cells ----------------------------------------------------------------- */

/* "ALLOW", "DENY", "DRY", "LIMIT", "AUTH", "LOCK", "ERROR", "OPEN", "CLOSE". */
const char *tui_decision(const struct dpp_event *ev);
/* 1 for the kinds the Denials view shows (deny, dry_run, rate_limited,
 * auth_failure, lockout, error). */
int tui_is_denial(const struct dpp_event *ev);
/* "12ms", "1.2s", "3m05s". */
void tui_fmt_ms(uint64_t ms, char *buf, size_t len);
/* "512", "1.5K", "12M". */
void tui_fmt_bytes(uint64_t n, char *buf, size_t len);
/* Copies at most `width` display cells of s (UTF-8 aware: never splits a
 * character; control bytes become '?'), padding with spaces to width when
 * pad. Returns bytes written (buf gets a NUL; len must allow 4*width+1). */
size_t tui_fit(const char *s, int width, int pad, char *buf, size_t len);

/* ---- bounded rings ------------------------------------------------------- */

/* Events in arrival order; the oldest is overwritten when full. */
struct tui_ring {
	struct dpp_event *ev;
	size_t cap, head, n; /* head: index of the oldest */
	uint64_t total;      /* pushed ever */
};

int tui_ring_init(struct tui_ring *r, size_t cap); /* 0, or -1 out of memory */
void tui_ring_done(struct tui_ring *r);
void tui_ring_push(struct tui_ring *r, const struct dpp_event *ev);
/* The cell the next push writes (the oldest event when full), so a producer
 * can fill it in place; tui_ring_commit then makes it the newest. Until the
 * commit the ring is unchanged, but writing the cell of a full ring already
 * overwrites its oldest event. */
struct dpp_event *tui_ring_next(struct tui_ring *r);
void tui_ring_commit(struct tui_ring *r);
/* i-th oldest (0 <= i < n). */
const struct dpp_event *tui_ring_at(const struct tui_ring *r, size_t i);

/* Log lines: written by any thread (the log sink), read by the console. */
#define TUI_LOG_LINE 512
struct tui_log {
	pthread_mutex_t mu;
	char (*line)[TUI_LOG_LINE];
	unsigned char *level;
	size_t cap, head, n;
	uint64_t total;
	int wake_fd; /* eventfd written on each push, or -1 */
};

int tui_log_init(struct tui_log *l, size_t cap);
void tui_log_done(struct tui_log *l);
/* Thread-safe; never blocks beyond the short mutex. */
void tui_log_push(struct tui_log *l, int level, const char *line);
/* Copies the i-th oldest line into buf under the lock; returns its level or
 * -1 past the end. Thread-safe. */
int tui_log_get(struct tui_log *l, size_t i, char *buf, size_t len);
size_t tui_log_count(struct tui_log *l);

#endif
