/* View models of the console (model.h): pure, no terminal. curses.h is
 * included for the KEY_* numbers only. */
#include "model.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <curses.h>

#define KCTRL(c) ((c) & 0x1f)

static const char *const view_names[TUI_VIEW_COUNT] = {
	"Live", "Denials", "Rules", "Limits", "Audit", "History", "Log",
};

const char *tui_view_name(enum tui_view v)
{
	return (unsigned)v < TUI_VIEW_COUNT ? view_names[v] : "?";
}

#define ALL TUI_ALL_VIEWS
#define EVT TUI_EVENT_VIEWS
#define RUL TUI_IN(TUI_VIEW_RULES)
#define HIS TUI_IN(TUI_VIEW_HISTORY)
#define AUD TUI_IN(TUI_VIEW_AUDIT)
#define LISTS (ALL)

/* The key table. Order matters twice: lookup takes the first match, and
 * help lists keys in this order. */
static const struct tui_key keys[] = {
	{'1', "1", ALL, TUI_ACT_VIEW_1, 0, 0, "Live: every finished request"},
	{'2', "2", ALL, TUI_ACT_VIEW_2, 0, 0, "Denials: deny, dry run, limits, auth, errors"},
	{'3', "3", ALL, TUI_ACT_VIEW_3, 0, 0, "Rules: effective rules with hit counts"},
	{'4', "4", ALL, TUI_ACT_VIEW_4, 0, 0, "Limits: rate-limit buckets and lockouts"},
	{'5', "5", ALL, TUI_ACT_VIEW_5, 0, 0, "Audit: the store's audit events"},
	{'6', "6", ALL, TUI_ACT_VIEW_6, 0, 0, "History: config versions"},
	{'7', "7", ALL, TUI_ACT_VIEW_7, 0, 0, "Log: the proxy's own log"},
	{'\t', "Tab", ALL, TUI_ACT_NEXT_VIEW, 0, 0, "next view"},
	{KEY_BTAB, "S-Tab", ALL, TUI_ACT_PREV_VIEW, 0, 0, "previous view"},
	{KEY_UP, "Up", LISTS, TUI_ACT_UP, 0, 0, "move up"},
	{'k', "k", LISTS, TUI_ACT_UP, 0, 0, "move up"},
	{KEY_DOWN, "Down", LISTS, TUI_ACT_DOWN, 0, 0, "move down"},
	{'j', "j", LISTS, TUI_ACT_DOWN, 0, 0, "move down"},
	{KEY_PPAGE, "PgUp", LISTS, TUI_ACT_PAGE_UP, 0, 0, "page up"},
	{KCTRL('b'), "C-b", LISTS, TUI_ACT_PAGE_UP, 0, 0, "page up"},
	{KEY_NPAGE, "PgDn", LISTS, TUI_ACT_PAGE_DOWN, 0, 0, "page down"},
	{KCTRL('f'), "C-f", LISTS, TUI_ACT_PAGE_DOWN, 0, 0, "page down"},
	{KEY_HOME, "Home", LISTS, TUI_ACT_HOME, 0, 0, "first line"},
	{'g', "g", LISTS, TUI_ACT_HOME, 0, 0, "first line"},
	{KEY_END, "End", LISTS, TUI_ACT_END, 0, 0, "last line (Live: follow the tail again)"},
	{'G', "G", LISTS, TUI_ACT_END, 0, 0, "last line (Live: follow the tail again)"},
	{'Z', "Z", EVT, TUI_ACT_PAUSE, 0, 1, "pause / resume (new lines are counted)"},
	{' ', "Space", EVT, TUI_ACT_PAUSE, 0, 0, "pause / resume"},
	{'/', "/", EVT | AUD, TUI_ACT_FILTER, 0, 1, "filter: text rule:N ip:CIDR status:4xx method:M id:I"},
	{KEY_F(4), "F4", EVT | AUD, TUI_ACT_FILTER, 0, 0, "filter"},
	{'\n', "Enter", EVT | AUD, TUI_ACT_DETAILS, 0, 1, "details: headers, query, body, rules evaluated"},
	{'\r', "Enter", EVT | AUD, TUI_ACT_DETAILS, 0, 0, NULL},
	{KEY_ENTER, "Enter", EVT | AUD, TUI_ACT_DETAILS, 0, 0, NULL},
	{'t', "t", RUL, TUI_ACT_TOGGLE_DRY_RUN, 1, 1, "toggle dry-run of the selected rule"},
	{'+', "+", RUL, TUI_ACT_PRIO_UP, 1, 1, "raise its priority by 1 (evaluated earlier)"},
	{'-', "-", RUL, TUI_ACT_PRIO_DOWN, 1, 1, "lower its priority by 1"},
	{'e', "e", RUL, TUI_ACT_EDIT_RULE, 1, 1, "edit the rule as YAML in $VISUAL / $EDITOR"},
	{'n', "n", RUL, TUI_ACT_NEW_RULE, 1, 1, "add a rule (from a commented template)"},
	{'D', "D", RUL, TUI_ACT_DELETE_RULE, 1, 1, "delete the selected rule"},
	{'E', "E", ALL, TUI_ACT_EDIT_CONFIG, 1, 0, "edit the whole config file"},
	{'u', "u", ALL, TUI_ACT_UNDO, 1, 0, "undo the last applied change"},
	{'\n', "Enter", HIS, TUI_ACT_SHOW_VERSION, 0, 1, "show the selected version"},
	{'d', "d", HIS, TUI_ACT_DIFF_VERSION, 0, 1, "diff it against the live version"},
	{'r', "r", HIS, TUI_ACT_ROLLBACK, 1, 1, "roll back to it (validate, diff, confirm)"},
	{27, "Esc", ALL, TUI_ACT_BACK, 0, 0, "back (close details, help, filter)"},
	{KCTRL('l'), "C-l", ALL, TUI_ACT_REDRAW, 0, 0, "redraw the screen"},
	{'?', "?", ALL, TUI_ACT_HELP, 0, 1, "help (this screen)"},
	{KEY_F(1), "F1", ALL, TUI_ACT_HELP, 0, 0, "help"},
	{'q', "q", ALL, TUI_ACT_QUIT, 0, 1, "stop the proxy and quit (asks first)"},
	{KEY_F(10), "F10", ALL, TUI_ACT_QUIT, 0, 0, "stop the proxy and quit (asks first)"},
};

