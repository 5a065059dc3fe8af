/* The control socket protocol's objects and framing (proto.h,
 * docs/control.md). */
#include "proto.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_CHUNK (64 * 1024)

/* ---- helpers ------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 (RFC 3629:
 * no overlongs, no surrogates, nothing above U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t need;
	unsigned min;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 2;
		min = 0x80;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		min = 0x800;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		min = 0x10000;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need;
}

void dpp_proto_copy(char *dst, size_t len, const char *src)
{
	size_t n;

	if (len == 0)
		return;
	if (src == NULL)
		src = "";
	n = strlen(src);
	if (n >= len) {
		n = len - 1;
		/* Back off to the start of a character: never half a sequence. */
		while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Adds a string member, invalid UTF-8 bytes as '?'. Returns 0 or -1. */
static int add_str(cJSON *obj, const char *name, const char *s)
{
	size_t n = s == NULL ? 0 : strlen(s);
	char *clean;
	size_t i = 0;
	cJSON *item;

	if (s == NULL)
		s = "";
	clean = malloc(n + 1);
	if (clean == NULL)
		return -1;
	while (i < n) {
		size_t k = utf8_seq((const unsigned char *)s + i, n - i);

		if (k == 0) {
			clean[i] = '?';
			i++;
		} else {
			memcpy(clean + i, s + i, k);
			i += k;
		}
	}
	clean[n] = '\0';
	item = cJSON_AddStringToObject(obj, name, clean);
	free(clean);
	return item == NULL ? -1 : 0;
}

static int add_num(cJSON *obj, const char *name, double v)
{
	return cJSON_AddNumberToObject(obj, name, v) == NULL ? -1 : 0;
}

/* Integers are printed exactly (cJSON's own printing of doubles keeps only
 * 15 significant digits when that compares "equal" within an epsilon). */
static int add_i64(cJSON *obj, const char *name, int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return cJSON_AddRawToObject(obj, name, buf) == NULL ? -1 : 0;
}

static int add_u64(cJSON *obj, const char *name, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return cJSON_AddRawToObject(obj, name, buf) == NULL ? -1 : 0;
}

static int add_bool(cJSON *obj, const char *name, int v)
{
	return cJSON_AddBoolToObject(obj, name, v != 0) == NULL ? -1 : 0;
}

static int add_u64str(cJSON *obj, const char *name, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return add_str(obj, name, buf);
}

/* Members: absent is "" / 0; present with the wrong type is -1. */
static int get_str(const cJSON *obj, const char *name, char *dst, size_t len)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);

	if (it == NULL) {
		dst[0] = '\0';
		return 0;
	}
	if (!cJSON_IsString(it) || it->valuestring == NULL)
		return -1;
	dpp_proto_copy(dst, len, it->valuestring);
	/* What a peer sent is held as valid UTF-8 too (invalid bytes as '?'),
	 * so decode and encode are inverse on everything decode accepts. */
	for (size_t i = 0, n = strlen(dst); i < n;) {
		size_t k = utf8_seq((const unsigned char *)dst + i, n - i);

		if (k == 0)
			dst[i++] = '?';
		else
			i += k;
	}
	return 0;
}

static int get_num(const cJSON *obj, const char *name, double min, double max, int integral,
		   double *out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
	double v;

	*out = 0;
	if (it == NULL)
		return 0;
	if (!cJSON_IsNumber(it))
		return -1;
	v = it->valuedouble;
	if (!isfinite(v) || v < min || v > max || (integral && v != floor(v)))
		return -1;
	*out = v;
	return 0;
}

/* 2^64 as a double: values must be below it to convert to uint64_t. */
#define U64_LIMIT 18446744073709551615.0

