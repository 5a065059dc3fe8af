/* The wizard full screen (ncursesw). One question per screen, drawn from
 * the same struct setup_q the --plain prompts use. 80x24 is enough; colour
 * only when the terminal has it and NO_COLOR is unset (no-color.org).
 * Keys: Enter next, Esc back, arrows move, Space toggles, F10 or Ctrl-C
 * quits (asking first). The terminal is restored on every exit path,
 * SIGTERM and SIGHUP included (they only set a flag). */
#include <curses.h>
#include <locale.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "setup_ui.h"

#define KEY_ESC 27
#define KEY_CTRL(c) ((c) & 0x1f)
#define TOP 2           /* first row of the question text */

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct ui {
	int color;
	int rows, cols;
	int top;            /* first visible option / YAML line */
	int cursor;         /* option under the cursor */
};

/* Draws text from row y (clipped to the screen); returns the next row. */
static int draw_text(int y, int maxy, const char *text, int cols)
{
	const char *p = text;

	while (p != NULL && *p != '\0' && y < maxy) {
		const char *nl = strchr(p, '\n');
		int len = nl != NULL ? (int)(nl - p) : (int)strlen(p);

		int width = cols - 1 > 1 ? cols - 1 : 1;

		/* Long lines wrap (a token must stay whole on screen, not clipped). */
		do {
			int n = len < width ? len : width;

			mvaddnstr(y++, 1, p, n);
			p += n;
			len -= n;
		} while (len > 0 && y < maxy);
		p = nl != NULL ? nl + 1 : NULL;
	}
	return y;
}

static int count_lines(const char *text)
{
	int n = 1;

	for (const char *p = text; *p != '\0'; p++)
		n += *p == '\n';
	return n;
}

/* The line at index i of text (borrowed start and length). */
static const char *line_at(const char *text, int i, int *len)
{
	const char *p = text, *nl;

	while (i-- > 0 && p != NULL) {
		nl = strchr(p, '\n');
		p = nl != NULL ? nl + 1 : NULL;
	}
	if (p == NULL) {
		*len = 0;
		return "";
	}
	nl = strchr(p, '\n');
	*len = nl != NULL ? (int)(nl - p) : (int)strlen(p);
	return p;
}

static void draw_frame(struct ui *u, const struct setup_flow *f, const struct setup_q *q,
		       const char *keys)
{
	erase();
	getmaxyx(stdscr, u->rows, u->cols);
	if (u->color)
		attron(COLOR_PAIR(1));
	attron(A_REVERSE);
	mvhline(0, 0, ' ', u->cols);
	mvprintw(0, 1, "docker-policy-proxy setup | %s", q->title);
	attroff(A_REVERSE);
	if (u->color)
		attroff(COLOR_PAIR(1));
	if (f->error[0] != '\0') {
		if (u->color)
			attron(COLOR_PAIR(2));
		attron(A_BOLD);
		mvaddnstr(u->rows - 2, 1, "! ", 2);
		addnstr(f->error, u->cols - 4);
		attroff(A_BOLD);
		if (u->color)
			attroff(COLOR_PAIR(2));
	}
	attron(A_DIM);
	mvaddnstr(u->rows - 1, 1, keys, u->cols - 2);
	attroff(A_DIM);
}

static void draw_options(struct ui *u, const struct setup_q *q, int y, int multi)
{
	int avail = u->rows - 3 - y - multi;

	if (avail < 1)
		avail = 1;
	if (u->cursor < u->top)
		u->top = u->cursor;
	if (u->cursor >= u->top + avail)
		u->top = u->cursor - avail + 1;
	for (int i = u->top; i < q->nopts && y < u->rows - 3 - multi; i++, y++) {
		char line[256];

		if (multi)
			snprintf(line, sizeof(line), "[%c] %-31s %s", q->on[i] ? 'x' : ' ', q->opts[i],
				 q->opt_help[i] != NULL ? q->opt_help[i] : "");
		else
			snprintf(line, sizeof(line), "%s%s%s", q->opts[i], q->opt_help[i] ? ": " : "",
				 q->opt_help[i] != NULL ? q->opt_help[i] : "");
		if (i == u->cursor)
			attron(A_REVERSE);
		mvaddnstr(y, 2, i == u->cursor ? "> " : "  ", 2);
		addnstr(line, u->cols - 5);
		if (i == u->cursor)
			attroff(A_REVERSE);
	}
	/* The whole explanation of the highlighted entry, which the list clips. */
	if (multi && u->cursor < q->nopts && q->opt_help[u->cursor] != NULL) {
		attron(A_BOLD);
		mvaddnstr(u->rows - 3, 1, q->opt_help[u->cursor], u->cols - 2);
		attroff(A_BOLD);
	}
}

