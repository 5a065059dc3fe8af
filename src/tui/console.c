/* The operator console (console.h). One thread, one poll loop:
 *
 *   stdin (keys) | signalfd (TERM INT HUP WINCH) | bus eventfd | log eventfd
 *
 * Feeds (bus, log) are drained at most every FEED_MS (FEED_BUSY_MS while a
 * drain finds the ring a quarter full), the screen is drawn at
 * most every DRAW_MS and only when something changed; the one timer left
 * when idle is the 1 s tick that refreshes the snapshot (uptime, countdowns).
 * ncurses sends only the cells that differ from what is on the screen.
 *
 * Lock order: none here; the log ring has its own mutex (model.c). */
#define _XOPEN_SOURCE_EXTENDED 1
#include "console.h"

#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <curses.h>

#include "dpp/cfgedit.h"
#include "backend.h"
#include "model.h"
#include "storeview.h"

#define DRAW_MS 100        /* at most 10 redraws a second */
#define FEED_MS 100        /* drain the bus at most 10 times a second */
#define FEED_BUSY_MS 20    /* ... or 50 while the ring fills fast */
#define TICK_MS 1000       /* snapshot refresh */
/* The console's subscription ring (~2 KiB an event). 8,192 hold 100 ms at
 * 80,000 requests a second, 20 ms (the busy feed) at 400,000. Each cell is
 * written by a request thread once per lap of the ring, so its size is
 * memory the request path keeps cycling through: 16,384 were 36 MiB (8,800
 * page faults in request threads while the first lap filled, then cache
 * misses on every event). */
#define BUS_CAPACITY 8192
#define DRAIN_MAX 50000    /* events taken per drain */
#define LOG_LINES 2000
#define DIFF_MAX (1024 * 1024)
#define UNDO_MAX 16
#define RATE_SAMPLES 61

#define KCTRL(c) ((c) & 0x1f)

enum pair { P_NONE = 0, P_ALLOW, P_DENY, P_DRY, P_LIMIT, P_HEAD, P_ERROR };

struct list_state {
	uint64_t sel;       /* absolute sequence of the selected event */
	int paused;         /* frozen: new events are counted, not shown */
	uint64_t paused_at; /* ring total when paused */
	int top;            /* first visible row (index into the filtered list) */
};

struct pager {
	int active;
	char title[160];
	char **lines;
	size_t n, cap;
	int top;
	int confirm;        /* 1: "Apply? (y/N)" at the bottom */
	char prompt[160];
};

struct pending {
	char *text;   /* proposed config */
	char *old;    /* the text it replaces (undo) */
	char base[DPP_CONTROL_VERSION_LEN];
	char what[160];
	const char *source; /* config history: "console" or "rollback" */
	int is_undo;
};

struct dpp_console {
	struct dpp_console_options o;
	struct tui_backend *be;
	struct tui_ring live, denials;
	struct tui_log log;
	uint64_t *idx; /* scratch: filtered sequence numbers */
	size_t idx_cap;
	int idx_range;      /* no filter: the list is idx_first + i (idx unused) */
	uint64_t idx_first;

	enum tui_view view;
	struct list_state ls[2]; /* live, denials */
	int sel[TUI_VIEW_COUNT], top[TUI_VIEW_COUNT];
	int log_follow;
	struct tui_filter filter;

	struct dpp_control_snapshot *snap;
	uint64_t req_samples[RATE_SAMPLES], den_samples[RATE_SAMPLES];
	size_t n_samples;
	char dropped_badge[128];

	struct pager pg;
	struct pending pend;
	int help;
	int prompt;          /* 1: filter input, 2: quit confirm */
	char input[256];
	size_t input_len;
	char msg[256];
	int64_t msg_until;

	char *undo[UNDO_MAX]; /* texts before each applied change, newest last */
	size_t n_undo;
	char tmpdir[PATH_MAX];
	char author[64];

	/* Audit and History: the store, read through our own connection. */
	char *store_path;
	struct tui_store *store;
	const char *store_err;
	struct tui_version *versions;
	int n_versions;
	struct dpp_event *apage;
	int64_t *aids;
	int n_apage;
	int64_t acursor[64]; /* before-id of each page walked; [0] = newest */
	int adepth;
	int64_t anext;       /* before-id of the next (older) page; 0: none */

	int color, utf8;
	int dirty, full;
	int64_t last_draw, last_feed, last_tick;
	int feed_ms;         /* FEED_MS, or FEED_BUSY_MS after a large drain */
	int sigfd;
	int was_gone;
	enum dpp_console_exit exit;
	int done;
};

/* ---- terminal restore on fatal signals -------------------------------------- */

static struct termios saved_tio;
static int saved_tio_ok;
static char restore_seq[128];
static size_t restore_len;

static void fatal_handler(int sig)
{
	if (restore_len > 0)
		(void)!write(STDOUT_FILENO, restore_seq, restore_len);
	if (saved_tio_ok)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void add_restore(const char *cap)
{
	char *s = tigetstr((char *)cap);

	if (s != NULL && s != (char *)-1 && restore_len + strlen(s) < sizeof(restore_seq)) {
		memcpy(restore_seq + restore_len, s, strlen(s));
		restore_len += strlen(s);
	}
}

static void install_fatal_handlers(void)
{
	static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fatal_handler;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

static void remove_fatal_handlers(void)
{
	static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
}

/* ---- small helpers ---------------------------------------------------------- */

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

__attribute__((format(printf, 2, 3))) static void say(struct dpp_console *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
	c->msg_until = mono_ms() + 8000;
	c->dirty = 1;
}

/* The header takes three rows below 120 columns (every figure stays whole
 * at 80x24), two when wide. Then the tabs, the column titles, the body, the
 * status line and the footer. */
#define HEADER_ROWS (COLS >= 120 ? 2 : 3)
#define TAB_ROW HEADER_ROWS
#define TITLE_ROW (HEADER_ROWS + 1)
#define BODY_ROW (HEADER_ROWS + 2)

static int body_rows(void)
{
	return LINES - (HEADER_ROWS + 4) > 1 ? LINES - (HEADER_ROWS + 4) : 1;
}

/* Writes s at (y, x), at most w cells, padded when pad. */
static void put(int y, int x, int w, const char *s, int pad)
{
	char buf[4096];

	if (w <= 0 || y < 0 || y >= LINES || x >= COLS)
		return;
	if (x + w > COLS)
		w = COLS - x;
	tui_fit(s, w, pad, buf, sizeof(buf));
	mvaddstr(y, x, buf);
}

static void hline_at(int y)
{
	move(y, 0);
	hline(ACS_HLINE, COLS);
}

/* ---- pager -------------------------------------------------------------------- */

static void pager_clear(struct pager *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->lines[i]);
	free(p->lines);
	memset(p, 0, sizeof(*p));
}

static void pager_add(struct pager *p, const char *s)
{
	char **nl;

	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;

		if (cap > 100000)
			return; /* bounded: a huge diff is cut */
		nl = realloc(p->lines, cap * sizeof(*nl));
		if (nl == NULL)
			return;
		p->lines = nl;
		p->cap = cap;
	}
	p->lines[p->n] = strdup(s);
	if (p->lines[p->n] != NULL)
		p->n++;
}

__attribute__((format(printf, 2, 3))) static void pager_addf(struct pager *p, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	pager_add(p, buf);
}

/* Adds every line of text (tabs as spaces). */
static void pager_add_text(struct pager *p, const char *indent, const char *text)
{
	const char *s = text;

	while (s != NULL && *s != '\0') {
		const char *nl = strchr(s, '\n');
		size_t n = nl != NULL ? (size_t)(nl - s) : strlen(s);
		char line[2048];
		size_t o = 0;

		o += (size_t)snprintf(line, sizeof(line), "%s", indent);
		for (size_t i = 0; i < n && o + 8 < sizeof(line); i++) {
			if (s[i] == '\t') {
				do
					line[o++] = ' ';
				while (o % 8 != 0 && o + 1 < sizeof(line));
			} else {
				line[o++] = s[i];
			}
		}
		line[o] = '\0';
		pager_add(p, line);
		s = nl != NULL ? nl + 1 : NULL;
	}
}

/* Adds text with lines longer than width folded (continuations indented):
 * error messages must be read in full, not cut at the screen's edge. */
static void pager_add_wrapped(struct pager *p, const char *text, int width)
{
	const char *s = text;

	while (s != NULL && *s != '\0') {
		const char *nl = strchr(s, '\n');
		size_t n = nl != NULL ? (size_t)(nl - s) : strlen(s), off = 0;

		do {
			char line[2048];
			size_t take = n - off, lim = (size_t)width - (off > 0 ? 4 : 0);

			if (take > lim)
				take = lim;
			snprintf(line, sizeof(line), "%s%.*s", off > 0 ? "    " : "", (int)take, s + off);
			pager_add(p, line);
			off += take;
		} while (off < n);
		s = nl != NULL ? nl + 1 : NULL;
	}
}

static void pager_open(struct dpp_console *c, const char *title)
{
	pager_clear(&c->pg);
	snprintf(c->pg.title, sizeof(c->pg.title), "%.159s", title);
	c->pg.active = 1;
	c->dirty = 1;
}

/* ---- snapshot and feeds ------------------------------------------------------ */

/* Remote: the daemon went away (bye or EOF). */
static int peer_gone(struct dpp_console *c)
{
	return c->be != NULL && c->be->ops->gone(c->be);
}


static void drop_badge_cb(void *arg, const char *name, uint64_t dropped)
{
	struct dpp_console *c = arg;
	size_t n = strlen(c->dropped_badge);

	if (dropped == 0 || n + 40 >= sizeof(c->dropped_badge))
		return;
	snprintf(c->dropped_badge + n, sizeof(c->dropped_badge) - n, "%s%s:%llu",
		 n == 0 ? "DROPPED " : " ", name, (unsigned long long)dropped);
}

static void refresh_snapshot(struct dpp_console *c)
{
	struct dpp_control_snapshot *s = c->be->ops->snapshot(c->be);

	if (s == NULL)
		return; /* keep the old one: allocation failed */
	if (c->snap != NULL)
		c->be->ops->snapshot_free(c->be, c->snap);
	c->snap = s;
	memmove(c->req_samples + 1, c->req_samples, (RATE_SAMPLES - 1) * sizeof(uint64_t));
	memmove(c->den_samples + 1, c->den_samples, (RATE_SAMPLES - 1) * sizeof(uint64_t));
	c->req_samples[0] = s->status.requests;
	c->den_samples[0] = s->status.denials;
	if (c->n_samples < RATE_SAMPLES)
		c->n_samples++;
	c->dropped_badge[0] = '\0';
	c->be->ops->foreach_sub(c->be, drop_badge_cb, c);
	c->dirty = 1;
}

/* Pops straight into the Live ring's next cell (pop writes it only when it
 * returns 1): one copy of each ~2 KiB event instead of two. Copying events
 * (and first touching the rings' pages) is most of what the console does
 * per request when thousands arrive a second. */