static int get_u64(const cJSON *obj, const char *name, uint64_t *out)
{
	double v;

	if (get_num(obj, name, 0, U64_LIMIT, 1, &v) != 0 || v >= 18446744073709551616.0)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

static int get_i64(const cJSON *obj, const char *name, int64_t *out)
{
	double v;

	/* doubles near the int64 limits round outward: stay inside. */
	if (get_num(obj, name, -9223372036854774784.0, 9223372036854774784.0, 1, &v) != 0)
		return -1;
	*out = (int64_t)v;
	return 0;
}

static int get_u32(const cJSON *obj, const char *name, uint32_t *out)
{
	double v;

	if (get_num(obj, name, 0, 4294967295.0, 1, &v) != 0)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int get_int(const cJSON *obj, const char *name, int *out)
{
	double v;

	if (get_num(obj, name, -2147483648.0, 2147483647.0, 1, &v) != 0)
		return -1;
	*out = (int)v;
	return 0;
}

static int get_size(const cJSON *obj, const char *name, size_t *out)
{
	uint64_t v;

	if (get_u64(obj, name, &v) != 0 || v > SIZE_MAX)
		return -1;
	*out = (size_t)v;
	return 0;
}

static int get_bool(const cJSON *obj, const char *name, int *out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);

	*out = 0;
	if (it == NULL)
		return 0;
	if (!cJSON_IsBool(it))
		return -1;
	*out = cJSON_IsTrue(it) ? 1 : 0;
	return 0;
}

/* A decimal uint64 in a string (ids that a double cannot hold exactly). */
static int get_u64str(const cJSON *obj, const char *name, uint64_t *out)
{
	char buf[24];
	char *end;
	unsigned long long v;

	*out = 0;
	if (cJSON_GetObjectItemCaseSensitive(obj, name) == NULL)
		return 0;
	if (get_str(obj, name, buf, sizeof(buf)) != 0)
		return -1;
	if (buf[0] < '0' || buf[0] > '9' || strlen(buf) > 20)
		return -1;
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = (uint64_t)v;
	return 0;
}

static cJSON *wrap(const char *name, cJSON *inner)
{
	cJSON *obj;

	if (inner == NULL)
		return NULL;
	obj = cJSON_CreateObject();
	if (obj == NULL || !cJSON_AddItemToObject(obj, name, inner)) {
		cJSON_Delete(obj);
		cJSON_Delete(inner);
		return NULL;
	}
	return obj;
}

/* ---- names --------------------------------------------------------------- */

int dpp_proto_kind_parse(const char *name, enum dpp_event_kind *out)
{
	if (name == NULL)
		return -1;
	for (int k = DPP_EVENT_REQUEST; k <= DPP_EVENT_STREAM_CLOSE; k++) {
		if (strcmp(name, dpp_event_kind_name((enum dpp_event_kind)k)) == 0) {
			*out = (enum dpp_event_kind)k;
			return 0;
		}
	}
	return -1;
}

static const char *const outcome_names[] = {
	[DPP_TRACE_NO_MATCH] = "no_match", [DPP_TRACE_MATCHED] = "matched",
	[DPP_TRACE_ALLOWED] = "allowed",   [DPP_TRACE_DENIED] = "denied",
	[DPP_TRACE_DRY_RUN] = "dry_run",   [DPP_TRACE_ERROR] = "error",
};
#define N_OUTCOMES (sizeof(outcome_names) / sizeof(outcome_names[0]))

const char *dpp_proto_outcome_name(unsigned outcome)
{
	return outcome < N_OUTCOMES ? outcome_names[outcome] : "error";
}

int dpp_proto_outcome_parse(const char *name, unsigned *out)
{
	if (name == NULL)
		return -1;
	for (unsigned i = 0; i < N_OUTCOMES; i++) {
		if (strcmp(name, outcome_names[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	return -1;
}

/* ---- hello --------------------------------------------------------------- */

cJSON *dpp_proto_hello_to_json(const struct dpp_proto_hello *h)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL || add_num(o, "hello", h->version) != 0 || add_str(o, "client", h->client) != 0 ||
	    (h->on_behalf_of[0] != '\0' && add_str(o, "on_behalf_of", h->on_behalf_of) != 0)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static int get_hello_version(const cJSON *obj, int *out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, "hello");

	if (!cJSON_IsNumber(it))
		return -1;
	return get_int(obj, "hello", out);
}

int dpp_proto_hello_from_json(const cJSON *obj, struct dpp_proto_hello *h)
{
	memset(h, 0, sizeof(*h));
	if (!cJSON_IsObject(obj) || get_hello_version(obj, &h->version) != 0 ||
	    get_str(obj, "client", h->client, sizeof(h->client)) != 0 ||
	    get_str(obj, "on_behalf_of", h->on_behalf_of, sizeof(h->on_behalf_of)) != 0)
		return -1;
	return 0;
}

cJSON *dpp_proto_hello_reply_to_json(const struct dpp_proto_hello_reply *h)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL || add_num(o, "hello", h->version) != 0 || add_i64(o, "pid", h->pid) != 0 ||
	    add_str(o, "server", h->server) != 0 || add_str(o, "version", h->version_str) != 0 ||
	    add_str(o, "user", h->user) != 0) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

int dpp_proto_hello_reply_from_json(const cJSON *obj, struct dpp_proto_hello_reply *h)
{
	int64_t pid;

	memset(h, 0, sizeof(*h));
	if (!cJSON_IsObject(obj) || get_hello_version(obj, &h->version) != 0 ||
	    get_i64(obj, "pid", &pid) != 0 || pid < 0 || pid > 0x7fffffff ||
	    get_str(obj, "server", h->server, sizeof(h->server)) != 0 ||
	    get_str(obj, "version", h->version_str, sizeof(h->version_str)) != 0 ||
	    get_str(obj, "user", h->user, sizeof(h->user)) != 0)
		return -1;
	h->pid = (long)pid;
	return 0;
}

/* ---- errors -------------------------------------------------------------- */

cJSON *dpp_proto_error_to_json(const char *code, const char *message)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL || add_str(o, "code", code) != 0 || add_str(o, "message", message) != 0) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

int dpp_proto_error_from_json(const cJSON *err, char *code, size_t codelen, char **message)
{
	const cJSON *m;

	*message = NULL;
	if (!cJSON_IsObject(err) || get_str(err, "code", code, codelen) != 0 || code[0] == '\0')
		return -1;
	m = cJSON_GetObjectItemCaseSensitive(err, "message");
	if (m != NULL && !cJSON_IsString(m))
		return -1;
	*message = strdup(m != NULL && m->valuestring != NULL ? m->valuestring : "");
	return *message == NULL ? -1 : 0;
}

cJSON *dpp_proto_response(int64_t id, cJSON *err)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL || add_i64(o, "id", id) != 0 || add_bool(o, "ok", err == NULL) != 0)
		goto fail;
	if (err != NULL) {
		if (!cJSON_AddItemToObject(o, "error", err))
			goto fail;
	}
	return o;
fail:
	cJSON_Delete(o);
	cJSON_Delete(err);
	return NULL;
}