#undef ALL
#undef EVT
#undef RUL
#undef HIS
#undef AUD
#undef LISTS

const struct tui_key *tui_keys(size_t *n)
{
	*n = sizeof(keys) / sizeof(keys[0]);
	return keys;
}

const struct tui_key *tui_key_lookup(int key, enum tui_view v)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (keys[i].key == key && (keys[i].views & TUI_IN(v)) != 0)
			return &keys[i];
	}
	return NULL;
}

static const char *const action_names[TUI_ACT_COUNT] = {
	[TUI_ACT_NONE] = "none",
	[TUI_ACT_VIEW_1] = "view_live", [TUI_ACT_VIEW_2] = "view_denials",
	[TUI_ACT_VIEW_3] = "view_rules", [TUI_ACT_VIEW_4] = "view_limits",
	[TUI_ACT_VIEW_5] = "view_audit", [TUI_ACT_VIEW_6] = "view_history",
	[TUI_ACT_VIEW_7] = "view_log",
	[TUI_ACT_NEXT_VIEW] = "next_view", [TUI_ACT_PREV_VIEW] = "prev_view",
	[TUI_ACT_UP] = "up", [TUI_ACT_DOWN] = "down", [TUI_ACT_PAGE_UP] = "page_up",
	[TUI_ACT_PAGE_DOWN] = "page_down", [TUI_ACT_HOME] = "home", [TUI_ACT_END] = "end",
	[TUI_ACT_BACK] = "back", [TUI_ACT_REDRAW] = "redraw", [TUI_ACT_HELP] = "help",
	[TUI_ACT_QUIT] = "quit", [TUI_ACT_PAUSE] = "pause", [TUI_ACT_FILTER] = "filter",
	[TUI_ACT_DETAILS] = "details", [TUI_ACT_TOGGLE_DRY_RUN] = "toggle_dry_run",
	[TUI_ACT_PRIO_UP] = "priority_up", [TUI_ACT_PRIO_DOWN] = "priority_down",
	[TUI_ACT_EDIT_RULE] = "edit_rule", [TUI_ACT_NEW_RULE] = "new_rule",
	[TUI_ACT_DELETE_RULE] = "delete_rule", [TUI_ACT_EDIT_CONFIG] = "edit_config",
	[TUI_ACT_UNDO] = "undo", [TUI_ACT_SHOW_VERSION] = "show_version",
	[TUI_ACT_DIFF_VERSION] = "diff_version", [TUI_ACT_ROLLBACK] = "rollback",
};