static void drain_bus(struct dpp_console *c)
{
	size_t n = 0;

	while (n < DRAIN_MAX) {
		struct dpp_event *ev = tui_ring_next(&c->live);

		if (c->be->ops->pop(c->be, ev) != 1)
			break;
		tui_ring_commit(&c->live);
		if (tui_is_denial(ev))
			tui_ring_push(&c->denials, ev);
		n++;
	}
	/* Filling fast: drain again sooner rather than let the ring overflow
	 * (drawing stays at DRAW_MS). */
	c->feed_ms = n >= BUS_CAPACITY / 4 ? FEED_BUSY_MS : FEED_MS;
	if (n > 0 && (c->view == TUI_VIEW_LIVE || c->view == TUI_VIEW_DENIALS))
		c->dirty = 1;
}

static void drain_log(struct dpp_console *c)
{
	uint64_t v;

	if (c->log.wake_fd >= 0 && read(c->log.wake_fd, &v, sizeof(v)) == sizeof(v) &&
	    c->view == TUI_VIEW_LOG)
		c->dirty = 1;
}

/* ---- event lists --------------------------------------------------------------- */

static struct tui_ring *view_ring(struct dpp_console *c, int which)
{
	return which == 0 ? &c->live : &c->denials;
}

/* The list the view shows: its events' sequence numbers (filter applied; a
 * paused list stops at the pause point), read with list_seq. Without a
 * filter that is the range [first, end), kept as such: walking the whole
 * history (10,000 events by default) on every draw was work in proportion to
 * the history, not to the rows drawn. With a filter, c->idx gets the
 * matching ones. Returns the count. */
static size_t filtered(struct dpp_console *c, int which)
{
	struct tui_ring *r = view_ring(c, which);
	struct list_state *ls = &c->ls[which];
	uint64_t first = r->total - r->n;
	uint64_t end = ls->paused ? ls->paused_at : r->total;
	size_t k = 0;

	c->idx_range = c->filter.n == 0;
	c->idx_first = first;
	if (c->idx_range)
		return end > first ? (size_t)(end - first) : 0;
	for (uint64_t seq = first; seq < end; seq++) {
		const struct dpp_event *ev = tui_ring_at(r, (size_t)(seq - first));

		if (ev != NULL && tui_filter_match(&c->filter, ev) && k < c->idx_cap)
			c->idx[k++] = seq;
	}
	return k;
}

/* The sequence number of the i-th event of the last filtered() list. */
static uint64_t list_seq(const struct dpp_console *c, size_t i)
{
	return c->idx_range ? c->idx_first + i : c->idx[i];
}

/* The first index of the last filtered() list (n events, ascending) whose
 * sequence number is >= seq; n when none is. */