/* ---- events -------------------------------------------------------------- */

static cJSON *trace_to_json(const struct dpp_policy_trace *t)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *rules = NULL;
	size_t n = t->n > DPP_POLICY_TRACE_RULES ? DPP_POLICY_TRACE_RULES : t->n;

	if (o == NULL || add_u64str(o, "ruleset_id", t->ruleset_id) != 0 ||
	    add_bool(o, "truncated", t->truncated) != 0)
		goto fail;
	rules = cJSON_AddArrayToObject(o, "rules");
	if (rules == NULL)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		const struct dpp_policy_trace_rule *r = &t->r[i];
		cJSON *e = cJSON_CreateObject();

		if (e == NULL || !cJSON_AddItemToArray(rules, e)) {
			cJSON_Delete(e);
			goto fail;
		}
		if (add_num(e, "rule", r->rule) != 0 || add_num(e, "n_conds", r->n_conds) != 0 ||
		    add_num(e, "n_evaluated", r->n_evaluated) != 0 ||
		    add_str(e, "outcome", dpp_proto_outcome_name(r->outcome)) != 0 ||
		    add_num(e, "held", r->held) != 0)
			goto fail;
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

static int trace_from_json(const cJSON *o, struct dpp_policy_trace *t)
{
	const cJSON *rules, *e;
	int truncated;
	size_t i = 0;

	memset(t, 0, sizeof(*t));
	if (o == NULL)
		return 0;
	if (!cJSON_IsObject(o) || get_u64str(o, "ruleset_id", &t->ruleset_id) != 0 ||
	    get_bool(o, "truncated", &truncated) != 0)
		return -1;
	t->truncated = (uint8_t)truncated;
	rules = cJSON_GetObjectItemCaseSensitive(o, "rules");
	if (rules == NULL)
		return 0;
	if (!cJSON_IsArray(rules) || cJSON_GetArraySize(rules) > DPP_POLICY_TRACE_RULES)
		return -1;
	cJSON_ArrayForEach(e, rules) {
		struct dpp_policy_trace_rule *r = &t->r[i++];
		uint32_t v;
		char name[16];

		if (!cJSON_IsObject(e))
			return -1;
		if (get_u32(e, "rule", &v) != 0 || v > UINT16_MAX)
			return -1;
		r->rule = (uint16_t)v;
		if (get_u32(e, "n_conds", &v) != 0 || v > UINT16_MAX)
			return -1;
		r->n_conds = (uint16_t)v;
		if (get_u32(e, "n_evaluated", &v) != 0 || v > UINT16_MAX)
			return -1;
		r->n_evaluated = (uint16_t)v;
		if (get_str(e, "outcome", name, sizeof(name)) != 0 ||
		    dpp_proto_outcome_parse(name, &v) != 0)
			return -1;
		r->outcome = (uint8_t)v;
		if (get_u32(e, "held", &r->held) != 0)
			return -1;
	}
	t->n = (uint16_t)i;
	return 0;
}