const char *tui_action_hint(enum tui_action a)
{
	switch (a) {
	case TUI_ACT_PAUSE: return "pause";
	case TUI_ACT_FILTER: return "filter";
	case TUI_ACT_DETAILS: return "details";
	case TUI_ACT_TOGGLE_DRY_RUN: return "dry-run";
	case TUI_ACT_PRIO_UP: return "prio+";
	case TUI_ACT_PRIO_DOWN: return "prio-";
	case TUI_ACT_EDIT_RULE: return "edit";
	case TUI_ACT_NEW_RULE: return "new";
	case TUI_ACT_DELETE_RULE: return "delete";
	case TUI_ACT_EDIT_CONFIG: return "edit-file";
	case TUI_ACT_UNDO: return "undo";
	case TUI_ACT_SHOW_VERSION: return "show";
	case TUI_ACT_DIFF_VERSION: return "diff";
	case TUI_ACT_ROLLBACK: return "rollback";
	case TUI_ACT_HELP: return "help";
	case TUI_ACT_QUIT: return "quit";
	default: return tui_action_name(a);
	}
}

const char *tui_action_name(enum tui_action a)
{
	return (unsigned)a < TUI_ACT_COUNT && action_names[a] != NULL ? action_names[a] : "?";
}

/* ---- filter ------------------------------------------------------------------ */

static int parse_status(const char *v, struct tui_term *t)
{
	size_t n = strlen(v);

	if (n != 3 || v[0] < '1' || v[0] > '5')
		return -1;
	if ((v[1] == 'x' || v[1] == 'X') && (v[2] == 'x' || v[2] == 'X')) {
		t->status_lo = (v[0] - '0') * 100;
		t->status_hi = t->status_lo + 99;
		return 0;
	}
	if (!isdigit((unsigned char)v[1]) || !isdigit((unsigned char)v[2]))
		return -1;
	t->status_lo = t->status_hi = atoi(v);
	return 0;
}

/* "30s", "15m", "2h", "7d": a positive count and one unit. */
static int parse_age(const char *v, int64_t *ms)
{
	char *end = NULL;
	long long n = strtoll(v, &end, 10);
	int64_t unit;

	if (end == v || n <= 0 || end[0] == '\0' || end[1] != '\0')
		return -1;
	switch (end[0]) {
	case 's': unit = 1000; break;
	case 'm': unit = 60000; break;
	case 'h': unit = 3600000; break;
	case 'd': unit = 86400000; break;
	default: return -1;
	}
	if (n > 36500LL * 86400000 / unit)
		return -1;
	*ms = (int64_t)n * unit;
	return 0;
}