static size_t list_find(const struct dpp_console *c, size_t n, uint64_t seq)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (list_seq(c, mid) < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static const struct dpp_event *event_at(struct dpp_console *c, int which, uint64_t seq)
{
	struct tui_ring *r = view_ring(c, which);
	uint64_t first = r->total - r->n;

	if (seq < first || seq >= r->total)
		return NULL;
	return tui_ring_at(r, (size_t)(seq - first));
}

static void set_color(struct dpp_console *c, const struct dpp_event *ev, int on)
{
	int p = P_NONE, bold = 0;

	switch (ev->kind) {
	case DPP_EVENT_REQUEST: p = P_ALLOW; break;
	case DPP_EVENT_DENY: case DPP_EVENT_AUTH_FAILURE: case DPP_EVENT_LOCKOUT:
		p = P_DENY; bold = 1; break;
	case DPP_EVENT_DRY_RUN: p = P_DRY; break;
	case DPP_EVENT_RATE_LIMITED: p = P_LIMIT; bold = 1; break;
	case DPP_EVENT_ERROR: p = P_ERROR; bold = 1; break;
	default: break;
	}
	if (c->color && p != P_NONE)
		on ? attron(COLOR_PAIR(p)) : attroff(COLOR_PAIR(p));
	if (bold)
		on ? attron(A_BOLD) : attroff(A_BOLD);
}

static void draw_event_row(struct dpp_console *c, int y, const struct tui_layout *L,
			   const struct dpp_event *ev, int selected)
{
	char cell[256];
	time_t t = (time_t)(ev->time_ms / 1000);
	struct tm tm;

	if (selected)
		attron(A_REVERSE);
	move(y, 0);
	clrtoeol();
	if (selected)
		hline(' ', COLS);
	localtime_r(&t, &tm);
	strftime(cell, sizeof(cell), "%H:%M:%S", &tm);
	put(y, L->x[TUI_COL_TIME], L->width[TUI_COL_TIME], cell, 0);
	put(y, L->x[TUI_COL_CLIENT], L->width[TUI_COL_CLIENT],
	    ev->client_ip[0] != '\0' ? ev->client_ip : "unix", 0);
	if (L->width[TUI_COL_IDENTITY] > 0) {
		snprintf(cell, sizeof(cell), "%s%s%s", ev->identity, ev->user_role[0] ? "/" : "",
			 ev->user_role);
		put(y, L->x[TUI_COL_IDENTITY], L->width[TUI_COL_IDENTITY], cell[0] ? cell : "-", 0);
	}
	put(y, L->x[TUI_COL_METHOD], L->width[TUI_COL_METHOD], ev->method[0] ? ev->method : "-", 0);
	put(y, L->x[TUI_COL_PATH], L->width[TUI_COL_PATH], ev->path[0] ? ev->path : "-", 0);
	snprintf(cell, sizeof(cell), "%3d", ev->status);
	put(y, L->x[TUI_COL_STATUS], L->width[TUI_COL_STATUS], ev->status > 0 ? cell : "  -", 0);
	set_color(c, ev, 1);
	put(y, L->x[TUI_COL_DECISION], L->width[TUI_COL_DECISION], tui_decision(ev), 0);
	set_color(c, ev, 0);
	if (selected)
		attron(A_REVERSE);
	put(y, L->x[TUI_COL_RULE], L->width[TUI_COL_RULE], ev->rule_name[0] ? ev->rule_name : "-", 0);
	if (L->width[TUI_COL_LATENCY] > 0) {
		tui_fmt_ms(ev->duration_ms, cell, sizeof(cell));
		put(y, L->x[TUI_COL_LATENCY], L->width[TUI_COL_LATENCY], cell, 0);
	}
	if (L->width[TUI_COL_BYTES] > 0) {
		tui_fmt_bytes(ev->bytes_out, cell, sizeof(cell));
		put(y, L->x[TUI_COL_BYTES], L->width[TUI_COL_BYTES], cell, 0);
	}
	if (selected)
		attroff(A_REVERSE);
}

static void draw_events(struct dpp_console *c, int which)
{
	struct list_state *ls = &c->ls[which];
	struct tui_layout L;
	size_t n = filtered(c, which);
	int rows = body_rows(), sel = -1;

	tui_layout_events(COLS, &L);
	attron(A_BOLD);
	move(TITLE_ROW, 0);
	clrtoeol();
	for (int col = 0; col < TUI_COL_COUNT; col++)
		if (L.width[col] > 0)
			put(TITLE_ROW, L.x[col], L.width[col], tui_col_title(col), 0);
	attroff(A_BOLD);
	/* Following: the newest line is selected. Otherwise the selection
	 * stays on its event (or the nearest later one still shown). */
	if (n > 0) {
		sel = (int)n - 1;
		if (ls->paused) {
			size_t i = list_find(c, n, ls->sel);

			if (i < n)
				sel = (int)i;
		}
		ls->sel = list_seq(c, (size_t)sel);
		if (sel < ls->top)
			ls->top = sel;
		if (sel >= ls->top + rows)
			ls->top = sel - rows + 1;
		if (ls->top > (int)n - rows)
			ls->top = (int)n - rows;
		if (ls->top < 0)
			ls->top = 0;
	}
	for (int r = 0; r < rows; r++) {
		int i = ls->top + r;

		move(BODY_ROW + r, 0);
		clrtoeol();
		if (i < (int)n) {
			const struct dpp_event *ev = event_at(c, which, list_seq(c, (size_t)i));

			if (ev != NULL)
				draw_event_row(c, BODY_ROW + r, &L, ev, i == sel);
		}
	}
	if (n == 0)
		put(BODY_ROW + 1, 2, COLS - 4,
		    c->filter.n > 0 ? "no events match the filter (/ to change it, / Enter to clear)"
		    : which == 0    ? "waiting for requests..."
				    : "no denials yet",
		    0);
}

/* ---- other views ------------------------------------------------------------------ */

static void fix_scroll(struct dpp_console *c, int n)
{
	int v = c->view, rows = body_rows();

	if (c->sel[v] >= n)
		c->sel[v] = n - 1;
	if (c->sel[v] < 0)
		c->sel[v] = 0;
	if (c->sel[v] < c->top[v])
		c->top[v] = c->sel[v];
	if (c->sel[v] >= c->top[v] + rows)
		c->top[v] = c->sel[v] - rows + 1;
	if (c->top[v] < 0)
		c->top[v] = 0;
}

static void row_start(int y, int selected)
{
	move(y, 0);
	clrtoeol();
	if (selected) {
		attron(A_REVERSE);
		hline(' ', COLS);
	}
}

static void draw_rules(struct dpp_console *c)
{
	int n = c->snap != NULL ? (int)c->snap->n_rules : 0, rows = body_rows();
	int name_w = COLS - 65 > 12 ? COLS - 65 : 12;
	char line[512], last[32], name[256];

	snprintf(line, sizeof(line), "%5s  %-*s %-15s %-3s %8s %8s %8s %10s", "PRIO", name_w, "NAME",
		 "ACTION", "DRY", "HITS", "DENIALS", "DRY-RUNS", "LAST HIT");
	attron(A_BOLD);
	put(TITLE_ROW, 0, COLS, line, 1);
	attroff(A_BOLD);
	fix_scroll(c, n);
	for (int r = 0; r < rows; r++) {
		int i = c->top[c->view] + r;
		const struct dpp_control_rule *ru;

		move(BODY_ROW + r, 0);
		clrtoeol();
		if (i >= n)
			continue;
		ru = &c->snap->rules[i];
		if (ru->last_hit_ago_ms < 0)
			snprintf(last, sizeof(last), "never");
		else {
			tui_fmt_ms((uint64_t)ru->last_hit_ago_ms, last, sizeof(last) - 5);
			strcat(last, " ago");
		}
		tui_fit(ru->name, name_w, 1, name, sizeof(name));
		snprintf(line, sizeof(line), "%5ld  %s %-15s %-3s %8llu %8llu %8llu %10s", ru->priority,
			 name, ru->action, ru->dry_run ? "DRY" : "-", (unsigned long long)ru->hits,
			 (unsigned long long)ru->denials, (unsigned long long)ru->dry_runs, last);
		row_start(BODY_ROW + r, i == c->sel[c->view]);
		put(BODY_ROW + r, 0, COLS, line, 0);
		if (i == c->sel[c->view])
			attroff(A_REVERSE);
	}
	if (n == 0)
		put(BODY_ROW + 1, 2, COLS - 4,
		    c->snap != NULL && c->snap->status.default_deny
			    ? "no rules: every request is denied (default_action: deny); n adds one"
			    : "no rules: every request is allowed (default_action: allow); n adds one",
		    0);
}

static void draw_limits(struct dpp_console *c)
{
	size_t nb = c->snap != NULL ? c->snap->n_buckets : 0;
	size_t nl = c->snap != NULL ? c->snap->n_lockouts : 0;
	int n = (int)(nb + nl + (nl > 0 ? 2 : 0)), rows = body_rows();
	char line[512], a[32], b[32];

	attron(A_BOLD);
	snprintf(line, sizeof(line), "%-20s %-16s %11s %10s %8s %8s", "RULE", "CLIENT", "TOKENS",
		 "REFILL", "PENALTY", "REFUSED");
	put(TITLE_ROW, 0, COLS, line, 1);
	attroff(A_BOLD);
	fix_scroll(c, n);
	for (int r = 0; r < rows; r++) {
		int i = c->top[c->view] + r;

		move(BODY_ROW + r, 0);
		clrtoeol();
		if (i >= n)
			continue;
		if ((size_t)i < nb) {
			const struct dpp_ratelimit_state *s = &c->snap->buckets[i];

			tui_fmt_ms(s->period_ms, b, sizeof(b));
			if (s->penalty_remaining_ms > 0)
				tui_fmt_ms(s->penalty_remaining_ms, a, sizeof(a));
			else
				snprintf(a, sizeof(a), "-");
			snprintf(line, sizeof(line), "%-20.20s %-16.16s %5.1f/%-5u %4u/%-5s %8s %8llu",
				 s->rule, s->ip[0] ? s->ip : "unix", s->tokens, s->capacity,
				 s->capacity, b, a, (unsigned long long)s->refused);
		} else if ((size_t)i == nb) {
			line[0] = '\0';
		} else if ((size_t)i == nb + 1) {
			attron(A_BOLD);
			snprintf(line, sizeof(line), "%-37s %11s %10s", "LOCKED-OUT / FAILING ADDRESS",
				 "FAILURES", "REMAINING");
			put(BODY_ROW + r, 0, COLS, line, 1);
			attroff(A_BOLD);
			continue;
		} else {
			const struct dpp_lockout_state *s = &c->snap->lockouts[i - (int)nb - 2];

			if (s->remaining_ms > 0)
				tui_fmt_ms((uint64_t)s->remaining_ms, a, sizeof(a));
			else
				snprintf(a, sizeof(a), "not locked");
			snprintf(line, sizeof(line), "%-37.37s %11u %10s", s->ip, s->failures, a);
		}
		row_start(BODY_ROW + r, i == c->sel[c->view]);
		put(BODY_ROW + r, 0, COLS, line, 0);
		if (i == c->sel[c->view])
			attroff(A_REVERSE);
	}
	if (n == 0)
		put(BODY_ROW + 1, 2, COLS - 4,
		    "no rate-limit buckets and no failing addresses yet (buckets appear with the "
		    "first request a rate_limit rule matches)",
		    0);
}

#define VERSIONS_MAX 500
#define APAGE_MAX 512

static struct tui_store *store_get(struct dpp_console *c)
{
	if (c->store == NULL && c->store_path != NULL)
		c->store = tui_store_open(c->store_path, &c->store_err);
	return c->store;
}

static void load_history(struct dpp_console *c)
{
	const char *err = NULL;

	if (store_get(c) == NULL)
		return;
	c->n_versions = tui_store_versions(c->store, c->versions, VERSIONS_MAX, &err);
	if (c->n_versions < 0) {
		c->n_versions = 0;
		say(c, "store: %s", err != NULL ? err : "query failed");
	}
	c->dirty = 1;
}

static void load_audit(struct dpp_console *c)
{
	const char *err = NULL;
	int rows = body_rows() - 1 < APAGE_MAX ? body_rows() - 1 : APAGE_MAX;

	if (rows < 1)
		rows = 1;
	if (store_get(c) == NULL)
		return;
	c->n_apage = tui_store_audit_page(c->store, c->acursor[c->adepth], &c->filter, c->apage,
					  c->aids, (size_t)rows, 100000, &c->anext, &err);
	if (c->n_apage < 0) {
		c->n_apage = 0;
		say(c, "store: %s", err != NULL ? err : "query failed");
	}
	c->dirty = 1;
}

static void draw_store_missing(struct dpp_console *c);

static void draw_audit(struct dpp_console *c)
{
	struct tui_layout L;
	int rows = body_rows(), v = TUI_VIEW_AUDIT;
	char info[96];

	if (c->store == NULL) {
		draw_store_missing(c);
		return;
	}
	tui_layout_events(COLS, &L);
	attron(A_BOLD);
	for (int col = 0; col < TUI_COL_COUNT; col++)
		if (L.width[col] > 0)
			put(TITLE_ROW, L.x[col], L.width[col], tui_col_title(col), 0);
	attroff(A_BOLD);
	if (c->sel[v] >= c->n_apage)
		c->sel[v] = c->n_apage - 1;
	if (c->sel[v] < 0)
		c->sel[v] = 0;
	for (int r = 0; r < rows && r < c->n_apage; r++)
		draw_event_row(c, BODY_ROW + r, &L, &c->apage[r], r == c->sel[v]);
	snprintf(info, sizeof(info), "store page %d%s", c->adepth + 1,
		 c->anext > 0 ? " (PgDn: older)" : " (oldest)");
	if (c->n_apage == 0)
		put(BODY_ROW + 1, 2, COLS - 4,
		    c->filter.n > 0 ? "no audit events match the filter" : "no audit events stored yet", 0);
	put(BODY_ROW + rows - 1, COLS - (int)strlen(info) - 1, (int)strlen(info), info, 0);
}

static void draw_history(struct dpp_console *c)
{
	int v = TUI_VIEW_HISTORY, rows = body_rows();
	char line[512];

	if (c->store == NULL) {
		draw_store_missing(c);
		return;
	}
	attron(A_BOLD);
	snprintf(line, sizeof(line), "%6s  %-19s %-9s %-14s %-7s %s", "ID", "TIME", "SOURCE", "AUTHOR",
		 "APPLIED", "COMMENT / ERRORS");
	put(TITLE_ROW, 0, COLS, line, 1);
	attroff(A_BOLD);
	fix_scroll(c, c->n_versions);
	for (int r = 0; r < rows; r++) {
		int i = c->top[v] + r;
		const struct tui_version *ver;

		move(BODY_ROW + r, 0);
		clrtoeol();
		if (i >= c->n_versions)
			continue;
		ver = &c->versions[i];
		snprintf(line, sizeof(line), "%6lld  %-19.19s %-9.9s %-14.14s %-7s %s",
			 (long long)ver->id, ver->timestamp, ver->source, ver->author,
			 ver->applied ? "yes" : "REFUSED", ver->comment);
		row_start(BODY_ROW + r, i == c->sel[v]);
		put(BODY_ROW + r, 0, COLS, line, 0);
		if (i == c->sel[v])
			attroff(A_REVERSE);
	}
	if (c->n_versions == 0)
		put(BODY_ROW + 1, 2, COLS - 4, "no config versions recorded yet", 0);
}

static void draw_store_missing(struct dpp_console *c)
{
	static const char *const text[] = {
		"The SQLite store is not available.",
		"",
		"This view reads the store's audit_events and config_versions tables.",
		"The store is off (global.store.path: \"\") or its file cannot be opened",
		"read-only (see the Log view). Meanwhile:",
		"  - audit events go to global.audit_log (JSON Lines) when it is set;",
		"  - the Denials view (2) shows this session's security events;",
		"  - u undoes this session's applied changes.",
	};
	(void)c;
	move(TITLE_ROW, 0);
	clrtoeol();
	for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++) {
		move(BODY_ROW + 1 + (int)i, 0);
		clrtoeol();
		if (i == 0)
			attron(A_BOLD);
		put(BODY_ROW + 1 + (int)i, 2, COLS - 4, text[i], 0);
		if (i == 0)
			attroff(A_BOLD);
	}
}

static void draw_log(struct dpp_console *c)
{
	int n = (int)tui_log_count(&c->log), rows = body_rows();
	char line[TUI_LOG_LINE];

	attron(A_BOLD);
	snprintf(line, sizeof(line), "LOG (%s)", c->o.log_path != NULL ? c->o.log_path : "no file");
	put(TITLE_ROW, 0, COLS, line, 1);
	attroff(A_BOLD);
	if (c->log_follow)
		c->sel[c->view] = n - 1;
	fix_scroll(c, n);
	for (int r = 0; r < rows; r++) {
		int i = c->top[c->view] + r, lvl;

		move(BODY_ROW + r, 0);
		clrtoeol();
		if (i >= n)
			continue;
		lvl = tui_log_get(&c->log, (size_t)i, line, sizeof(line));
		row_start(BODY_ROW + r, i == c->sel[c->view] && !c->log_follow);
		if (lvl >= DPP_LOG_WARN)
			attron(A_BOLD);
		put(BODY_ROW + r, 0, COLS, line, 0);
		attroff(A_BOLD | A_REVERSE);
	}
}

/* ---- header, tabs, footer ------------------------------------------------------ */

/* Appends segment s to line (width w) when it fits whole. */
static void seg(char *line, size_t len, int w, const char *s)
{
	size_t n = strlen(line);
	int cells = (int)n + (n > 0 ? 3 : 0) + (int)strlen(s);

	if (cells > w)
		return;
	snprintf(line + n, len - n, "%s%s", n > 0 ? " | " : "", s);
}

