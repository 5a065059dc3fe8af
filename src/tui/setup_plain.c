/* `setup --plain`: the wizard's questions as line prompts, for serial
 * consoles, TERM=dumb and scripts that pipe answers in. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "setup_ui.h"

/* Reads one line without its newline. Returns 0, or -1 at end of input. */
static int read_line(FILE *in, char *buf, size_t len)
{
	size_t n;

	if (fgets(buf, (int)len, in) == NULL)
		return -1;
	n = strlen(buf);
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	else if (n == len - 1) { /* too long: drop the rest of the line */
		int c;

		while ((c = fgetc(in)) != EOF && c != '\n')
			;
	}
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	return 0;
}

static void show_options(FILE *out, const struct setup_q *q, int marks)
{
	for (int i = 0; i < q->nopts; i++) {
		if (marks)
			fprintf(out, "  %2d) [%c] %s", i + 1, q->on[i] ? 'x' : ' ', q->opts[i]);
		else
			fprintf(out, "  %2d) %s", i + 1, q->opts[i]);
		if (q->opt_help[i] != NULL)
			fprintf(out, " - %s", q->opt_help[i]);
		fputc('\n', out);
	}
}

/* "3 5,7" -> on[]; returns -1 on a bad number. */
static int parse_multi(const char *line, struct setup_q *q)
{
	char buf[1024];
	char *save = NULL, *tok;

	memset(q->on, 0, sizeof(q->on));
	if (strcmp(line, ".") == 0)
		return 0;
	snprintf(buf, sizeof(buf), "%s", line);
	for (tok = strtok_r(buf, ", \t", &save); tok != NULL; tok = strtok_r(NULL, ", \t", &save)) {
		char *end = NULL;
		long v = strtol(tok, &end, 10);

		if (end == tok || *end != '\0' || v < 1 || v > q->nopts)
			return -1;
		q->on[v - 1] = 1;
	}
	return 0;
}

static int parse_choice(const char *line, struct setup_q *q)
{
	char *end = NULL;
	long v;

	if (line[0] == '\0')
		return 0;
	v = strtol(line, &end, 10);
	if (end == line || *end != '\0' || v < 1 || v > q->nopts)
		return -1;
	q->choice = (int)v - 1;
	return 0;
}

int setup_run_plain(struct setup_flow *f, FILE *in, FILE *out)
{
	struct setup_q *q = calloc(1, sizeof(*q));
	char line[1024];
	int rc = 1;

	if (q == NULL)
		return 1;
	fprintf(out, "(Enter keeps the [default], '.' is an empty answer, '<' goes back.)\n");
	while (!f->finished) {
		setup_flow_prepare(f, q);
		fprintf(out, "\n== %s ==\n", q->title);
		if (q->kind == SETUP_Q_REVIEW)
			fprintf(out, "%s\n----\n", q->yaml);
		if (q->text[0] != '\0')
			fprintf(out, "%s\n", q->text);
		if (f->error[0] != '\0')
			fprintf(out, "error: %s\n", f->error);
		switch (q->kind) {
		case SETUP_Q_INFO:
			fprintf(out, "Press Enter to continue: ");
			break;
		case SETUP_Q_TEXT:
			fprintf(out, "%s [%s]: ", q->title, q->value);
			break;
		case SETUP_Q_CHOICE:
		case SETUP_Q_REVIEW:
			show_options(out, q, 0);
			fprintf(out, "Choice [%d]: ", q->choice + 1);
			break;
		case SETUP_Q_MULTI: {
			int any = 0;

			show_options(out, q, 1);
			fprintf(out, "Numbers to select, separated by spaces [");
			for (int i = 0; i < q->nopts; i++)
				if (q->on[i])
					fprintf(out, "%s%d", any++ ? " " : "", i + 1);
			fprintf(out, "%s]: ", any ? "" : "none");
			break;
		}
		}
		fflush(out);
		if (read_line(in, line, sizeof(line)) != 0) {
			fprintf(out, "\nend of input: cancelled, nothing written\n");
			goto out;
		}
		if (strcmp(line, "<") == 0) {
			if (setup_flow_back(f) != 0)
				snprintf(f->error, sizeof(f->error), "this is the first question");
			continue;
		}
		switch (q->kind) {
		case SETUP_Q_INFO:
			break;
		case SETUP_Q_TEXT:
			if (strcmp(line, ".") == 0)
				q->value[0] = '\0';
			else if (line[0] != '\0')
				snprintf(q->value, sizeof(q->value), "%s", line);
			break;
		case SETUP_Q_CHOICE:
		case SETUP_Q_REVIEW:
			if (parse_choice(line, q) != 0) {
				snprintf(f->error, sizeof(f->error), "type a number from 1 to %d", q->nopts);
				continue;
			}
			break;
		case SETUP_Q_MULTI:
			if (line[0] != '\0' && parse_multi(line, q) != 0) {
				snprintf(f->error, sizeof(f->error), "numbers from 1 to %d", q->nopts);
				continue;
			}
			break;
		}
		(void)setup_flow_answer(f, q);
	}
	rc = f->saved ? 0 : 1;
out:
	explicit_bzero(q, sizeof(*q));
	free(q);
	return rc;
}
