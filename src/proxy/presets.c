/* Built-in presets: compiled checks for the ways a Docker API caller can get
 * out of a container onto the host (and a few read-only or consumer
 * profiles). Each check is a "vector" with a name, so a refusal names it and
 * `except:` can switch it off. The semantics are Docker's own (moby
 * api/types, daemon and volume code of 20.10 up to current, noted per check);
 * the body is read through the same request view as every rule, members
 * matched as Go's decoder matches them (dpp_body_member).
 *
 * Where dockerd would refuse a value itself (a JSON type mismatch such as
 * "Privileged": "true") the check may pass it on: dockerd then answers 400
 * and runs nothing. Where a value is ambiguous or unknown to this table, the
 * check refuses (fail closed). */
#include "presets.h"

#include "dpp/body.h"
#include "dpp/route.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MSG_MAX 512
#define VALUE_SHOWN 64 /* bytes of a client value quoted in a message */

/* ---- vectors ---- */

enum vec {
	V_PRIVILEGED = 0,
	V_CAP_ADD,
	V_BIND_MOUNT,
	V_MOUNT_TYPE,
	V_MOUNT_SUBPATH,
	V_VOLUME_HOST_PATH,
	V_VOLUME_DRIVER,
	V_VOLUMES_FROM,
	V_TMPFS_EXEC,
	V_DEVICES,
	V_DEVICE_CGROUP_RULES,
	V_DEVICE_REQUESTS,
	V_PID_HOST,
	V_IPC_HOST,
	V_UTS_HOST,
	V_USERNS_HOST,
	V_CGROUPNS_HOST,
	V_NETWORK_HOST,
	V_SECCOMP,
	V_APPARMOR,
	V_SELINUX_LABEL,
	V_NO_NEW_PRIVILEGES,
	V_SYSTEMPATHS,
	V_SECURITY_OPT,
	V_CGROUP_PARENT,
	V_SYSCTLS,
	V_RUNTIME,
	V_GROUP_ADD,
	V_EXTRA_HOSTS,
	V_WORKDIR_PROC,
	V_ROOT_USER,
	V_EXEC_PRIVILEGED,
	V_EXEC_ROOT_USER,
	V_PLUGIN_PRIVILEGES,
	V_PLUGIN_CREATE,
	V_SWARM,
	V_BUILD_NETWORK_HOST,
	V_BUILD_CGROUP_PARENT,
	V_BUILD_SECURITY_OPT,
	V_BUILD_EXTRA_HOSTS,
	V_BUILDKIT_SESSION,
	V_ARCHIVE_READ,
	V_EXPORT,
	V_IMAGE_SAVE,
	V_ATTACH,
	V_LOGS,
	V_SELF_CONTAINER,
	V_SELF_PATHS,
	V_WRITE_METHOD,
	V_TRAEFIK_API,
	V_WATCHTOWER_API,
	V_CI_RUNNER_API,
	N_VEC,
};

_Static_assert(N_VEC <= PRESET_VECTORS_MAX, "vector mask is 64 bits");

static const struct {
	const char *name;
	const char *what; /* one line for --list-presets */
} vectors[N_VEC] = {
	[V_PRIVILEGED] = {"privileged", "Privileged: true (all capabilities and devices, no confinement)"},
	[V_CAP_ADD] = {"cap-add", "CapAdd/Capabilities/CapabilityAdd outside Docker's default set; any case, CAP_ optional, ALL"},
	[V_BIND_MOUNT] = {"bind-mount", "a host path: Binds sources, Mounts of type bind or npipe, volume mounts named by a path"},
	[V_MOUNT_TYPE] = {"mount-type", "Mounts of a type other than volume, tmpfs or image (cluster, missing or misspelt)"},
	[V_MOUNT_SUBPATH] = {"mount-subpath", "VolumeOptions/ImageOptions Subpath that is absolute or climbs with .."},
	[V_VOLUME_HOST_PATH] = {"volume-host-path", "volume driver options that mount a host path or device (device=..., o=bind), also POST /volumes/create"},
	[V_VOLUME_DRIVER] = {"volume-driver", "a volume driver other than local (its options cannot be judged)"},
	[V_VOLUMES_FROM] = {"volumes-from", "VolumesFrom: another container's mounts, binds included"},
	[V_TMPFS_EXEC] = {"tmpfs-exec", "tmpfs mounted with exec, dev or suid (optional)"},
	[V_DEVICES] = {"devices", "Devices: host device nodes"},
	[V_DEVICE_CGROUP_RULES] = {"device-cgroup-rules", "DeviceCgroupRules: access to host devices by number"},
	[V_DEVICE_REQUESTS] = {"device-requests", "DeviceRequests (GPUs and other driver devices)"},
	[V_PID_HOST] = {"pid-host", "PidMode host or container:ID (the other process namespace)"},
	[V_IPC_HOST] = {"ipc-host", "IpcMode host or container:ID"},
	[V_UTS_HOST] = {"uts-host", "UTSMode host"},
	[V_USERNS_HOST] = {"userns-host", "UsernsMode host (no user namespace remapping)"},
	[V_CGROUPNS_HOST] = {"cgroupns-host", "CgroupnsMode host"},
	[V_NETWORK_HOST] = {"network-host", "NetworkMode host or container:ID, an endpoint or service network named host"},
	[V_SECCOMP] = {"seccomp", "SecurityOpt seccomp=unconfined or a custom profile; service Privileges.Seccomp"},
	[V_APPARMOR] = {"apparmor", "SecurityOpt apparmor=unconfined; service Privileges.AppArmor disabled"},
	[V_SELINUX_LABEL] = {"selinux-label", "SecurityOpt label=disable (also disable, label:disable) or a label user/role/type; service SELinuxContext"},
	[V_NO_NEW_PRIVILEGES] = {"no-new-privileges", "SecurityOpt no-new-privileges=false (or another false spelling)"},
	[V_SYSTEMPATHS] = {"systempaths", "SecurityOpt systempaths=unconfined, MaskedPaths or ReadonlyPaths without Docker's defaults"},
	[V_SECURITY_OPT] = {"security-opt", "a SecurityOpt this table does not know (writable-cgroups, ...)"},
	[V_CGROUP_PARENT] = {"cgroup-parent", "CgroupParent: a cgroup outside Docker's"},
	[V_SYSCTLS] = {"sysctls", "Sysctls (any)"},
	[V_RUNTIME] = {"runtime", "Runtime other than runc (or io.containerd.runc.v2)"},
	[V_GROUP_ADD] = {"group-add", "GroupAdd / ContainerSpec.Groups: supplementary groups"},
	[V_EXTRA_HOSTS] = {"extra-hosts", "ExtraHosts / ContainerSpec.Hosts (optional)"},
	[V_WORKDIR_PROC] = {"workdir-proc", "WorkingDir (container, exec, service Dir) under /proc"},
	[V_ROOT_USER] = {"root-user", "container or service User missing, root or uid/gid 0 (optional)"},
	[V_EXEC_PRIVILEGED] = {"exec-privileged", "exec create with Privileged: true"},
	[V_EXEC_ROOT_USER] = {"exec-root-user", "exec create without a User, or as root or uid/gid 0 (optional)"},
	[V_PLUGIN_PRIVILEGES] = {"plugin-privileges", "plugin pull/upgrade granting privileges, plugin set of a mount source or device path, service plugin runtime"},
	[V_PLUGIN_CREATE] = {"plugin-create", "POST /plugins/create (a tar whose config is not read)"},
	[V_SWARM] = {"swarm", "swarm init, join, update, unlock; node update promoting a manager"},
	[V_BUILD_NETWORK_HOST] = {"build-network-host", "build with networkmode=host or container:ID"},
	[V_BUILD_CGROUP_PARENT] = {"build-cgroup-parent", "build with cgroupparent"},
	[V_BUILD_SECURITY_OPT] = {"build-security-opt", "build with securityopt"},
	[V_BUILD_EXTRA_HOSTS] = {"build-extra-hosts", "build with extrahosts (optional)"},
	[V_BUILDKIT_SESSION] = {"buildkit-session", "BuildKit /session and /grpc upgrades (opaque: all or nothing)"},
	[V_ARCHIVE_READ] = {"archive-read", "GET/HEAD /containers/{name}/archive, POST /containers/{name}/copy"},
	[V_EXPORT] = {"export", "GET /containers/{name}/export"},
	[V_IMAGE_SAVE] = {"image-save", "GET /images/get, GET /images/{name}/get"},
	[V_ATTACH] = {"attach", "POST /containers/{name}/attach, GET /containers/{name}/attach/ws"},
	[V_LOGS] = {"logs", "container, service and task logs"},
	[V_SELF_CONTAINER] = {"self-container", "the proxy's own container: stop, kill, exec, commit, archive, update, remove, ... and container:ID/VolumesFrom on it"},
	[V_SELF_PATHS] = {"self-paths", "binds of the proxy's Docker socket or configuration file (or a directory above them)"},
	[V_WRITE_METHOD] = {"write-method", "any method other than GET and HEAD"},
	[V_TRAEFIK_API] = {"traefik-api", "an endpoint outside Traefik's Docker provider set"},
	[V_WATCHTOWER_API] = {"watchtower-api", "an endpoint outside Watchtower's set"},
	[V_CI_RUNNER_API] = {"ci-runner-api", "an endpoint outside a CI runner's set"},
};