static void draw_header(struct dpp_console *c)
{
	const struct dpp_control_status *s = c->snap != NULL ? &c->snap->status : NULL;
	char l1[1024] = "", l2[1024] = "", l3[1024] = "", b[512];
	int64_t up;
	double rps = 0, dpm = 0;

	if (s == NULL)
		return;
	up = mono_ms(); /* started_ms is wall clock: use it */
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		up = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - s->started_ms;
	}
	if (c->n_samples >= 2) {
		size_t k = c->n_samples - 1 < 5 ? c->n_samples - 1 : 5;

		rps = (double)(c->req_samples[0] - c->req_samples[k]) / (double)k;
		/* Counted over the last minute (or since start), not extrapolated. */
		k = c->n_samples - 1;
		dpm = (double)(c->den_samples[0] - c->den_samples[k]);
	}
	if (c->be != NULL && c->be->remote) {
		snprintf(b, sizeof(b), "attached to PID %ld", c->be->pid);
		seg(l1, sizeof(l1), COLS, b);
	}
	snprintf(b, sizeof(b), "%s%s", s->tls ? "https://" : "", s->listen);
	seg(l1, sizeof(l1), COLS, b);
	/* Attached and narrow: the Docker version matters more than its socket. */
	if (c->be == NULL || !c->be->remote || COLS >= 120) {
		snprintf(b, sizeof(b), "-> %s", s->upstream);
		seg(l1, sizeof(l1), COLS, b);
	}
	if (!s->docker_up) {
		seg(l1, sizeof(l1), COLS, "Docker not answering");
	} else {
		/* "Docker 20.10.24, API 1.41": the API part only when wide. */
		const char *comma = strchr(s->docker, ',');

		snprintf(b, sizeof(b), "%.*s",
			 COLS >= 120 || comma == NULL ? (int)strlen(s->docker) : (int)(comma - s->docker),
			 s->docker);
		seg(l1, sizeof(l1), COLS, b);
	}
	tui_fmt_ms((uint64_t)(up > 0 ? up : 0), b, sizeof(b) - 4);
	{
		char u[48];

		snprintf(u, sizeof(u), "up %.40s", b);
		seg(l1, sizeof(l1), COLS, u);
	}
	{
		/* "bearer (3 tokens + shared secret)": the detail only when wide. */
		const char *paren = strstr(s->auth, " (");

		snprintf(b, sizeof(b), "auth %.*s",
			 COLS >= 120 || paren == NULL ? (int)strlen(s->auth) : (int)(paren - s->auth),
			 s->auth);
	}
	seg(l2, sizeof(l2), COLS, b);
	{
		const char *base = strrchr(s->config_path, '/');

		snprintf(b, sizeof(b), "%.200s@%.8s", s->config_path[0] ? (base ? base + 1 : s->config_path)
								   : "(defaults)",
			 s->version[0] ? s->version : "-");
	}
	seg(l2, sizeof(l2), COLS, b);
	{
		char *l = HEADER_ROWS == 2 ? l2 : l3;

		snprintf(b, sizeof(b), "%.1f req/s", rps);
		seg(l, sizeof(l3), COLS, b);
		snprintf(b, sizeof(b), "%.0f denied/min", dpm);
		seg(l, sizeof(l3), COLS, b);
		snprintf(b, sizeof(b), "%d open streams", s->streams);
		seg(l, sizeof(l3), COLS, b);
		snprintf(b, sizeof(b), "%zu of %zu rules dry-run", s->n_dry_run, s->n_rules);
		seg(l, sizeof(l3), COLS, b);
	}
	if (c->color)
		attron(COLOR_PAIR(P_HEAD));
	attron(A_BOLD);
	put(0, 0, COLS, l1, 1);
	attroff(A_BOLD);
	put(1, 0, COLS, l2, 1);
	if (HEADER_ROWS == 3)
		put(2, 0, COLS, l3, 1);
	if (c->color)
		attroff(COLOR_PAIR(P_HEAD));
}

static void draw_tabs(struct dpp_console *c)
{
	char badges[512] = "";
	int x = 0, bl;
	int paused = (c->view == TUI_VIEW_LIVE && c->ls[0].paused) ||
		     (c->view == TUI_VIEW_DENIALS && c->ls[1].paused);

	move(TAB_ROW, 0);
	clrtoeol();
	for (int v = 0; v < TUI_VIEW_COUNT; v++) {
		char t[32];

		snprintf(t, sizeof(t), "%d %s", v + 1, tui_view_name(v));
		if (v == (int)c->view)
			attron(A_REVERSE | A_BOLD);
		put(TAB_ROW, x, (int)strlen(t), t, 0);
		if (v == (int)c->view)
			attroff(A_REVERSE | A_BOLD);
		x += (int)strlen(t) + 1;
	}
	if (paused) {
		struct list_state *ls = &c->ls[c->view == TUI_VIEW_LIVE ? 0 : 1];
		struct tui_ring *r = view_ring(c, c->view == TUI_VIEW_LIVE ? 0 : 1);

		snprintf(badges + strlen(badges), sizeof(badges) - strlen(badges), "[PAUSED +%llu]",
			 (unsigned long long)(r->total - ls->paused_at));
	}
	if (c->dropped_badge[0] != '\0')
		snprintf(badges + strlen(badges), sizeof(badges) - strlen(badges), "%s[%s]",
			 badges[0] ? " " : "", c->dropped_badge);
	if (c->store == NULL)
		snprintf(badges + strlen(badges), sizeof(badges) - strlen(badges), "%s[NO STORE]",
			 badges[0] ? " " : "");
	if (c->o.read_only)
		snprintf(badges + strlen(badges), sizeof(badges) - strlen(badges), "%s[READ-ONLY]",
			 badges[0] ? " " : "");
	bl = (int)strlen(badges);
	if (bl > 0) {
		int bx = COLS - bl > x ? COLS - bl : x;

		attron(A_BOLD);
		put(TAB_ROW, bx, COLS - bx, badges, 0);
		attroff(A_BOLD);
	}
}

static void draw_footer(struct dpp_console *c)
{
	size_t nk;
	const struct tui_key *k = tui_keys(&nk);
	char line[1024] = "";
	int y = LINES - 1;

	/* Status line: prompt, filter, message. */
	move(LINES - 2, 0);
	clrtoeol();
	if (c->prompt == 1) {
		char p[300];

		snprintf(p, sizeof(p), "filter: %s", c->input);
		put(LINES - 2, 0, COLS, p, 0);
		curs_set(1);
	} else if (c->prompt == 2) {
		attron(A_BOLD);
		put(LINES - 2, 0, COLS, "Stop the proxy and quit? (y/N)", 0);
		attroff(A_BOLD);
	} else if (peer_gone(c)) {
		char g[160];

		snprintf(g, sizeof(g), "the daemon (PID %ld) stopped: r reconnect, q quit", c->be->pid);
		if (c->color)
			attron(COLOR_PAIR(P_ERROR));
		attron(A_BOLD);
		put(LINES - 2, 0, COLS, g, 1);
		attroff(A_BOLD);
		if (c->color)
			attroff(COLOR_PAIR(P_ERROR));
	} else {
		char st[600] = "";

		if (c->filter.n > 0 && (c->view == TUI_VIEW_LIVE || c->view == TUI_VIEW_DENIALS ||
					c->view == TUI_VIEW_AUDIT))
			snprintf(st, sizeof(st), "[/%s] ", c->filter.source);
		if (c->msg[0] != '\0' && mono_ms() < c->msg_until)
			snprintf(st + strlen(st), sizeof(st) - strlen(st), "%s", c->msg);
		put(LINES - 2, 0, COLS, st, 0);
	}
	/* Footer: the keys of this view, from the key table. */
	for (size_t i = 0; i < nk; i++) {
		char e[64];

		if (!k[i].footer || (k[i].views & TUI_IN(c->view)) == 0)
			continue;
		if (k[i].mutating && c->o.read_only)
			continue;
		snprintf(e, sizeof(e), "%s%s:%s", line[0] ? " " : "", k[i].label,
			 tui_action_hint(k[i].action));
		if (strlen(line) + strlen(e) < sizeof(line))
			strcat(line, e);
	}
	attron(A_REVERSE);
	put(y, 0, COLS, line, 1);
	attroff(A_REVERSE);
}

static void draw_pager(struct dpp_console *c)
{
	struct pager *p = &c->pg;
	int rows = LINES - 3 > 1 ? LINES - 3 : 1;
	char line[256];

	if (p->top > (int)p->n - rows)
		p->top = (int)p->n - rows;
	if (p->top < 0)
		p->top = 0;
	erase();
	attron(A_BOLD | A_REVERSE);
	put(0, 0, COLS, p->title, 1);
	attroff(A_BOLD | A_REVERSE);
	for (int r = 0; r < rows; r++) {
		int i = p->top + r;

		if (i >= (int)p->n)
			break;
		if (c->color && p->confirm && (p->lines[i][0] == '+' || p->lines[i][0] == '-') &&
		    strncmp(p->lines[i], "+++", 3) != 0 && strncmp(p->lines[i], "---", 3) != 0)
			attron(COLOR_PAIR(p->lines[i][0] == '+' ? P_ALLOW : P_DENY));
		put(1 + r, 0, COLS, p->lines[i], 0);
		if (c->color)
			attroff(COLOR_PAIR(P_ALLOW) | COLOR_PAIR(P_DENY));
	}
	hline_at(LINES - 2);
	snprintf(line, sizeof(line), "%s  (lines %d-%d of %zu)",
		 p->confirm ? p->prompt : "Esc/q/Enter: close  j/k PgUp/PgDn: scroll",
		 p->n > 0 ? p->top + 1 : 0, p->top + rows < (int)p->n ? p->top + rows : (int)p->n,
		 p->n);
	attron(A_BOLD);
	put(LINES - 1, 0, COLS, line, 1);
	attroff(A_BOLD);
}

static void draw(struct dpp_console *c)
{
	curs_set(0);
	if (c->full) {
		clearok(curscr, TRUE);
		c->full = 0;
	}
	if (c->pg.active) {
		draw_pager(c);
	} else {
		erase();
		draw_header(c);
		draw_tabs(c);
		switch (c->view) {
		case TUI_VIEW_LIVE: draw_events(c, 0); break;
		case TUI_VIEW_DENIALS: draw_events(c, 1); break;
		case TUI_VIEW_RULES: draw_rules(c); break;
		case TUI_VIEW_LIMITS: draw_limits(c); break;
		case TUI_VIEW_AUDIT: draw_audit(c); break;
		case TUI_VIEW_HISTORY: draw_history(c); break;
		case TUI_VIEW_LOG: draw_log(c); break;
		default: break;
		}
		draw_footer(c);
	}
	refresh();
	c->dirty = 0;
	c->last_draw = mono_ms();
}

/* ---- help and details -------------------------------------------------------------- */

