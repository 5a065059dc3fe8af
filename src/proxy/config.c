/* TEMPORARY minimal stand-in (defaults + env + flags) until the config module
 * branch lands. */
#include "dpp/config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct dpp_config {
	struct dpp_settings s;
};

int dpp_config_load(const struct dpp_config_flags *flags, struct dpp_config **out, char **errors)
{
	struct dpp_config *c = calloc(1, sizeof(*c));
	const char *e;

	*errors = NULL;
	if (c == NULL)
		return -1;
	snprintf(c->s.bind, sizeof(c->s.bind), "%s", flags->bind ? flags->bind : DPP_DEFAULT_BIND);
	c->s.port = flags->port ? flags->port : DPP_DEFAULT_PORT;
	if (!flags->port && (e = getenv("DOCKER_PROXY_PORT")) != NULL)
		c->s.port = atoi(e);
	if (flags->socket)
		snprintf(c->s.socket, sizeof(c->s.socket), "%s", flags->socket);
	else if ((e = getenv("DOCKER_SOCKET")) != NULL)
		snprintf(c->s.socket, sizeof(c->s.socket), "%s", e);
	c->s.log_level = DPP_LOG_INFO;
	if (flags->log_level)
		dpp_log_parse_level(flags->log_level, &c->s.log_level);
	*out = c;
	return 0;
}
void dpp_config_free(struct dpp_config *cfg) { free(cfg); }
const struct dpp_settings *dpp_config_settings(const struct dpp_config *cfg) { return &cfg->s; }
void dpp_config_print(const struct dpp_config *cfg, FILE *out) { fprintf(out, "global.port: %d\n", cfg->s.port); }
char *dpp_config_restart_needed(const struct dpp_config *a, const struct dpp_config *b) { (void)a; (void)b; return NULL; }
int dpp_socket_detect(const char *home, char *out, size_t outlen)
{
	struct stat st;
	(void)home;
	if (stat("/var/run/docker.sock", &st) == 0) { snprintf(out, outlen, "/var/run/docker.sock"); return 0; }
	return -1;
}
