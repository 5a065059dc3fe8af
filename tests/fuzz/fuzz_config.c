/* libFuzzer target for the configuration loader: YAML in (src/proxy/config.c
 * with libyaml), then the auth and rules compilers (runtime.c, auth.c,
 * rules.c) on whatever loaded. Build and run: tests/fuzz/build_config.sh.
 *
 * The input is the whole configuration file (handed over as a memfd path).
 * Besides "no crash, no leak", it checks:
 *   - status and out-parameters agree: 0 with a config and no error text, -1
 *     with no config and an error text (the loader never fails silently);
 *   - a ruleset that compiled prints (--check-config's `rules:` section) to
 *     text that loads and compiles again and prints identically: the printer
 *     and the compiler agree on every rule (policy.h's promise). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dpp/config.h"
#include "dpp/log.h"
#include "dpp/policy.h"
#include "dpp/runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	dpp_log_set_level(DPP_LOG_ERROR);
	/* The loader reads ${VAR}: make a couple exist. */
	setenv("DPP_FUZZ_TOKEN", "s3cret-token-of-some-length", 1);
	setenv("DPP_FUZZ_EMPTY", "", 1);
	unsetenv("DOCKER_PROXY_PORT");
	unsetenv("DOCKER_SOCKET");
	unsetenv("DOCKER_PROXY_LOG");
	unsetenv("RUST_LOG");
	unsetenv("DOCKER_PROXY_CONFIG");
	return 0;
}

/* Loads text as a config file and builds its runtime. Returns 0 and *rt, or
 * -1 (*rt NULL). Aborts when the result and the error text disagree. */
static int load(const char *text, size_t len, struct dpp_runtime **rt)
{
	struct dpp_config_flags flags = {0};
	struct dpp_config *cfg = NULL;
	struct dpp_settings eff;
	char path[64], *errors = NULL, *warnings = NULL;
	int fd, rc;

	*rt = NULL;
	fd = memfd_create("fuzz-config", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	if (len > 0 && write(fd, text, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	flags.config_path = path;
	rc = dpp_config_load(&flags, &cfg, &errors);
	close(fd);
	if ((rc == 0) != (cfg != NULL) || (rc != 0 && errors == NULL) || (rc == 0 && errors != NULL))
		abort();
	free(errors);
	errors = NULL;
	if (rc != 0)
		return -1;
	{
		FILE *null = fopen("/dev/null", "w");

		if (null != NULL) {
			dpp_config_print(cfg, null);
			fclose(null);
		}
	}
	eff = *dpp_config_settings(cfg);
	snprintf(eff.socket, sizeof(eff.socket), "/nonexistent/docker.sock");
	rc = dpp_runtime_build(cfg, &eff, rt, &errors, &warnings);
	if ((rc == 0) != (*rt != NULL) || (rc != 0 && errors == NULL))
		abort();
	free(errors);
	free(warnings);
	dpp_config_free(cfg);
	return rc == 0 ? 0 : -1;
}

static char *print_rules(const struct dpp_ruleset *rs, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	if (f == NULL)
		return NULL;
	if (dpp_ruleset_print(rs, f) != 0) {
		fclose(f);
		free(text);
		return NULL;
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dpp_runtime *rt = NULL, *rt2 = NULL;
	char *p1 = NULL, *p2 = NULL;
	size_t l1 = 0, l2 = 0;

	if (size > 64 * 1024)
		return 0;
	if (load((const char *)data, size, &rt) != 0)
		return 0;
	p1 = print_rules(dpp_runtime_rules(rt), &l1);
	if (p1 == NULL)
		goto cleanup; /* out of memory */
	/* The printed section alone (auth: none by default; roles are plain
	 * names to the compiler) must load and print the same. */
	if (load(p1, l1, &rt2) != 0) {
		fprintf(stderr, "printed rules do not load again:\n%s\n", p1);
		abort();
	}
	p2 = print_rules(dpp_runtime_rules(rt2), &l2);
	if (p2 != NULL && (l1 != l2 || memcmp(p1, p2, l1) != 0)) {
		fprintf(stderr, "print is not a fixed point:\n--- first\n%s\n--- second\n%s\n", p1, p2);
		abort();
	}
cleanup:
	free(p1);
	free(p2);
	dpp_runtime_unref(rt);
	dpp_runtime_unref(rt2);
	return 0;
}