static void open_help(struct dpp_console *c)
{
	size_t nk;
	const struct tui_key *k = tui_keys(&nk);

	pager_open(c, "Help: keys (from the key table that dispatches them)");
	for (int v = -1; v < TUI_VIEW_COUNT; v++) {
		int any = 0;

		for (size_t i = 0; i < nk; i++) {
			int everywhere = k[i].views == TUI_ALL_VIEWS;
			char labels[64] = "", line[256];
			size_t j;

			if (k[i].help == NULL)
				continue;
			if (v < 0 ? !everywhere : (everywhere || (k[i].views & TUI_IN(v)) == 0))
				continue;
			/* One line per action: its keys together ("Up k"). */
			for (j = 0; j < i; j++)
				if (k[j].action == k[i].action && k[j].views == k[i].views &&
				    k[j].help != NULL)
					break;
			if (j < i)
				continue;
			for (j = i; j < nk; j++) {
				if (k[j].action != k[i].action || k[j].views != k[i].views ||
				    k[j].help == NULL || strlen(labels) + strlen(k[j].label) + 2 >= sizeof(labels))
					continue;
				snprintf(labels + strlen(labels), sizeof(labels) - strlen(labels), "%s%s",
					 labels[0] ? " " : "", k[j].label);
			}
			if (!any) {
				pager_add(&c->pg, "");
				pager_addf(&c->pg, "%s", v < 0 ? "Everywhere" : tui_view_name(v));
				any = 1;
			}
			snprintf(line, sizeof(line), "  %-10s %s%s", labels, k[i].help,
				 k[i].mutating && c->o.read_only ? "  (refused: --read-only)" : "");
			pager_add(&c->pg, line);
		}
	}
	pager_add(&c->pg, "");
	pager_add(&c->pg, "Filter (/): terms separated by spaces, all must hold");
	pager_add(&c->pg, "  word          text anywhere (path, client, identity, rule, message)");
	pager_add(&c->pg, "  rule:NAME     deciding rule    ip:CIDR      client address");
	pager_add(&c->pg, "  status:4xx    status or class  method:POST  request method");
	pager_add(&c->pg, "  id:IDENTITY   identity or role (substring)");
	pager_add(&c->pg, "Decisions: ALLOW DENY DRY (dry run) LIMIT AUTH LOCK ERROR OPEN/CLOSE (streams)");
}

static const char *outcome_name(int o)
{
	switch (o) {
	case DPP_TRACE_NO_MATCH: return "no match";
	case DPP_TRACE_MATCHED: return "matched (did not decide)";
	case DPP_TRACE_ALLOWED: return "ALLOWED";
	case DPP_TRACE_DENIED: return "DENIED";
	case DPP_TRACE_DRY_RUN: return "DRY RUN (would deny)";
	case DPP_TRACE_ERROR: return "ERROR";
	}
	return "?";
}

static void open_details(struct dpp_console *c, const struct dpp_event *ev)
{
	char t[64], lat[32], by[32];
	time_t sec = (time_t)(ev->time_ms / 1000);
	struct tm tm;

	gmtime_r(&sec, &tm);
	strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
	pager_open(c, "Details (Esc: back)");
	pager_addf(&c->pg, "request #%llu  %s.%03dZ  %s  status %d",
		   (unsigned long long)ev->id, t, (int)(ev->time_ms % 1000), tui_decision(ev),
		   ev->status);
	pager_addf(&c->pg, "%s %s%s%s", ev->method, ev->path, ev->query[0] ? "?" : "", ev->query);
	pager_addf(&c->pg, "client %s  peer %s  identity %s  role %s",
		   ev->client_ip[0] ? ev->client_ip : "unix", ev->peer_ip[0] ? ev->peer_ip : "unix",
		   ev->identity[0] ? ev->identity : "-", ev->user_role[0] ? ev->user_role : "-");
	pager_addf(&c->pg, "rule %s%s%s%s  message %s", ev->rule_name[0] ? ev->rule_name : "(none)",
		   ev->rule_action[0] ? " (" : "", ev->rule_action, ev->rule_action[0] ? ")" : "",
		   ev->message[0] ? ev->message : "-");
	tui_fmt_ms(ev->duration_ms, lat, sizeof(lat));
	tui_fmt_bytes(ev->bytes_out, by, sizeof(by));
	pager_addf(&c->pg, "latency %s  bytes out %s  user agent %s", lat, by,
		   ev->user_agent[0] ? ev->user_agent : "-");
	pager_add(&c->pg, "");
	pager_add(&c->pg, "Query:");
	pager_addf(&c->pg, "  %s", ev->query[0] ? ev->query : "(none)");
	pager_add(&c->pg, "Header fields (credentials redacted, Authorization never shown):");
	if (ev->headers[0] != '\0')
		pager_add_text(&c->pg, "  ", ev->headers);
	else
		pager_add(&c->pg, "  (none recorded)");
	pager_add(&c->pg, "Body (start):");
	pager_addf(&c->pg, "  %s", ev->body[0] ? ev->body : "(no buffered JSON body)");
	pager_add(&c->pg, "");
	pager_addf(&c->pg, "Rules evaluated: %u%s", ev->trace.n,
		   ev->trace.truncated ? " (more were evaluated; the trace keeps the first 24)" : "");
	for (unsigned i = 0; i < ev->trace.n; i++) {
		const struct dpp_policy_trace_rule *tr = &ev->trace.r[i];
		char name[64], text[256];
		int live = c->be->ops->cond_text(c->be, ev->trace.ruleset_id, tr->rule, SIZE_MAX, name,
						 sizeof(name), text, sizeof(text)) == 0;

		pager_addf(&c->pg, "  #%u %s: %s", tr->rule + 1, live ? name : "(rules reloaded since)",
			   outcome_name(tr->outcome));
		for (unsigned k = 0; k < tr->n_conds; k++) {
			const char *res = k >= tr->n_evaluated		   ? "  -  "
					  : k >= DPP_POLICY_TRACE_CONDS	   ? "  ?  "
					  : (tr->held >> k) & 1u	   ? "true "
									   : "false";

			if (!live || c->be->ops->cond_text(c->be, ev->trace.ruleset_id, tr->rule, k,
							   NULL, 0, text, sizeof(text)) != 0)
				snprintf(text, sizeof(text), "condition %u", k + 1);
			pager_addf(&c->pg, "      [%s] %s", res, text);
		}
		if (tr->n_conds == 0)
			pager_add(&c->pg, "      (no conditions: matches every request)");
	}
	if (ev->trace.n == 0)
		pager_add(&c->pg, "  (none: refused before the rules, or no rules)");
	pager_add(&c->pg, "");
	pager_add(&c->pg, "[true ] held  [false] did not hold  [  -  ] not evaluated (an earlier one failed)");
}

/* ---- editing ----------------------------------------------------------------------- */

static int write_all(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t len = strlen(text), off = 0;

	if (fd < 0)
		return -1;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	return close(fd);
}

static char *read_all(const char *path, size_t max)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (f == NULL)
		return NULL;
	buf = malloc(max + 1);
	if (buf == NULL) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, max + 1, f);
	fclose(f);
	if (n > max) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

static int ensure_tmpdir(struct dpp_console *c)
{
	const char *base = getenv("TMPDIR");

	if (c->tmpdir[0] != '\0')
		return 0;
	snprintf(c->tmpdir, sizeof(c->tmpdir), "%s/dpp-console-XXXXXX",
		 base != NULL && *base != '\0' ? base : "/tmp");
	if (mkdtemp(c->tmpdir) == NULL) {
		c->tmpdir[0] = '\0';
		return -1;
	}
	return 0;
}

static void child_signals(void)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
}

/* Runs $VISUAL / $EDITOR / vi on path with the terminal handed over. The
 * proxy keeps serving on its own threads meanwhile. Returns the editor's
 * exit status, or -1. */
