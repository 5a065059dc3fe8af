/* Unit tests for the setup wizard's model (src/tui/setup_*.c): templates,
 * the YAML they become (loaded by the real config loader and policy
 * compiler), typed values, tokens, and the save path (0600, .bak, no
 * overwrite without force, nothing written when the loader refuses). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "setup_flow.h"
#include "setup_model.h"

struct fx {
	char dir[64];
	struct setup_answers a;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/dpp-setup-test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	setup_answers_init(&f->a);
	snprintf(f->a.socket, sizeof(f->a.socket), "/var/run/docker.sock");
	snprintf(f->a.output, sizeof(f->a.output), "%s/config.yaml", f->dir);
	assert_int_equal(setup_generate_tokens(&f->a), 0);
	unsetenv("DOCKER_PROXY_SECRET");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Renders and validates; returns the YAML (caller frees). */
static char *render_ok(const struct setup_answers *a)
{
	const char *err = NULL;
	char *yaml = setup_render_yaml(a, &err), *errors = NULL;

	assert_non_null(yaml);
	if (setup_validate(a, yaml, &errors) != 0) {
		print_error("refused:\n%s\n---\n%s\n", errors ? errors : "?", yaml);
		fail();
	}
	free(errors);
	return yaml;
}

static void no_nulls(const char *yaml)
{
	assert_null(strstr(yaml, ": null"));
	assert_null(strstr(yaml, ": ~"));
	for (const char *p = yaml; (p = strstr(p, ":\n")) != NULL; p++) {
		/* a key with nothing after it is null unless a block follows */
		const char *next = p + 2;

		assert_true(*next == ' ' || *next == '-' || *next == '#');
	}
}

static void each_template_alone_loads(void **state)
{
	struct fx *f = *state;

	for (size_t i = 0; i < setup_template_count(); i++) {
		const struct dpp_setup_template *t = setup_template_get(i);
		char comment[128], *yaml;

		memset(f->a.tpl_on, 0, sizeof(f->a.tpl_on));
		f->a.tpl_on[i] = 1;
		yaml = render_ok(&f->a);
		snprintf(comment, sizeof(comment), "# template %s: ", t->name);
		assert_non_null(strstr(yaml, comment));
		for (size_t j = 0; t->rules[j] != NULL; j++) {
			char name[96];

			snprintf(name, sizeof(name), "- name: %s\n", t->rules[j]->name);
			assert_non_null(strstr(yaml, name));
		}
		no_nulls(yaml);
		free(yaml);
	}
}

static void all_templates_load_with_dry_run(void **state)
{
	struct fx *f = *state;
	char *yaml;
	int dry = 0;

	for (size_t i = 0; i < setup_template_count(); i++) {
		f->a.tpl_on[i] = 1;
		f->a.tpl_dry[i] = setup_template_get(i)->can_dry_run && i % 2 == 0;
		dry += f->a.tpl_dry[i];
	}
	yaml = render_ok(&f->a);
	no_nulls(yaml);
	{
		int n = 0;

		for (const char *p = yaml; (p = strstr(p, "dry_run: true")) != NULL; p++)
			n++;
		assert_true(n >= dry);
	}
	free(yaml);
}

static void installer_defaults_are_the_seeds_fifteen_rules(void **state)
{
	struct fx *f = *state;
	char *yaml;
	int n = 0;

	for (size_t i = 0; setup_installer_templates[i] != NULL; i++) {
		int t = setup_template_find(setup_installer_templates[i]);

		assert_true(t >= 0);
		f->a.tpl_on[t] = 1;
	}
	yaml = render_ok(&f->a);
	for (const char *p = yaml; (p = strstr(p, "\n- name: ")) != NULL; p++)
		n++;
	assert_int_equal(n, 15);
	/* The seed's names and messages. */
	assert_non_null(strstr(yaml, "- name: block-host-network-mode\n"));
	assert_non_null(strstr(yaml, "message: Exec operations are not permitted\n"));
	assert_non_null(strstr(yaml, "message: Admin role required to delete resources\n"));
	assert_non_null(strstr(yaml, "    requests: 50\n    period: 30\n    penalty: 30\n"));
	free(yaml);
}

