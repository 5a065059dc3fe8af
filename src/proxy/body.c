/* Request bodies as dockerd's Go encoding/json decoder reads them.
 *
 * Three passes over a buffered body:
 *   1. prescan(): a byte-level check of what cJSON does not check (UTF-8,
 *      escapes, control bytes, whitespace, nesting depth). It tracks only
 *      "inside a string or not" and bracket depth; it is not a parser.
 *   2. cJSON_ParseWithLengthOpts() builds the tree; the bytes after the first
 *      value must be JSON whitespace.
 *   3. A walk over the tree: duplicate keys (EqualFold in struct objects,
 *      exact in map objects) and the literal text of every number, taken
 *      from the body in document order (cJSON keeps children in order).
 *
 * Lock order: only parse_lock, held around the cJSON parse call and nothing
 * else. */
#include "dpp/body.h"
#include "dpp/canon.h"
#include "dpp/policy.h"
#include "dpp/route.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dpp_body_doc {
	cJSON *root;
};

struct dpp_body_path {
	size_t n;
	char **seg; /* n strings, each malloc'd */
};

/* How Go decodes an object: into a struct (keys match field names with
 * EqualFold) or into a map (keys kept as sent). */
enum obj_kind {
	OBJ_STRUCT = 0,
	OBJ_MAP,
};

/* Fields whose object value Go decodes into a map. parent == NULL: the name
 * is a map wherever it appears as a struct field. Sources: Docker Engine API
 * (ContainerConfig, HostConfig, NetworkingConfig/EndpointSettings,
 * NetworkCreate/IPAM, VolumeCreate, Mount VolumeOptions/DriverConfig,
 * DeviceRequest, swarm specs: ContainerSpec, Driver, NetworkAttachmentConfig). */
static const struct map_field {
	const char *parent;
	const char *name;
} map_fields[] = {
	{ NULL, "Labels" },             /* map[string]string, everywhere */
	{ NULL, "Annotations" },        /* HostConfig (API 1.43) */
	{ NULL, "Sysctls" },            /* HostConfig, swarm ContainerSpec */
	{ NULL, "StorageOpt" },         /* HostConfig */
	{ NULL, "Tmpfs" },              /* HostConfig */
	{ NULL, "ExposedPorts" },       /* Config: map[nat.Port]struct{} */
	{ NULL, "Volumes" },            /* Config: map[string]struct{} */
	{ NULL, "PortBindings" },       /* HostConfig: map[nat.Port][]PortBinding */
	{ NULL, "EndpointsConfig" },    /* NetworkingConfig: network name -> settings */
	{ NULL, "DriverOpts" },         /* EndpointSettings, VolumeCreate, swarm */
	{ NULL, "Options" },            /* NetworkCreate, IPAM, Driver, DeviceRequest */
	{ NULL, "AuxiliaryAddresses" }, /* IPAM Config entries */
	{ "LogConfig", "Config" },      /* HostConfig.LogConfig.Config */
};

static pthread_mutex_t parse_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- errors ------------------------------------------------------------ */