cJSON *dpp_proto_event_to_json(const struct dpp_event *ev)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *tr;

	if (o == NULL || add_u64(o, "id", ev->id) != 0 ||
	    add_i64(o, "time_ms", ev->time_ms) != 0 ||
	    add_str(o, "kind", dpp_event_kind_name(ev->kind)) != 0 ||
	    add_num(o, "status", ev->status) != 0 || add_bool(o, "dry_run", ev->dry_run) != 0 ||
	    add_num(o, "duration_ms", ev->duration_ms) != 0 ||
	    add_u64(o, "bytes_in", ev->bytes_in) != 0 ||
	    add_u64(o, "bytes_out", ev->bytes_out) != 0 ||
	    add_str(o, "method", ev->method) != 0 || add_str(o, "path", ev->path) != 0 ||
	    add_str(o, "query", ev->query) != 0 || add_str(o, "peer_ip", ev->peer_ip) != 0 ||
	    add_str(o, "client_ip", ev->client_ip) != 0 ||
	    add_str(o, "user_agent", ev->user_agent) != 0 ||
	    add_str(o, "identity", ev->identity) != 0 || add_str(o, "user_role", ev->user_role) != 0 ||
	    add_str(o, "rule_name", ev->rule_name) != 0 ||
	    add_str(o, "rule_action", ev->rule_action) != 0 ||
	    add_str(o, "message", ev->message) != 0 || add_str(o, "headers", ev->headers) != 0 ||
	    add_str(o, "body", ev->body) != 0)
		goto fail;
	tr = trace_to_json(&ev->trace);
	if (tr == NULL || !cJSON_AddItemToObject(o, "trace", tr)) {
		cJSON_Delete(tr);
		goto fail;
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

int dpp_proto_event_from_json(const cJSON *o, struct dpp_event *ev)
{
	char kind[32];
	enum dpp_event_kind k;

	memset(ev, 0, sizeof(*ev));
	if (!cJSON_IsObject(o))
		return -1;
	if (get_str(o, "kind", kind, sizeof(kind)) != 0 || dpp_proto_kind_parse(kind, &k) != 0)
		return -1;
	ev->kind = k;
	if (get_u64(o, "id", &ev->id) != 0 || get_i64(o, "time_ms", &ev->time_ms) != 0 ||
	    get_int(o, "status", &ev->status) != 0 || get_bool(o, "dry_run", &ev->dry_run) != 0 ||
	    get_u32(o, "duration_ms", &ev->duration_ms) != 0 ||
	    get_u64(o, "bytes_in", &ev->bytes_in) != 0 ||
	    get_u64(o, "bytes_out", &ev->bytes_out) != 0 ||
	    get_str(o, "method", ev->method, sizeof(ev->method)) != 0 ||
	    get_str(o, "path", ev->path, sizeof(ev->path)) != 0 ||
	    get_str(o, "query", ev->query, sizeof(ev->query)) != 0 ||
	    get_str(o, "peer_ip", ev->peer_ip, sizeof(ev->peer_ip)) != 0 ||
	    get_str(o, "client_ip", ev->client_ip, sizeof(ev->client_ip)) != 0 ||
	    get_str(o, "user_agent", ev->user_agent, sizeof(ev->user_agent)) != 0 ||
	    get_str(o, "identity", ev->identity, sizeof(ev->identity)) != 0 ||
	    get_str(o, "user_role", ev->user_role, sizeof(ev->user_role)) != 0 ||
	    get_str(o, "rule_name", ev->rule_name, sizeof(ev->rule_name)) != 0 ||
	    get_str(o, "rule_action", ev->rule_action, sizeof(ev->rule_action)) != 0 ||
	    get_str(o, "message", ev->message, sizeof(ev->message)) != 0 ||
	    get_str(o, "headers", ev->headers, sizeof(ev->headers)) != 0 ||
	    get_str(o, "body", ev->body, sizeof(ev->body)) != 0)
		return -1;
	return trace_from_json(cJSON_GetObjectItemCaseSensitive(o, "trace"), &ev->trace);
}

/* ---- snapshot objects ---------------------------------------------------- */

cJSON *dpp_proto_status_to_json(const struct dpp_control_status *s, long pid)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL || add_str(o, "listen", s->listen) != 0 ||
	    add_str(o, "upstream", s->upstream) != 0 || add_str(o, "docker", s->docker) != 0 ||
	    add_bool(o, "docker_up", s->docker_up) != 0 || add_bool(o, "tls", s->tls) != 0 ||
	    add_str(o, "auth", s->auth) != 0 || add_str(o, "config_path", s->config_path) != 0 ||
	    add_str(o, "version", s->version) != 0 ||
	    add_i64(o, "started_ms", s->started_ms) != 0 ||
	    add_u64(o, "requests", s->requests) != 0 ||
	    add_u64(o, "denials", s->denials) != 0 || add_num(o, "streams", s->streams) != 0 ||
	    add_u64(o, "n_rules", s->n_rules) != 0 ||
	    add_u64(o, "n_dry_run", s->n_dry_run) != 0 ||
	    add_u64str(o, "ruleset_id", s->ruleset_id) != 0 ||
	    add_bool(o, "default_deny", s->default_deny) != 0 || add_i64(o, "pid", pid) != 0) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

int dpp_proto_status_from_json(const cJSON *o, struct dpp_control_status *s, long *pid)
{
	int64_t p;

	memset(s, 0, sizeof(*s));
	if (!cJSON_IsObject(o) || get_str(o, "listen", s->listen, sizeof(s->listen)) != 0 ||
	    get_str(o, "upstream", s->upstream, sizeof(s->upstream)) != 0 ||
	    get_str(o, "docker", s->docker, sizeof(s->docker)) != 0 ||
	    get_bool(o, "docker_up", &s->docker_up) != 0 || get_bool(o, "tls", &s->tls) != 0 ||
	    get_str(o, "auth", s->auth, sizeof(s->auth)) != 0 ||
	    get_str(o, "config_path", s->config_path, sizeof(s->config_path)) != 0 ||
	    get_str(o, "version", s->version, sizeof(s->version)) != 0 ||
	    get_i64(o, "started_ms", &s->started_ms) != 0 ||
	    get_u64(o, "requests", &s->requests) != 0 || get_u64(o, "denials", &s->denials) != 0 ||
	    get_int(o, "streams", &s->streams) != 0 || get_size(o, "n_rules", &s->n_rules) != 0 ||
	    get_size(o, "n_dry_run", &s->n_dry_run) != 0 ||
	    get_u64str(o, "ruleset_id", &s->ruleset_id) != 0 ||
	    get_bool(o, "default_deny", &s->default_deny) != 0 || get_i64(o, "pid", &p) != 0 ||
	    p < 0 || p > 0x7fffffff)
		return -1;
	if (pid != NULL)
		*pid = (long)p;
	return 0;
}