#define B(v) (1ULL << (v))
/* Every no-host-escape vector that is on by default. */
#define HOST_ESCAPE                                                                           \
	(B(V_PRIVILEGED) | B(V_CAP_ADD) | B(V_BIND_MOUNT) | B(V_MOUNT_TYPE) |                 \
	 B(V_MOUNT_SUBPATH) | B(V_VOLUME_HOST_PATH) | B(V_VOLUME_DRIVER) | B(V_VOLUMES_FROM) | \
	 B(V_DEVICES) | B(V_DEVICE_CGROUP_RULES) | B(V_DEVICE_REQUESTS) | B(V_PID_HOST) |      \
	 B(V_IPC_HOST) | B(V_UTS_HOST) | B(V_USERNS_HOST) | B(V_CGROUPNS_HOST) |               \
	 B(V_NETWORK_HOST) | B(V_SECCOMP) | B(V_APPARMOR) | B(V_SELINUX_LABEL) |               \
	 B(V_NO_NEW_PRIVILEGES) | B(V_SYSTEMPATHS) | B(V_SECURITY_OPT) | B(V_CGROUP_PARENT) |  \
	 B(V_SYSCTLS) | B(V_RUNTIME) | B(V_GROUP_ADD) | B(V_WORKDIR_PROC) |                    \
	 B(V_EXEC_PRIVILEGED) | B(V_PLUGIN_PRIVILEGES) | B(V_PLUGIN_CREATE) | B(V_SWARM) |     \
	 B(V_BUILD_NETWORK_HOST) | B(V_BUILD_CGROUP_PARENT) | B(V_BUILD_SECURITY_OPT) |        \
	 B(V_BUILDKIT_SESSION))
#define HOST_ESCAPE_OPTIONAL \
	(B(V_TMPFS_EXEC) | B(V_EXTRA_HOSTS) | B(V_BUILD_EXTRA_HOSTS) | B(V_ROOT_USER) | B(V_EXEC_ROOT_USER))
#define SELF (B(V_SELF_CONTAINER) | B(V_SELF_PATHS))

struct preset_def {
	const char *name;
	const char *what;
	uint64_t vectors;
	uint64_t optional; /* listed as optional (include: adds them) */
};

static const struct preset_def presets[] = {
	{"no-host-escape", "every known way from the Docker API onto the host", HOST_ESCAPE,
	 HOST_ESCAPE_OPTIONAL},
	{"no-host-escape-strict", "no-host-escape with every optional vector on",
	 HOST_ESCAPE | HOST_ESCAPE_OPTIONAL, 0},
	{"non-root", "containers, services and execs must name a non-root user",
	 B(V_ROOT_USER) | B(V_EXEC_ROOT_USER), 0},
	{"read-exfiltration", "reading files, images and output out of containers",
	 B(V_ARCHIVE_READ) | B(V_EXPORT) | B(V_IMAGE_SAVE) | B(V_ATTACH) | B(V_LOGS), 0},
	{"protect-self", "the proxy's own container, socket and configuration", SELF, 0},
	{"readonly", "GET and HEAD only, no attach websocket",
	 B(V_WRITE_METHOD) | B(V_ATTACH), 0},
	{"traefik", "what Traefik's Docker and Swarm providers read, nothing else",
	 B(V_TRAEFIK_API), 0},
	{"watchtower", "what Watchtower needs to pull and recreate containers, with no-host-escape",
	 B(V_WATCHTOWER_API) | HOST_ESCAPE, HOST_ESCAPE_OPTIONAL},
	{"portainer-agent", "the whole API, minus host escapes and the proxy's own container",
	 HOST_ESCAPE | SELF, HOST_ESCAPE_OPTIONAL},
	{"ci-runner", "what a CI runner's Docker executor needs, with no-host-escape",
	 B(V_CI_RUNNER_API) | HOST_ESCAPE, HOST_ESCAPE_OPTIONAL},
};
#define N_PRESETS (sizeof(presets) / sizeof(presets[0]))

/* Consumer allowlists: "METHOD endpoint" (endpoint as in dpp/route.h). */
static const char *const traefik_api[] = {
	"GET /_ping", "HEAD /_ping", "GET /version", "GET /info", "GET /events",
	"GET /containers/json", "GET /containers/{name}/json", "GET /networks",
	"GET /networks/{id}", "GET /services", "GET /services/{id}", "GET /tasks",
	"GET /nodes", NULL,
};

static const char *const watchtower_api[] = {
	"GET /_ping", "HEAD /_ping", "GET /version", "GET /info",
	"GET /containers/json", "GET /containers/{name}/json", "POST /containers/create",
	"POST /containers/{name}/start", "POST /containers/{name}/stop",
	"POST /containers/{name}/kill", "POST /containers/{name}/wait",
	"POST /containers/{name}/rename", "DELETE /containers/{name}", "GET /images/json", "GET /images/{name}/json", "POST /images/create",
	"DELETE /images/{name}", "GET /distribution/{name}/json", "GET /networks",
	"GET /networks/{id}", "POST /networks/{id}/connect", "POST /networks/{id}/disconnect",
	NULL,
};

static const char *const ci_runner_api[] = {
	"GET /_ping", "HEAD /_ping", "GET /version", "GET /info", "GET /events",
	"GET /images/json", "GET /images/{name}/json", "POST /images/create",
	"POST /images/{name}/tag", "POST /images/load", "DELETE /images/{name}",
	"GET /containers/json", "GET /containers/{name}/json", "POST /containers/create",
	"POST /containers/{name}/start", "POST /containers/{name}/stop",
	"POST /containers/{name}/kill", "POST /containers/{name}/wait",
	"POST /containers/{name}/attach", "POST /containers/{name}/resize",
	"GET /containers/{name}/logs", "DELETE /containers/{name}",
	"PUT /containers/{name}/archive", "GET /containers/{name}/archive",
	"HEAD /containers/{name}/archive", "POST /containers/{name}/exec",
	"POST /exec/{id}/start", "POST /exec/{id}/resize", "GET /exec/{id}/json",
	"GET /networks", "GET /networks/{id}", "POST /networks/create", "DELETE /networks/{id}",
	"POST /networks/{id}/connect", "POST /networks/{id}/disconnect",
	"GET /volumes", "GET /volumes/{name}", "POST /volumes/create", "DELETE /volumes/{name}",
	NULL,
};

/* ---- table access ---- */

const struct preset_def *preset_find(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < N_PRESETS; i++) {
		if (strcmp(presets[i].name, name) == 0)
			return &presets[i];
	}
	return NULL;
}

const char *preset_name(const struct preset_def *def)
{
	return def->name;
}

uint64_t preset_default_vectors(const struct preset_def *def)
{
	return def->vectors;
}

int preset_vector_find(const char *name)
{
	int i;

	for (i = 0; name != NULL && i < N_VEC; i++) {
		if (strcmp(vectors[i].name, name) == 0)
			return i;
	}
	return -1;
}

const char *preset_vector_name(int i)
{
	return i >= 0 && i < N_VEC ? vectors[i].name : NULL;
}

int preset_vector_count(void)
{
	return N_VEC;
}

void preset_cfg_free(struct preset_cfg *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->n_roles; i++)
		free(cfg->roles[i]);
	free(cfg->roles);
	free(cfg);
}

static void list_api(FILE *out, const char *const *api)
{
	size_t i, col = 6;

	fputs("      allows:", out);
	for (i = 0; api[i] != NULL; i++) {
		size_t n = strlen(api[i]) + 2;

		if (col + n > 96) {
			fputs("\n             ", out);
			col = 13;
		}
		fprintf(out, " %s%s", api[i], api[i + 1] != NULL ? "," : "");
		col += n;
	}
	fputc('\n', out);
}

int dpp_presets_list(FILE *out)
{
	size_t i;
	int v;

	for (i = 0; i < N_PRESETS; i++) {
		const struct preset_def *p = &presets[i];

		fprintf(out, "%s: %s\n", p->name, p->what);
		for (v = 0; v < N_VEC; v++) {
			if (!(p->vectors & B(v)))
				continue;
			fprintf(out, "  %-20s %s\n", vectors[v].name, vectors[v].what);
			if (v == V_TRAEFIK_API)
				list_api(out, traefik_api);
			else if (v == V_WATCHTOWER_API)
				list_api(out, watchtower_api);
			else if (v == V_CI_RUNNER_API)
				list_api(out, ci_runner_api);
		}
		if (p->optional != 0) {
			fputs("  optional (add with include:):\n", out);
			for (v = 0; v < N_VEC; v++) {
				if (p->optional & B(v))
					fprintf(out, "    %-18s %s\n", vectors[v].name,
						vectors[v].what);
			}
		}
		fputc('\n', out);
	}
	return ferror(out) ? -1 : 0;
}

