/* Every key of the config schema is documented in docker-policy-proxy.yaml(5)
 * (as generated into the build directory), with its default, range,
 * environment variable, flag and reload behaviour. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpp/config.h"

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

static void every_schema_key_is_in_the_man_page(void **state)
{
	const char *dir = getenv("DPP_BUILD_DIR");
	const struct dpp_config_key *k;
	char path[4096], *man;
	size_t n = 0;

	(void)state;
	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/docker-policy-proxy.yaml.5", dir);
	man = slurp(path);
	assert_non_null(man);
	for (size_t i = 0; (k = dpp_config_schema_get(i)) != NULL; i++, n++) {
		char head[256], want[256];
		const char *entry, *next;
		size_t len;

		snprintf(head, sizeof(head), "\n.It Cm %s Pq ", k->key);
		entry = strstr(man, head);
		if (entry == NULL) {
			print_error("%s is not in %s\n", k->key, path);
			fail();
		}
		next = strstr(entry + 1, "\n.It ");
		len = next != NULL ? (size_t)(next - entry) : strlen(entry);
#define IN_ENTRY(s) (memmem(entry, len, (s), strlen(s)) != NULL)
		if (k->def != NULL && k->def[0] != '\0') {
			snprintf(want, sizeof(want), "Default: %s.", k->def);
			assert_true(IN_ENTRY(want));
		}
		if (k->env != NULL) {
			snprintf(want, sizeof(want), ".Ev %s ", k->env);
			assert_true(IN_ENTRY(want));
		}
		if (k->flag != NULL) {
			snprintf(want, sizeof(want), ".Fl %s ", k->flag + 1);
			assert_true(IN_ENTRY(want));
		}
		if (k->type == DPP_CONFIG_INT) {
			snprintf(want, sizeof(want), "Range: %ld to %ld.", k->min, k->max);
			assert_true(IN_ENTRY(want));
		}
		if (k->type != DPP_CONFIG_MAPPING)
			assert_true(IN_ENTRY(k->reloadable ? "Reloadable." : "Restart-only."));
	}
	assert_true(n > 20);
	free(man);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_schema_key_is_in_the_man_page),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