cJSON *dpp_proto_rule_to_json(const struct dpp_control_rule *r)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL || add_str(o, "name", r->name) != 0 ||
	    add_i64(o, "priority", r->priority) != 0 || add_str(o, "action", r->action) != 0 ||
	    add_bool(o, "dry_run", r->dry_run) != 0 || add_u64(o, "n_conds", r->n_conds) != 0 ||
	    add_u64(o, "hits", r->hits) != 0 || add_u64(o, "denials", r->denials) != 0 ||
	    add_u64(o, "dry_runs", r->dry_runs) != 0 ||
	    add_i64(o, "last_hit_ago_ms", r->last_hit_ago_ms) != 0) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

int dpp_proto_rule_from_json(const cJSON *o, struct dpp_control_rule *r)
{
	int64_t prio;

	memset(r, 0, sizeof(*r));
	if (!cJSON_IsObject(o) || get_str(o, "name", r->name, sizeof(r->name)) != 0 ||
	    get_i64(o, "priority", &prio) != 0 || prio < LONG_MIN || prio > LONG_MAX ||
	    get_str(o, "action", r->action, sizeof(r->action)) != 0 ||
	    get_bool(o, "dry_run", &r->dry_run) != 0 || get_size(o, "n_conds", &r->n_conds) != 0 ||
	    get_u64(o, "hits", &r->hits) != 0 || get_u64(o, "denials", &r->denials) != 0 ||
	    get_u64(o, "dry_runs", &r->dry_runs) != 0 ||
	    get_i64(o, "last_hit_ago_ms", &r->last_hit_ago_ms) != 0)
		return -1;
	r->priority = (long)prio;
	if (cJSON_GetObjectItemCaseSensitive(o, "last_hit_ago_ms") == NULL)
		r->last_hit_ago_ms = -1;
	return 0;
}

cJSON *dpp_proto_bucket_to_json(const struct dpp_ratelimit_state *b)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL || add_str(o, "rule", b->rule) != 0 || add_str(o, "ip", b->ip) != 0 ||
	    add_num(o, "tokens", b->tokens) != 0 || add_num(o, "capacity", b->capacity) != 0 ||
	    add_u64(o, "period_ms", b->period_ms) != 0 ||
	    add_u64(o, "penalty_remaining_ms", b->penalty_remaining_ms) != 0 ||
	    add_u64(o, "idle_ms", b->idle_ms) != 0 ||
	    add_u64(o, "refused", b->refused) != 0) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

int dpp_proto_bucket_from_json(const cJSON *o, struct dpp_ratelimit_state *b)
{
	memset(b, 0, sizeof(*b));
	if (!cJSON_IsObject(o) || get_str(o, "rule", b->rule, sizeof(b->rule)) != 0 ||
	    get_str(o, "ip", b->ip, sizeof(b->ip)) != 0 ||
	    get_num(o, "tokens", -1e15, 1e15, 0, &b->tokens) != 0 ||
	    get_u32(o, "capacity", &b->capacity) != 0 || get_u64(o, "period_ms", &b->period_ms) != 0 ||
	    get_u64(o, "penalty_remaining_ms", &b->penalty_remaining_ms) != 0 ||
	    get_u64(o, "idle_ms", &b->idle_ms) != 0 || get_u64(o, "refused", &b->refused) != 0)
		return -1;
	return 0;
}

cJSON *dpp_proto_lockout_to_json(const struct dpp_lockout_state *l)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL || add_str(o, "ip", l->ip) != 0 || add_num(o, "failures", l->failures) != 0 ||
	    add_i64(o, "remaining_ms", l->remaining_ms) != 0) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

int dpp_proto_lockout_from_json(const cJSON *o, struct dpp_lockout_state *l)
{
	memset(l, 0, sizeof(*l));
	if (!cJSON_IsObject(o) || get_str(o, "ip", l->ip, sizeof(l->ip)) != 0 ||
	    get_u32(o, "failures", &l->failures) != 0 ||
	    get_i64(o, "remaining_ms", &l->remaining_ms) != 0)
		return -1;
	return 0;
}

cJSON *dpp_proto_sub_to_json(const struct dpp_proto_sub *s)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL || add_str(o, "name", s->name) != 0 ||
	    add_u64(o, "dropped", s->dropped) != 0) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