static void values_are_typed(void **state)
{
	struct fx *f = *state;
	struct {
		const char *op, *value, *want;
	} cases[] = {
		{"equals", "true", "value: true\n"},
		{"equals", "5", "value: 5\n"},
		{"equals", "yes", "value: \"yes\"\n"},
		{"equals", "0x1F", "value: \"0x1F\"\n"},
		{"equals", "abc", "value: abc\n"},
		{"in", "a, b", "value:\n      - a\n      - b\n"},
		{"exists", "", "operator: exists\n"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct setup_custom *c = &f->a.custom[0];
		const char *err = NULL;
		char *yaml;

		memset(c, 0, sizeof(*c));
		snprintf(c->name, sizeof(c->name), "custom-%zu", i);
		snprintf(c->action, sizeof(c->action), "deny");
		snprintf(c->field, sizeof(c->field), "%s", i == 5 ? "role" : "body.X");
		snprintf(c->op, sizeof(c->op), "%s", cases[i].op);
		snprintf(c->value, sizeof(c->value), "%s", cases[i].value);
		assert_int_equal(setup_custom_finish(c, &err), 0);
		f->a.ncustom = 1;
		yaml = render_ok(&f->a);
		if (strstr(yaml, cases[i].want) == NULL && i != 5) {
			print_error("want %s in\n%s", cases[i].want, yaml);
			fail();
		}
		if (i == 5) /* a sequence, however libyaml indents it */
			assert_non_null(strstr(yaml, "- a\n"));
		if (i == 6)
			assert_null(strstr(strstr(yaml, "custom-6"), "value:"));
		free(yaml);
	}
}

static void tokens_are_32_random_bytes(void **state)
{
	struct fx *f = *state;
	char first[65];

	assert_int_equal(f->a.ntokens, 2);
	assert_int_equal(strlen(f->a.tokens[0].value), 64);
	assert_int_equal(strspn(f->a.tokens[0].value, "0123456789abcdef"), 64);
	assert_string_not_equal(f->a.tokens[0].value, f->a.tokens[1].value);
	snprintf(first, sizeof(first), "%s", f->a.tokens[0].value);
	assert_int_equal(setup_generate_tokens(&f->a), 0);
	assert_string_not_equal(first, f->a.tokens[0].value);
	assert_string_equal(f->a.tokens[0].env, "ADMIN_TOKEN");
	assert_string_equal(f->a.tokens[1].env, "READONLY_TOKEN");
}

static void env_references_instead_of_literals(void **state)
{
	struct fx *f = *state;
	char *yaml;

	f->a.token_env = 1;
	yaml = render_ok(&f->a);
	assert_non_null(strstr(yaml, "token: \"${ADMIN_TOKEN}\""));
	assert_null(strstr(yaml, f->a.tokens[0].value));
	assert_null(getenv("ADMIN_TOKEN")); /* set only for the check */
	free(yaml);
}

static void save_is_0600_and_keeps_a_backup(void **state)
{
	struct fx *f = *state;
	char *yaml, *errors = NULL, *note = NULL, bak[1200], buf[64] = {0};
	struct stat st;
	FILE *fp;

	yaml = render_ok(&f->a);
	assert_int_equal(setup_save(&f->a, yaml, &errors, &note), 0);
	/* Recorded in config history (the store beside the file). */
	assert_non_null(note);
	assert_non_null(strstr(note, "version 1 (source setup)"));
	free(note);
	assert_int_equal(stat(f->a.output, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* An existing file is not replaced without force... */
	fp = fopen(f->a.output, "w");
	assert_non_null(fp);
	fputs("old: file\n", fp);
	fclose(fp);
	assert_int_equal(setup_save(&f->a, yaml, &errors, &note), 1);
	fp = fopen(f->a.output, "r");
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	assert_string_equal(buf, "old: file\n");
	/* ...and with force the old one becomes .bak. */
	f->a.force = 1;
	assert_int_equal(setup_save(&f->a, yaml, &errors, &note), 0);
	free(note);
	snprintf(bak, sizeof(bak), "%s.bak", f->a.output);
	fp = fopen(bak, "r");
	assert_non_null(fp);
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	assert_string_equal(buf, "old: file\n");
	free(yaml);
}

static void refused_config_writes_nothing(void **state)
{
	struct fx *f = *state;
	struct setup_custom *c = &f->a.custom[0];
	const char *err = NULL;
	char *yaml, *errors = NULL, *note = NULL;
	struct stat st;

	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "bad-regex");
	snprintf(c->action, sizeof(c->action), "deny");
	snprintf(c->field, sizeof(c->field), "path");
	snprintf(c->op, sizeof(c->op), "matches");
	snprintf(c->value, sizeof(c->value), "(unclosed");
	assert_int_equal(setup_custom_finish(c, &err), 0);
	f->a.ncustom = 1;
	yaml = setup_render_yaml(&f->a, &err);
	assert_non_null(yaml);
	assert_int_equal(setup_save(&f->a, yaml, &errors, &note), -1);
	assert_non_null(errors);
	assert_non_null(strstr(errors, "regex"));
	assert_int_not_equal(stat(f->a.output, &st), 0);
	free(errors);
	free(yaml);
}

static void inconsistent_answers_are_refused(void **state)
{
	struct fx *f = *state;
	const char *err = NULL;

	f->a.auth = SETUP_AUTH_NONE;
	assert_int_equal(setup_answers_check(&f->a, &err), 0);
	snprintf(f->a.bind, sizeof(f->a.bind), "0.0.0.0");
	assert_int_equal(setup_answers_check(&f->a, &err), -1);
	f->a.auth = SETUP_AUTH_MTLS;
	assert_int_equal(setup_answers_check(&f->a, &err), -1);
	f->a.auth = SETUP_AUTH_TOKENS;
	assert_int_equal(setup_answers_check(&f->a, &err), 0);
	f->a.tpl_dry[setup_template_find("redact-container-environment")] = 1;
	f->a.tpl_on[setup_template_find("redact-container-environment")] = 1;
	assert_int_equal(setup_answers_check(&f->a, &err), -1);
	assert_int_equal(setup_add_role(&f->a, "admin", &err), -1); /* twice */
	assert_int_equal(setup_add_role(&f->a, "bad role", &err), -1);
	assert_int_equal(setup_add_cert_role(&f->a, "noequals", &err), -1);
	assert_int_equal(setup_add_cert_role(&f->a, "alice=admin", &err), 0);
}

/* The flow: Esc from the second question goes back to the first; the
 * review step renders what was answered; nothing exists before saving. */
static void flow_walks_back_and_writes_only_on_save(void **state)
{
	struct fx *f = *state;
	struct setup_flow *fl = calloc(1, sizeof(*fl));
	struct setup_q *q = calloc(1, sizeof(*q));
	struct stat st;
	int guard = 0;

	assert_non_null(fl);
	assert_non_null(q);
	setup_flow_init(fl);
	snprintf(fl->a.output, sizeof(fl->a.output), "%s/flow.yaml", f->dir);
	setup_flow_prepare(fl, q);
	assert_int_equal(q->kind, SETUP_Q_INFO);
	assert_int_equal(setup_flow_back(fl), -1);
	assert_int_equal(setup_flow_answer(fl, q), 0);
	setup_flow_prepare(fl, q);
	assert_string_equal(q->title, "Listen address");
	snprintf(q->value, sizeof(q->value), "not-an-ip");
	assert_int_equal(setup_flow_answer(fl, q), -1);
	assert_true(fl->error[0] != '\0');
	assert_int_equal(setup_flow_back(fl), 0);
	setup_flow_prepare(fl, q);
	assert_int_equal(q->kind, SETUP_Q_INFO);
	/* Defaults all the way to the review. */
	while (q->kind != SETUP_Q_REVIEW && guard++ < 50) {
		assert_int_equal(setup_flow_answer(fl, q), 0);
		setup_flow_prepare(fl, q);
	}
	assert_int_equal(q->kind, SETUP_Q_REVIEW);
	assert_non_null(strstr(q->yaml, "role: admin"));
	assert_int_not_equal(stat(fl->a.output, &st), 0);
	q->choice = 0;
	assert_int_equal(setup_flow_answer(fl, q), 0);
	assert_int_equal(fl->saved, 1);
	assert_int_equal(stat(fl->a.output, &st), 0);
	setup_flow_done(fl);
	free(fl);
	free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(each_template_alone_loads, setup, teardown),
		cmocka_unit_test_setup_teardown(all_templates_load_with_dry_run, setup, teardown),
		cmocka_unit_test_setup_teardown(installer_defaults_are_the_seeds_fifteen_rules, setup,
						teardown),
		cmocka_unit_test_setup_teardown(values_are_typed, setup, teardown),
		cmocka_unit_test_setup_teardown(tokens_are_32_random_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(env_references_instead_of_literals, setup, teardown),
		cmocka_unit_test_setup_teardown(save_is_0600_and_keeps_a_backup, setup, teardown),
		cmocka_unit_test_setup_teardown(refused_config_writes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(inconsistent_answers_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(flow_walks_back_and_writes_only_on_save, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