static void set_err(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_err(char **err, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		snprintf(buf, sizeof(buf), "invalid JSON body");
	*err = strdup(buf); /* NULL on allocation failure: documented */
}

/* Copies at most 64 bytes of key into dst for a message, cut on a UTF-8
 * boundary, with control bytes, '"' and '\\' replaced by '?'. The key is
 * valid UTF-8 (prescan), so cutting before a lead byte keeps it valid. */
static void quote_key(char *dst, size_t dstlen, const char *key)
{
	size_t i = 0, max = dstlen - 1;
	const unsigned char *k = (const unsigned char *)key;

	if (max > 64)
		max = 64;
	for (; k[i] != '\0' && i < max; i++) {
		unsigned char c = k[i];

		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
			c = '?';
		dst[i] = (char)c;
	}
	if (k[i] != '\0') {
		/* cut: step back to the start of the rune that did not fit */
		while (i > 0 && (k[i] & 0xc0) == 0x80)
			i--;
	}
	dst[i] = '\0';
}

/* ---- UTF-8 and EqualFold ----------------------------------------------- */

/* Length of the valid UTF-8 sequence at s[0..avail), or 0 when it is not one
 * (overlong forms, surrogates U+D800..U+DFFF, > U+10FFFF, truncated, stray
 * continuation bytes). Table 3-7 of the Unicode standard; Go's
 * utf8.DecodeRune accepts exactly these. */
static size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (avail < n)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/* Decodes the rune at *p (NUL-terminated, valid UTF-8 after prescan; a byte
 * that is not is returned as itself) and advances *p. */
static unsigned long next_rune(const unsigned char **p)
{
	const unsigned char *s = *p;
	size_t n = utf8_seq_len(s, s[0] == 0 ? 1 : 4);
	unsigned long r;
	size_t i;

	/* utf8_seq_len reads at most up to the first non-continuation byte,
	 * and the NUL terminator is one, so it never reads past the string. */
	if (n <= 1) {
		*p = s + 1;
		return s[0];
	}
	r = s[0] & (0xff >> (n + 1));
	for (i = 1; i < n; i++)
		r = (r << 6) | (s[i] & 0x3f);
	*p = s + n;
	return r;
}

/* The Unicode simple-fold orbits that contain ASCII letters, collapsed to
 * the lower-case letter: A-Z -> a-z, U+212A KELVIN SIGN -> k, U+017F LONG S
 * -> s (Go unicode.SimpleFold / asciiFold table). Other runes: themselves. */
static unsigned long fold_rune(unsigned long r)
{
	if (r >= 'A' && r <= 'Z')
		return r + ('a' - 'A');
	if (r == 0x212a)
		return 'k';
	if (r == 0x17f)
		return 's';
	return r;
}

/* Total order on keys under which "equal" is Go's strings.EqualFold for every
 * pair that can name one of Docker's (ASCII) field names. */
static int fold_cmp(const char *a, const char *b)
{
	const unsigned char *pa = (const unsigned char *)a;
	const unsigned char *pb = (const unsigned char *)b;

	for (;;) {
		unsigned long ra, rb;

		if (*pa == '\0' || *pb == '\0')
			return (*pa != '\0') - (*pb != '\0');
		if (*pa < 0x80 && *pb < 0x80) {
			/* ASCII fast path: the same folding as fold_rune. */
			ra = *pa >= 'A' && *pa <= 'Z' ? *pa + ('a' - 'A') : *pa;
			rb = *pb >= 'A' && *pb <= 'Z' ? *pb + ('a' - 'A') : *pb;
			pa++;
			pb++;
			if (ra != rb)
				return ra < rb ? -1 : 1;
			continue;
		}
		ra = fold_rune(next_rune(&pa));
		rb = fold_rune(next_rune(&pb));
		if (ra != rb)
			return ra < rb ? -1 : 1;
	}
}

static bool fold_eq(const char *a, const char *b)
{
	return fold_cmp(a, b) == 0;
}

/* ---- pass 1: prescan ---------------------------------------------------- */

static bool is_json_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int hex4(const unsigned char *s, unsigned *out)
{
	unsigned v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		unsigned char c = s[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* Checks what cJSON does not. On refusal returns -1 with *off and *what. */
static int prescan(const unsigned char *s, size_t len, int max_depth, size_t *off,
		   const char **what)
{
	bool in_str = false;
	int depth = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = s[i];

		if (!in_str) {
			if (c == '"') {
				in_str = true;
			} else if (c == '{' || c == '[') {
				if (++depth > max_depth) {
					*what = "nesting too deep";
					goto refuse;
				}
			} else if (c == '}' || c == ']') {
				if (depth > 0)
					depth--;
			} else if (!is_json_ws(c) && (c < 0x21 || c > 0x7e)) {
				*what = c >= 0x80 ? "unexpected non-ASCII byte outside a string"
						  : "unexpected control byte";
				goto refuse;
			}
			continue;
		}
		if (c == '"') {
			in_str = false;
		} else if (c == '\\') {
			unsigned v, v2;

			if (i + 1 >= len) {
				*what = "unterminated string";
				goto refuse;
			}
			if (strchr("\"\\/bfnrt", s[i + 1]) != NULL && s[i + 1] != '\0') {
				i++;
				continue;
			}
			if (s[i + 1] != 'u' || len - i < 6 || hex4(s + i + 2, &v) < 0) {
				*what = "invalid escape in string";
				goto refuse;
			}
			if (v == 0) {
				*what = "\\u0000 in a string";
				goto refuse;
			}
			if (v >= 0xdc00 && v <= 0xdfff) {
				*what = "lone UTF-16 surrogate escape";
				goto refuse;
			}
			if (v >= 0xd800 && v <= 0xdbff) {
				if (len - i < 12 || s[i + 6] != '\\' || s[i + 7] != 'u' ||
				    hex4(s + i + 8, &v2) < 0 || v2 < 0xdc00 || v2 > 0xdfff) {
					*what = "lone UTF-16 surrogate escape";
					goto refuse;
				}
				i += 11;
			} else {
				i += 5;
			}
		} else if (c < 0x20) {
			*what = "control character in string";
			goto refuse;
		} else if (c >= 0x80) {
			size_t n = utf8_seq_len(s + i, len - i);

			if (n == 0) {
				*what = "invalid UTF-8";
				goto refuse;
			}
			i += n - 1;
		}
	}
	if (in_str) {
		*what = "unterminated string";
		*off = len;
		return -1;
	}
	return 0;
refuse:
	*off = i;
	return -1;
}

/* ---- pass 3: numbers ---------------------------------------------------- */

/* Finds the next number token outside strings in s[*pos..lim). */
static bool next_number_token(const unsigned char *s, size_t lim, size_t *pos,
			      size_t *start, size_t *tlen)
{
	size_t p = *pos;

	while (p < lim) {
		unsigned char c = s[p];

		if (c == '"') {
			p++;
			while (p < lim && s[p] != '"')
				p += s[p] == '\\' ? 2 : 1;
			p++;
		} else if (c == '-' || (c >= '0' && c <= '9')) {
			*start = p;
			while (p < lim && strchr("0123456789+-.eE", s[p]) != NULL && s[p] != '\0')
				p++;
			*tlen = p - *start;
			*pos = p;
			return true;
		} else {
			p++;
		}
	}
	*pos = p;
	return false;
}

static size_t skip_digits(const unsigned char *t, size_t i, size_t n)
{
	while (i < n && t[i] >= '0' && t[i] <= '9')
		i++;
	return i;
}

/* RFC 8259 section 6: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool number_grammar_ok(const unsigned char *t, size_t n)
{
	size_t i = 0, j;

	if (i < n && t[i] == '-')
		i++;
	if (i >= n)
		return false;
	if (t[i] == '0')
		i++;
	else if (t[i] >= '1' && t[i] <= '9')
		i = skip_digits(t, i, n);
	else
		return false;
	if (i < n && t[i] == '.') {
		j = skip_digits(t, i + 1, n);
		if (j == i + 1)
			return false;
		i = j;
	}
	if (i < n && (t[i] == 'e' || t[i] == 'E')) {
		i++;
		if (i < n && (t[i] == '+' || t[i] == '-'))
			i++;
		j = skip_digits(t, i, n);
		if (j == i)
			return false;
		i = j;
	}
	return i == n;
}

struct walk {
	const unsigned char *body;
	size_t lim; /* end of the first value */
	size_t pos; /* number-token cursor */
	char **err;
};

static enum dpp_body_status attach_number(struct walk *w, cJSON *item)
{
	size_t start, tlen;
	char *copy;

	if (!next_number_token(w->body, w->lim, &w->pos, &start, &tlen)) {
		set_err(w->err, "invalid JSON body: internal number scan mismatch");
		return DPP_BODY_INVALID;
	}
	if (!number_grammar_ok(w->body + start, tlen)) {
		set_err(w->err, "invalid JSON body: invalid number at byte %zu", start);
		return DPP_BODY_INVALID;
	}
	copy = cJSON_malloc(tlen + 1); /* freed by cJSON_Delete with the item */
	if (copy == NULL) {
		set_err(w->err, "out of memory");
		return DPP_BODY_NOMEM;
	}
	memcpy(copy, w->body + start, tlen);
	copy[tlen] = '\0';
	item->valuestring = copy;
	return DPP_BODY_OK;
}

/* Pre-order walk turning every number into a cJSON_Raw node that holds its
 * literal text (document order, as attach_number expects). */
static enum dpp_body_status raw_numbers(struct walk *w, cJSON *node)
{
	enum dpp_body_status st;
	cJSON *c;

	if (cJSON_IsNumber(node)) {
		st = attach_number(w, node);
		if (st == DPP_BODY_OK)
			node->type = (node->type & ~0xFF) | cJSON_Raw;
		return st;
	}
	for (c = node->child; c != NULL; c = c->next) {
		st = raw_numbers(w, c);
		if (st != DPP_BODY_OK)
			return st;
	}
	return DPP_BODY_OK;
}

/* ---- Docker's spelling of field names ---------------------------------- */

/* The struct types of the request bodies dockerd decodes, with each JSON field
 * name as Docker's Go types spell it (the json tag's name, else the Go field
 * name; embedded structs are flattened, as encoding/json does). A field's
 * `type` is the struct type of its value, of its elements (arrays) or of its
 * entries' values (Go maps); NULL when there is none (strings, numbers, maps
 * of strings) or when the type is not listed here (keys below it keep the
 * client's spelling). Sources: moby/moby api/types (container/config.go
 * Config and HealthConfig; container/hostconfig.go HostConfig, Resources,
 * RestartPolicy, LogConfig, DeviceMapping, DeviceRequest, UpdateConfig;
 * blkiodev; go-units Ulimit; go-connections nat.PortBinding; mount/mount.go;
 * network/network.go, endpoint.go, ipam.go; types.go NetworkCreateRequest,
 * NetworkConnect, NetworkDisconnect; configs.go ExecConfig, ExecStartCheck;
 * volume CreateOptions; swarm/service.go, task.go, container.go, network.go,
 * swarm.go, secret.go, config.go, node.go, common.go; registry AuthConfig;
 * types.PluginPrivilege), checked against the Engine API reference
 * (v1.41-v1.47 definitions). The root of a body is the union of the root
 * types of every JSON endpoint (test_body checks that no two names in one
 * type are equal under EqualFold). */
struct ftype;
struct ffield {
	const char *name;
	const struct ftype *type;
};
struct ftype {
	const struct ffield *f;
	size_t n;
};

#define FTYPE(arr) { arr, sizeof(arr) / sizeof(arr[0]) }

static const struct ftype T_HEALTH, T_HOSTCONFIG, T_NETWORKING, T_ENDPOINT, T_EP_IPAM,
	T_MOUNT, T_BIND_OPTS, T_VOLUME_OPTS, T_IMAGE_OPTS, T_TMPFS_OPTS, T_DRIVER, T_LOGCONFIG,
	T_RESTART, T_DEVICE, T_DEVICE_REQ, T_ULIMIT, T_WEIGHT_DEV, T_THROTTLE_DEV, T_PORT_BINDING,
	T_IPAM, T_IPAM_CONFIG, T_NET_CONFIG_REF, T_TASK_SPEC, T_SERVICE_MODE, T_REPLICATED,
	T_REPLICATED_JOB, T_EMPTY, T_SVC_UPDATE, T_NET_ATTACH, T_ENDPOINT_SPEC, T_PORT_CONFIG,
	T_CONTAINER_SPEC, T_PRIVILEGES, T_CRED_SPEC, T_SELINUX, T_SECCOMP, T_APPARMOR, T_DNS,
	T_SECRET_REF, T_CONFIG_REF, T_FILE_TARGET, T_RES_REQ, T_LIMIT, T_SWARM_RES, T_GENERIC_RES,
	T_NAMED_RES, T_DISCRETE_RES, T_SWARM_RESTART, T_PLACEMENT, T_PLACE_PREF, T_SPREAD,
	T_PLATFORM, T_NET_ATTACH_SPEC, T_SWARM_SPEC, T_ORCH, T_RAFT, T_DISPATCHER, T_CA_CONFIG,
	T_EXTERNAL_CA, T_TASK_DEFAULTS, T_ENCRYPTION, T_ROOT;

/* container.Resources, embedded in HostConfig and UpdateConfig. */
#define RESOURCES_FIELDS                                                                    \
	{ "CpuShares", NULL }, { "Memory", NULL }, { "NanoCpus", NULL },                    \
	{ "CgroupParent", NULL }, { "BlkioWeight", NULL },                                  \
	{ "BlkioWeightDevice", &T_WEIGHT_DEV }, { "BlkioDeviceReadBps", &T_THROTTLE_DEV },  \
	{ "BlkioDeviceWriteBps", &T_THROTTLE_DEV }, { "BlkioDeviceReadIOps", &T_THROTTLE_DEV }, \
	{ "BlkioDeviceWriteIOps", &T_THROTTLE_DEV }, { "CpuPeriod", NULL },                 \
	{ "CpuQuota", NULL }, { "CpuRealtimePeriod", NULL }, { "CpuRealtimeRuntime", NULL }, \
	{ "CpusetCpus", NULL }, { "CpusetMems", NULL }, { "Devices", &T_DEVICE },           \
	{ "DeviceCgroupRules", NULL }, { "DeviceRequests", &T_DEVICE_REQ },                 \
	{ "KernelMemory", NULL }, { "KernelMemoryTCP", NULL }, { "MemoryReservation", NULL }, \
	{ "MemorySwap", NULL }, { "MemorySwappiness", NULL }, { "OomKillDisable", NULL },   \
	{ "PidsLimit", NULL }, { "Ulimits", &T_ULIMIT }, { "CpuCount", NULL },               \
	{ "CpuPercent", NULL }, { "IOMaximumIOps", NULL }, { "IOMaximumBandwidth", NULL }

/* container.HostConfig without the embedded Resources. */
#define HOSTCONFIG_FIELDS                                                                   \
	{ "Binds", NULL }, { "ContainerIDFile", NULL }, { "LogConfig", &T_LOGCONFIG },      \
	{ "NetworkMode", NULL }, { "PortBindings", &T_PORT_BINDING },                       \
	{ "RestartPolicy", &T_RESTART }, { "AutoRemove", NULL }, { "VolumeDriver", NULL },  \
	{ "VolumesFrom", NULL }, { "ConsoleSize", NULL }, { "Annotations", NULL },          \
	{ "CapAdd", NULL }, { "CapDrop", NULL }, { "CgroupnsMode", NULL }, { "Dns", NULL },  \
	{ "DnsOptions", NULL }, { "DnsSearch", NULL }, { "ExtraHosts", NULL },              \
	{ "GroupAdd", NULL }, { "IpcMode", NULL }, { "Cgroup", NULL }, { "Links", NULL },   \
	{ "OomScoreAdj", NULL }, { "PidMode", NULL }, { "Privileged", NULL },               \
	{ "PublishAllPorts", NULL }, { "ReadonlyRootfs", NULL }, { "SecurityOpt", NULL },   \
	{ "StorageOpt", NULL }, { "Tmpfs", NULL }, { "UTSMode", NULL }, { "UsernsMode", NULL }, \
	{ "ShmSize", NULL }, { "Sysctls", NULL }, { "Runtime", NULL }, { "Isolation", NULL }, \
	{ "Mounts", &T_MOUNT }, { "MaskedPaths", NULL }, { "ReadonlyPaths", NULL },         \
	{ "Init", NULL }

static const struct ffield F_HEALTH[] = {
	{ "Test", NULL }, { "Interval", NULL }, { "Timeout", NULL },
	{ "StartPeriod", NULL }, { "StartInterval", NULL }, { "Retries", NULL },
};
static const struct ffield F_HOSTCONFIG[] = { HOSTCONFIG_FIELDS, RESOURCES_FIELDS };
static const struct ffield F_NETWORKING[] = { { "EndpointsConfig", &T_ENDPOINT } };
static const struct ffield F_ENDPOINT[] = {
	{ "IPAMConfig", &T_EP_IPAM }, { "Links", NULL }, { "Aliases", NULL },
	{ "MacAddress", NULL }, { "DriverOpts", NULL }, { "GwPriority", NULL },
	{ "NetworkID", NULL }, { "EndpointID", NULL }, { "Gateway", NULL },
	{ "IPAddress", NULL }, { "IPPrefixLen", NULL }, { "IPv6Gateway", NULL },
	{ "GlobalIPv6Address", NULL }, { "GlobalIPv6PrefixLen", NULL }, { "DNSNames", NULL },
};
static const struct ffield F_EP_IPAM[] = {
	{ "IPv4Address", NULL }, { "IPv6Address", NULL }, { "LinkLocalIPs", NULL },
};
static const struct ffield F_MOUNT[] = {
	{ "Type", NULL }, { "Source", NULL }, { "Target", NULL }, { "ReadOnly", NULL },
	{ "Consistency", NULL }, { "BindOptions", &T_BIND_OPTS },
	{ "VolumeOptions", &T_VOLUME_OPTS }, { "ImageOptions", &T_IMAGE_OPTS },
	{ "TmpfsOptions", &T_TMPFS_OPTS }, { "ClusterOptions", &T_EMPTY },
};
static const struct ffield F_BIND_OPTS[] = {
	{ "Propagation", NULL }, { "NonRecursive", NULL }, { "CreateMountpoint", NULL },
	{ "ReadOnlyNonRecursive", NULL }, { "ReadOnlyForceRecursive", NULL },
};
static const struct ffield F_VOLUME_OPTS[] = {
	{ "NoCopy", NULL }, { "Labels", NULL }, { "Subpath", NULL }, { "DriverConfig", &T_DRIVER },
};
static const struct ffield F_IMAGE_OPTS[] = { { "Subpath", NULL } };
static const struct ffield F_TMPFS_OPTS[] = {
	{ "SizeBytes", NULL }, { "Mode", NULL }, { "Options", NULL },
};
static const struct ffield F_DRIVER[] = { { "Name", NULL }, { "Options", NULL } };
static const struct ffield F_LOGCONFIG[] = { { "Type", NULL }, { "Config", NULL } };
static const struct ffield F_RESTART[] = { { "Name", NULL }, { "MaximumRetryCount", NULL } };
static const struct ffield F_DEVICE[] = {
	{ "PathOnHost", NULL }, { "PathInContainer", NULL }, { "CgroupPermissions", NULL },
};
static const struct ffield F_DEVICE_REQ[] = {
	{ "Driver", NULL }, { "Count", NULL }, { "DeviceIDs", NULL },
	{ "Capabilities", NULL }, { "Options", NULL },
};
static const struct ffield F_ULIMIT[] = { { "Name", NULL }, { "Hard", NULL }, { "Soft", NULL } };
static const struct ffield F_WEIGHT_DEV[] = { { "Path", NULL }, { "Weight", NULL } };
static const struct ffield F_THROTTLE_DEV[] = { { "Path", NULL }, { "Rate", NULL } };
static const struct ffield F_PORT_BINDING[] = { { "HostIp", NULL }, { "HostPort", NULL } };
static const struct ffield F_IPAM[] = {
	{ "Driver", NULL }, { "Options", NULL }, { "Config", &T_IPAM_CONFIG },
};
static const struct ffield F_IPAM_CONFIG[] = {
	{ "Subnet", NULL }, { "IPRange", NULL }, { "Gateway", NULL }, { "AuxiliaryAddresses", NULL },
};
static const struct ffield F_NET_CONFIG_REF[] = { { "Network", NULL } };
/* swarm */
static const struct ffield F_TASK_SPEC[] = {
	{ "ContainerSpec", &T_CONTAINER_SPEC }, { "PluginSpec", NULL },
	{ "NetworkAttachmentSpec", &T_NET_ATTACH_SPEC }, { "Resources", &T_RES_REQ },
	{ "RestartPolicy", &T_SWARM_RESTART }, { "Placement", &T_PLACEMENT },
	{ "Networks", &T_NET_ATTACH }, { "LogDriver", &T_DRIVER }, { "ForceUpdate", NULL },
	{ "Runtime", NULL },
};
static const struct ffield F_SERVICE_MODE[] = {
	{ "Replicated", &T_REPLICATED }, { "Global", &T_EMPTY },
	{ "ReplicatedJob", &T_REPLICATED_JOB }, { "GlobalJob", &T_EMPTY },
};
static const struct ffield F_REPLICATED[] = { { "Replicas", NULL } };
static const struct ffield F_REPLICATED_JOB[] = {
	{ "MaxConcurrent", NULL }, { "TotalCompletions", NULL },
};
static const struct ffield F_SVC_UPDATE[] = {
	{ "Parallelism", NULL }, { "Delay", NULL }, { "FailureAction", NULL },
	{ "Monitor", NULL }, { "MaxFailureRatio", NULL }, { "Order", NULL },
};
static const struct ffield F_NET_ATTACH[] = {
	{ "Target", NULL }, { "Aliases", NULL }, { "DriverOpts", NULL },
};
static const struct ffield F_ENDPOINT_SPEC[] = { { "Mode", NULL }, { "Ports", &T_PORT_CONFIG } };
static const struct ffield F_PORT_CONFIG[] = {
	{ "Name", NULL }, { "Protocol", NULL }, { "TargetPort", NULL },
	{ "PublishedPort", NULL }, { "PublishMode", NULL },
};
static const struct ffield F_CONTAINER_SPEC[] = {
	{ "Image", NULL }, { "Labels", NULL }, { "Command", NULL }, { "Args", NULL },
	{ "Hostname", NULL }, { "Env", NULL }, { "Dir", NULL }, { "User", NULL },
	{ "Groups", NULL }, { "Privileges", &T_PRIVILEGES }, { "Init", NULL },
	{ "StopSignal", NULL }, { "TTY", NULL }, { "OpenStdin", NULL }, { "ReadOnly", NULL },
	{ "Mounts", &T_MOUNT }, { "StopGracePeriod", NULL }, { "Healthcheck", &T_HEALTH },
	{ "Hosts", NULL }, { "DNSConfig", &T_DNS }, { "Secrets", &T_SECRET_REF },
	{ "Configs", &T_CONFIG_REF }, { "Isolation", NULL }, { "Sysctls", NULL },
	{ "CapabilityAdd", NULL }, { "CapabilityDrop", NULL }, { "Ulimits", &T_ULIMIT },
	{ "OomScoreAdj", NULL },
};
static const struct ffield F_PRIVILEGES[] = {
	{ "CredentialSpec", &T_CRED_SPEC }, { "SELinuxContext", &T_SELINUX },
	{ "Seccomp", &T_SECCOMP }, { "AppArmor", &T_APPARMOR }, { "NoNewPrivileges", NULL },
};
static const struct ffield F_CRED_SPEC[] = { { "Config", NULL }, { "File", NULL }, { "Registry", NULL } };
static const struct ffield F_SELINUX[] = {
	{ "Disable", NULL }, { "User", NULL }, { "Role", NULL }, { "Type", NULL }, { "Level", NULL },
};
static const struct ffield F_SECCOMP[] = { { "Mode", NULL }, { "Profile", NULL } };
static const struct ffield F_APPARMOR[] = { { "Mode", NULL } };
static const struct ffield F_DNS[] = { { "Nameservers", NULL }, { "Search", NULL }, { "Options", NULL } };
static const struct ffield F_SECRET_REF[] = {
	{ "File", &T_FILE_TARGET }, { "SecretID", NULL }, { "SecretName", NULL },
};
static const struct ffield F_CONFIG_REF[] = {
	{ "File", &T_FILE_TARGET }, { "Runtime", &T_EMPTY }, { "ConfigID", NULL }, { "ConfigName", NULL },
};
static const struct ffield F_FILE_TARGET[] = {
	{ "Name", NULL }, { "UID", NULL }, { "GID", NULL }, { "Mode", NULL },
};
static const struct ffield F_RES_REQ[] = { { "Limits", &T_LIMIT }, { "Reservations", &T_SWARM_RES } };
static const struct ffield F_LIMIT[] = { { "NanoCPUs", NULL }, { "MemoryBytes", NULL }, { "Pids", NULL } };
static const struct ffield F_SWARM_RES[] = {
	{ "NanoCPUs", NULL }, { "MemoryBytes", NULL }, { "GenericResources", &T_GENERIC_RES },
};
static const struct ffield F_GENERIC_RES[] = {
	{ "NamedResourceSpec", &T_NAMED_RES }, { "DiscreteResourceSpec", &T_DISCRETE_RES },
};
static const struct ffield F_NAMED_RES[] = { { "Kind", NULL }, { "Value", NULL } };
static const struct ffield F_SWARM_RESTART[] = {
	{ "Condition", NULL }, { "Delay", NULL }, { "MaxAttempts", NULL }, { "Window", NULL },
};
static const struct ffield F_PLACEMENT[] = {
	{ "Constraints", NULL }, { "Preferences", &T_PLACE_PREF }, { "MaxReplicas", NULL },
	{ "Platforms", &T_PLATFORM },
};
static const struct ffield F_PLACE_PREF[] = { { "Spread", &T_SPREAD } };
static const struct ffield F_SPREAD[] = { { "SpreadDescriptor", NULL } };
static const struct ffield F_PLATFORM[] = { { "Architecture", NULL }, { "OS", NULL } };
static const struct ffield F_NET_ATTACH_SPEC[] = { { "ContainerID", NULL } };
static const struct ffield F_SWARM_SPEC[] = {
	{ "Name", NULL }, { "Labels", NULL }, { "Orchestration", &T_ORCH }, { "Raft", &T_RAFT },
	{ "Dispatcher", &T_DISPATCHER }, { "CAConfig", &T_CA_CONFIG },
	{ "TaskDefaults", &T_TASK_DEFAULTS }, { "EncryptionConfig", &T_ENCRYPTION },
};
static const struct ffield F_ORCH[] = { { "TaskHistoryRetentionLimit", NULL } };
static const struct ffield F_RAFT[] = {
	{ "SnapshotInterval", NULL }, { "KeepOldSnapshots", NULL },
	{ "LogEntriesForSlowFollowers", NULL }, { "ElectionTick", NULL }, { "HeartbeatTick", NULL },
};
static const struct ffield F_DISPATCHER[] = { { "HeartbeatPeriod", NULL } };
static const struct ffield F_CA_CONFIG[] = {
	{ "NodeCertExpiry", NULL }, { "ExternalCAs", &T_EXTERNAL_CA }, { "SigningCACert", NULL },
	{ "SigningCAKey", NULL }, { "ForceRotate", NULL },
};
static const struct ffield F_EXTERNAL_CA[] = {
	{ "Protocol", NULL }, { "URL", NULL }, { "Options", NULL }, { "CACert", NULL },
};
static const struct ffield F_TASK_DEFAULTS[] = { { "LogDriver", &T_DRIVER } };
static const struct ffield F_ENCRYPTION[] = { { "AutoLockManagers", NULL } };

/* The root: every JSON endpoint's body type, merged.
 *   POST /containers/create, /commit: container.Config (+ HostConfig,
 *     NetworkingConfig); /containers/{id}/start (old API): HostConfig;
 *   POST /containers/{id}/update: UpdateConfig (Resources + RestartPolicy);
 *   POST /containers/{id}/exec: ExecConfig; POST /exec/{id}/start: ExecStartCheck;
 *   POST /networks/create: NetworkCreateRequest; /networks/{id}/connect,
 *     /disconnect: NetworkConnect, NetworkDisconnect;
 *   POST /volumes/create: volume.CreateOptions;
 *   POST /services/create, /services/{id}/update: swarm.ServiceSpec;
 *   POST /secrets/create, /configs/create and their updates: SecretSpec, ConfigSpec;
 *   POST /nodes/{id}/update: NodeSpec; POST /swarm/update: swarm.Spec;
 *   POST /swarm/init, /swarm/join, /swarm/unlock: InitRequest, JoinRequest,
 *     UnlockRequest;
 *   POST /auth: registry.AuthConfig (lower-case json tags);
 *   POST /plugins/pull, /plugins/{name}/upgrade: []PluginPrivilege. */
static const struct ffield F_ROOT[] = {
	/* container.Config */
	{ "Hostname", NULL }, { "Domainname", NULL }, { "User", NULL }, { "AttachStdin", NULL },
	{ "AttachStdout", NULL }, { "AttachStderr", NULL }, { "ExposedPorts", &T_EMPTY },
	{ "Tty", NULL }, { "OpenStdin", NULL }, { "StdinOnce", NULL }, { "Env", NULL },
	{ "Cmd", NULL }, { "Healthcheck", &T_HEALTH }, { "ArgsEscaped", NULL }, { "Image", NULL },
	{ "Volumes", &T_EMPTY }, { "WorkingDir", NULL }, { "Entrypoint", NULL },
	{ "NetworkDisabled", NULL }, { "MacAddress", NULL }, { "OnBuild", NULL },
	{ "Labels", NULL }, { "StopSignal", NULL }, { "StopTimeout", NULL }, { "Shell", NULL },
	{ "HostConfig", &T_HOSTCONFIG }, { "NetworkingConfig", &T_NETWORKING },
	/* HostConfig at the root (start on old API versions, update) */
	HOSTCONFIG_FIELDS, RESOURCES_FIELDS,
	/* ExecConfig, ExecStartCheck (User, Tty, Env, Cmd, WorkingDir, Privileged,
	 * ConsoleSize and the Attach* fields are above) */
	{ "Detach", NULL }, { "DetachKeys", NULL },
	/* NetworkCreateRequest, NetworkConnect, NetworkDisconnect; volume
	 * CreateOptions ("Driver" is a string there and a swarm.Driver object in
	 * SecretSpec) */
	{ "Name", NULL }, { "CheckDuplicate", NULL }, { "Driver", &T_DRIVER }, { "Scope", NULL },
	{ "EnableIPv4", NULL }, { "EnableIPv6", NULL }, { "IPAM", &T_IPAM }, { "Internal", NULL },
	{ "Attachable", NULL }, { "Ingress", NULL }, { "ConfigOnly", NULL },
	{ "ConfigFrom", &T_NET_CONFIG_REF }, { "Options", NULL }, { "Container", NULL },
	{ "EndpointConfig", &T_ENDPOINT }, { "Force", NULL }, { "DriverOpts", NULL },
	{ "ClusterVolumeSpec", NULL },
	/* swarm.ServiceSpec */
	{ "TaskTemplate", &T_TASK_SPEC }, { "Mode", &T_SERVICE_MODE },
	{ "UpdateConfig", &T_SVC_UPDATE }, { "RollbackConfig", &T_SVC_UPDATE },
	{ "Networks", &T_NET_ATTACH }, { "EndpointSpec", &T_ENDPOINT_SPEC },
	/* SecretSpec, ConfigSpec, NodeSpec */
	{ "Data", NULL }, { "Templating", &T_DRIVER }, { "Role", NULL }, { "Availability", NULL },
	/* swarm.Spec (Name, Labels above) */
	{ "Orchestration", &T_ORCH }, { "Raft", &T_RAFT }, { "Dispatcher", &T_DISPATCHER },
	{ "CAConfig", &T_CA_CONFIG }, { "TaskDefaults", &T_TASK_DEFAULTS },
	{ "EncryptionConfig", &T_ENCRYPTION },
	/* InitRequest, JoinRequest, UnlockRequest */
	{ "ListenAddr", NULL }, { "AdvertiseAddr", NULL }, { "DataPathAddr", NULL },
	{ "DataPathPort", NULL }, { "ForceNewCluster", NULL }, { "Spec", &T_SWARM_SPEC },
	{ "AutoLockManagers", NULL }, { "DefaultAddrPool", NULL }, { "SubnetSize", NULL },
	{ "RemoteAddrs", NULL }, { "JoinToken", NULL }, { "UnlockKey", NULL },
	/* registry.AuthConfig */
	{ "username", NULL }, { "password", NULL }, { "auth", NULL }, { "email", NULL },
	{ "serveraddress", NULL }, { "identitytoken", NULL }, { "registrytoken", NULL },
	/* PluginPrivilege (Name above) */
	{ "Description", NULL }, { "Value", NULL },
};

static const struct ftype T_HEALTH = FTYPE(F_HEALTH), T_HOSTCONFIG = FTYPE(F_HOSTCONFIG),
	T_NETWORKING = FTYPE(F_NETWORKING), T_ENDPOINT = FTYPE(F_ENDPOINT),
	T_EP_IPAM = FTYPE(F_EP_IPAM), T_MOUNT = FTYPE(F_MOUNT), T_BIND_OPTS = FTYPE(F_BIND_OPTS),
	T_VOLUME_OPTS = FTYPE(F_VOLUME_OPTS), T_IMAGE_OPTS = FTYPE(F_IMAGE_OPTS),
	T_TMPFS_OPTS = FTYPE(F_TMPFS_OPTS), T_DRIVER = FTYPE(F_DRIVER),
	T_LOGCONFIG = FTYPE(F_LOGCONFIG), T_RESTART = FTYPE(F_RESTART), T_DEVICE = FTYPE(F_DEVICE),
	T_DEVICE_REQ = FTYPE(F_DEVICE_REQ), T_ULIMIT = FTYPE(F_ULIMIT),
	T_WEIGHT_DEV = FTYPE(F_WEIGHT_DEV), T_THROTTLE_DEV = FTYPE(F_THROTTLE_DEV),
	T_PORT_BINDING = FTYPE(F_PORT_BINDING), T_IPAM = FTYPE(F_IPAM),
	T_IPAM_CONFIG = FTYPE(F_IPAM_CONFIG), T_NET_CONFIG_REF = FTYPE(F_NET_CONFIG_REF),
	T_TASK_SPEC = FTYPE(F_TASK_SPEC), T_SERVICE_MODE = FTYPE(F_SERVICE_MODE),
	T_REPLICATED = FTYPE(F_REPLICATED), T_REPLICATED_JOB = FTYPE(F_REPLICATED_JOB),
	T_EMPTY = { NULL, 0 }, T_SVC_UPDATE = FTYPE(F_SVC_UPDATE),
	T_NET_ATTACH = FTYPE(F_NET_ATTACH), T_ENDPOINT_SPEC = FTYPE(F_ENDPOINT_SPEC),
	T_PORT_CONFIG = FTYPE(F_PORT_CONFIG), T_CONTAINER_SPEC = FTYPE(F_CONTAINER_SPEC),
	T_PRIVILEGES = FTYPE(F_PRIVILEGES), T_CRED_SPEC = FTYPE(F_CRED_SPEC),
	T_SELINUX = FTYPE(F_SELINUX), T_SECCOMP = FTYPE(F_SECCOMP), T_APPARMOR = FTYPE(F_APPARMOR),
	T_DNS = FTYPE(F_DNS), T_SECRET_REF = FTYPE(F_SECRET_REF), T_CONFIG_REF = FTYPE(F_CONFIG_REF),
	T_FILE_TARGET = FTYPE(F_FILE_TARGET), T_RES_REQ = FTYPE(F_RES_REQ), T_LIMIT = FTYPE(F_LIMIT),
	T_SWARM_RES = FTYPE(F_SWARM_RES), T_GENERIC_RES = FTYPE(F_GENERIC_RES),
	T_NAMED_RES = FTYPE(F_NAMED_RES), T_DISCRETE_RES = FTYPE(F_NAMED_RES),
	T_SWARM_RESTART = FTYPE(F_SWARM_RESTART), T_PLACEMENT = FTYPE(F_PLACEMENT),
	T_PLACE_PREF = FTYPE(F_PLACE_PREF), T_SPREAD = FTYPE(F_SPREAD), T_PLATFORM = FTYPE(F_PLATFORM),
	T_NET_ATTACH_SPEC = FTYPE(F_NET_ATTACH_SPEC), T_SWARM_SPEC = FTYPE(F_SWARM_SPEC),
	T_ORCH = FTYPE(F_ORCH), T_RAFT = FTYPE(F_RAFT), T_DISPATCHER = FTYPE(F_DISPATCHER),
	T_CA_CONFIG = FTYPE(F_CA_CONFIG), T_EXTERNAL_CA = FTYPE(F_EXTERNAL_CA),
	T_TASK_DEFAULTS = FTYPE(F_TASK_DEFAULTS), T_ENCRYPTION = FTYPE(F_ENCRYPTION),
	T_ROOT = FTYPE(F_ROOT);

/* The field of type t that key names for Go's decoder: the exact name first,
 * then EqualFold (decode.go object()). NULL when it names none. */
static const struct ffield *find_field(const struct ftype *t, const char *key)
{
	size_t i;

	const struct ffield *folded = NULL;

	if (t == NULL || key == NULL)
		return NULL;
	for (i = 0; i < t->n; i++) {
		if (strcmp(t->f[i].name, key) == 0)
			return &t->f[i];
		if (folded == NULL && fold_eq(t->f[i].name, key))
			folded = &t->f[i];
	}
	return folded;
}

/* Stores Docker's spelling in c->string (the key's bytes are only used by the
 * rules from here on; the proxy forwards the original body). */
static enum dpp_body_status respell(cJSON *c, const char *name, char **err)
{
	size_t n;
	char *s;

	if (strcmp(c->string, name) == 0)
		return DPP_BODY_OK;
	n = strlen(name) + 1;
	s = cJSON_malloc(n);
	if (s == NULL) {
		set_err(err, "out of memory");
		return DPP_BODY_NOMEM;
	}
	memcpy(s, name, n);
	if (!(c->type & cJSON_StringIsConst))
		cJSON_free(c->string);
	c->string = s;
	c->type &= ~cJSON_StringIsConst;
	return DPP_BODY_OK;
}

/* ---- pass 3: duplicate keys -------------------------------------------- */

static bool is_map_field(const char *parent, const char *name)
{
	size_t i;

	if (name == NULL)
		return false;
	for (i = 0; i < sizeof(map_fields) / sizeof(map_fields[0]); i++) {
		if (!fold_eq(map_fields[i].name, name))
			continue;
		if (map_fields[i].parent == NULL)
			return true;
		if (parent != NULL && fold_eq(map_fields[i].parent, parent))
			return true;
	}
	return false;
}

/* The kind and field name of the value stored under `key` in an object of
 * kind `kind` that is itself the value of field `field` (NULL: not a field,
 * e.g. the root or a map entry). */
static void child_context(enum obj_kind kind, const char *field, const char *key,
			  enum obj_kind *ckind, const char **cfield)
{
	if (kind == OBJ_MAP) {
		*ckind = OBJ_STRUCT;
		*cfield = NULL;
	} else {
		*ckind = is_map_field(field, key) ? OBJ_MAP : OBJ_STRUCT;
		*cfield = key;
	}
}

static int cmp_fold_items(const void *a, const void *b)
{
	const cJSON *const *x = a, *const *y = b;

	return fold_cmp((*x)->string, (*y)->string);
}

static int cmp_exact_items(const void *a, const void *b)
{
	const cJSON *const *x = a, *const *y = b;

	return strcmp((*x)->string, (*y)->string);
}

static enum dpp_body_status report_dup(char **err, enum obj_kind kind, const char *a,
				       const char *b)
{
	char qa[72], qb[72];

	quote_key(qa, sizeof(qa), a);
	quote_key(qb, sizeof(qb), b);
	if (kind == OBJ_MAP || strcmp(a, b) == 0)
		set_err(err, "invalid JSON body: duplicate key \"%s\"", qa);
	else
		set_err(err,
			"invalid JSON body: keys \"%s\" and \"%s\" name the same field "
			"for Docker (case-insensitive match)", qa, qb);
	return DPP_BODY_INVALID;
}

#define DUP_PAIRWISE_MAX 8

static enum dpp_body_status check_dups(const cJSON *obj, enum obj_kind kind, char **err)
{
	const cJSON *c, *d, **v = NULL;
	size_t n = 0, i;
	enum dpp_body_status st = DPP_BODY_OK;

	for (c = obj->child; c != NULL; c = c->next)
		n++;
	if (n <= DUP_PAIRWISE_MAX) {
		/* small objects: pairwise, reporting the first pair in order */
		for (c = obj->child; c != NULL; c = c->next)
			for (d = c->next; d != NULL; d = d->next)
				if (kind == OBJ_MAP ? strcmp(c->string, d->string) == 0
						    : fold_eq(c->string, d->string))
					return report_dup(err, kind, c->string, d->string);
		return DPP_BODY_OK;
	}
	v = malloc(n * sizeof(*v));
	if (v == NULL) {
		set_err(err, "out of memory");
		return DPP_BODY_NOMEM;
	}
	for (i = 0, c = obj->child; c != NULL; c = c->next)
		v[i++] = c;
	qsort(v, n, sizeof(*v), kind == OBJ_MAP ? cmp_exact_items : cmp_fold_items);
	for (i = 1; i < n; i++) {
		if ((kind == OBJ_MAP ? cmp_exact_items : cmp_fold_items)(&v[i - 1], &v[i]) == 0) {
			st = report_dup(err, kind, v[i - 1]->string, v[i]->string);
			goto cleanup;
		}
	}
cleanup:
	free(v);
	return st;
}

/* Pre-order walk (document order): duplicate keys, number texts and
 * Docker's spelling of struct keys. `type` is the struct type of node (an
 * object decoded into a struct), the value type of its entries (a map) or of
 * its elements (an array); NULL when unknown. Recursion depth is bounded by
 * max_depth (prescan). */
static enum dpp_body_status walk_value(struct walk *w, cJSON *node, enum obj_kind kind,
				       const char *field, const struct ftype *type)
{
	enum dpp_body_status st;
	cJSON *c;

	if (cJSON_IsNumber(node))
		return attach_number(w, node);
	if (cJSON_IsObject(node)) {
		st = check_dups(node, kind, w->err);
		if (st != DPP_BODY_OK)
			return st;
		for (c = node->child; c != NULL; c = c->next) {
			const struct ftype *ct = type; /* a map entry's value */
			enum obj_kind ck;
			const char *cf;

			if (c->string == NULL) {
				set_err(w->err, "invalid JSON body: object member without key");
				return DPP_BODY_INVALID;
			}
			if (kind == OBJ_STRUCT) {
				/* after check_dups, so its messages quote the keys as sent;
				 * before child_context, which keeps a pointer to the key */
				const struct ffield *f = find_field(type, c->string);

				ct = f != NULL ? f->type : NULL;
				if (f != NULL && (st = respell(c, f->name, w->err)) != DPP_BODY_OK)
					return st;
			}
			child_context(kind, field, c->string, &ck, &cf);
			st = walk_value(w, c, ck, cf, ct);
			if (st != DPP_BODY_OK)
				return st;
		}
	} else if (cJSON_IsArray(node)) {
		for (c = node->child; c != NULL; c = c->next) {
			st = walk_value(w, c, OBJ_STRUCT, field, type);
			if (st != DPP_BODY_OK)
				return st;
		}
	}
	return DPP_BODY_OK;
}

/* ---- parse -------------------------------------------------------------- */

enum dpp_body_status dpp_body_parse(const char *body, size_t len, int max_depth,
				    struct dpp_body_doc **out, char **err)
{
	const unsigned char *s = (const unsigned char *)body;
	struct dpp_body_doc *doc = NULL;
	enum dpp_body_status st = DPP_BODY_INVALID;
	const char *end = NULL, *what = NULL;
	cJSON *root = NULL;
	struct walk w;
	size_t i, off = 0;

	if (err != NULL)
		*err = NULL;
	if (out == NULL) {
		set_err(err, "invalid JSON body: no output");
		return DPP_BODY_INVALID;
	}
	*out = NULL;
	if (max_depth <= 0)
		max_depth = DPP_BODY_DEFAULT_MAX_DEPTH;
	if (max_depth > DPP_BODY_MAX_DEPTH_LIMIT)
		max_depth = DPP_BODY_MAX_DEPTH_LIMIT;
	if (body == NULL && len > 0) {
		set_err(err, "invalid JSON body: no data");
		return DPP_BODY_INVALID;
	}
	for (i = 0; i < len && is_json_ws(s[i]); i++)
		;
	if (i == len)
		return DPP_BODY_EMPTY; /* Go's Decoder: io.EOF */

	if (prescan(s, len, max_depth, &off, &what) < 0) {
		if (strcmp(what, "nesting too deep") == 0)
			set_err(err, "invalid JSON body: nesting deeper than %d at byte %zu",
				max_depth, off);
		else
			set_err(err, "invalid JSON body: %s at byte %zu", what, off);
		return DPP_BODY_INVALID;
	}

	/* cJSON_ParseWithLengthOpts writes a global error position; serialise. */
	if (pthread_mutex_lock(&parse_lock) != 0) {
		set_err(err, "invalid JSON body: internal lock error");
		return DPP_BODY_INVALID;
	}
	root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	(void)pthread_mutex_unlock(&parse_lock);
	if (root == NULL) {
		/* cJSON does not tell allocation failure from a syntax error. */
		off = (end != NULL && end >= body && end <= body + len) ? (size_t)(end - body) : 0;
		set_err(err, "invalid JSON body: syntax error near byte %zu", off);
		goto cleanup;
	}
	if (end == NULL || end < body || end > body + len) {
		set_err(err, "invalid JSON body: internal parse end error");
		goto cleanup;
	}
	for (off = (size_t)(end - body); off < len; off++) {
		if (!is_json_ws(s[off])) {
			set_err(err, "invalid JSON body: unexpected data after the JSON value "
				"at byte %zu", off);
			goto cleanup;
		}
	}

	w.body = s;
	w.lim = (size_t)(end - body);
	w.pos = 0;
	w.err = err;
	st = walk_value(&w, root, OBJ_STRUCT, NULL, &T_ROOT);
	if (st != DPP_BODY_OK)
		goto cleanup;
	{
		size_t start, tlen;

		if (next_number_token(s, w.lim, &w.pos, &start, &tlen)) {
			set_err(err, "invalid JSON body: internal number scan mismatch");
			st = DPP_BODY_INVALID;
			goto cleanup;
		}
	}

	doc = malloc(sizeof(*doc));
	if (doc == NULL) {
		set_err(err, "out of memory");
		st = DPP_BODY_NOMEM;
		goto cleanup;
	}
	doc->root = root;
	root = NULL;
	*out = doc;
	st = DPP_BODY_OK;
cleanup:
	cJSON_Delete(root);
	return st;
}

void dpp_body_free(struct dpp_body_doc *doc)
{
	if (doc == NULL)
		return;
	cJSON_Delete(doc->root);
	free(doc);
}

const cJSON *dpp_body_root(const struct dpp_body_doc *doc)
{
	return doc != NULL ? doc->root : NULL;
}

/* ---- lookup ------------------------------------------------------------- */

/* Canonical decimal index: "0" or [1-9][0-9]{0,8}. */
static int parse_index(const char *s, size_t *out)
{
	size_t v = 0, i;

	if (s[0] == '\0' || (s[0] == '0' && s[1] != '\0'))
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 9)
			return -1;
		v = v * 10 + (size_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

/* One step of dpp_body_lookup from node (of kind `kind`, value of field
 * `field`); NULL when absent or null. Updates *kind and *field. */
static const cJSON *step(const cJSON *node, const char *seg, enum obj_kind *kind,
			 const char **field)
{
	const cJSON *c;

	if (cJSON_IsObject(node)) {
		for (c = node->child; c != NULL; c = c->next) {
			if (c->string == NULL)
				continue;
			if (*kind == OBJ_MAP ? strcmp(c->string, seg) == 0 : fold_eq(c->string, seg))
				break;
		}
		if (c == NULL)
			return NULL;
		child_context(*kind, *field, c->string, kind, field);
	} else if (cJSON_IsArray(node)) {
		size_t idx, k = 0;

		if (parse_index(seg, &idx) < 0)
			return NULL;
		for (c = node->child; c != NULL && k < idx; c = c->next)
			k++;
		if (c == NULL)
			return NULL;
		*kind = OBJ_STRUCT;
	} else {
		return NULL;
	}
	return cJSON_IsNull(c) ? NULL : c;
}

const cJSON *dpp_body_member(const cJSON *obj, const char *name, int map)
{
	const cJSON *c;

	if (!cJSON_IsObject(obj) || name == NULL)
		return NULL;
	for (c = obj->child; c != NULL; c = c->next) {
		if (c->string != NULL && (map ? strcmp(c->string, name) == 0 : fold_eq(c->string, name)))
			return cJSON_IsNull(c) ? NULL : c;
	}
	return NULL;
}

/* Plain segments are walked in a loop; recursion happens only at "*", so its
 * depth is at most the number of "*" segments. */
static int each_at(const cJSON *node, enum obj_kind kind, const char *field,
		   const char *const *segs, size_t nseg, int (*fn)(void *, const cJSON *),
		   void *arg)
{
	const cJSON *c;
	int r;

	for (; nseg > 0 && strcmp(segs[0], DPP_BODY_ANY) != 0; segs++, nseg--) {
		node = step(node, segs[0], &kind, &field);
		if (node == NULL)
			return 0;
	}
	if (nseg == 0)
		return fn(arg, node);
	if (!cJSON_IsObject(node) && !cJSON_IsArray(node))
		return 0;
	for (c = node->child; c != NULL; c = c->next) {
		enum obj_kind ck = OBJ_STRUCT;
		const char *cf = field;

		if (cJSON_IsNull(c))
			continue;
		if (cJSON_IsObject(node)) {
			if (c->string == NULL)
				continue;
			child_context(kind, field, c->string, &ck, &cf);
		}
		r = each_at(c, ck, cf, segs + 1, nseg - 1, fn, arg);
		if (r != 0)
			return r;
	}
	return 0;
}

int dpp_body_each(const struct dpp_body_doc *doc, const char *const *segments, size_t nseg,
		  int (*fn)(void *arg, const cJSON *value), void *arg)
{
	size_t i;

	if (doc == NULL || fn == NULL || (nseg > 0 && segments == NULL) || doc->root == NULL ||
	    cJSON_IsNull(doc->root))
		return 0;
	for (i = 0; i < nseg; i++)
		if (segments[i] == NULL)
			return 0;
	return each_at(doc->root, OBJ_STRUCT, NULL, segments, nseg, fn, arg);
}

const cJSON *dpp_body_lookup(const struct dpp_body_doc *doc,
			     const char *const *segments, size_t nseg)
{
	const cJSON *node;
	enum obj_kind kind = OBJ_STRUCT;
	const char *field = NULL;
	size_t i;

	if (doc == NULL || (nseg > 0 && segments == NULL))
		return NULL;
	node = doc->root;
	if (node == NULL || cJSON_IsNull(node))
		return NULL;
	for (i = 0; i < nseg && node != NULL; i++)
		node = segments[i] != NULL ? step(node, segments[i], &kind, &field) : NULL;
	return node;
}

/* ---- paths -------------------------------------------------------------- */

void dpp_body_path_free(struct dpp_body_path *path)
{
	size_t i;

	if (path == NULL)
		return;
	for (i = 0; i < path->n; i++)
		free(path->seg[i]);
	free(path->seg);
	free(path);
}

int dpp_body_path_from_segments(const char *const *segments, size_t nseg,
				struct dpp_body_path **out, const char **err)
{
	struct dpp_body_path *p = NULL;
	size_t i, total = 0;
	const char *e = NULL;

	if (out != NULL)
		*out = NULL;
	if (out == NULL || (nseg > 0 && segments == NULL)) {
		e = "invalid arguments";
		goto fail;
	}
	if (nseg == 0) {
		e = "empty path";
		goto fail;
	}
	if (nseg > DPP_BODY_PATH_MAX_SEGMENTS) {
		e = "path has too many segments";
		goto fail;
	}
	for (i = 0; i < nseg; i++) {
		if (segments[i] == NULL) {
			e = "invalid arguments";
			goto fail;
		}
		total += strlen(segments[i]) + 1;
		if (total > DPP_BODY_PATH_MAX_LEN + 1) {
			e = "path too long";
			goto fail;
		}
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL || (p->seg = calloc(nseg, sizeof(*p->seg))) == NULL) {
		e = "out of memory";
		goto fail;
	}
	for (i = 0; i < nseg; i++) {
		p->seg[i] = strdup(segments[i]);
		if (p->seg[i] == NULL) {
			e = "out of memory";
			goto fail;
		}
		p->n = i + 1;
	}
	*out = p;
	if (err != NULL)
		*err = NULL;
	return 0;
fail:
	dpp_body_path_free(p);
	if (err != NULL)
		*err = e;
	return -1;
}

int dpp_body_path_parse(const char *dotted, struct dpp_body_path **out, const char **err)
{
	const char *segs[DPP_BODY_PATH_MAX_SEGMENTS];
	char *copy = NULL, *p;
	size_t n = 0, len;
	const char *e = NULL;
	int rc = -1;

	if (out != NULL)
		*out = NULL;
	if (dotted == NULL || out == NULL) {
		e = "invalid arguments";
		goto cleanup;
	}
	len = strlen(dotted);
	if (len == 0) {
		e = "empty path";
		goto cleanup;
	}
	if (len > DPP_BODY_PATH_MAX_LEN) {
		e = "path too long";
		goto cleanup;
	}
	copy = strdup(dotted);
	if (copy == NULL) {
		e = "out of memory";
		goto cleanup;
	}
	for (p = copy;;) {
		char *dot = strchr(p, '.');

		if (dot != NULL)
			*dot = '\0';
		if (*p == '\0') {
			e = "empty segment in path";
			goto cleanup;
		}
		if (n == DPP_BODY_PATH_MAX_SEGMENTS) {
			e = "path has too many segments";
			goto cleanup;
		}
		segs[n++] = p;
		if (dot == NULL)
			break;
		p = dot + 1;
	}
	rc = dpp_body_path_from_segments(segs, n, out, &e);
cleanup:
	free(copy);
	if (err != NULL)
		*err = rc == 0 ? NULL : e;
	return rc;
}

size_t dpp_body_path_count(const struct dpp_body_path *path)
{
	return path != NULL ? path->n : 0;
}

const char *dpp_body_path_segment(const struct dpp_body_path *path, size_t i)
{
	return (path != NULL && i < path->n) ? path->seg[i] : NULL;
}

const cJSON *dpp_body_lookup_path(const struct dpp_body_doc *doc,
				  const struct dpp_body_path *path)
{
	if (path == NULL)
		return NULL;
	return dpp_body_lookup(doc, (const char *const *)path->seg, path->n);
}

/* ---- numbers ------------------------------------------------------------ */

const char *dpp_body_number_text(const cJSON *item)
{
	if (item == NULL || !cJSON_IsNumber(item))
		return NULL;
	return item->valuestring;
}

int dpp_body_get_int64(const cJSON *item, int64_t *out)
{
	const char *t = dpp_body_number_text(item);
	long long v;
	char *endp = NULL;
	size_t i = 0;

	if (t == NULL || out == NULL)
		return -1;
	if (t[i] == '-')
		i++;
	if (t[i] < '0' || t[i] > '9' || (t[i] == '0' && t[i + 1] != '\0'))
		return -1;
	for (; t[i] != '\0'; i++)
		if (t[i] < '0' || t[i] > '9')
			return -1;
	errno = 0;
	v = strtoll(t, &endp, 10);
	if (errno != 0 || endp == NULL || *endp != '\0')
		return -1;
	*out = (int64_t)v;
	return 0;
}

/* ---- container create: legacy top-level HostConfig --------------------- */

/* container.Config's JSON field names (api/types/container/config.go) plus
 * the wrapper's own HostConfig and NetworkingConfig. */
static const char *const create_top_fields[] = {
	"Hostname", "Domainname", "User", "AttachStdin", "AttachStdout",
	"AttachStderr", "ExposedPorts", "Tty", "OpenStdin", "StdinOnce", "Env",
	"Cmd", "Healthcheck", "ArgsEscaped", "Image", "Volumes", "WorkingDir",
	"Entrypoint", "NetworkDisabled", "MacAddress", "OnBuild", "Labels",
	"StopSignal", "StopTimeout", "Shell", "HostConfig", "NetworkingConfig",
};

int dpp_body_check_create(const struct dpp_body_doc *doc, char **err)
{
	const cJSON *c;
	size_t i;

	if (err != NULL)
		*err = NULL;
	if (doc == NULL)
		return 0;
	if (!cJSON_IsObject(doc->root)) {
		set_err(err, "invalid container config: the body must be a JSON object");
		return -1;
	}
	for (c = doc->root->child; c != NULL; c = c->next) {
		bool known = false;

		for (i = 0; i < sizeof(create_top_fields) / sizeof(create_top_fields[0]); i++) {
			if (fold_eq(create_top_fields[i], c->string)) {
				known = true;
				break;
			}
		}
		if (!known) {
			char q[72];

			quote_key(q, sizeof(q), c->string);
			set_err(err,
				"invalid container config: top-level field \"%s\" is not a "
				"container config field (host settings belong in HostConfig)", q);
			return -1;
		}
	}
	return 0;
}

/* ---- body kind ---------------------------------------------------------- */

/* Routes whose body dockerd streams (tar or binary) carry
 * DPP_ROUTE_BODY_STREAM in the route table (dpp/route.h). Docker Engine API:
 * ImageBuild (application/octet-stream tar), PutContainerArchive
 * (application/x-tar), ImageLoad (application/x-tar), ImageCreate (import
 * with fromSrc=-: application/octet-stream), PluginCreate (application/x-tar). */
enum dpp_body_kind dpp_body_kind_endpoint(const char *method, const char *endpoint)
{
	size_t n;
	const struct dpp_route *t;

	if (method == NULL)
		return DPP_BODY_JSON;
	if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
	    strcmp(method, "DELETE") == 0 || strcmp(method, "OPTIONS") == 0)
		return DPP_BODY_NONE;
	if (endpoint == NULL)
		return DPP_BODY_JSON;
	t = dpp_route_table(&n);
	for (size_t i = 0; i < n; i++) {
		if (t[i].method != NULL && strcmp(t[i].method, method) == 0 &&
		    strcmp(t[i].endpoint, endpoint) == 0)
			return (t[i].flags & DPP_ROUTE_BODY_STREAM) ? DPP_BODY_STREAM : DPP_BODY_JSON;
	}
	return DPP_BODY_JSON;
}

enum dpp_body_kind dpp_body_kind(const char *method, const char *canonical_path)
{
	/* A version prefix changes no stream route; the debug routes (the only
	 * unversioned ones) have no body. */
	return dpp_body_kind_endpoint(method, dpp_route_endpoint(method, canonical_path, 1));
}

const char *dpp_body_kind_name(enum dpp_body_kind kind)
{
	switch (kind) {
	case DPP_BODY_NONE:
		return "none";
	case DPP_BODY_JSON:
		return "json";
	case DPP_BODY_STREAM:
		return "stream";
	}
	return "unknown";
}

/* ---- exact numbers outside request bodies ------------------------------- */

cJSON *dpp_json_parse_exact(const char *text, size_t len, const char **err)
{
	const char *end = NULL;
	cJSON *root = NULL;
	char *msg = NULL;
	struct walk w;
	size_t start, tlen;

	if (err != NULL)
		*err = NULL;
	if (text == NULL) {
		if (err != NULL)
			*err = "no JSON text";
		return NULL;
	}
	if (pthread_mutex_lock(&parse_lock) != 0) {
		if (err != NULL)
			*err = "internal lock error";
		return NULL;
	}
	root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	(void)pthread_mutex_unlock(&parse_lock);
	if (root == NULL || end == NULL || end < text || end > text + len) {
		if (err != NULL)
			*err = "not valid JSON";
		goto fail;
	}
	w.body = (const unsigned char *)text;
	w.lim = (size_t)(end - text);
	w.pos = 0;
	w.err = &msg;
	if (raw_numbers(&w, root) != DPP_BODY_OK ||
	    next_number_token(w.body, w.lim, &w.pos, &start, &tlen)) {
		if (err != NULL)
			*err = "a number is not valid JSON (RFC 8259) or cannot be kept exactly";
		goto fail;
	}
	free(msg);
	return root;
fail:
	free(msg);
	cJSON_Delete(root);
	return NULL;
}

/* Numbers that carry their literal text (dpp_body_parse) become cJSON_Raw
 * nodes holding it, so printing gives the numbers as sent. Recursion depth is
 * bounded by the document's (max_depth). cJSON_Duplicate copies valuestring
 * for every type, so a copy keeps the texts. */
static void raw_from_text(cJSON *n)
{
	if (cJSON_IsNumber(n) && n->valuestring != NULL)
		n->type = (n->type & ~0xFF) | cJSON_Raw;
	for (cJSON *c = n->child; c != NULL; c = c->next)
		raw_from_text(c);
}

char *dpp_body_text(const cJSON *item)
{
	cJSON *copy;
	char *text, *out;

	if (item == NULL)
		return NULL;
	copy = cJSON_Duplicate(item, 1);
	if (copy == NULL)
		return NULL;
	raw_from_text(copy);
	text = cJSON_PrintUnformatted(copy);
	cJSON_Delete(copy);
	if (text == NULL)
		return NULL;
	out = strdup(text);
	cJSON_free(text);
	return out;
}

/* ---- self-check of the spelling table (for tests) ---------------------- */

static const struct ftype *const all_types[] = {
	&T_HEALTH, &T_HOSTCONFIG, &T_NETWORKING, &T_ENDPOINT, &T_EP_IPAM, &T_MOUNT,
	&T_BIND_OPTS, &T_VOLUME_OPTS, &T_IMAGE_OPTS, &T_TMPFS_OPTS, &T_DRIVER, &T_LOGCONFIG,
	&T_RESTART, &T_DEVICE, &T_DEVICE_REQ, &T_ULIMIT, &T_WEIGHT_DEV, &T_THROTTLE_DEV,
	&T_PORT_BINDING, &T_IPAM, &T_IPAM_CONFIG, &T_NET_CONFIG_REF, &T_TASK_SPEC,
	&T_SERVICE_MODE, &T_REPLICATED, &T_REPLICATED_JOB, &T_EMPTY, &T_SVC_UPDATE,
	&T_NET_ATTACH, &T_ENDPOINT_SPEC, &T_PORT_CONFIG, &T_CONTAINER_SPEC, &T_PRIVILEGES,
	&T_CRED_SPEC, &T_SELINUX, &T_SECCOMP, &T_APPARMOR, &T_DNS, &T_SECRET_REF,
	&T_CONFIG_REF, &T_FILE_TARGET, &T_RES_REQ, &T_LIMIT, &T_SWARM_RES, &T_GENERIC_RES,
	&T_NAMED_RES, &T_DISCRETE_RES, &T_SWARM_RESTART, &T_PLACEMENT, &T_PLACE_PREF,
	&T_SPREAD, &T_PLATFORM, &T_NET_ATTACH_SPEC, &T_SWARM_SPEC, &T_ORCH, &T_RAFT,
	&T_DISPATCHER, &T_CA_CONFIG, &T_EXTERNAL_CA, &T_TASK_DEFAULTS, &T_ENCRYPTION, &T_ROOT,
};

const char *dpp_body_spelling_selfcheck(void)
{
	static __thread char why[160];
	size_t t, i, j;

	for (t = 0; t < sizeof(all_types) / sizeof(all_types[0]); t++) {
		const struct ftype *ty = all_types[t];

		for (i = 0; i < ty->n; i++) {
			if (ty->f[i].name == NULL || ty->f[i].name[0] == '\0') {
				snprintf(why, sizeof(why), "type %zu: empty field name", t);
				return why;
			}
			for (j = i + 1; j < ty->n; j++) {
				if (fold_eq(ty->f[i].name, ty->f[j].name)) {
					snprintf(why, sizeof(why), "type %zu: \"%s\" and \"%s\" are "
						 "equal under EqualFold", t, ty->f[i].name,
						 ty->f[j].name);
					return why;
				}
			}
		}
	}
	return NULL;
}

/* --- the policy view's callbacks ------------------------------------------ */

static const char *view_query(void *ctx, const char *name)
{
	return dpp_target_query_get(ctx, name);
}

static const cJSON *view_body(void *ctx, const char *const *segments, size_t n)
{
	return ctx != NULL ? dpp_body_lookup(ctx, segments, n) : NULL;
}

static int view_body_each(void *ctx, const char *const *segments, size_t n,
			  int (*fn)(void *arg, const cJSON *value), void *arg)
{
	return dpp_body_each(ctx, segments, n, fn, arg);
}

void dpp_request_view_bind(struct dpp_request_view *view, const struct dpp_target *t,
			   const struct dpp_body_doc *doc)
{
	view->query_get = view_query;
	view->query_ctx = (void *)t;
	view->body_get = view_body;
	view->body_each = view_body_each;
	view->body_ctx = (void *)doc;
}