/* ---- protect-self identity ---- */

static pthread_mutex_t self_lock = PTHREAD_MUTEX_INITIALIZER;
static char *self_id, *self_name, *self_socket, *self_socket_real, *self_config,
	*self_config_real;

static char *dup_nonempty(const char *s, int *oom)
{
	char *d;

	if (s == NULL || *s == '\0')
		return NULL;
	d = strdup(s);
	if (d == NULL)
		*oom = 1;
	return d;
}

/* realpath of s when it differs from s, else NULL. */
static char *dup_real(const char *s, int *oom)
{
	char *r;

	if (s == NULL || *s == '\0')
		return NULL;
	r = realpath(s, NULL);
	if (r != NULL && strcmp(r, s) == 0) {
		free(r);
		return NULL;
	}
	(void)oom; /* realpath fails for absent files too: nothing to add */
	return r;
}

int dpp_presets_set_self(const char *container_id, const char *container_name,
			 const char *socket_path, const char *config_path)
{
	int oom = 0;
	char *id = dup_nonempty(container_id, &oom);
	char *name = dup_nonempty(container_name != NULL && *container_name == '/'
					  ? container_name + 1
					  : container_name,
				  &oom);
	char *sock = dup_nonempty(socket_path, &oom), *sock_real = dup_real(socket_path, &oom);
	char *conf = dup_nonempty(config_path, &oom), *conf_real = dup_real(config_path, &oom);

	if (oom) {
		free(id);
		free(name);
		free(sock);
		free(sock_real);
		free(conf);
		free(conf_real);
		return -1;
	}
	pthread_mutex_lock(&self_lock);
	free(self_id);
	free(self_name);
	free(self_socket);
	free(self_socket_real);
	free(self_config);
	free(self_config_real);
	self_id = id;
	self_name = name;
	self_socket = sock;
	self_socket_real = sock_real;
	self_config = conf;
	self_config_real = conf_real;
	pthread_mutex_unlock(&self_lock);
	return 0;
}

static int find_hex_id(const char *line, const char *marker, char *out, size_t len)
{
	const char *p = line;
	size_t m = strlen(marker), k;

	while ((p = strstr(p, marker)) != NULL) {
		p += m;
		for (k = 0; k < 64 && isxdigit((unsigned char)p[k]) && !isupper((unsigned char)p[k]); k++)
			;
		if (k == 64 && !isxdigit((unsigned char)p[64]) && len > 64) {
			memcpy(out, p, 64);
			out[64] = '\0';
			return 0;
		}
	}
	return -1;
}

/* A mountinfo line (proc(5): ID PARENT MAJ:MIN ROOT MOUNTPOINT ...) of one
 * of the files dockerd bind-mounts into a container from its directory
 * /var/lib/docker/containers/ID/: the mount point is /etc/hostname,
 * /etc/hosts or /etc/resolv.conf. On a Docker host, the host's own
 * mountinfo lists other containers' directories too (their shm mounts, at
 * those paths as mount points): they are not this process's container. */
static int mountinfo_id(char *line, char *out, size_t len)
{
	char *f[5], *save = NULL;
	int i;

	for (i = 0; i < 5; i++) {
		f[i] = strtok_r(i == 0 ? line : NULL, " ", &save);
		if (f[i] == NULL)
			return -1;
	}
	if (strcmp(f[4], "/etc/hostname") != 0 && strcmp(f[4], "/etc/hosts") != 0 &&
	    strcmp(f[4], "/etc/resolv.conf") != 0)
		return -1;
	return find_hex_id(f[3], "/containers/", out, len);
}

static int scan_file(const char *file, const char *const *markers, char *out, size_t len)
{
	FILE *f = fopen(file, "re");
	char line[4096];
	size_t i;
	int rc = -1;

	if (f == NULL)
		return -1;
	while (rc < 0 && fgets(line, sizeof(line), f) != NULL) {
		if (markers == NULL) {
			rc = mountinfo_id(line, out, len);
			continue;
		}
		for (i = 0; markers[i] != NULL && rc < 0; i++)
			rc = find_hex_id(line, markers[i], out, len);
	}
	fclose(f);
	return rc;
}

int dpp_presets_detect_container(const char *mountinfo, const char *cgroup, char *out,
				 size_t len)
{
	static const char *const cg[] = {"docker/", "docker-", NULL};

	if (scan_file(mountinfo != NULL ? mountinfo : "/proc/self/mountinfo", NULL, out, len) == 0)
		return 0;
	return scan_file(cgroup != NULL ? cgroup : "/proc/self/cgroup", cg, out, len);
}

/* ---- evaluation helpers ---- */

struct px {
	const struct preset_cfg *cfg;
	const struct dpp_request_view *req;
	char *msg;
};

/* Up to VALUE_SHOWN bytes of client text, printable ASCII only. */
static void shown(char *dst, size_t n, const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i < VALUE_SHOWN && i + 4 < n; i++)
		dst[i] = (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f ? s[i] : '?';
	if (s[i] != '\0' && i + 4 < n) {
		memcpy(dst + i, "...", 3);
		i += 3;
	}
	dst[i] = '\0';
}

static bool on(const struct px *x, enum vec v)
{
	return (x->cfg->vectors & B(v)) != 0;
}