static void draw(struct ui *u, const struct setup_flow *f, struct setup_q *q, int quitting)
{
	const char *keys = "Enter: next   Esc: back   F10: quit";
	int y;

	switch (q->kind) {
	case SETUP_Q_MULTI:
		keys = "Space: select   Enter: next   Esc: back   F10: quit";
		break;
	case SETUP_Q_REVIEW:
		keys = "Enter or s: save   Esc: back   Up/Down/PgUp/PgDn: scroll   F10: quit";
		break;
	case SETUP_Q_INFO:
		keys = "Enter: continue   Esc: back   F10: quit";
		break;
	default:
		break;
	}
	if (quitting)
		keys = "Quit without writing anything? y: quit   any other key: stay";
	draw_frame(u, f, q, keys);
	y = draw_text(TOP, u->rows - 3, q->text, u->cols) + 1;
	switch (q->kind) {
	case SETUP_Q_TEXT:
		mvaddstr(y, 1, "> ");
		attron(A_UNDERLINE);
		addnstr(q->value, u->cols - 5);
		attroff(A_UNDERLINE);
		break;
	case SETUP_Q_CHOICE:
		draw_options(u, q, y, 0);
		break;
	case SETUP_Q_MULTI:
		draw_options(u, q, y, 1);
		break;
	case SETUP_Q_REVIEW: {
		int n = count_lines(q->yaml), len;

		for (int i = u->top; i < n && y < u->rows - 3; i++, y++) {
			const char *l = line_at(q->yaml, i, &len);

			mvaddnstr(y, 2, l, len < u->cols - 3 ? len : u->cols - 3);
		}
		break;
	}
	case SETUP_Q_INFO:
		break;
	}
	refresh();
}

/* One key on the current question. Returns 1 when answered. */
static int handle_key(struct ui *u, struct setup_q *q, int ch)
{
	size_t len = strlen(q->value);
	int page = u->rows > 10 ? u->rows - 8 : 1;

	switch (q->kind) {
	case SETUP_Q_INFO:
		return ch == '\n' || ch == KEY_ENTER || ch == ' ';
	case SETUP_Q_TEXT:
		if (ch == '\n' || ch == KEY_ENTER)
			return 1;
		if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && len > 0)
			q->value[len - 1] = '\0';
		else if (ch == KEY_CTRL('u'))
			q->value[0] = '\0';
		else if (ch >= 32 && ch < 256 && ch != 127 && len + 1 < sizeof(q->value)) {
			q->value[len] = (char)ch;
			q->value[len + 1] = '\0';
		}
		return 0;
	case SETUP_Q_CHOICE:
	case SETUP_Q_MULTI:
		if (ch == KEY_UP && u->cursor > 0)
			u->cursor--;
		else if (ch == KEY_DOWN && u->cursor + 1 < q->nopts)
			u->cursor++;
		else if (ch == KEY_HOME)
			u->cursor = 0;
		else if (ch == KEY_END)
			u->cursor = q->nopts - 1;
		else if (ch == ' ' && q->kind == SETUP_Q_MULTI)
			q->on[u->cursor] = !q->on[u->cursor];
		else if (ch == '\n' || ch == KEY_ENTER) {
			q->choice = u->cursor;
			return 1;
		}
		return 0;
	case SETUP_Q_REVIEW: {
		int n = count_lines(q->yaml);

		if (ch == KEY_UP && u->top > 0)
			u->top--;
		else if (ch == KEY_DOWN && u->top + 1 < n)
			u->top++;
		else if (ch == KEY_NPAGE)
			u->top = u->top + page < n ? u->top + page : n - 1;
		else if (ch == KEY_PPAGE)
			u->top = u->top > page ? u->top - page : 0;
		else if (ch == '\n' || ch == KEY_ENTER || ch == 's') {
			q->choice = 0;
			return 1;
		}
		return 0;
	}
	}
	return 0;
}

int setup_run_curses(struct setup_flow *f)
{
	struct setup_q *q = calloc(1, sizeof(*q));
	struct sigaction sa;
	struct ui u = {0};
	const char *nc = getenv("NO_COLOR");
	int rc = 1, quitting = 0, fresh = 1, step = -1;

	if (q == NULL)
		return 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	setlocale(LC_ALL, "");
	if (initscr() == NULL) {
		free(q);
		return setup_run_plain(f, stdin, stdout);
	}
	raw(); /* Ctrl-C is a key here: it asks before quitting */
	noecho();
	keypad(stdscr, TRUE);
	set_escdelay(25);
	timeout(250);
	curs_set(0);
	if (has_colors() && (nc == NULL || nc[0] == '\0')) {
		start_color();
		use_default_colors();
		init_pair(1, COLOR_WHITE, COLOR_BLUE);
		init_pair(2, COLOR_RED, -1);
		u.color = 1;
	}
	while (!f->finished && !stop_requested) {
		int ch;

		if (fresh) {
			setup_flow_prepare(f, q);
			if (f->step != step) {
				u.top = 0;
				u.cursor = q->kind == SETUP_Q_CHOICE ? q->choice : 0;
				step = f->step;
			}
			fresh = 0;
		}
		draw(&u, f, q, quitting);
		ch = getch();
		if (ch == ERR)
			continue;
		if (quitting) {
			if (ch == 'y' || ch == 'Y')
				break;
			quitting = 0;
			continue;
		}
		if (ch == KEY_F(10) || ch == KEY_CTRL('c')) {
			quitting = 1;
			continue;
		}
		if (ch == KEY_RESIZE || ch == KEY_CTRL('l')) {
			clearok(stdscr, TRUE);
			continue;
		}
		if (ch == KEY_ESC) {
			if (setup_flow_back(f) != 0)
				snprintf(f->error, sizeof(f->error), "this is the first question");
			fresh = 1;
			continue;
		}
		if (handle_key(&u, q, ch)) {
			(void)setup_flow_answer(f, q);
			fresh = 1;
		}
	}
	rc = f->saved ? 0 : 1;
	endwin();
	if (f->saved) {
		/* The tokens were on the done screen only; the file has them. */
		printf("docker-policy-proxy setup: wrote %s\n", f->a.output);
	} else {
		printf("docker-policy-proxy setup: cancelled, nothing written\n");
	}
	explicit_bzero(q, sizeof(*q));
	free(q);
	return rc;
}