static int64_t wall_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tui_filter_parse(const char *s, struct tui_filter *f, const char **err)
{
	char buf[256];
	char *save = NULL, *tok;

	memset(f, 0, sizeof(*f));
	*err = NULL;
	if (s == NULL)
		return 0;
	if (strlen(s) >= sizeof(buf)) {
		*err = "filter too long (255 bytes at most)";
		return -1;
	}
	snprintf(f->source, sizeof(f->source), "%s", s);
	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, " \t", &save); tok != NULL; tok = strtok_r(NULL, " \t", &save)) {
		struct tui_term *t;
		const char *colon = strchr(tok, ':');
		const char *v = colon != NULL ? colon + 1 : tok;
		size_t kl = colon != NULL ? (size_t)(colon - tok) : 0;

		if (f->n >= TUI_FILTER_TERMS) {
			*err = "too many filter terms (16 at most)";
			goto fail;
		}
		t = &f->t[f->n];
		if (colon != NULL && kl == 4 && strncmp(tok, "rule", 4) == 0)
			t->kind = TUI_TERM_RULE;
		else if (colon != NULL && kl == 2 && strncmp(tok, "ip", 2) == 0)
			t->kind = TUI_TERM_IP;
		else if (colon != NULL && kl == 6 && strncmp(tok, "status", 6) == 0)
			t->kind = TUI_TERM_STATUS;
		else if (colon != NULL && kl == 6 && strncmp(tok, "method", 6) == 0)
			t->kind = TUI_TERM_METHOD;
		else if (colon != NULL && kl == 2 && strncmp(tok, "id", 2) == 0)
			t->kind = TUI_TERM_ID;
		else if (colon != NULL && kl == 5 && strncmp(tok, "since", 5) == 0)
			t->kind = TUI_TERM_SINCE;
		else if (colon != NULL && kl == 5 && strncmp(tok, "until", 5) == 0)
			t->kind = TUI_TERM_UNTIL;
		else {
			t->kind = TUI_TERM_TEXT;
			v = tok; /* "a:b" that is no known key is text (paths, IPv6) */
		}
		if (*v == '\0') {
			*err = "empty value after ':' (e.g. rule:NAME)";
			goto fail;
		}
		if (strlen(v) >= sizeof(t->text)) {
			*err = "filter term too long (127 bytes at most)";
			goto fail;
		}
		snprintf(t->text, sizeof(t->text), "%s", v);
		if (t->kind == TUI_TERM_IP && dpp_cidr_parse(v, &t->cidr) != 0) {
			*err = "ip: needs an address or CIDR (10.0.0.0/8, ::1)";
			goto fail;
		}
		if ((t->kind == TUI_TERM_SINCE || t->kind == TUI_TERM_UNTIL) &&
		    parse_age(v, &t->age_ms) != 0) {
			*err = "since:/until: need an age such as 30s, 15m, 2h, 7d";
			goto fail;
		}
		if (t->kind == TUI_TERM_STATUS && parse_status(v, t) != 0) {
			*err = "status: needs a code (404) or a class (4xx)";
			goto fail;
		}
		f->n++;
	}
	return 0;
fail:
	memset(f, 0, sizeof(*f));
	return -1;
}

static int has_ci(const char *hay, const char *needle)
{
	return strcasestr(hay, needle) != NULL;
}

static int term_match(const struct tui_term *t, const struct dpp_event *ev)
{
	char status[16];

	switch (t->kind) {
	case TUI_TERM_RULE:
		return strcmp(ev->rule_name, t->text) == 0;
	case TUI_TERM_IP:
		return dpp_cidr_match(&t->cidr, ev->client_ip);
	case TUI_TERM_STATUS:
		return ev->status >= t->status_lo && ev->status <= t->status_hi;
	case TUI_TERM_METHOD:
		return strcasecmp(ev->method, t->text) == 0;
	case TUI_TERM_ID:
		return has_ci(ev->identity, t->text) || has_ci(ev->user_role, t->text);
	case TUI_TERM_SINCE:
		return ev->time_ms >= wall_now_ms() - t->age_ms;
	case TUI_TERM_UNTIL:
		return ev->time_ms <= wall_now_ms() - t->age_ms;
	case TUI_TERM_TEXT:
		snprintf(status, sizeof(status), "%d", ev->status);
		return has_ci(ev->path, t->text) || has_ci(ev->method, t->text) ||
		       has_ci(ev->client_ip, t->text) || has_ci(ev->identity, t->text) ||
		       has_ci(ev->user_role, t->text) || has_ci(ev->rule_name, t->text) ||
		       has_ci(ev->message, t->text) || has_ci(ev->query, t->text) ||
		       has_ci(tui_decision(ev), t->text) || strcmp(status, t->text) == 0;
	}
	return 0;
}