/* Records the refusal; returns 1 (a vector matched) or -1 (no memory). */
__attribute__((format(printf, 3, 4))) static int hit(struct px *x, enum vec v, const char *fmt,
						     ...)
{
	char detail[MSG_MAX], buf[MSG_MAX + 128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	snprintf(buf, sizeof(buf), "preset %s: %s: %s", x->cfg->def->name, vectors[v].name, detail);
	x->msg = strdup(buf);
	return x->msg != NULL ? 1 : -1;
}

#define TRY(e)                         \
	do {                           \
		int r_ = (e);          \
		if (r_ != 0)           \
			return r_;     \
	} while (0)

static const cJSON *mem(const cJSON *o, const char *k)
{
	return dpp_body_member(o, k, 0);
}

static const char *str(const cJSON *j)
{
	return cJSON_IsString(j) ? j->valuestring : NULL;
}

/* Non-empty array or object (Go: len > 0). */
static bool nonempty(const cJSON *j)
{
	return (cJSON_IsArray(j) || cJSON_IsObject(j)) && j->child != NULL;
}

static const cJSON *body_root(const struct px *x)
{
	if (x->req->body_get == NULL)
		return NULL;
	return x->req->body_get(x->req->body_ctx, NULL, 0);
}

static const char *query(const struct px *x, const char *name)
{
	return x->req->query_get != NULL ? x->req->query_get(x->req->query_ctx, name) : NULL;
}

static bool is(const char *a, const char *b)
{
	return a != NULL && strcmp(a, b) == 0;
}

/* Go's path.Clean for an absolute path, into dst (n bytes, at least 2).
 * Relative input is cleaned as if rooted. Returns 0, or -1 when the result
 * does not fit: dst is then "/" (which covers every path, so the callers'
 * checks fail closed). */
static int clean_path(const char *s, char *dst, size_t n)
{
	size_t len = 0, seg;

	dst[len++] = '/';
	while (*s != '\0') {
		while (*s == '/')
			s++;
		seg = strcspn(s, "/");
		if (seg == 0)
			break;
		if (seg == 1 && s[0] == '.') {
			/* nothing */
		} else if (seg == 2 && s[0] == '.' && s[1] == '.') {
			while (len > 1 && dst[len - 1] != '/')
				len--;
			if (len > 1)
				len--; /* the '/' before the dropped segment */
		} else if (len + seg + 1 < n) {
			if (len > 1)
				dst[len++] = '/';
			memcpy(dst + len, s, seg);
			len += seg;
		} else {
			/* dropping the segment would let a later ".." climb
			 * over the wrong parent */
			dst[0] = '/';
			dst[1] = '\0';
			return -1;
		}
		s += seg;
	}
	dst[len] = '\0';
	return 0;
}

/* 1 when the comma-separated list has an item for which pred holds; read in
 * place, so no length limit. */
static bool has_item(const char *list, bool (*pred)(const char *item, size_t len))
{
	while (list != NULL) {
		size_t n = strcspn(list, ",");

		if (pred(list, n))
			return true;
		list = list[n] == ',' ? list + n + 1 : NULL;
	}
	return false;
}

static bool item_is(const char *item, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(item, word, n) == 0;
}

static bool is_bind_opt(const char *item, size_t n)
{
	return item_is(item, n, "bind") || item_is(item, n, "rbind");
}

static bool is_unsafe_tmpfs_opt(const char *item, size_t n)
{
	return item_is(item, n, "exec") || item_is(item, n, "dev") || item_is(item, n, "suid");
}

/* 1 when `a` is `b` or a directory above it (both clean absolute paths). */
static bool covers(const char *a, const char *b)
{
	size_t n = strlen(a);

	if (strcmp(a, "/") == 0)
		return true;
	return strncmp(a, b, n) == 0 && (b[n] == '\0' || b[n] == '/');
}

/* ---- container settings ---- */

/* Docker's default capability set (moby oci/caps/defaults.go): adding one
 * of these changes nothing. */
static const char *const default_caps[] = {
	"CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID",
	"SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL",
	"AUDIT_WRITE", NULL,
};

/* CapAdd entries as moby's caps.NormalizeLegacyCapabilities reads them:
 * upper-cased, "CAP_" added unless present, "ALL" kept. */
static int check_caps(struct px *x, const cJSON *arr, const char *label)
{
	const cJSON *e;
	char up[80], sh[VALUE_SHOWN + 8];
	size_t i, k;

	if (!on(x, V_CAP_ADD) || !cJSON_IsArray(arr))
		return 0;
	cJSON_ArrayForEach(e, arr) {
		const char *s = str(e), *name;

		if (s == NULL)
			continue; /* Go refuses a non-string: dockerd answers 400 */
		for (i = 0; s[i] != '\0' && i + 1 < sizeof(up); i++)
			up[i] = (char)toupper((unsigned char)s[i]);
		up[i] = '\0';
		shown(sh, sizeof(sh), s);
		if (s[i] != '\0')
			return hit(x, V_CAP_ADD, "%s adds %s", label, sh);
		name = strncmp(up, "CAP_", 4) == 0 ? up + 4 : up;
		if (strcmp(up, "ALL") == 0)
			return hit(x, V_CAP_ADD, "%s adds ALL%s%s%s", label,
				   strcmp(s, "ALL") != 0 ? " (sent as " : "",
				   strcmp(s, "ALL") != 0 ? sh : "", strcmp(s, "ALL") != 0 ? ")" : "");
		for (k = 0; default_caps[k] != NULL; k++) {
			if (strcmp(name, default_caps[k]) == 0)
				break;
		}
		if (default_caps[k] == NULL) {
			/* show the client's spelling when it is not the canonical one */
			bool canon = strncmp(s, "CAP_", 4) == 0 && strcmp(s + 4, name) == 0;

			return hit(x, V_CAP_ADD, "%s adds CAP_%s%s%s%s", label, name,
				   canon ? "" : " (sent as ", canon ? "" : sh, canon ? "" : ")");
		}
	}
	return 0;
}

/* Docker's volume name pattern (moby volume/local: [a-zA-Z0-9][a-zA-Z0-9_.-]+,
 * at least two characters, so a Windows drive letter is never a name). */
static bool volume_name(const char *s)
{
	size_t i;

	if (!isalnum((unsigned char)s[0]) || s[1] == '\0')
		return false;
	for (i = 1; s[i] != '\0'; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return false;
	}
	return true;
}

/* The modes of a Binds entry (moby volume/mounts linux_parser.go). */
static bool bind_mode(const char *s)
{
	static const char *const modes[] = {"ro", "rw", "z", "Z", "nocopy", "shared",
					    "rshared", "slave", "rslave", "private",
					    "rprivate", "consistent", "cached", "delegated",
					    NULL};
	char buf[128];
	char *tok, *save = NULL;
	size_t k;

	if (*s == '\0' || strlen(s) >= sizeof(buf))
		return false;
	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		for (k = 0; modes[k] != NULL && strcmp(tok, modes[k]) != 0; k++)
			;
		if (modes[k] == NULL)
			return false;
	}
	return true;
}

/* protect-self: a host path (clean) that is, or lies above, the proxy's
 * socket or configuration file. Called with self_lock held. */
static const char *self_path_hit(const char *clean)
{
	const char *const paths[] = {self_socket, self_socket_real, self_config, self_config_real};
	char c[4096];
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		if (paths[i] == NULL)
			continue;
		clean_path(paths[i], c, sizeof(c));
		if (covers(clean, c))
			return paths[i];
	}
	return NULL;
}

/* A host path used as a bind source: bind-mount (any host path) and
 * self-paths (the proxy's socket or configuration). */
static int host_path(struct px *x, const char *label, const char *src)
{
	char c[4096], sh[VALUE_SHOWN + 8];
	const char *p;
	int r = 0;

	shown(sh, sizeof(sh), src);
	if (on(x, V_SELF_PATHS)) {
		clean_path(src, c, sizeof(c));
		pthread_mutex_lock(&self_lock);
		p = self_path_hit(c);
		if (p != NULL) {
			char ps[VALUE_SHOWN + 8];

			shown(ps, sizeof(ps), p);
			r = hit(x, V_SELF_PATHS, "%s mounts %s, which holds the proxy's %s", label,
				sh, p == self_socket || p == self_socket_real ? "Docker socket"
									      : "configuration");
		}
		pthread_mutex_unlock(&self_lock);
		TRY(r);
	}
	if (on(x, V_BIND_MOUNT))
		return hit(x, V_BIND_MOUNT, "%s mounts host path %s", label, sh);
	return 0;
}

/* Binds: "[src:]dst[:mode]" as moby's Linux parser splits it. A source that
 * is not a volume name is a host path (absolute on Linux; on Windows drive
 * and UNC forms): refused. More than two ':' cannot be judged here. */
static int check_binds(struct px *x, const cJSON *arr, const char *label)
{
	const cJSON *e;
	char lab[128], src[4096];
	int i = 0;

	if (!(on(x, V_BIND_MOUNT) || on(x, V_SELF_PATHS)) || !cJSON_IsArray(arr))
		return 0;
	cJSON_ArrayForEach(e, arr) {
		const char *s = str(e), *c1, *c2;
		size_t colons = 0, k;

		snprintf(lab, sizeof(lab), "%s[%d]", label, i++);
		if (s == NULL)
			continue;
		for (k = 0; s[k] != '\0'; k++)
			colons += s[k] == ':';
		c1 = strchr(s, ':');
		c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
		if (colons > 2 || strchr(s, '\\') != NULL) {
			TRY(host_path(x, lab, s));
			continue;
		}
		if (c1 == NULL)
			continue; /* an anonymous volume at a container path */
		if (c2 == NULL && bind_mode(c1 + 1))
			continue; /* "dst:mode": anonymous volume */
		if ((size_t)(c1 - s) >= sizeof(src)) {
			TRY(host_path(x, lab, s));
			continue;
		}
		memcpy(src, s, (size_t)(c1 - s));
		src[c1 - s] = '\0';
		if (volume_name(src))
			continue;
		TRY(host_path(x, lab, src));
	}
	return 0;
}

/* A Subpath stays inside the volume or image: relative, no "..". */
static int check_subpath(struct px *x, const cJSON *opts, const char *label)
{
	const char *s = str(mem(opts, "Subpath"));
	char sh[VALUE_SHOWN + 8];
	size_t i = 0, n;

	if (!on(x, V_MOUNT_SUBPATH) || s == NULL || *s == '\0')
		return 0;
	shown(sh, sizeof(sh), s);
	if (s[0] == '/' || s[0] == '\\')
		return hit(x, V_MOUNT_SUBPATH, "%s.Subpath %s is absolute", label, sh);
	while (s[i] != '\0') {
		n = strcspn(s + i, "/\\");
		if (n == 2 && s[i] == '.' && s[i + 1] == '.')
			return hit(x, V_MOUNT_SUBPATH, "%s.Subpath %s climbs out with ..", label, sh);
		i += n;
		if (s[i] != '\0')
			i++;
	}
	return 0;
}

/* Options of the local volume driver that mount something of the host
 * (moby volume/local/local_unix.go: type, o, device -> mount(2)): a device
 * other than tmpfs's, or o with bind/rbind. */