int dpp_proto_sub_from_json(const cJSON *o, struct dpp_proto_sub *s)
{
	memset(s, 0, sizeof(*s));
	if (!cJSON_IsObject(o) || get_str(o, "name", s->name, sizeof(s->name)) != 0 ||
	    get_u64(o, "dropped", &s->dropped) != 0)
		return -1;
	return 0;
}

/* ---- arrays -------------------------------------------------------------- */

typedef cJSON *(*enc_fn)(const void *elem);
typedef int (*dec_fn)(const cJSON *o, void *elem);

static cJSON *array_to_json(const void *base, size_t n, size_t size, enc_fn enc)
{
	cJSON *arr = cJSON_CreateArray();

	if (arr == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		cJSON *e = enc((const char *)base + i * size);

		if (e == NULL || !cJSON_AddItemToArray(arr, e)) {
			cJSON_Delete(e);
			cJSON_Delete(arr);
			return NULL;
		}
	}
	return arr;
}

static int array_from_json(const cJSON *arr, void **out, size_t *n, size_t size, dec_fn dec)
{
	const cJSON *e;
	char *buf;
	size_t count, i = 0;

	*out = NULL;
	*n = 0;
	if (arr == NULL)
		return 0;
	if (!cJSON_IsArray(arr))
		return -1;
	count = (size_t)cJSON_GetArraySize(arr);
	if (count == 0)
		return 0;
	if (count > DPP_PROTO_ARRAY_MAX)
		return -1;
	buf = calloc(count, size);
	if (buf == NULL)
		return -1;
	cJSON_ArrayForEach(e, arr) {
		if (i >= count || dec(e, buf + i * size) != 0) {
			free(buf);
			return -1;
		}
		i++;
	}
	*out = buf;
	*n = i;
	return 0;
}

static cJSON *enc_rule(const void *e) { return dpp_proto_rule_to_json(e); }
static int dec_rule(const cJSON *o, void *e) { return dpp_proto_rule_from_json(o, e); }
static cJSON *enc_bucket(const void *e) { return dpp_proto_bucket_to_json(e); }
static int dec_bucket(const cJSON *o, void *e) { return dpp_proto_bucket_from_json(o, e); }
static cJSON *enc_lockout(const void *e) { return dpp_proto_lockout_to_json(e); }
static int dec_lockout(const cJSON *o, void *e) { return dpp_proto_lockout_from_json(o, e); }
static cJSON *enc_sub(const void *e) { return dpp_proto_sub_to_json(e); }
static int dec_sub(const cJSON *o, void *e) { return dpp_proto_sub_from_json(o, e); }

cJSON *dpp_proto_rules_to_json(const struct dpp_control_rule *r, size_t n)
{
	return array_to_json(r, n, sizeof(*r), enc_rule);
}

int dpp_proto_rules_from_json(const cJSON *arr, struct dpp_control_rule **out, size_t *n)
{
	return array_from_json(arr, (void **)out, n, sizeof(**out), dec_rule);
}

cJSON *dpp_proto_buckets_to_json(const struct dpp_ratelimit_state *b, size_t n)
{
	return array_to_json(b, n, sizeof(*b), enc_bucket);
}

int dpp_proto_buckets_from_json(const cJSON *arr, struct dpp_ratelimit_state **out, size_t *n)
{
	return array_from_json(arr, (void **)out, n, sizeof(**out), dec_bucket);
}

cJSON *dpp_proto_lockouts_to_json(const struct dpp_lockout_state *l, size_t n)
{
	return array_to_json(l, n, sizeof(*l), enc_lockout);
}

int dpp_proto_lockouts_from_json(const cJSON *arr, struct dpp_lockout_state **out, size_t *n)
{
	return array_from_json(arr, (void **)out, n, sizeof(**out), dec_lockout);
}

cJSON *dpp_proto_subs_to_json(const struct dpp_proto_sub *s, size_t n)
{
	return array_to_json(s, n, sizeof(*s), enc_sub);
}

int dpp_proto_subs_from_json(const cJSON *arr, struct dpp_proto_sub **out, size_t *n)
{
	return array_from_json(arr, (void **)out, n, sizeof(**out), dec_sub);
}

static int add_item(cJSON *obj, const char *name, cJSON *item)
{
	if (item == NULL)
		return -1;
	if (!cJSON_AddItemToObject(obj, name, item)) {
		cJSON_Delete(item);
		return -1;
	}
	return 0;
}

int dpp_proto_snapshot_add(cJSON *obj, const struct dpp_control_snapshot *snap,
			   const struct dpp_proto_sub *subs, size_t n_subs)
{
	if (add_item(obj, "status", dpp_proto_status_to_json(&snap->status, (long)getpid())) != 0 ||
	    add_item(obj, "subscribers", dpp_proto_subs_to_json(subs, n_subs)) != 0 ||
	    add_item(obj, "rules", dpp_proto_rules_to_json(snap->rules, snap->n_rules)) != 0 ||
	    add_item(obj, "buckets", dpp_proto_buckets_to_json(snap->buckets, snap->n_buckets)) != 0 ||
	    add_item(obj, "lockouts", dpp_proto_lockouts_to_json(snap->lockouts, snap->n_lockouts)) != 0)
		return -1;
	return 0;
}