int tui_filter_match(const struct tui_filter *f, const struct dpp_event *ev)
{
	for (size_t i = 0; i < f->n; i++) {
		if (!term_match(&f->t[i], ev))
			return 0;
	}
	return 1;
}

/* ---- layout ----------------------------------------------------------------- */

static const char *const col_titles[TUI_COL_COUNT] = {
	"TIME", "CLIENT", "IDENTITY/ROLE", "METHOD", "PATH", "ST", "DECIS", "RULE", "LAT",
	"BYTES",
};

const char *tui_col_title(enum tui_col c)
{
	return (unsigned)c < TUI_COL_COUNT ? col_titles[c] : "?";
}

#define PATH_FIRST 18

void tui_layout_events(int cols, struct tui_layout *out)
{
	static const int min[TUI_COL_COUNT] = {8, 9, 0, 6, 12, 3, 5, 8, 5, 5};
	static const int max[TUI_COL_COUNT] = {8, 15, 28, 7, 0, 3, 5, 24, 6, 6};
	/* Who gets spare room first (after the path's first share). */
	static const enum tui_col grow[] = {TUI_COL_RULE, TUI_COL_CLIENT, TUI_COL_IDENTITY,
					    TUI_COL_LATENCY, TUI_COL_BYTES, TUI_COL_METHOD};
	int used = 0, shown = 0, spare, x = 0;

	if (cols < 40)
		cols = 40;
	memset(out, 0, sizeof(*out));
	for (int c = 0; c < TUI_COL_COUNT; c++) {
		out->width[c] = min[c];
		if (c == TUI_COL_IDENTITY && cols >= 100)
			out->width[c] = 16;
	}
	if (cols < 72) {
		out->width[TUI_COL_BYTES] = 0;
		out->width[TUI_COL_LATENCY] = 0;
	}
	if (cols < 60)
		out->width[TUI_COL_TIME] = 0;
	for (int c = 0; c < TUI_COL_COUNT; c++) {
		if (out->width[c] > 0) {
			used += out->width[c];
			shown++;
		}
	}
	spare = cols - used - (shown - 1);
	if (spare < 0) {
		/* Only below the minimum sum: path, rule, client give way. */
		static const int shrink[][2] = {{TUI_COL_PATH, 4}, {TUI_COL_RULE, 4}, {TUI_COL_CLIENT, 7}};

		for (size_t k = 0; k < 3 && spare < 0; k++) {
			int c = shrink[k][0], give = out->width[c] - shrink[k][1];

			if (give > -spare)
				give = -spare;
			if (give > 0) {
				out->width[c] -= give;
				spare += give;
			}
		}
		spare = 0;
	}
	/* The path first takes up to PATH_FIRST columns, then the others
	 * their maximum, then the path everything left. */
	{
		int give = spare < PATH_FIRST - out->width[TUI_COL_PATH]
				   ? spare
				   : PATH_FIRST - out->width[TUI_COL_PATH];

		if (give > 0) {
			out->width[TUI_COL_PATH] += give;
			spare -= give;
		}
	}
	for (size_t g = 0; g < sizeof(grow) / sizeof(grow[0]) && spare > 0; g++) {
		int c = grow[g], room;

		if (out->width[c] == 0)
			continue;
		room = max[c] - out->width[c];
		if (room > spare)
			room = spare;
		if (room > 0) {
			out->width[c] += room;
			spare -= room;
		}
	}
	out->width[TUI_COL_PATH] += spare;
	for (int c = 0; c < TUI_COL_COUNT; c++) {
		if (out->width[c] == 0)
			continue;
		out->x[c] = x;
		x += out->width[c] + 1;
	}
}