static int check_driver_opts(struct px *x, const char *driver, const cJSON *opts,
			     const char *label)
{
	const char *type, *dev, *o;
	char sh[VALUE_SHOWN + 8];

	if (on(x, V_VOLUME_DRIVER) && driver != NULL && *driver != '\0' &&
	    strcmp(driver, "local") != 0) {
		shown(sh, sizeof(sh), driver);
		return hit(x, V_VOLUME_DRIVER, "%s uses volume driver %s", label, sh);
	}
	if (!cJSON_IsObject(opts))
		return 0;
	type = str(dpp_body_member(opts, "type", 1));
	dev = str(dpp_body_member(opts, "device", 1));
	o = str(dpp_body_member(opts, "o", 1));
	if (on(x, V_SELF_PATHS) && dev != NULL && dev[0] == '/') {
		char c[4096];
		const char *p;
		int r = 0;

		clean_path(dev, c, sizeof(c));
		pthread_mutex_lock(&self_lock);
		p = self_path_hit(c);
		if (p != NULL) {
			shown(sh, sizeof(sh), dev);
			r = hit(x, V_SELF_PATHS, "%s device %s holds the proxy's socket or configuration",
				label, sh);
		}
		pthread_mutex_unlock(&self_lock);
		TRY(r);
	}
	if (!on(x, V_VOLUME_HOST_PATH))
		return 0;
	if (o != NULL && has_item(o, is_bind_opt)) {
		shown(sh, sizeof(sh), dev != NULL ? dev : "(none)");
		return hit(x, V_VOLUME_HOST_PATH, "%s o=bind binds host path %s", label, sh);
	}
	if (dev != NULL && !(is(type, "tmpfs") && is(dev, "tmpfs"))) {
		shown(sh, sizeof(sh), dev);
		return hit(x, V_VOLUME_HOST_PATH, "%s device=%s mounts a host path or device", label,
			   sh);
	}
	return 0;
}

static bool tmpfs_opt_unsafe(const char *tok)
{
	return strcmp(tok, "exec") == 0 || strcmp(tok, "dev") == 0 || strcmp(tok, "suid") == 0;
}

/* Mounts (moby api/types/mount): Type bind/npipe is a host path; volume,
 * tmpfs and image are the only others allowed; Subpath, driver options. */
static int check_mounts(struct px *x, const cJSON *arr, const char *label)
{
	const cJSON *m;
	char lab[160], sub[200], sh[VALUE_SHOWN + 8];
	int i = 0;

	if (!cJSON_IsArray(arr))
		return 0;
	cJSON_ArrayForEach(m, arr) {
		const char *type = str(mem(m, "Type")), *src = str(mem(m, "Source"));

		snprintf(lab, sizeof(lab), "%s[%d]", label, i++);
		if (!cJSON_IsObject(m))
			continue;
		if (is(type, "bind") || is(type, "npipe")) {
			snprintf(sub, sizeof(sub), "%s (type %s)", lab, type);
			TRY(host_path(x, sub, src != NULL ? src : ""));
			continue;
		}
		if (!is(type, "volume") && !is(type, "tmpfs") && !is(type, "image")) {
			if (on(x, V_MOUNT_TYPE)) {
				shown(sh, sizeof(sh), type != NULL ? type : "(missing)");
				return hit(x, V_MOUNT_TYPE, "%s has type %s", lab, sh);
			}
			continue;
		}
		if (is(type, "volume")) {
			const cJSON *vo = mem(m, "VolumeOptions");
			const cJSON *dc = mem(vo, "DriverConfig");

			/* no ':' parsing here: only a path-like name is a path */
			if (src != NULL && (strchr(src, '/') != NULL || strchr(src, '\\') != NULL ||
					    src[0] == '.' || src[0] == '~')) {
				snprintf(sub, sizeof(sub), "%s (type volume)", lab);
				TRY(host_path(x, sub, src));
			}
			snprintf(sub, sizeof(sub), "%s.VolumeOptions", lab);
			TRY(check_subpath(x, vo, sub));
			snprintf(sub, sizeof(sub), "%s.VolumeOptions.DriverConfig", lab);
			TRY(check_driver_opts(x, str(mem(dc, "Name")), mem(dc, "Options"), sub));
		} else if (is(type, "image")) {
			snprintf(sub, sizeof(sub), "%s.ImageOptions", lab);
			TRY(check_subpath(x, mem(m, "ImageOptions"), sub));
		} else if (on(x, V_TMPFS_EXEC)) {
			/* TmpfsOptions.Options (API 1.46): [["exec"], ["size", "1g"]] */
			const cJSON *o, *opts = mem(mem(m, "TmpfsOptions"), "Options");

			cJSON_ArrayForEach(o, (cJSON_IsArray(opts) ? opts : NULL)) {
				const char *k = str(cJSON_GetArrayItem(o, 0));

				if (k != NULL && tmpfs_opt_unsafe(k))
					return hit(x, V_TMPFS_EXEC, "%s.TmpfsOptions sets %s", lab, k);
			}
		}
	}
	return 0;
}

/* SecurityOpt as moby daemon parseSecurityOpt reads it: "no-new-privileges"
 * and "disable" alone; else KEY=VALUE, or KEY:VALUE when there is no '='. */
static int check_secopt(struct px *x, const cJSON *arr, const char *label)
{
	const cJSON *e;
	char key[64], sh[VALUE_SHOWN + 8];

	if (!cJSON_IsArray(arr))
		return 0;
	cJSON_ArrayForEach(e, arr) {
		const char *s = str(e), *sep, *val;
		size_t kl;

		if (s == NULL)
			continue;
		shown(sh, sizeof(sh), s);
		if (strcmp(s, "no-new-privileges") == 0)
			continue;
		if (strcmp(s, "disable") == 0) {
			if (on(x, V_SELINUX_LABEL))
				return hit(x, V_SELINUX_LABEL, "%s %s turns SELinux labels off", label, sh);
			continue;
		}
		sep = strchr(s, '=');
		if (sep == NULL)
			sep = strchr(s, ':');
		if (sep == NULL || (kl = (size_t)(sep - s)) >= sizeof(key)) {
			if (on(x, V_SECURITY_OPT))
				return hit(x, V_SECURITY_OPT, "%s %s is not a known option", label, sh);
			continue;
		}
		memcpy(key, s, kl);
		key[kl] = '\0';
		val = sep + 1;
		if (strcmp(key, "seccomp") == 0) {
			/* unconfined, or a custom profile (the CLI sends the
			 * file's JSON): neither is Docker's default filter. */
			if (on(x, V_SECCOMP) && strcmp(val, "builtin") != 0)
				return hit(x, V_SECCOMP, "%s %s replaces Docker's seccomp profile", label,
					   strcasecmp(val, "unconfined") == 0 ? sh : "seccomp=<custom profile>");
		} else if (strcmp(key, "apparmor") == 0) {
			if (on(x, V_APPARMOR) && strcasecmp(val, "unconfined") == 0)
				return hit(x, V_APPARMOR, "%s %s turns AppArmor off", label, sh);
		} else if (strcmp(key, "label") == 0) {
			/* disable, and user/role/type (spc_t, unconfined_t) lift
			 * the confinement; level (MCS) only narrows it. */
			if (on(x, V_SELINUX_LABEL) && strncmp(val, "level:", 6) != 0)
				return hit(x, V_SELINUX_LABEL, "%s %s changes SELinux confinement", label, sh);
		} else if (strcmp(key, "no-new-privileges") == 0) {
			/* strconv.ParseBool; anything else dockerd refuses. */
			static const char *const truth[] = {"1", "t", "T", "TRUE", "true", "True", NULL};
			size_t k;

			for (k = 0; truth[k] != NULL && strcmp(val, truth[k]) != 0; k++)
				;
			if (on(x, V_NO_NEW_PRIVILEGES) && truth[k] == NULL)
				return hit(x, V_NO_NEW_PRIVILEGES, "%s %s lets processes gain privileges",
					   label, sh);
		} else if (strcmp(key, "systempaths") == 0) {
			if (on(x, V_SYSTEMPATHS))
				return hit(x, V_SYSTEMPATHS, "%s %s unmasks /proc and /sys", label, sh);
		} else if (on(x, V_SECURITY_OPT)) {
			return hit(x, V_SECURITY_OPT, "%s %s is not a known option", label, sh);
		}
	}
	return 0;
}

/* MaskedPaths / ReadonlyPaths replace Docker's lists when set (moby
 * daemon/oci_linux.go WithMaskedPaths): each default must stay. */
static int check_paths_kept(struct px *x, const cJSON *arr, const char *label,
			    const char *const *defaults)
{
	size_t k;
	const cJSON *e;

	if (!on(x, V_SYSTEMPATHS) || !cJSON_IsArray(arr))
		return 0;
	for (k = 0; defaults[k] != NULL; k++) {
		cJSON_ArrayForEach(e, arr) {
			if (is(str(e), defaults[k]))
				break;
		}
		if (e == NULL)
			return hit(x, V_SYSTEMPATHS, "%s leaves out %s", label, defaults[k]);
	}
	return 0;
}

static const char *const masked_defaults[] = {
	"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
	"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
	"/sys/firmware", NULL,
};
static const char *const readonly_defaults[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};

/* protect-self: "REF" names the proxy's container (an id prefix, the name).
 * Called with self_lock held. */
static bool self_ref(const char *ref)
{
	size_t n;

	if (ref == NULL || *ref == '\0')
		return false;
	n = strlen(ref);
	if (self_id != NULL && n <= 64 && strncasecmp(self_id, ref, n) == 0)
		return true;
	if (ref[0] == '/')
		ref++;
	return self_name != NULL && strcmp(ref, self_name) == 0;
}