void dpp_proto_snapshot_clear(struct dpp_control_snapshot *snap)
{
	free(snap->rules);
	free(snap->buckets);
	free(snap->lockouts);
	snap->rules = NULL;
	snap->buckets = NULL;
	snap->lockouts = NULL;
	snap->n_rules = snap->n_buckets = snap->n_lockouts = 0;
}

int dpp_proto_snapshot_from_json(const cJSON *obj, struct dpp_control_snapshot *snap,
				 struct dpp_proto_sub **subs, size_t *n_subs)
{
	const cJSON *st;

	memset(snap, 0, sizeof(*snap));
	*subs = NULL;
	*n_subs = 0;
	if (!cJSON_IsObject(obj))
		return -1;
	st = cJSON_GetObjectItemCaseSensitive(obj, "status");
	if (st != NULL && dpp_proto_status_from_json(st, &snap->status, NULL) != 0)
		return -1;
	if (dpp_proto_rules_from_json(cJSON_GetObjectItemCaseSensitive(obj, "rules"), &snap->rules,
				      &snap->n_rules) != 0 ||
	    dpp_proto_buckets_from_json(cJSON_GetObjectItemCaseSensitive(obj, "buckets"),
					&snap->buckets, &snap->n_buckets) != 0 ||
	    dpp_proto_lockouts_from_json(cJSON_GetObjectItemCaseSensitive(obj, "lockouts"),
					 &snap->lockouts, &snap->n_lockouts) != 0 ||
	    dpp_proto_subs_from_json(cJSON_GetObjectItemCaseSensitive(obj, "subscribers"), subs,
				     n_subs) != 0) {
		dpp_proto_snapshot_clear(snap);
		free(*subs);
		*subs = NULL;
		*n_subs = 0;
		return -1;
	}
	return 0;
}

/* ---- unasked lines ------------------------------------------------------- */

cJSON *dpp_proto_log_to_json(enum dpp_log_level level, const char *line)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL || add_str(o, "level", dpp_log_level_name(level)) != 0 ||
	    add_str(o, "line", line) != 0) {
		cJSON_Delete(o);
		return NULL;
	}
	return wrap("log", o);
}

int dpp_proto_log_from_json(const cJSON *o, enum dpp_log_level *level, char *line, size_t len)
{
	char name[16];

	if (!cJSON_IsObject(o) || get_str(o, "level", name, sizeof(name)) != 0 ||
	    dpp_log_parse_level(name, level) != 0 || get_str(o, "line", line, len) != 0)
		return -1;
	return 0;
}

cJSON *dpp_proto_dropped_to_json(uint64_t events)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL || add_u64(o, "events", events) != 0) {
		cJSON_Delete(o);
		return NULL;
	}
	return wrap("dropped", o);
}

int dpp_proto_dropped_from_json(const cJSON *o, uint64_t *events)
{
	if (!cJSON_IsObject(o) || get_u64(o, "events", events) != 0)
		return -1;
	return 0;
}

cJSON *dpp_proto_bye_to_json(const char *reason)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL || add_str(o, "reason", reason) != 0) {
		cJSON_Delete(o);
		return NULL;
	}
	return wrap("bye", o);
}

int dpp_proto_bye_from_json(const cJSON *o, char *reason, size_t len)
{
	if (!cJSON_IsObject(o) || get_str(o, "reason", reason, len) != 0)
		return -1;
	return 0;
}

/* ---- requests ------------------------------------------------------------ */

int dpp_proto_request_parse(const cJSON *obj, int64_t *id, char *cmd, size_t cmdlen)
{
	const cJSON *c;
	double v;

	*id = 0;
	if (cmdlen > 0)
		cmd[0] = '\0';
	if (!cJSON_IsObject(obj))
		return -1;
	if (get_num(obj, "id", -9007199254740992.0, 9007199254740992.0, 1, &v) != 0)
		return -1;
	*id = (int64_t)v;
	c = cJSON_GetObjectItemCaseSensitive(obj, "cmd");
	if (!cJSON_IsString(c) || c->valuestring == NULL || c->valuestring[0] == '\0' ||
	    strlen(c->valuestring) >= cmdlen || strlen(c->valuestring) > 31)
		return -1;
	memcpy(cmd, c->valuestring, strlen(c->valuestring) + 1);
	return 0;
}

int dpp_proto_kinds_parse(const cJSON *arr, uint32_t *mask)
{
	const cJSON *e;
	uint32_t m = 0;

	if (arr == NULL) {
		*mask = 0xffffffffu;
		return 0;
	}
	if (!cJSON_IsArray(arr))
		return -1;
	cJSON_ArrayForEach(e, arr) {
		enum dpp_event_kind k;

		if (!cJSON_IsString(e) || dpp_proto_kind_parse(e->valuestring, &k) != 0)
			return -1;
		m |= 1u << (unsigned)k;
	}
	*mask = m;
	return 0;
}

