/* The rule templates. Names, messages and conditions of the first fifteen
 * rules are the seed installer's and wizard's (docker-proxy's
 * /etc/docker-proxy/config.yaml), so a user coming from the seed gets the
 * same rules under the same names; host IPC and capability escalation are
 * ours. Every rule is plain seed syntax (no `not`, no `endpoint`). */
#include <stddef.h>
#include <string.h>

#include "setup_model.h"

#define END {NULL, NULL, NULL, SETUP_V_STR, NULL}
#define C(f, o, v) {f, o, v, SETUP_V_STR, NULL}
#define CB(f, v) {f, "equals", v, SETUP_V_BOOL, NULL}
#define CX(f) {f, "exists", NULL, SETUP_V_NONE, NULL}
#define OR(list) {NULL, NULL, NULL, SETUP_V_STR, list}

static const struct setup_cond exec_any[] = {
	C("path", "matches", "^/containers/[^/]+/exec$"),
	C("path", "matches", "^/exec/[^/]+/start$"),
	END,
};
static const struct setup_cond exec_conds[] = {OR(exec_any), END};
static const struct setup_rule r_exec = {
	.name = "block-exec-operations", .description = "Block exec into containers",
	.action = "deny", .message = "Exec operations are not permitted", .conds = exec_conds};

static const struct setup_cond build_conds[] = {C("path", "starts_with", "/build"), END};
static const struct setup_rule r_build = {
	.name = "block-docker-build", .action = "deny",
	.message = "Image building is not permitted via this proxy", .conds = build_conds};

#define READONLY(id, res)                                                                     \
	static const struct setup_cond id##_conds[] = {                                       \
		C("path", "starts_with", "/" res), C("method", "not_equals", "GET"), END};   \
	static const struct setup_rule r_##id = {                                             \
		.name = "readonly-" res, .description = "Only GET is allowed on " res,       \
		.action = "deny", .message = res " mutations are forbidden",                 \
		.conds = id##_conds}
READONLY(volumes, "volumes");
READONLY(networks, "networks");
READONLY(images, "images");

static const struct setup_cond secrets_conds[] = {C("path", "starts_with", "/secrets"), END};
static const struct setup_rule r_secrets = {
	.name = "block-secrets", .action = "deny", .message = "Secrets are not accessible",
	.conds = secrets_conds};
static const struct setup_cond configs_conds[] = {C("path", "starts_with", "/configs"), END};
static const struct setup_rule r_configs = {
	.name = "block-configs", .action = "deny", .message = "Configs are not accessible",
	.conds = configs_conds};

#define CREATE C("path", "equals", "/containers/create")
static const struct setup_cond priv_conds[] = {CREATE, CB("body.HostConfig.Privileged", "true"),
					       END};
static const struct setup_rule r_priv = {
	.name = "block-privileged-containers", .action = "deny",
	.message = "Privileged containers are not allowed", .conds = priv_conds};

static const struct setup_cond hostnet_conds[] = {
	CREATE, C("body.HostConfig.NetworkMode", "equals", "host"), END};
static const struct setup_rule r_hostnet = {
	.name = "block-host-network-mode", .action = "deny",
	.message = "Host network mode is not allowed", .conds = hostnet_conds};

static const struct setup_cond binds_any[] = {
	CX("body.HostConfig.Binds"),
	C("body.HostConfig.Mounts", "matches", "\"Type\"\\s*:\\s*\"bind\""),
	END,
};
static const struct setup_cond binds_conds[] = {CREATE, OR(binds_any), END};
static const struct setup_rule r_binds = {
	.name = "block-bind-mounts", .action = "deny", .message = "Bind mounts are not allowed",
	.conds = binds_conds};

static const struct setup_cond pid_conds[] = {CREATE, C("body.HostConfig.PidMode", "equals", "host"),
					      END};
static const struct setup_rule r_pid = {
	.name = "block-host-pid-namespace", .action = "deny",
	.message = "Host PID namespace is not allowed", .conds = pid_conds};

static const struct setup_cond ipc_conds[] = {CREATE, C("body.HostConfig.IpcMode", "equals", "host"),
					      END};
static const struct setup_rule r_ipc = {
	.name = "block-host-ipc-namespace", .action = "deny",
	.message = "Host IPC namespace is not allowed", .conds = ipc_conds};

/* A non-empty CapAdd list (its compact JSON starts with `["`), or a
 * security option that switches confinement off (seccomp=unconfined,
 * apparmor=unconfined, systempaths=unconfined). */
static const struct setup_cond caps_any[] = {
	C("body.HostConfig.CapAdd", "matches", "^\\[\""),
	C("body.HostConfig.SecurityOpt", "matches", "unconfined"),
	END,
};
static const struct setup_cond caps_conds[] = {CREATE, OR(caps_any), END};
static const struct setup_rule r_caps = {
	.name = "block-capability-escalation", .action = "deny",
	.message = "Adding capabilities or disabling confinement is not allowed",
	.conds = caps_conds};