/* ---- cells ------------------------------------------------------------------ */

const char *tui_decision(const struct dpp_event *ev)
{
	switch (ev->kind) {
	case DPP_EVENT_REQUEST: return "ALLOW";
	case DPP_EVENT_DENY: return "DENY";
	case DPP_EVENT_DRY_RUN: return "DRY";
	case DPP_EVENT_RATE_LIMITED: return "LIMIT";
	case DPP_EVENT_AUTH_FAILURE: return "AUTH";
	case DPP_EVENT_LOCKOUT: return "LOCK";
	case DPP_EVENT_ERROR: return "ERROR";
	case DPP_EVENT_STREAM_OPEN: return "OPEN";
	case DPP_EVENT_STREAM_CLOSE: return "CLOSE";
	}
	return "?";
}

int tui_is_denial(const struct dpp_event *ev)
{
	switch (ev->kind) {
	case DPP_EVENT_DENY:
	case DPP_EVENT_DRY_RUN:
	case DPP_EVENT_RATE_LIMITED:
	case DPP_EVENT_AUTH_FAILURE:
	case DPP_EVENT_LOCKOUT:
	case DPP_EVENT_ERROR:
		return 1;
	default:
		return 0;
	}
}

void tui_fmt_ms(uint64_t ms, char *buf, size_t len)
{
	if (ms < 1000)
		snprintf(buf, len, "%llums", (unsigned long long)ms);
	else if (ms < 60000)
		snprintf(buf, len, "%llu.%llus", (unsigned long long)(ms / 1000),
			 (unsigned long long)(ms % 1000 / 100));
	else if (ms < 3600000)
		snprintf(buf, len, "%llum%02llus", (unsigned long long)(ms / 60000),
			 (unsigned long long)(ms % 60000 / 1000));
	else
		snprintf(buf, len, "%lluh%02llum", (unsigned long long)(ms / 3600000),
			 (unsigned long long)(ms % 3600000 / 60000));
}

void tui_fmt_bytes(uint64_t n, char *buf, size_t len)
{
	if (n < 1024)
		snprintf(buf, len, "%llu", (unsigned long long)n);
	else if (n < 10 * 1024)
		snprintf(buf, len, "%.1fK", (double)n / 1024.0);
	else if (n < 1024 * 1024)
		snprintf(buf, len, "%lluK", (unsigned long long)(n / 1024));
	else if (n < 10ull * 1024 * 1024)
		snprintf(buf, len, "%.1fM", (double)n / (1024.0 * 1024.0));
	else if (n < 1024ull * 1024 * 1024)
		snprintf(buf, len, "%lluM", (unsigned long long)(n >> 20));
	else
		snprintf(buf, len, "%lluG", (unsigned long long)(n >> 30));
}

size_t tui_fit(const char *s, int width, int pad, char *buf, size_t len)
{
	size_t o = 0;
	int cells = 0;

	if (len == 0)
		return 0;
	for (const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
	     *p != '\0' && cells < width;) {
		size_t n = 1;

		if (*p >= 0xc0 && *p < 0xe0)
			n = 2;
		else if (*p >= 0xe0 && *p < 0xf0)
			n = 3;
		else if (*p >= 0xf0 && *p < 0xf8)
			n = 4;
		for (size_t k = 1; k < n; k++) {
			if ((p[k] & 0xc0) != 0x80) {
				n = 0; /* broken sequence */
				break;
			}
		}
		if (n == 0 || *p < 0x20 || *p == 0x7f || (*p >= 0x80 && *p < 0xc0) || *p >= 0xf8) {
			if (o + 1 >= len)
				break;
			buf[o++] = '?';
			p++;
		} else {
			if (o + n >= len)
				break;
			memcpy(buf + o, p, n);
			o += n;
			p += n;
		}
		cells++;
	}
	while (pad && cells < width && o + 1 < len) {
		buf[o++] = ' ';
		cells++;
	}
	buf[o] = '\0';
	return o;
}