/* ---- framing ------------------------------------------------------------- */

char *dpp_proto_print(const cJSON *obj, size_t *len)
{
	char *text = cJSON_PrintUnformatted(obj);
	char *line;
	size_t n;

	if (text == NULL)
		return NULL;
	n = strlen(text);
	line = malloc(n + 2);
	if (line != NULL) {
		memcpy(line, text, n);
		line[n] = '\n';
		line[n + 1] = '\0';
		*len = n + 1;
	}
	cJSON_free(text);
	return line;
}

cJSON *dpp_proto_parse(const char *line, size_t len)
{
	const char *end = NULL;
	cJSON *obj;

	if (line == NULL || len == 0)
		return NULL;
	obj = cJSON_ParseWithLengthOpts(line, len, &end, 0);
	if (obj == NULL)
		return NULL;
	if (!cJSON_IsObject(obj) || end == NULL || end < line || (size_t)(end - line) > len)
		goto refuse;
	for (const char *p = end; p < line + len; p++) {
		if (*p != ' ' && *p != '\t' && *p != '\r')
			goto refuse;
	}
	/* A \u0000 escape: cJSON decodes it into its NUL-terminated strings,
	 * which then end there. A config_apply text would silently lose
	 * everything after it (its rules: fail open), so such a line is
	 * refused. The line is valid JSON now, so every backslash starts an
	 * escape inside a string and pairs can be skipped. */
	for (size_t i = 0; i + 1 < len; i++) {
		if (line[i] != '\\')
			continue;
		if (line[i + 1] == 'u' && i + 5 < len && memcmp(line + i + 2, "0000", 4) == 0)
			goto refuse;
		i++; /* the escaped character */
	}
	return obj;
refuse:
	cJSON_Delete(obj);
	return NULL;
}

void dpp_proto_reader_init(struct dpp_proto_reader *r, size_t max)
{
	memset(r, 0, sizeof(*r));
	r->max = max == 0 ? DPP_PROTO_LINE_MAX : max;
}

void dpp_proto_reader_free(struct dpp_proto_reader *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

/* Drops returned lines and makes room for `want` more bytes (+ a NUL). */
static int reserve(struct dpp_proto_reader *r, size_t want)
{
	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->len - r->start);
		r->len -= r->start;
		r->scan = r->scan > r->start ? r->scan - r->start : 0;
		r->start = 0;
	}
	if (r->cap - r->len < want + 1 || r->buf == NULL) {
		size_t cap = r->cap == 0 ? 4096 : r->cap;
		char *nb;

		while (cap - r->len < want + 1)
			cap *= 2;
		nb = realloc(r->buf, cap);
		if (nb == NULL) {
			errno = ENOMEM;
			return -1;
		}
		r->buf = nb;
		r->cap = cap;
	}
	return 0;
}

long dpp_proto_reader_fill(struct dpp_proto_reader *r, int fd)
{
	ssize_t n;

	if (r->failed || r->len - r->start > r->max) {
		/* The pending line is already too long: next() reports it. */
		errno = EMSGSIZE;
		return -1;
	}
	if (reserve(r, READ_CHUNK) != 0)
		return -1;
	do
		n = read(fd, r->buf + r->len, READ_CHUNK);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if (n == 0) {
		r->eof = 1;
		return 0;
	}
	r->len += (size_t)n;
	return (long)n;
}

int dpp_proto_reader_feed(struct dpp_proto_reader *r, const void *data, size_t len)
{
	if (len == 0)
		return 0;
	if (reserve(r, len) != 0)
		return -1;
	memcpy(r->buf + r->len, data, len);
	r->len += len;
	return 0;
}

int dpp_proto_reader_next(struct dpp_proto_reader *r, char **line, size_t *len)
{
	char *nl;
	size_t from;

	*line = NULL;
	*len = 0;
	if (r->failed)
		return -1;
	if (r->buf == NULL || r->len == r->start)
		return 0;
	from = r->scan > r->start ? r->scan : r->start;
	nl = memchr(r->buf + from, '\n', r->len - from);
	if (nl == NULL) {
		r->scan = r->len;
		if (r->len - r->start > r->max) {
			r->failed = 1;
			return -1;
		}
		if (!r->eof)
			return 0;
		/* The last line, unterminated. The buffer always has one byte
		 * spare for the NUL (reserve). */
		nl = r->buf + r->len;
		if (r->cap <= r->len && reserve(r, 0) != 0)
			return -1;
		nl = r->buf + r->len;
	}
	if ((size_t)(nl - (r->buf + r->start)) > r->max) {
		r->failed = 1;
		return -1;
	}
	*nl = '\0';
	*line = r->buf + r->start;
	*len = (size_t)(nl - *line);
	r->start = (size_t)(nl - r->buf) + (nl < r->buf + r->len ? 1 : 0);
	if (r->start > r->len)
		r->start = r->len;
	r->scan = r->start;
	return 1;
}
