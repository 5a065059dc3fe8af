/* Internal: the wizard's questions as data, shared by the full-screen and
 * the --plain front ends. A front end asks setup_flow_prepare for the
 * current question, shows it, puts the user's answer into the same struct
 * and calls setup_flow_answer; Esc (or "<" in --plain) is setup_flow_back.
 * Nothing is written before the review step's "save". */
#ifndef DPP_SETUP_FLOW_H
#define DPP_SETUP_FLOW_H

#include "setup_model.h"

#define SETUP_Q_MAX_OPTS 40

enum setup_qkind {
	SETUP_Q_INFO = 0, /* text only; any key goes on */
	SETUP_Q_TEXT,     /* one line of input; value holds the default */
	SETUP_Q_CHOICE,   /* one of opts; choice holds the default */
	SETUP_Q_MULTI,    /* any of opts; on[] holds the defaults */
	SETUP_Q_REVIEW,   /* text is the YAML; choice 0 saves, 1 goes back */
};

struct setup_q {
	enum setup_qkind kind;
	const char *title;
	char text[6144];      /* explanation, several lines */
	char value[1024];     /* TEXT: default in, answer out */
	const char *opts[SETUP_Q_MAX_OPTS];
	const char *opt_help[SETUP_Q_MAX_OPTS]; /* may be NULL */
	int nopts;
	int choice;
	unsigned char on[SETUP_Q_MAX_OPTS];
	const char *yaml;     /* REVIEW: the file as it will be written (borrowed) */
};

struct setup_flow {
	struct setup_answers a;
	int step;
	int stack[128];
	int depth;
	int finished;         /* the done screen was acknowledged */
	int saved;
	char *yaml;           /* last rendering (owned) */
	char *note;           /* history note after saving (owned) */
	char error[2048];     /* message for the current step, "" none */
};

void setup_flow_init(struct setup_flow *f);
void setup_flow_done(struct setup_flow *f);

/* Fills q for the current step. */
void setup_flow_prepare(struct setup_flow *f, struct setup_q *q);

/* Takes the answer in q. Returns 0 and moves on, or -1 and stays, with the
 * reason in f->error. */
int setup_flow_answer(struct setup_flow *f, const struct setup_q *q);

/* Esc: back to the previous question (nothing is lost). Returns 0, or -1 at
 * the first question. */
int setup_flow_back(struct setup_flow *f);

#endif