/* ---- rings ---------------------------------------------------------------------- */

int tui_ring_init(struct tui_ring *r, size_t cap)
{
	memset(r, 0, sizeof(*r));
	r->ev = calloc(cap > 0 ? cap : 1, sizeof(*r->ev));
	if (r->ev == NULL)
		return -1;
	r->cap = cap > 0 ? cap : 1;
	return 0;
}

void tui_ring_done(struct tui_ring *r)
{
	free(r->ev);
	memset(r, 0, sizeof(*r));
}

struct dpp_event *tui_ring_next(struct tui_ring *r)
{
	return &r->ev[r->n < r->cap ? (r->head + r->n) % r->cap : r->head];
}

void tui_ring_commit(struct tui_ring *r)
{
	if (r->n < r->cap)
		r->n++;
	else
		r->head = (r->head + 1) % r->cap;
	r->total++;
}

void tui_ring_push(struct tui_ring *r, const struct dpp_event *ev)
{
	*tui_ring_next(r) = *ev;
	tui_ring_commit(r);
}

const struct dpp_event *tui_ring_at(const struct tui_ring *r, size_t i)
{
	return i < r->n ? &r->ev[(r->head + i) % r->cap] : NULL;
}

int tui_log_init(struct tui_log *l, size_t cap)
{
	memset(l, 0, sizeof(*l));
	l->wake_fd = -1;
	if (cap == 0)
		cap = 1;
	l->line = calloc(cap, sizeof(*l->line));
	l->level = calloc(cap, 1);
	if (l->line == NULL || l->level == NULL || pthread_mutex_init(&l->mu, NULL) != 0) {
		free(l->line);
		free(l->level);
		return -1;
	}
	l->cap = cap;
	l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return 0;
}

void tui_log_done(struct tui_log *l)
{
	if (l->line == NULL)
		return;
	pthread_mutex_destroy(&l->mu);
	free(l->line);
	free(l->level);
	if (l->wake_fd >= 0)
		close(l->wake_fd);
	memset(l, 0, sizeof(*l));
	l->wake_fd = -1;
}

void tui_log_push(struct tui_log *l, int level, const char *line)
{
	size_t slot;
	uint64_t one = 1;

	pthread_mutex_lock(&l->mu);
	if (l->n < l->cap) {
		slot = (l->head + l->n) % l->cap;
		l->n++;
	} else {
		slot = l->head;
		l->head = (l->head + 1) % l->cap;
	}
	snprintf(l->line[slot], TUI_LOG_LINE, "%s", line);
	l->level[slot] = (unsigned char)level;
	l->total++;
	pthread_mutex_unlock(&l->mu);
	if (l->wake_fd >= 0 && write(l->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
		/* nothing to do: the console polls on a timer as well */
	}
}

int tui_log_get(struct tui_log *l, size_t i, char *buf, size_t len)
{
	int level = -1;

	pthread_mutex_lock(&l->mu);
	if (i < l->n) {
		size_t slot = (l->head + i) % l->cap;

		snprintf(buf, len, "%s", l->line[slot]);
		level = l->level[slot];
	}
	pthread_mutex_unlock(&l->mu);
	return level;
}

size_t tui_log_count(struct tui_log *l)
{
	size_t n;

	pthread_mutex_lock(&l->mu);
	n = l->n;
	pthread_mutex_unlock(&l->mu);
	return n;
}