static int run_editor(struct dpp_console *c, const char *path)
{
	pid_t pid;
	int status = -1;

	def_prog_mode();
	endwin();
	pid = fork();
	if (pid == 0) {
		child_signals();
		execl("/bin/sh", "sh", "-c", "exec ${VISUAL:-${EDITOR:-vi}} \"$1\"", "sh", path,
		      (char *)NULL);
		_exit(127);
	}
	if (pid > 0) {
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	reset_prog_mode();
	c->full = 1;
	c->dirty = 1;
	if (pid < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* diff -u of two texts into the pager. Returns 0 (differences or none), -1. */
static int diff_into_pager(struct dpp_console *c, const char *old, const char *new_text,
			   const char *label, const char *new_label)
{
	char a[PATH_MAX + 16], b[PATH_MAX + 16], la[PATH_MAX + 32], lb[PATH_MAX + 32];
	int pfd[2];
	pid_t pid;
	char *out = NULL;
	size_t n = 0;
	int status = 0, rc = -1;

	if (ensure_tmpdir(c) != 0)
		return -1;
	snprintf(a, sizeof(a), "%s/live.yaml", c->tmpdir);
	snprintf(b, sizeof(b), "%s/proposed.yaml", c->tmpdir);
	snprintf(la, sizeof(la), "%s (live)", label);
	snprintf(lb, sizeof(lb), "%s (%s)", label, new_label);
	if (write_all(a, old) != 0 || write_all(b, new_text) != 0 || pipe(pfd) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		child_signals();
		dup2(pfd[1], STDOUT_FILENO);
		close(pfd[0]);
		close(pfd[1]);
		execlp("diff", "diff", "-u", "--label", la, "--label", lb, a, b, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	if (pid < 0) {
		close(pfd[0]);
		return -1;
	}
	out = malloc(DIFF_MAX + 1);
	if (out != NULL) {
		ssize_t k;

		while (n < DIFF_MAX && ((k = read(pfd[0], out + n, DIFF_MAX - n)) > 0 ||
					(k < 0 && errno == EINTR)))
			if (k > 0)
				n += (size_t)k;
		out[n] = '\0';
	}
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (out != NULL && WIFEXITED(status) && WEXITSTATUS(status) <= 1) {
		pager_add_text(&c->pg, "", out);
		if (n >= DIFF_MAX)
			pager_add(&c->pg, "... (diff cut at 1 MiB)");
		rc = 0;
	}
	free(out);
	unlink(a);
	unlink(b);
	return rc;
}

static void pending_clear(struct pending *p)
{
	free(p->text);
	free(p->old);
	memset(p, 0, sizeof(*p));
}

static void show_errors(struct dpp_console *c, const char *title, const char *errors)
{
	pager_open(c, title);
	pager_add(&c->pg, "Nothing was applied; the running configuration is unchanged.");
	pager_add(&c->pg, "");
	pager_add_wrapped(&c->pg, errors != NULL ? errors : "unknown error", COLS > 20 ? COLS - 1 : 79);
	say(c, "%s: nothing applied", title);
}

/* Validates the proposal, shows its diff and asks "Apply? (y/N)". Takes
 * ownership of new_text and old. */
static void propose(struct dpp_console *c, char *new_text, char *old, const char *base,
		    const char *what, int is_undo, const char *source)
{
	char *errors = NULL;
	char title[256];

	if (strcmp(new_text, old) == 0) {
		say(c, "%s: no change", what);
		free(new_text);
		free(old);
		return;
	}
	if (c->be->ops->validate(c->be, new_text, source, c->author, &errors) != 0) {
		snprintf(title, sizeof(title), "%s: refused by the configuration loader", what);
		show_errors(c, title, errors);
		free(errors);
		free(new_text);
		free(old);
		return;
	}
	snprintf(title, sizeof(title), "%s: valid; review the change", what);
	pager_open(c, title);
	if (diff_into_pager(c, old, new_text,
			    c->snap != NULL ? c->snap->status.config_path : "config", "proposed") != 0)
		pager_add(&c->pg, "(diff -u could not run; the change is valid)");
	c->pg.confirm = 1;
	snprintf(c->pg.prompt, sizeof(c->pg.prompt), "Apply? (y/N)");
	pending_clear(&c->pend);
	c->pend.text = new_text;
	c->pend.old = old;
	c->pend.is_undo = is_undo;
	c->pend.source = source;
	snprintf(c->pend.base, sizeof(c->pend.base), "%s", base);
	snprintf(c->pend.what, sizeof(c->pend.what), "%s", what);
}

static void apply_pending(struct dpp_console *c)
{
	char *errors = NULL;
	char version[DPP_CONTROL_VERSION_LEN];

	pager_clear(&c->pg);
	if (c->be->ops->apply(c->be, c->pend.text, c->pend.base,
			      c->pend.source != NULL ? c->pend.source : "console", c->author, version,
			      &errors) != 0) {
		show_errors(c, "Apply refused", errors);
		free(errors);
		pending_clear(&c->pend);
		return;
	}
	if (c->pend.is_undo) {
		if (c->n_undo > 0)
			free(c->undo[--c->n_undo]);
	} else {
		if (c->n_undo == UNDO_MAX) {
			free(c->undo[0]);
			memmove(c->undo, c->undo + 1, (UNDO_MAX - 1) * sizeof(c->undo[0]));
			c->n_undo--;
		}
		c->undo[c->n_undo++] = c->pend.old;
		c->pend.old = NULL;
	}
	dpp_log_info("console: %s applied by %s (config version %.12s)", c->pend.what, c->author,
		     version);
	say(c, "%s: applied, live now (version %.12s)", c->pend.what, version);
	pending_clear(&c->pend);
	refresh_snapshot(c);
}

static const char *selected_rule(struct dpp_console *c)
{
	int i = c->sel[TUI_VIEW_RULES];

	if (c->snap != NULL && i >= (int)c->snap->n_rules) /* G before a redraw */
		i = c->sel[TUI_VIEW_RULES] = (int)c->snap->n_rules - 1;

	if (c->snap == NULL || i < 0 || (size_t)i >= c->snap->n_rules)
		return NULL;
	return c->snap->rules[i].name;
}

static const char new_rule_template[] =
	"# A new rule, in the seed's syntax (docs/rules.md). Save and quit to check\n"
	"# it; an unchanged or empty file cancels. Fields: path, method, endpoint,\n"
	"# header.NAME, query.NAME, body.A.B, client_ip, role, identity. Operators:\n"
	"# equals, not_equals, contains, starts_with, ends_with, matches, in, exists.\n"
	"- name: new-rule\n"
	"  description: \"what this rule is for\"\n"
	"  action: deny\n"
	"  conditions:\n"
	"    - field: path\n"
	"      operator: starts_with\n"
	"      value: /containers/\n"
	"  message: \"denied by new-rule\"\n";

/* e / n / E: edit in $EDITOR, then validate, diff, confirm. */
static void edit_flow(struct dpp_console *c, enum tui_action act)
{
	char *text = NULL, *err = NULL, *snippet = NULL, *edited = NULL, *next = NULL;
	char version[DPP_CONTROL_VERSION_LEN], path[PATH_MAX + 32], what[160];
	const char *rule = selected_rule(c);
	int st;

	if (c->be->ops->read_config(c->be, &text, version, &err) != 0) {
		say(c, "%s", err);
		goto cleanup;
	}
	if (act == TUI_ACT_EDIT_RULE && rule == NULL) {
		say(c, "no rule selected");
		goto cleanup;
	}
	if (act == TUI_ACT_EDIT_RULE) {
		if (dpp_cfgedit_rule_text(text, rule, &snippet, &err) != 0) {
			say(c, "cannot edit rule %s: %s", rule, err);
			goto cleanup;
		}
		snprintf(what, sizeof(what), "edit rule %s", rule);
	} else if (act == TUI_ACT_NEW_RULE) {
		snippet = strdup(new_rule_template);
		snprintf(what, sizeof(what), "new rule");
	} else {
		snippet = strdup(text);
		snprintf(what, sizeof(what), "edit %.150s", c->snap ? c->snap->status.config_path : "config");
	}
	if (snippet == NULL || ensure_tmpdir(c) != 0) {
		say(c, "cannot prepare a temporary file: %s", strerror(errno));
		goto cleanup;
	}
	snprintf(path, sizeof(path), "%s/%s.yaml", c->tmpdir,
		 act == TUI_ACT_EDIT_CONFIG ? "config" : "rule");
	if (write_all(path, snippet) != 0) {
		say(c, "cannot write %s: %s", path, strerror(errno));
		goto cleanup;
	}
	st = run_editor(c, path);
	edited = read_all(path, 1024 * 1024);
	unlink(path);
	if (st != 0) {
		say(c, "%s: the editor exited with status %d; nothing applied", what, st);
		goto cleanup;
	}
	if (edited == NULL || strcmp(edited, snippet) == 0 ||
	    (act != TUI_ACT_EDIT_CONFIG && edited[strspn(edited, " \t\r\n")] == '\0')) {
		say(c, "%s: unchanged; nothing applied", what);
		goto cleanup;
	}
	if (act == TUI_ACT_EDIT_CONFIG) {
		next = edited;
		edited = NULL;
	} else if ((act == TUI_ACT_EDIT_RULE
			    ? dpp_cfgedit_replace_rule(text, rule, edited, &next, &err)
			    : dpp_cfgedit_append_rule(text, edited, &next, &err)) != 0) {
		char title[256];

		snprintf(title, sizeof(title), "%s: your text is not one valid rule", what);
		show_errors(c, title, err);
		goto cleanup;
	}
	propose(c, next, text, version, what, 0, "console");
	next = NULL;
	text = NULL;
cleanup:
	free(text);
	free(err);
	free(snippet);
	free(edited);
	free(next);
}

/* t / + / - / D: a one-key change, validated, diffed and confirmed. */
static void rule_change(struct dpp_console *c, enum tui_action act)
{
	char *text = NULL, *err = NULL, *next = NULL;
	char version[DPP_CONTROL_VERSION_LEN], what[160], val[32];
	const char *rule = selected_rule(c);
	int rc = -1;

	if (rule == NULL) {
		say(c, "no rule selected");
		return;
	}
	if (c->be->ops->read_config(c->be, &text, version, &err) != 0) {
		say(c, "%s", err);
		goto cleanup;
	}
	if (act == TUI_ACT_TOGGLE_DRY_RUN) {
		int on = !c->snap->rules[c->sel[TUI_VIEW_RULES]].dry_run;

		snprintf(what, sizeof(what), "dry-run %s for rule %s", on ? "on" : "off", rule);
		rc = dpp_cfgedit_set_rule_key(text, rule, "dry_run", on ? "true" : "false", &next, &err);
	} else if (act == TUI_ACT_DELETE_RULE) {
		snprintf(what, sizeof(what), "delete rule %s", rule);
		rc = dpp_cfgedit_delete_rule(text, rule, &next, &err);
	} else {
		long prio = 0;

		rc = dpp_cfgedit_rule_priority(text, rule, &prio, &err);
		if (rc == 0) {
			prio += act == TUI_ACT_PRIO_UP ? 1 : -1;
			snprintf(val, sizeof(val), "%ld", prio);
			snprintf(what, sizeof(what), "priority %ld for rule %s", prio, rule);
			rc = dpp_cfgedit_set_rule_key(text, rule, "priority", val, &next, &err);
		}
	}
	if (rc != 0) {
		say(c, "%s", err != NULL ? err : "cannot change the rule");
		goto cleanup;
	}
	propose(c, next, text, version, what, 0, "console");
	next = NULL;
	text = NULL;
cleanup:
	free(text);
	free(err);
	free(next);
}

static void undo_flow(struct dpp_console *c)
{
	char *text = NULL, *err = NULL, *prev;
	char version[DPP_CONTROL_VERSION_LEN];

	if (c->n_undo == 0) {
		say(c, "nothing to undo (this session applied no change)");
		return;
	}
	if (c->be->ops->read_config(c->be, &text, version, &err) != 0) {
		say(c, "%s", err);
		free(err);
		return;
	}
	prev = strdup(c->undo[c->n_undo - 1]);
	if (prev == NULL) {
		free(text);
		return;
	}
	propose(c, prev, text, version, "undo the last change", 1, "console");
}

/* ---- keys ------------------------------------------------------------------------- */

static void move_sel(struct dpp_console *c, int delta, int to_end)
{
	int v = c->view;

	if (v == TUI_VIEW_LIVE || v == TUI_VIEW_DENIALS) {
		int w = v == TUI_VIEW_LIVE ? 0 : 1;
		struct list_state *ls = &c->ls[w];
		size_t n;
		int i = -1;

		if (to_end > 0) { /* End: follow again */
			ls->paused = 0;
			c->dirty = 1;
			return;
		}
		if (!ls->paused) {
			ls->paused = 1;
			ls->paused_at = view_ring(c, w)->total;
		}
		n = filtered(c, w);
		if (n == 0)
			return;
		i = (int)list_find(c, n, ls->sel);
		if (i >= (int)n)
			i = (int)n - 1;
		i = to_end < 0 ? 0 : i + delta;
		if (i < 0)
			i = 0;
		if (i >= (int)n)
			i = (int)n - 1;
		ls->sel = list_seq(c, (size_t)i);
	} else if (v == TUI_VIEW_AUDIT) {
		if (delta >= body_rows() && c->anext > 0 && c->adepth < 63) {
			c->acursor[++c->adepth] = c->anext;
			c->sel[v] = 0;
			load_audit(c);
		} else if (delta <= -body_rows() && c->adepth > 0) {
			c->adepth--;
			c->sel[v] = 0;
			load_audit(c);
		} else if (to_end < 0) {
			c->adepth = 0;
			c->sel[v] = 0;
			load_audit(c);
		} else {
			c->sel[v] = to_end > 0 ? c->n_apage - 1 : c->sel[v] + delta;
		}
	} else if (v == TUI_VIEW_LOG) {
		if (to_end > 0) {
			c->log_follow = 1;
		} else {
			if (c->log_follow)
				c->sel[v] = (int)tui_log_count(&c->log) - 1;
			c->log_follow = 0;
			c->sel[v] = to_end < 0 ? 0 : c->sel[v] + delta;
		}
	} else {
		c->sel[v] = to_end < 0 ? 0 : to_end > 0 ? INT_MAX / 2 : c->sel[v] + delta;
	}
	c->dirty = 1;
}

static void toggle_pause(struct dpp_console *c)
{
	int w = c->view == TUI_VIEW_LIVE ? 0 : 1;
	struct list_state *ls = &c->ls[w];

	ls->paused = !ls->paused;
	if (ls->paused)
		ls->paused_at = view_ring(c, w)->total;
	c->dirty = 1;
}

static void quit_prompt(struct dpp_console *c)
{
	if (c->be != NULL && c->be->remote) {
		/* Detaching changes nothing in the daemon: no question. */
		c->exit = DPP_CONSOLE_QUIT;
		c->done = 1;
		return;
	}
	c->prompt = 2;
	c->dirty = 1;
}


static void try_reconnect(struct dpp_console *c)
{
	char *err = NULL;

	if (c->be->ops->reconnect == NULL || c->be->ops->reconnect(c->be, &err) != 0) {
		say(c, "reconnect failed: %s", err != NULL ? err : "not possible");
		free(err);
		return;
	}
	say(c, "attached again to PID %ld", c->be->pid);
	c->n_samples = 0;
	refresh_snapshot(c);
	c->full = 1;
}

/* Returns 1 when the key should also go to the view below. */
static int handle_pager_key(struct dpp_console *c, int ch)
{
	int rows = LINES - 3, pass = 0;

	switch (ch) {
	case KEY_UP: case 'k': c->pg.top--; break;
	case KEY_DOWN: case 'j': c->pg.top++; break;
	case KEY_PPAGE: case KCTRL('b'): c->pg.top -= rows; break;
	case KEY_NPAGE: case KCTRL('f'): case ' ': c->pg.top += rows; break;
	case KEY_HOME: case 'g': c->pg.top = 0; break;
	case KEY_END: case 'G': c->pg.top = (int)c->pg.n; break;
	case KEY_RESIZE: break;
	case KCTRL('l'): c->full = 1; break;
	case 'y': case 'Y':
		if (c->pg.confirm) {
			apply_pending(c);
			break;
		}
		/* fall through */
	default:
		if (c->pg.confirm) {
			say(c, "%s: not applied", c->pend.what);
			pending_clear(&c->pend);
			pager_clear(&c->pg);
			break;
		}
		pager_clear(&c->pg);
		/* An information page closes on any key; a key with a meaning
		 * of its own (a view number, ...) also does what it says. */
		if (ch != 27 && ch != 'q' && ch != '\n' && ch != '\r' && ch != KEY_ENTER)
			pass = 1;
		break;
	}
	c->dirty = 1;
	return pass;
}

static void handle_prompt_key(struct dpp_console *c, int ch)
{
	if (c->prompt == 2) {
		c->prompt = 0;
		if (ch == 'y' || ch == 'Y') {
			c->exit = DPP_CONSOLE_QUIT;
			c->done = 1;
		} else {
			say(c, "still running");
		}
		c->dirty = 1;
		return;
	}
	if (ch == 27) {
		c->prompt = 0;
	} else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
		const char *err = NULL;
		struct tui_filter f;

		if (tui_filter_parse(c->input, &f, &err) != 0) {
			say(c, "filter not changed: %s", err);
		} else {
			c->filter = f;
			say(c, f.n > 0 ? "filter set" : "filter cleared");
			if (c->view == TUI_VIEW_AUDIT) {
				c->adepth = 0;
				load_audit(c);
			}
		}
		c->prompt = 0;
	} else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
		if (c->input_len > 0)
			c->input[--c->input_len] = '\0';
	} else if (ch == KCTRL('u')) {
		c->input_len = 0;
		c->input[0] = '\0';
	} else if (ch >= 0x20 && ch < 0x7f && c->input_len + 1 < sizeof(c->input)) {
		c->input[c->input_len++] = (char)ch;
		c->input[c->input_len] = '\0';
	}
	if (c->prompt == 0)
		curs_set(0);
	c->dirty = 1;
}

static void view_entered(struct dpp_console *c)
{
	if (c->view == TUI_VIEW_AUDIT)
		load_audit(c);
	else if (c->view == TUI_VIEW_HISTORY)
		load_history(c);
}

static const struct tui_version *selected_version(struct dpp_console *c)
{
	int i = c->sel[TUI_VIEW_HISTORY];

	if (i >= c->n_versions) /* G before a redraw clamped it */
		i = c->sel[TUI_VIEW_HISTORY] = c->n_versions - 1;

	return c->store != NULL && i >= 0 && i < c->n_versions ? &c->versions[i] : NULL;
}

/* History: Enter shows a version, d diffs it against the live file, r
 * rolls back to it through validate / diff / confirm / apply. */
static void history_action(struct dpp_console *c, enum tui_action act)
{
	const struct tui_version *v = selected_version(c);
	char *old = NULL, *text, *err = NULL;
	char version[DPP_CONTROL_VERSION_LEN], title[200], label[48];

	if (v == NULL) {
		say(c, c->store == NULL ? "config history needs the SQLite store, which is not available"
					: "no version selected");
		return;
	}
	text = tui_store_version_text(c->store, v->id);
	if (text == NULL) {
		say(c, "cannot read version %lld from the store", (long long)v->id);
		return;
	}
	if (act == TUI_ACT_SHOW_VERSION) {
		snprintf(title, sizeof(title), "version %lld (%s, %s by %s)", (long long)v->id,
			 v->timestamp, v->source, v->author);
		pager_open(c, title);
		pager_add_text(&c->pg, "", text);
		free(text);
		return;
	}
	if (c->be->ops->read_config(c->be, &old, version, &err) != 0) {
		say(c, "%s", err);
		free(err);
		free(text);
		return;
	}
	if (act == TUI_ACT_DIFF_VERSION) {
		snprintf(title, sizeof(title), "live file vs version %lld", (long long)v->id);
		pager_open(c, title);
		if (strcmp(old, text) == 0)
			pager_add(&c->pg, "(identical)");
		else if (snprintf(label, sizeof(label), "version %lld", (long long)v->id) < 0 ||
			 diff_into_pager(c, old, text, "config", label) != 0)
			pager_add(&c->pg, "(diff -u could not run)");
		free(old);
		free(text);
		return;
	}
	snprintf(title, sizeof(title), "roll back to version %lld", (long long)v->id);
	propose(c, text, old, version, title, 0, "rollback");
}

static void handle_key(struct dpp_console *c, int ch)
{
	const struct tui_key *k;

	if (ch == KEY_RESIZE) {
		c->dirty = 1;
		return;
	}
	if (peer_gone(c) && c->prompt == 0 && !c->pg.active) {
		if (ch == 'q' || ch == 'Q' || ch == KCTRL('c')) {
			c->exit = DPP_CONSOLE_QUIT;
			c->done = 1;
			return;
		}
		if (ch == 'r' || ch == 'R') {
			try_reconnect(c);
			c->dirty = 1;
			return;
		}
	}
	if (c->prompt != 0) {
		handle_prompt_key(c, ch);
		return;
	}
	if (c->pg.active && !handle_pager_key(c, ch))
		return;
	if (ch == KCTRL('c')) {
		quit_prompt(c);
		return;
	}
	if (ch == KCTRL('z') && c->be != NULL && c->be->remote) {
		/* Attached: stopping this process stops only the console (the
		 * daemon drops and counts what we do not read). ncurses'
		 * SIGTSTP handler restores the terminal and redraws on SIGCONT. */
		raise(SIGTSTP);
		c->full = 1;
		c->dirty = 1;
		return;
	}
	if (ch == KCTRL('z')) {
		say(c, "not suspending: that would stop the proxy (run the console in tmux or screen)");
		return;
	}
	k = tui_key_lookup(ch, c->view);
	if (k == NULL)
		return;
	if (k->mutating && c->o.read_only) {
		say(c, "read-only console (--read-only): '%s' (%s) is refused", k->label,
		    tui_action_name(k->action));
		return;
	}
	c->dirty = 1;
	switch (k->action) {
	case TUI_ACT_VIEW_1: case TUI_ACT_VIEW_2: case TUI_ACT_VIEW_3: case TUI_ACT_VIEW_4:
	case TUI_ACT_VIEW_5: case TUI_ACT_VIEW_6: case TUI_ACT_VIEW_7:
		c->view = (enum tui_view)(k->action - TUI_ACT_VIEW_1);
		view_entered(c);
		break;
	case TUI_ACT_NEXT_VIEW:
		c->view = (c->view + 1) % TUI_VIEW_COUNT;
		view_entered(c);
		break;
	case TUI_ACT_PREV_VIEW:
		c->view = (c->view + TUI_VIEW_COUNT - 1) % TUI_VIEW_COUNT;
		view_entered(c);
		break;
	case TUI_ACT_UP: move_sel(c, -1, 0); break;
	case TUI_ACT_DOWN: move_sel(c, 1, 0); break;
	case TUI_ACT_PAGE_UP: move_sel(c, -body_rows(), 0); break;
	case TUI_ACT_PAGE_DOWN: move_sel(c, body_rows(), 0); break;
	case TUI_ACT_HOME: move_sel(c, 0, -1); break;
	case TUI_ACT_END: move_sel(c, 0, 1); break;
	case TUI_ACT_BACK:
		if (c->filter.n > 0 && (c->view == TUI_VIEW_LIVE || c->view == TUI_VIEW_DENIALS)) {
			memset(&c->filter, 0, sizeof(c->filter));
			say(c, "filter cleared");
		}
		break;
	case TUI_ACT_REDRAW: c->full = 1; break;
	case TUI_ACT_HELP: open_help(c); break;
	case TUI_ACT_QUIT: quit_prompt(c); break;
	case TUI_ACT_PAUSE: toggle_pause(c); break;
	case TUI_ACT_FILTER:
		c->prompt = 1;
		snprintf(c->input, sizeof(c->input), "%s", c->filter.source);
		c->input_len = strlen(c->input);
		break;
	case TUI_ACT_DETAILS: {
		int w = c->view == TUI_VIEW_LIVE ? 0 : 1;
		const struct dpp_event *ev;

		if (c->view == TUI_VIEW_AUDIT) {
			if (c->sel[TUI_VIEW_AUDIT] < c->n_apage)
				open_details(c, &c->apage[c->sel[TUI_VIEW_AUDIT]]);
			break;
		}
		if (filtered(c, w) == 0)
			break;
		if (!c->ls[w].paused) {
			/* Details of the newest line: pause so it stays put. */
			c->ls[w].sel = list_seq(c, filtered(c, w) - 1);
			c->ls[w].paused = 1;
			c->ls[w].paused_at = view_ring(c, w)->total;
		}
		ev = event_at(c, w, c->ls[w].sel);
		if (ev != NULL)
			open_details(c, ev);
		break;
	}
	case TUI_ACT_TOGGLE_DRY_RUN: case TUI_ACT_PRIO_UP: case TUI_ACT_PRIO_DOWN:
	case TUI_ACT_DELETE_RULE:
		rule_change(c, k->action);
		break;
	case TUI_ACT_EDIT_RULE: case TUI_ACT_NEW_RULE: case TUI_ACT_EDIT_CONFIG:
		edit_flow(c, k->action);
		break;
	case TUI_ACT_UNDO: undo_flow(c); break;
	case TUI_ACT_SHOW_VERSION: case TUI_ACT_DIFF_VERSION: case TUI_ACT_ROLLBACK:
		history_action(c, k->action);
		break;
	case TUI_ACT_NONE: case TUI_ACT_COUNT: break;
	}
}

/* ---- signals and the terminal ------------------------------------------------------ */

static const char *stop_what(const struct dpp_console *c)
{
	return c->be != NULL && c->be->remote ? "detaching (the daemon keeps running)"
					      : "stopping the proxy";
}

/* 1 when the console's terminal went away: a hangup shows as POLLHUP or an
 * error on stdin, and tcgetattr fails on a hung-up tty. */
static int tty_gone(int wait_ms)
{
	struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
	struct termios t;
	int64_t end = mono_ms() + wait_ms;

	do {
		int n = poll(&p, 1, wait_ms > 0 ? 50 : 0);

		if (n > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0)
			return 1;
		if (tcgetattr(STDIN_FILENO, &t) != 0)
			return 1;
	} while (mono_ms() < end);
	return 0;
}

static void handle_signal(struct dpp_console *c)
{
	struct signalfd_siginfo si;

	while (read(c->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGWINCH) {
			struct winsize ws;

			if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
				resizeterm(ws.ws_row, ws.ws_col);
			c->full = 1;
			c->dirty = 1;
		} else if (si.ssi_signo == SIGHUP) {
			/* Ours or an operator's? A dropped SSH session or a
			 * killed tmux hangs the terminal up; a kill -HUP leaves
			 * it there. Give the kernel a moment to mark it. */
			if (tty_gone(300)) {
				dpp_log_warn("SIGHUP: the console's terminal hung up; %s", stop_what(c));
				c->exit = DPP_CONSOLE_HANGUP;
				c->done = 1;
			} else {
				char *errors = NULL;

				dpp_log_info("SIGHUP: reloading the configuration (the terminal is still there)");
				if (c->be->ops->reload(c->be, &errors) != 0)
					say(c, "SIGHUP reload refused (see the Log view)");
				else
					say(c, "SIGHUP: configuration reloaded");
				free(errors);
				refresh_snapshot(c);
			}
		} else {
			dpp_log_info("%s: %s", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT", stop_what(c));
			c->exit = DPP_CONSOLE_SIGNAL;
			c->done = 1;
		}
	}
}

static void setup_colors(struct dpp_console *c)
{
	const char *nc = getenv("NO_COLOR");

	c->color = has_colors() && (nc == NULL || nc[0] == '\0');
	if (!c->color)
		return;
	start_color();
	use_default_colors();
	init_pair(P_ALLOW, COLOR_GREEN, -1);
	init_pair(P_DENY, COLOR_RED, -1);
	init_pair(P_DRY, COLOR_YELLOW, -1);
	init_pair(P_LIMIT, COLOR_MAGENTA, -1);
	init_pair(P_HEAD, COLOR_CYAN, -1);
	init_pair(P_ERROR, COLOR_RED, -1);
}

/* ---- public ---------------------------------------------------------------------- */

struct dpp_console *dpp_console_create(const struct dpp_console_options *o)
{
	struct dpp_console *c = calloc(1, sizeof(*c));
	size_t h = o->history > 0 ? o->history : 10000;

	if (c == NULL)
		return NULL;
	c->o = *o;
	c->o.history = h;
	c->sigfd = -1;
	c->log_follow = 1;
	if (tui_ring_init(&c->live, h) != 0 || tui_ring_init(&c->denials, h) != 0 ||
	    tui_log_init(&c->log, LOG_LINES) != 0) {
		dpp_console_free(c);
		return NULL;
	}
	c->idx = calloc(h, sizeof(*c->idx));
	c->idx_cap = h;
	c->versions = calloc(VERSIONS_MAX, sizeof(*c->versions));
	c->apage = calloc(APAGE_MAX, sizeof(*c->apage));
	c->aids = calloc(APAGE_MAX, sizeof(*c->aids));
	c->acursor[0] = INT64_MAX;
	if (c->idx == NULL || c->versions == NULL || c->apage == NULL || c->aids == NULL) {
		dpp_console_free(c);
		return NULL;
	}
	dpp_control_author(c->author, sizeof(c->author));
	return c;
}

void dpp_console_free(struct dpp_console *c)
{
	if (c == NULL)
		return;
	tui_ring_done(&c->live);
	tui_ring_done(&c->denials);
	tui_log_done(&c->log);
	free(c->idx);
	free(c->versions);
	free(c->apage);
	free(c->aids);
	tui_store_close(c->store);
	free(c->store_path);
	pager_clear(&c->pg);
	pending_clear(&c->pend);
	for (size_t i = 0; i < c->n_undo; i++)
		free(c->undo[i]);
	dpp_control_snapshot_free(c->snap);
	if (c->tmpdir[0] != '\0')
		rmdir(c->tmpdir);
	free(c);
}

void dpp_console_set_store(struct dpp_console *c, const char *path)
{
	free(c->store_path);
	c->store_path = path != NULL ? strdup(path) : NULL;
}

void dpp_console_log_sink(void *arg, enum dpp_log_level level, const char *line)
{
	struct dpp_console *c = arg;

	tui_log_push(&c->log, (int)level, line);
}

static void remote_log_sink(void *arg, enum dpp_log_level level, const char *line)
{
	struct dpp_console *c = arg;

	tui_log_push(&c->log, (int)level, line);
}

enum dpp_console_exit dpp_console_run(struct dpp_console *c, struct dpp_control *ctl,
				      const sigset_t *sigs)
{
	struct tui_backend *be = tui_backend_local(ctl);
	enum dpp_console_exit why;

	if (be == NULL)
		return DPP_CONSOLE_FAILED;
	why = dpp_console_run_backend(c, be, sigs);
	be->ops->destroy(be);
	return why;
}

enum dpp_console_exit dpp_console_run_backend(struct dpp_console *c, struct tui_backend *be,
					      const sigset_t *sigs)
{
	sigset_t mask = *sigs;
	const char *err = NULL;
	SCREEN *scr;
	int64_t now;

	c->be = be;
	if (be->remote) {
		be->log_sink = remote_log_sink;
		be->log_arg = c;
	}
	c->exit = DPP_CONSOLE_FAILED;
	sigaddset(&mask, SIGWINCH);
	if (pthread_sigmask(SIG_BLOCK, &mask, NULL) != 0)
		return DPP_CONSOLE_FAILED;
	c->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (c->sigfd < 0)
		return DPP_CONSOLE_FAILED;
	if (be->ops->subscribe(be, BUS_CAPACITY, &err) != 0) {
		dpp_log_error("console: cannot subscribe to events: %s", err != NULL ? err : "error");
		close(c->sigfd);
		return DPP_CONSOLE_FAILED;
	}
	setlocale(LC_ALL, "");
	c->utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
	saved_tio_ok = tcgetattr(STDIN_FILENO, &saved_tio) == 0;
	scr = newterm(NULL, stdout, stdin);
	if (scr == NULL) {
		dpp_log_error("console: cannot initialise the terminal (TERM=%s)",
			      getenv("TERM") != NULL ? getenv("TERM") : "");
		be->ops->unsubscribe(be);
		close(c->sigfd);
		return DPP_CONSOLE_FAILED;
	}
	restore_len = 0;
	add_restore("sgr0");
	add_restore("cnorm");
	add_restore("rmcup");
	install_fatal_handlers();
	raw();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	mousemask(0, NULL);
	curs_set(0);
	setup_colors(c);
	refresh_snapshot(c);
	if (store_get(c) == NULL && c->store_path != NULL)
		dpp_log_warn("console: the store %s: %s; Audit and History retry when opened",
			     c->store_path, c->store_err != NULL ? c->store_err : "unavailable");
	c->dirty = 1;
	c->last_tick = mono_ms();
	c->feed_ms = FEED_MS;
	dpp_log_info("console: started (%s%s); logs go to %s and the Log view",
		     c->color ? "colour" : "no colour", c->o.read_only ? ", read-only" : "",
		     c->o.log_path != NULL ? c->o.log_path : "the Log view only");

	while (!c->done) {
		struct pollfd p[4];
		int timeout, nfd = 2, feed;

		now = mono_ms();
		feed = now - c->last_feed >= c->feed_ms;
		timeout = (int)(c->last_tick + TICK_MS - now);
		if (c->dirty) {
			int t = (int)(c->last_draw + DRAW_MS - now);

			timeout = t < timeout ? t : timeout;
		}
		if (!feed) {
			int t = (int)(c->last_feed + c->feed_ms - now);

			timeout = t < timeout ? t : timeout;
		}
		if (timeout < 0)
			timeout = 0;
		p[0] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
		p[1] = (struct pollfd){.fd = c->sigfd, .events = POLLIN};
		if (feed) {
			int bfd = be->ops->fd(be);

			/* Gone: poll a descriptor that never wakes. */
			p[nfd++] = (struct pollfd){.fd = bfd, .events = POLLIN};
			if (c->log.wake_fd >= 0)
				p[nfd++] = (struct pollfd){.fd = c->log.wake_fd, .events = POLLIN};
		}
		if (poll(p, (nfds_t)nfd, timeout) < 0 && errno != EINTR)
			break;
		if (p[1].revents & POLLIN)
			handle_signal(c);
		if (c->done)
			break;
		if (p[0].revents & (POLLHUP | POLLERR | POLLNVAL)) {
			dpp_log_warn("console: the terminal hung up; %s", stop_what(c));
			c->exit = DPP_CONSOLE_HANGUP;
			break;
		}
		if (p[0].revents & POLLIN) {
			int ch, got = 0;

			while (!c->done && (ch = getch()) != ERR) {
				handle_key(c, ch);
				got = 1;
			}
			if (!got && tty_gone(0)) {
				dpp_log_warn("console: the terminal hung up; %s", stop_what(c));
				c->exit = DPP_CONSOLE_HANGUP;
				break;
			}
		}
		now = mono_ms();
		if (feed && nfd > 2) {
			drain_bus(c);
			drain_log(c);
			c->last_feed = now;
		}
		if (peer_gone(c) != c->was_gone) {
			c->was_gone = !c->was_gone;
			if (c->was_gone)
				dpp_log_warn("console: the daemon (PID %ld) stopped", c->be->pid);
			c->dirty = 1;
		}
		if (now - c->last_tick >= TICK_MS) {
			c->last_tick = now;
			refresh_snapshot(c);
			if (c->view == TUI_VIEW_AUDIT && c->adepth == 0 && !c->pg.active)
				load_audit(c);
			else if (c->view == TUI_VIEW_HISTORY && !c->pg.active)
				load_history(c);
		}
		if (!c->done && c->dirty && now - c->last_draw >= DRAW_MS)
			draw(c);
	}
	if (c->exit != DPP_CONSOLE_HANGUP) {
		erase();
		refresh();
	}
	endwin();
	delscreen(scr);
	remove_fatal_handlers();
	if (saved_tio_ok && c->exit != DPP_CONSOLE_HANGUP)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
	be->ops->unsubscribe(be);
	if (c->snap != NULL)
		be->ops->snapshot_free(be, c->snap);
	c->snap = NULL;
	c->be = NULL;
	close(c->sigfd);
	c->sigfd = -1;
	return c->exit;
}