static int self_container_mode(struct px *x, const char *label, const char *mode)
{
	int r = 0;

	if (!on(x, V_SELF_CONTAINER) || mode == NULL || strncasecmp(mode, "container:", 10) != 0)
		return 0;
	pthread_mutex_lock(&self_lock);
	if (self_ref(mode + 10))
		r = hit(x, V_SELF_CONTAINER, "%s joins the proxy's own container", label);
	pthread_mutex_unlock(&self_lock);
	return r;
}

/* A namespace mode: refused unless one of `safe`. */
static int check_mode(struct px *x, enum vec v, const cJSON *hc, const char *field,
		      const char *prefix, const char *const *safe)
{
	const char *s = str(mem(hc, field));
	char lab[96], sh[VALUE_SHOWN + 8];
	size_t k;

	snprintf(lab, sizeof(lab), "%s%s", prefix, field);
	TRY(self_container_mode(x, lab, s));
	if (!on(x, v) || s == NULL || *s == '\0')
		return 0;
	for (k = 0; safe[k] != NULL; k++) {
		if (strcmp(s, safe[k]) == 0)
			return 0;
	}
	shown(sh, sizeof(sh), s);
	return hit(x, v, "%s is %s", lab, sh);
}

static int check_nonempty(struct px *x, enum vec v, const cJSON *obj, const char *field,
			  const char *prefix, const char *what)
{
	const cJSON *j = mem(obj, field);
	char sh[VALUE_SHOWN + 8];

	if (!on(x, v))
		return 0;
	if (nonempty(j)) {
		const cJSON *first = j->child;
		const char *s = cJSON_IsObject(j) ? first->string /* Sysctls */ : str(first);

		if (s == NULL && cJSON_IsObject(first))
			s = str(mem(first, "PathOnHost")); /* Devices */
		if (s == NULL && cJSON_IsObject(first))
			s = str(mem(first, "Driver")); /* DeviceRequests */
		shown(sh, sizeof(sh), s != NULL ? s : "");
		return hit(x, v, "%s%s %s %s", prefix, field, what, sh);
	}
	if (cJSON_IsString(j) && j->valuestring[0] != '\0') {
		shown(sh, sizeof(sh), j->valuestring);
		return hit(x, v, "%s%s %s %s", prefix, field, what, sh);
	}
	return 0;
}

/* /proc after cleaning: the runc working-directory escapes
 * (/proc/self/fd/N, CVE-2024-21626). */
static int check_workdir(struct px *x, const char *dir, const char *label)
{
	char c[4096], sh[VALUE_SHOWN + 8];

	if (!on(x, V_WORKDIR_PROC) || dir == NULL || *dir == '\0')
		return 0;
	if (clean_path(dir, c, sizeof(c)) < 0) {
		shown(sh, sizeof(sh), dir);
		return hit(x, V_WORKDIR_PROC, "%s %s is too long to judge", label, sh);
	}
	if (covers("/proc", c)) {
		shown(sh, sizeof(sh), dir);
		return hit(x, V_WORKDIR_PROC, "%s %s is under /proc", label, sh);
	}
	return 0;
}

/* "user[:group]" names root when either part is root or a number that
 * strconv.Atoi reads as 0 ("0", "00", "+0", "-0"). Missing = unknown = root. */
static bool root_user(const char *u)
{
	char part[256];
	const char *p = u;

	if (u == NULL || *u == '\0')
		return true;
	while (p != NULL) {
		size_t n = strcspn(p, ":");
		size_t i = 0;

		if (n >= sizeof(part))
			return true;
		memcpy(part, p, n);
		part[n] = '\0';
		if (strcmp(part, "root") == 0)
			return true;
		if (part[0] == '+' || part[0] == '-')
			i = 1;
		if (part[i] != '\0' && strspn(part + i, "0") == strlen(part + i))
			return true;
		p = p[n] == ':' ? p + n + 1 : NULL;
	}
	return false;
}

static int check_user(struct px *x, enum vec v, const cJSON *obj, const char *field,
		      const char *label)
{
	const char *u = str(mem(obj, field));
	char sh[VALUE_SHOWN + 8];

	if (!on(x, v) || !root_user(u))
		return 0;
	if (u == NULL || *u == '\0')
		return hit(x, v, "%s is not set (the image's user may be root)", label);
	shown(sh, sizeof(sh), u);
	return hit(x, v, "%s %s is root", label, sh);
}

/* Resources fields shared by HostConfig and the update body. */
static int check_resources(struct px *x, const cJSON *o, const char *prefix)
{
	TRY(check_nonempty(x, V_DEVICES, o, "Devices", prefix, "maps"));
	TRY(check_nonempty(x, V_DEVICE_CGROUP_RULES, o, "DeviceCgroupRules", prefix, "allows"));
	TRY(check_nonempty(x, V_DEVICE_REQUESTS, o, "DeviceRequests", prefix, "requests"));
	TRY(check_nonempty(x, V_CGROUP_PARENT, o, "CgroupParent", prefix, "is"));
	return 0;
}

static int check_volumes_from(struct px *x, const cJSON *arr, const char *label)
{
	const cJSON *e;
	char ref[256];
	int r = 0;

	if (!nonempty(arr))
		return 0;
	if (on(x, V_SELF_CONTAINER)) {
		cJSON_ArrayForEach(e, arr) {
			const char *s = str(e);
			size_t n;

			if (s == NULL)
				continue;
			n = strcspn(s, ":");
			if (n >= sizeof(ref))
				continue;
			memcpy(ref, s, n);
			ref[n] = '\0';
			pthread_mutex_lock(&self_lock);
			if (self_ref(ref))
				r = hit(x, V_SELF_CONTAINER, "%s takes the mounts of the proxy's own container",
					label);
			pthread_mutex_unlock(&self_lock);
			TRY(r);
		}
	}
	if (on(x, V_VOLUMES_FROM)) {
		char sh[VALUE_SHOWN + 8];

		shown(sh, sizeof(sh), str(arr->child) != NULL ? str(arr->child) : "");
		return hit(x, V_VOLUMES_FROM, "%s takes the mounts of %s", label, sh);
	}
	return 0;
}

/* HostConfig of container create (moby api/types/container/hostconfig.go). */
static int check_hostconfig(struct px *x, const cJSON *hc)
{
	static const char *const none[] = {NULL};
	static const char *const ipc_safe[] = {"none", "private", "shareable", NULL};
	static const char *const cgroupns_safe[] = {"private", NULL};
	const char *nm = str(mem(hc, "NetworkMode")), *tmp;
	const cJSON *j, *e;
	char sh[VALUE_SHOWN + 8];

	if (!cJSON_IsObject(hc))
		return 0;
	if (on(x, V_PRIVILEGED) && cJSON_IsTrue(mem(hc, "Privileged")))
		return hit(x, V_PRIVILEGED, "HostConfig.Privileged is true");
	TRY(check_caps(x, mem(hc, "CapAdd"), "HostConfig.CapAdd"));
	TRY(check_caps(x, mem(hc, "Capabilities"), "HostConfig.Capabilities"));
	TRY(check_binds(x, mem(hc, "Binds"), "HostConfig.Binds"));
	TRY(check_mounts(x, mem(hc, "Mounts"), "HostConfig.Mounts"));
	tmp = str(mem(hc, "VolumeDriver"));
	TRY(check_driver_opts(x, tmp, NULL, "HostConfig.VolumeDriver"));
	TRY(check_volumes_from(x, mem(hc, "VolumesFrom"), "HostConfig.VolumesFrom"));
	if (on(x, V_TMPFS_EXEC)) {
		cJSON_ArrayForEach(e, (cJSON_IsObject(j = mem(hc, "Tmpfs")) ? j : NULL)) {
			if (str(e) == NULL || !has_item(e->valuestring, is_unsafe_tmpfs_opt))
				continue;
			shown(sh, sizeof(sh), e->string);
			return hit(x, V_TMPFS_EXEC,
				   "HostConfig.Tmpfs %s is mounted exec, dev or suid", sh);
		}
	}
	TRY(check_resources(x, hc, "HostConfig."));
	TRY(check_mode(x, V_PID_HOST, hc, "PidMode", "HostConfig.", none));
	TRY(check_mode(x, V_IPC_HOST, hc, "IpcMode", "HostConfig.", ipc_safe));
	TRY(check_mode(x, V_UTS_HOST, hc, "UTSMode", "HostConfig.", none));
	TRY(check_mode(x, V_USERNS_HOST, hc, "UsernsMode", "HostConfig.", none));
	TRY(check_mode(x, V_CGROUPNS_HOST, hc, "CgroupnsMode", "HostConfig.", cgroupns_safe));
	TRY(self_container_mode(x, "HostConfig.NetworkMode", nm));
	if (on(x, V_NETWORK_HOST) && nm != NULL &&
	    (strcasecmp(nm, "host") == 0 || strncasecmp(nm, "container:", 10) == 0)) {
		shown(sh, sizeof(sh), nm);
		return hit(x, V_NETWORK_HOST, "HostConfig.NetworkMode is %s", sh);
	}
	TRY(check_secopt(x, mem(hc, "SecurityOpt"), "HostConfig.SecurityOpt"));
	TRY(check_paths_kept(x, mem(hc, "MaskedPaths"), "HostConfig.MaskedPaths", masked_defaults));
	TRY(check_paths_kept(x, mem(hc, "ReadonlyPaths"), "HostConfig.ReadonlyPaths",
			     readonly_defaults));
	TRY(check_nonempty(x, V_SYSCTLS, hc, "Sysctls", "HostConfig.", "sets"));
	tmp = str(mem(hc, "Runtime"));
	/* runc by either of its reserved names; anything else (nvidia injects
	 * devices, sysbox and kata isolate differently) is not Docker's default */
	if (on(x, V_RUNTIME) && tmp != NULL && *tmp != '\0' && strcmp(tmp, "runc") != 0 &&
	    strcmp(tmp, "io.containerd.runc.v2") != 0) {
		shown(sh, sizeof(sh), tmp);
		return hit(x, V_RUNTIME, "HostConfig.Runtime is %s", sh);
	}
	TRY(check_nonempty(x, V_GROUP_ADD, hc, "GroupAdd", "HostConfig.", "adds"));
	TRY(check_nonempty(x, V_EXTRA_HOSTS, hc, "ExtraHosts", "HostConfig.", "adds"));
	return 0;
}