static const struct setup_cond life_conds[] = {
	C("path", "matches",
	  "^/containers/[^/]+/(start|stop|restart|kill|pause|unpause|rename|update)$"),
	END};
static const struct setup_rule r_life = {
	.name = "admin-only-container-lifecycle", .action = "require_role", .role = "admin",
	.message = "Admin role required for container lifecycle operations", .conds = life_conds};

static const struct setup_cond acreate_conds[] = {CREATE, END};
static const struct setup_rule r_acreate = {
	.name = "admin-only-create", .action = "require_role", .role = "admin",
	.message = "Admin role required to create containers", .conds = acreate_conds};

static const struct setup_cond adelete_conds[] = {C("method", "equals", "DELETE"), END};
static const struct setup_rule r_adelete = {
	.name = "admin-only-delete", .action = "require_role", .role = "admin",
	.message = "Admin role required to delete resources", .conds = adelete_conds};

static const struct setup_cond internal_conds[] = {
	{"client_ip", "not_in", "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,127.0.0.0/8,::1",
	 SETUP_V_LIST, NULL},
	END};
static const struct setup_rule r_internal = {
	.name = "internal-network-only", .action = "deny",
	.message = "Access restricted to internal network", .conds = internal_conds};

static const struct setup_cond redact_conds[] = {
	C("path", "matches", "^/containers/[^/]+/json$"), END};
static const struct setup_rule r_redact = {
	.name = "redact-container-environment", .action = "response_filter",
	.filter_field = "Config.Env", .conds = redact_conds};

static const struct setup_cond all_conds[] = {C("path", "matches", "^/"), END};
static const struct setup_rule r_ratelimit = {
	.name = "rate-limit-all", .action = "rate_limit", .rl_requests = 50, .rl_period = 30,
	.rl_penalty = 30, .status = 429, .message = "Rate limit exceeded", .conds = all_conds};

#define RULES(...) (const struct setup_rule *const[]){__VA_ARGS__, NULL}

static const struct dpp_setup_template templates[] = {
	{"block-exec-operations", "deny exec into containers (docker exec)", RULES(&r_exec), 1},
	{"block-docker-build", "deny image builds (docker build)", RULES(&r_build), 1},
	{"readonly-volumes", "volumes: only GET (list, inspect); no create or remove",
	 RULES(&r_volumes), 1},
	{"readonly-networks", "networks: only GET; no create, connect or remove",
	 RULES(&r_networks), 1},
	{"readonly-images", "images: only GET; no pull, push, tag or remove", RULES(&r_images), 1},
	{"block-secrets", "deny swarm secrets and configs (block-secrets + block-configs)",
	 RULES(&r_secrets, &r_configs), 1},
	{"block-privileged-containers", "deny containers created with --privileged",
	 RULES(&r_priv), 1},
	{"block-host-network", "deny containers on the host network (--network host)",
	 RULES(&r_hostnet), 1},
	{"block-bind-mounts", "deny host paths mounted into containers (Binds, bind Mounts)",
	 RULES(&r_binds), 1},
	{"block-host-pid-namespace", "deny containers in the host PID namespace (--pid host)",
	 RULES(&r_pid), 1},
	{"block-host-ipc-namespace", "deny containers in the host IPC namespace (--ipc host)",
	 RULES(&r_ipc), 1},
	{"block-capability-escalation",
	 "deny --cap-add and --security-opt ...=unconfined on create", RULES(&r_caps), 1},
	{"admin-only-container-lifecycle",
	 "start, stop, restart, kill, pause, rename, update: admin role only", RULES(&r_life), 1},
	{"admin-only-create", "creating containers: admin role only", RULES(&r_acreate), 1},
	{"admin-only-delete", "every DELETE request: admin role only", RULES(&r_adelete), 1},
	{"internal-network-only", "deny clients outside private and loopback addresses",
	 RULES(&r_internal), 1},
	{"redact-container-environment", "hide Config.Env in container inspect answers",
	 RULES(&r_redact), 0},
	{"rate-limit-all", "50 requests per 30 s per client, then 30 s locked out",
	 RULES(&r_ratelimit), 1},
};

const char *const setup_installer_templates[] = {
	"block-exec-operations", "block-docker-build", "readonly-volumes", "readonly-networks",
	"readonly-images", "block-secrets", "block-privileged-containers", "block-host-network",
	"block-bind-mounts", "block-host-pid-namespace", "admin-only-container-lifecycle",
	"admin-only-create", "admin-only-delete", "rate-limit-all", NULL,
};

_Static_assert(sizeof(templates) / sizeof(templates[0]) <= SETUP_MAX_TEMPLATES,
	       "raise SETUP_MAX_TEMPLATES");

size_t setup_template_count(void)
{
	return sizeof(templates) / sizeof(templates[0]);
}

const struct dpp_setup_template *setup_template_get(size_t i)
{
	return i < setup_template_count() ? &templates[i] : NULL;
}

int setup_template_find(const char *name)
{
	for (size_t i = 0; i < setup_template_count(); i++)
		if (strcmp(templates[i].name, name) == 0)
			return (int)i;
	return -1;
}