static int check_container_create(struct px *x, const cJSON *root)
{
	const cJSON *eps = mem(mem(root, "NetworkingConfig"), "EndpointsConfig"), *e;

	TRY(check_hostconfig(x, mem(root, "HostConfig")));
	TRY(check_workdir(x, str(mem(root, "WorkingDir")), "WorkingDir"));
	TRY(check_user(x, V_ROOT_USER, root, "User", "User"));
	if (on(x, V_NETWORK_HOST) && cJSON_IsObject(eps)) {
		cJSON_ArrayForEach(e, eps) {
			if (e->string != NULL && strcasecmp(e->string, "host") == 0)
				return hit(x, V_NETWORK_HOST,
					   "NetworkingConfig.EndpointsConfig connects to host");
		}
	}
	return 0;
}

/* Service spec (moby api/types/swarm): TaskTemplate.ContainerSpec,
 * TaskTemplate.Networks (and the deprecated top-level Networks),
 * TaskTemplate.Runtime / PluginSpec. */
static int check_service(struct px *x, const cJSON *root)
{
	const cJSON *ts = mem(root, "TaskTemplate"), *cs = mem(ts, "ContainerSpec");
	const cJSON *pv = mem(cs, "Privileges"), *se, *n;
	const char *rt = str(mem(ts, "Runtime")), *s;
	const cJSON *nets[2] = {mem(ts, "Networks"), mem(root, "Networks")};
	char sh[VALUE_SHOWN + 8];
	int k;

	if (on(x, V_PLUGIN_PRIVILEGES) &&
	    ((rt != NULL && *rt != '\0' && strcmp(rt, "container") != 0) ||
	     mem(ts, "PluginSpec") != NULL)) {
		shown(sh, sizeof(sh), rt != NULL ? rt : "plugin");
		return hit(x, V_PLUGIN_PRIVILEGES, "TaskTemplate.Runtime %s installs a plugin", sh);
	}
	for (k = 0; k < 2; k++) {
		cJSON_ArrayForEach(n, (cJSON_IsArray(nets[k]) ? nets[k] : NULL)) {
			s = str(mem(n, "Target"));
			if (on(x, V_NETWORK_HOST) && s != NULL && strcasecmp(s, "host") == 0)
				return hit(x, V_NETWORK_HOST, "%sNetworks attaches to host",
					   k == 0 ? "TaskTemplate." : "");
		}
	}
	if (!cJSON_IsObject(cs))
		return 0;
	TRY(check_caps(x, mem(cs, "CapabilityAdd"), "TaskTemplate.ContainerSpec.CapabilityAdd"));
	TRY(check_caps(x, mem(cs, "Capabilities"), "TaskTemplate.ContainerSpec.Capabilities"));
	TRY(check_mounts(x, mem(cs, "Mounts"), "TaskTemplate.ContainerSpec.Mounts"));
	TRY(check_nonempty(x, V_SYSCTLS, cs, "Sysctls", "TaskTemplate.ContainerSpec.", "sets"));
	TRY(check_nonempty(x, V_GROUP_ADD, cs, "Groups", "TaskTemplate.ContainerSpec.", "adds"));
	TRY(check_nonempty(x, V_EXTRA_HOSTS, cs, "Hosts", "TaskTemplate.ContainerSpec.", "adds"));
	TRY(check_workdir(x, str(mem(cs, "Dir")), "TaskTemplate.ContainerSpec.Dir"));
	TRY(check_user(x, V_ROOT_USER, cs, "User", "TaskTemplate.ContainerSpec.User"));
	se = mem(pv, "SELinuxContext");
	if (on(x, V_SELINUX_LABEL) &&
	    (cJSON_IsTrue(mem(se, "Disable")) || (str(mem(se, "User")) && *str(mem(se, "User"))) ||
	     (str(mem(se, "Role")) && *str(mem(se, "Role"))) ||
	     (str(mem(se, "Type")) && *str(mem(se, "Type")))))
		return hit(x, V_SELINUX_LABEL,
			   "TaskTemplate.ContainerSpec.Privileges.SELinuxContext lifts SELinux confinement");
	s = str(mem(mem(pv, "Seccomp"), "Mode"));
	if (on(x, V_SECCOMP) && s != NULL && *s != '\0' && strcmp(s, "default") != 0) {
		shown(sh, sizeof(sh), s);
		return hit(x, V_SECCOMP, "TaskTemplate.ContainerSpec.Privileges.Seccomp.Mode is %s", sh);
	}
	s = str(mem(mem(pv, "AppArmor"), "Mode"));
	if (on(x, V_APPARMOR) && s != NULL && *s != '\0' && strcmp(s, "default") != 0) {
		shown(sh, sizeof(sh), s);
		return hit(x, V_APPARMOR, "TaskTemplate.ContainerSpec.Privileges.AppArmor.Mode is %s",
			   sh);
	}
	return 0;
}

/* Container update body (container.UpdateConfig: Resources + RestartPolicy).
 * dockerd applies only some resources on update; the device and cgroup ones
 * are refused all the same, fail closed. */
static int check_update(struct px *x, const cJSON *root)
{
	return check_resources(x, root, "");
}

static int check_exec(struct px *x, const cJSON *root)
{
	if (on(x, V_EXEC_PRIVILEGED) && cJSON_IsTrue(mem(root, "Privileged")))
		return hit(x, V_EXEC_PRIVILEGED, "Privileged is true");
	TRY(check_workdir(x, str(mem(root, "WorkingDir")), "WorkingDir"));
	return check_user(x, V_EXEC_ROOT_USER, root, "User", "User");
}

static int check_volume_create(struct px *x, const cJSON *root)
{
	return check_driver_opts(x, str(mem(root, "Driver")), mem(root, "DriverOpts"), "DriverOpts");
}

/* Plugin privileges granted with pull/upgrade (types.PluginPrivileges);
 * plugin set of "NAME.source" / "NAME.path" (mount sources, device paths). */
static int check_plugin(struct px *x, const char *ep, const cJSON *root)
{
	const cJSON *e;
	char sh[VALUE_SHOWN + 8];

	if (!on(x, V_PLUGIN_PRIVILEGES) || !cJSON_IsArray(root))
		return 0;
	if (strcmp(ep, "/plugins/{name}/set") == 0) {
		cJSON_ArrayForEach(e, root) {
			const char *s = str(e), *eq, *dot;

			if (s == NULL)
				continue;
			eq = strchr(s, '=');
			dot = strchr(s, '.');
			if (dot != NULL && (eq == NULL || dot < eq)) {
				shown(sh, sizeof(sh), s);
				return hit(x, V_PLUGIN_PRIVILEGES, "plugin set %s changes a mount source or device", sh);
			}
		}
		return 0;
	}
	if (root->child != NULL) {
		const char *n = str(mem(root->child, "Name"));

		shown(sh, sizeof(sh), n != NULL ? n : "");
		return hit(x, V_PLUGIN_PRIVILEGES, "the request grants plugin privilege %s", sh);
	}
	return 0;
}

static bool allowed_api(const struct px *x, const char *const *api)
{
	const char *m = x->req->method, *ep = x->req->endpoint;
	size_t i, ml;

	if (m == NULL || ep == NULL)
		return false;
	ml = strlen(m);
	for (i = 0; api[i] != NULL; i++) {
		if (strncmp(api[i], m, ml) == 0 && api[i][ml] == ' ' && strcmp(api[i] + ml + 1, ep) == 0)
			return true;
	}
	return false;
}

/* The container a /containers/{name}... path names, into ref. */
static bool container_ref(const struct px *x, char *ref, size_t n)
{
	const char *ep = x->req->endpoint, *path = x->req->path, *suffix;
	size_t pl, sl;

	if (ep == NULL || path == NULL || strncmp(ep, "/containers/{name}", 18) != 0 ||
	    strncmp(path, "/containers/", 12) != 0)
		return false;
	suffix = ep + 18;
	pl = strlen(path);
	sl = strlen(suffix);
	if (pl < 12 + sl || strcmp(path + pl - sl, suffix) != 0 || pl - sl - 12 >= n)
		return false;
	memcpy(ref, path + 12, pl - sl - 12);
	ref[pl - sl - 12] = '\0';
	return true;
}

static int check_self(struct px *x, const char *m, const char *ep)
{
	char ref[512];
	bool mine = false;
	const char *what = NULL;

	if (!on(x, V_SELF_CONTAINER))
		return 0;
	if (container_ref(x, ref, sizeof(ref))) {
		/* Reading its state is harmless; anything that changes,
		 * enters or copies it is not. */
		if (!is(m, "GET") || strcmp(ep, "/containers/{name}/archive") == 0 ||
		    strcmp(ep, "/containers/{name}/export") == 0 ||
		    strcmp(ep, "/containers/{name}/attach/ws") == 0)
			what = ep;
	} else if (strcmp(ep, "/commit") == 0) {
		const char *c = query(x, "container");

		if (c != NULL && strlen(c) < sizeof(ref)) {
			snprintf(ref, sizeof(ref), "%s", c);
			what = ep;
		}
	}
	if (what == NULL)
		return 0;
	pthread_mutex_lock(&self_lock);
	mine = self_ref(ref);
	pthread_mutex_unlock(&self_lock);
	if (mine)
		return hit(x, V_SELF_CONTAINER, "%s %s is the proxy's own container", m, what);
	return 0;
}

static int eval(struct px *x)
{
	const char *m = x->req->method, *ep = x->req->endpoint;
	const cJSON *root;
	const char *q;
	char sh[VALUE_SHOWN + 8];

	if (on(x, V_WRITE_METHOD) && !is(m, "GET") && !is(m, "HEAD")) {
		shown(sh, sizeof(sh), m != NULL ? m : "");
		return hit(x, V_WRITE_METHOD, "method %s changes state", sh);
	}
	if (on(x, V_TRAEFIK_API) && !allowed_api(x, traefik_api))
		return hit(x, V_TRAEFIK_API, "%s %s is not in Traefik's set", m ? m : "",
			   ep ? ep : "(no endpoint)");
	if (on(x, V_WATCHTOWER_API) && !allowed_api(x, watchtower_api))
		return hit(x, V_WATCHTOWER_API, "%s %s is not in Watchtower's set", m ? m : "",
			   ep ? ep : "(no endpoint)");
	if (on(x, V_CI_RUNNER_API) && !allowed_api(x, ci_runner_api))
		return hit(x, V_CI_RUNNER_API, "%s %s is not in the CI runner's set", m ? m : "",
			   ep ? ep : "(no endpoint)");
	if (ep == NULL || m == NULL)
		return 0; /* no route: dockerd answers 404 and runs nothing */
	TRY(check_self(x, m, ep));
	root = body_root(x);
	if (strcmp(ep, "/containers/create") == 0)
		return check_container_create(x, root);
	if (strcmp(ep, "/containers/{name}/update") == 0)
		return check_update(x, root);
	if (strcmp(ep, "/services/create") == 0 || strcmp(ep, "/services/{id}/update") == 0)
		return check_service(x, root);
	if (strcmp(ep, "/containers/{name}/exec") == 0)
		return check_exec(x, root);
	if (strcmp(ep, "/volumes/create") == 0)
		return check_volume_create(x, root);
	if (strcmp(ep, "/plugins/pull") == 0 || strcmp(ep, "/plugins/{name}/upgrade") == 0 ||
	    strcmp(ep, "/plugins/{name}/set") == 0)
		return check_plugin(x, ep, root);
	if (strcmp(ep, "/plugins/create") == 0 && on(x, V_PLUGIN_CREATE))
		return hit(x, V_PLUGIN_CREATE, "POST /plugins/create installs a plugin from a tar whose privileges are not read");
	if (strcmp(ep, "/nodes/{id}/update") == 0 && on(x, V_SWARM)) {
		/* promoting a node makes it a manager of this one */
		const char *role = str(mem(root, "Role"));

		if (role != NULL && strcasecmp(role, "manager") == 0)
			return hit(x, V_SWARM, "POST /nodes/{id}/update promotes a node to manager");
		return 0;
	}
	if (strncmp(ep, "/swarm/", 7) == 0 && on(x, V_SWARM) &&
	    (strcmp(ep, "/swarm/init") == 0 || strcmp(ep, "/swarm/join") == 0 ||
	     strcmp(ep, "/swarm/update") == 0 || strcmp(ep, "/swarm/unlock") == 0))
		return hit(x, V_SWARM, "%s %s hands this node to a swarm", m, ep);
	if (strcmp(ep, "/session") == 0 || strcmp(ep, "/grpc") == 0) {
		if (on(x, V_BUILDKIT_SESSION))
			return hit(x, V_BUILDKIT_SESSION,
				   "%s is BuildKit's opaque channel (entitlements, mounts and outputs are not visible)", ep);
		return 0;
	}
	if (strcmp(ep, "/build") == 0) {
		q = query(x, "networkmode");
		if (on(x, V_BUILD_NETWORK_HOST) && q != NULL &&
		    (strcasecmp(q, "host") == 0 || strncasecmp(q, "container:", 10) == 0)) {
			shown(sh, sizeof(sh), q);
			return hit(x, V_BUILD_NETWORK_HOST, "networkmode=%s", sh);
		}
		q = query(x, "cgroupparent");
		if (on(x, V_BUILD_CGROUP_PARENT) && q != NULL && *q != '\0') {
			shown(sh, sizeof(sh), q);
			return hit(x, V_BUILD_CGROUP_PARENT, "cgroupparent=%s", sh);
		}
		q = query(x, "securityopt");
		if (on(x, V_BUILD_SECURITY_OPT) && q != NULL) {
			shown(sh, sizeof(sh), q);
			return hit(x, V_BUILD_SECURITY_OPT, "securityopt=%s", sh);
		}
		q = query(x, "extrahosts");
		if (on(x, V_BUILD_EXTRA_HOSTS) && q != NULL) {
			shown(sh, sizeof(sh), q);
			return hit(x, V_BUILD_EXTRA_HOSTS, "extrahosts=%s", sh);
		}
		return 0;
	}
	if (on(x, V_ARCHIVE_READ) && ((strcmp(ep, "/containers/{name}/archive") == 0 &&
				       (is(m, "GET") || is(m, "HEAD"))) ||
				      strcmp(ep, "/containers/{name}/copy") == 0))
		return hit(x, V_ARCHIVE_READ, "%s %s reads files out of a container", m, ep);
	if (on(x, V_EXPORT) && strcmp(ep, "/containers/{name}/export") == 0)
		return hit(x, V_EXPORT, "%s %s reads a container's whole filesystem", m, ep);
	if (on(x, V_IMAGE_SAVE) &&
	    (strcmp(ep, "/images/get") == 0 || strcmp(ep, "/images/{name}/get") == 0))
		return hit(x, V_IMAGE_SAVE, "%s %s exports images", m, ep);
	if (on(x, V_ATTACH) && (strcmp(ep, DPP_EP_CONTAINER_ATTACH) == 0 ||
				strcmp(ep, "/containers/{name}/attach/ws") == 0))
		return hit(x, V_ATTACH, "%s %s attaches to a container's streams", m, ep);
	if (on(x, V_LOGS) && (strcmp(ep, DPP_EP_CONTAINER_LOGS) == 0 ||
			      strcmp(ep, DPP_EP_SERVICE_LOGS) == 0 ||
			      strcmp(ep, DPP_EP_TASK_LOGS) == 0))
		return hit(x, V_LOGS, "%s %s reads output", m, ep);
	return 0;
}

int preset_eval(const struct preset_cfg *cfg, const struct dpp_request_view *req, char **msg)
{
	struct px x = {.cfg = cfg, .req = req};
	int r;

	*msg = NULL;
	if (cfg->has_roles) {
		const char *role = req->role;
		size_t i;

		if (role == NULL || *role == '\0')
			return 0;
		for (i = 0; i < cfg->n_roles && strcmp(cfg->roles[i], role) != 0; i++)
			;
		if (i == cfg->n_roles)
			return 0;
	}
	r = eval(&x);
	if (r > 0)
		*msg = x.msg;
	else
		free(x.msg);
	return r;
}
