/* dockerd 20.10's route table and gorilla/mux's matching (see dpp/route.h). */
#include "dpp/route.h"

#include <string.h>

enum {
	S = DPP_ROUTE_BODY_STREAM,
	H = DPP_ROUTE_HIJACK,
	U = DPP_ROUTE_UPGRADE,
	F = DPP_ROUTE_FORM,
	R = DPP_ROUTE_REF_NO_SLASH,
	L = DPP_ROUTE_STREAM,
};

/* FORM is set on every route except those whose handler certainly reads no
 * form (ping, the OPTIONS catch-all, session, grpc, debug): nearly every
 * handler calls httputils.ParseForm or r.FormValue, and marking one too many
 * only refuses a Content-Type no Docker client sends. REF_NO_SLASH is set on
 * container and exec references only: network and (plugin) volume names may
 * contain '/' (dockerd 20.10 accepts `docker network create a/b`). */
#define V(m, p, e, f) { m, p, e, f, 0 }
static const struct dpp_route routes[] = {
	/* checkpoint/checkpoint.go: before the container router, "or the
	 * DELETE gets masked" (experimental: 501 unless enabled) */
	V("GET", "/containers/{name:.*}/checkpoints", "/containers/{name}/checkpoints", F | R),
	V("POST", "/containers/{name:.*}/checkpoints", "/containers/{name}/checkpoints", F | R),
	V("DELETE", "/containers/{name}/checkpoints/{checkpoint}",
	  "/containers/{name}/checkpoints/{checkpoint}", F | R),
	/* container/container.go */
	V("HEAD", "/containers/{name:.*}/archive", "/containers/{name}/archive", F | R),
	V("GET", "/containers/json", "/containers/json", F),
	V("GET", "/containers/{name:.*}/export", "/containers/{name}/export", F | R),
	V("GET", "/containers/{name:.*}/changes", "/containers/{name}/changes", F | R),
	V("GET", "/containers/{name:.*}/json", "/containers/{name}/json", F | R),
	V("GET", "/containers/{name:.*}/top", "/containers/{name}/top", F | R),
	V("GET", "/containers/{name:.*}/logs", DPP_EP_CONTAINER_LOGS, F | R),
	V("GET", "/containers/{name:.*}/stats", DPP_EP_CONTAINER_STATS, F | R),
	V("GET", "/containers/{name:.*}/attach/ws", "/containers/{name}/attach/ws", F | R | H | U),
	V("GET", "/exec/{id:.*}/json", "/exec/{id}/json", F | R),
	V("GET", "/containers/{name:.*}/archive", "/containers/{name}/archive", F | R),
	V("POST", "/containers/create", DPP_EP_CONTAINER_CREATE, F),
	V("POST", "/containers/{name:.*}/kill", "/containers/{name}/kill", F | R),
	V("POST", "/containers/{name:.*}/pause", "/containers/{name}/pause", F | R),
	V("POST", "/containers/{name:.*}/unpause", "/containers/{name}/unpause", F | R),
	V("POST", "/containers/{name:.*}/restart", "/containers/{name}/restart", F | R),
	V("POST", "/containers/{name:.*}/start", DPP_EP_CONTAINER_START, F | R),
	V("POST", "/containers/{name:.*}/stop", "/containers/{name}/stop", F | R),
	V("POST", "/containers/{name:.*}/wait", "/containers/{name}/wait", F | R),
	V("POST", "/containers/{name:.*}/resize", "/containers/{name}/resize", F | R),
	V("POST", "/containers/{name:.*}/attach", DPP_EP_CONTAINER_ATTACH, F | R | H | U),
	V("POST", "/containers/{name:.*}/copy", "/containers/{name}/copy", F | R), /* deprecated: 404 */
	V("POST", "/containers/{name:.*}/exec", "/containers/{name}/exec", F | R),
	V("POST", "/exec/{name:.*}/start", DPP_EP_EXEC_START, F | R | H | U),
	V("POST", "/exec/{name:.*}/resize", "/exec/{id}/resize", F | R),
	V("POST", "/containers/{name:.*}/rename", "/containers/{name}/rename", F | R),
	V("POST", "/containers/{name:.*}/update", "/containers/{name}/update", F | R),
	V("POST", "/containers/prune", "/containers/prune", F),
	V("POST", "/commit", "/commit", F),
	V("PUT", "/containers/{name:.*}/archive", "/containers/{name}/archive", F | R | S),
	V("DELETE", "/containers/{name:.*}", "/containers/{name}", F | R),
	/* image/image.go */
	V("GET", "/images/json", "/images/json", F),
	V("GET", "/images/search", "/images/search", F),
	V("GET", "/images/get", "/images/get", F),
	V("GET", "/images/{name:.*}/get", "/images/{name}/get", F),
	V("GET", "/images/{name:.*}/history", "/images/{name}/history", F),
	V("GET", "/images/{name:.*}/json", "/images/{name}/json", F),
	V("POST", "/images/load", "/images/load", F | S),
	V("POST", "/images/create", "/images/create", F | S),
	V("POST", "/images/{name:.*}/push", "/images/{name}/push", F),
	V("POST", "/images/{name:.*}/tag", "/images/{name}/tag", F),
	V("POST", "/images/prune", "/images/prune", F),
	V("DELETE", "/images/{name:.*}", "/images/{name}", F),
	/* system/system.go */
	V("OPTIONS", "/{anyroute:.*}", "/{anyroute}", 0),
	V("GET", "/_ping", "/_ping", 0),
	V("HEAD", "/_ping", "/_ping", 0),
	V("GET", "/events", DPP_EP_EVENTS, F | L),
	V("GET", "/info", "/info", F),
	V("GET", "/version", "/version", F),
	V("GET", "/system/df", "/system/df", F),
	V("POST", "/auth", "/auth", F),
	/* volume/volume.go */
	V("GET", "/volumes", "/volumes", F),
	V("GET", "/volumes/{name:.*}", "/volumes/{name}", F),
	V("POST", "/volumes/create", "/volumes/create", F),
	V("POST", "/volumes/prune", "/volumes/prune", F),
	V("DELETE", "/volumes/{name:.*}", "/volumes/{name}", F),
	/* build/build.go */
	V("POST", "/build", "/build", F | S),
	V("POST", "/build/prune", "/build/prune", F),
	V("POST", "/build/cancel", "/build/cancel", F),
	/* session/session.go */
	V("POST", "/session", "/session", U),
	/* swarm/cluster.go */
	V("POST", "/swarm/init", "/swarm/init", F),
	V("POST", "/swarm/join", "/swarm/join", F),
	V("POST", "/swarm/leave", "/swarm/leave", F),
	V("GET", "/swarm", "/swarm", F),
	V("GET", "/swarm/unlockkey", "/swarm/unlockkey", F),
	V("POST", "/swarm/update", "/swarm/update", F),
	V("POST", "/swarm/unlock", "/swarm/unlock", F),
	V("GET", "/services", "/services", F),
	V("GET", "/services/{id}", "/services/{id}", F),
	V("POST", "/services/create", "/services/create", F),
	V("POST", "/services/{id}/update", "/services/{id}/update", F),
	V("DELETE", "/services/{id}", "/services/{id}", F),
	V("GET", "/services/{id}/logs", DPP_EP_SERVICE_LOGS, F),
	V("GET", "/nodes", "/nodes", F),
	V("GET", "/nodes/{id}", "/nodes/{id}", F),
	V("DELETE", "/nodes/{id}", "/nodes/{id}", F),
	V("POST", "/nodes/{id}/update", "/nodes/{id}/update", F),
	V("GET", "/tasks", "/tasks", F),
	V("GET", "/tasks/{id}", "/tasks/{id}", F),
	V("GET", "/tasks/{id}/logs", DPP_EP_TASK_LOGS, F),
	V("GET", "/secrets", "/secrets", F),
	V("POST", "/secrets/create", "/secrets/create", F),
	V("DELETE", "/secrets/{id}", "/secrets/{id}", F),
	V("GET", "/secrets/{id}", "/secrets/{id}", F),
	V("POST", "/secrets/{id}/update", "/secrets/{id}/update", F),
	V("GET", "/configs", "/configs", F),
	V("POST", "/configs/create", "/configs/create", F),
	V("DELETE", "/configs/{id}", "/configs/{id}", F),
	V("GET", "/configs/{id}", "/configs/{id}", F),
	V("POST", "/configs/{id}/update", "/configs/{id}/update", F),
	/* plugin/plugin.go */
	V("GET", "/plugins", "/plugins", F),
	V("GET", "/plugins/{name:.*}/json", "/plugins/{name}/json", F),
	V("GET", "/plugins/privileges", "/plugins/privileges", F),
	V("DELETE", "/plugins/{name:.*}", "/plugins/{name}", F),
	V("POST", "/plugins/{name:.*}/enable", "/plugins/{name}/enable", F),
	V("POST", "/plugins/{name:.*}/disable", "/plugins/{name}/disable", F),
	V("POST", "/plugins/pull", "/plugins/pull", F),
	V("POST", "/plugins/{name:.*}/push", "/plugins/{name}/push", F),
	V("POST", "/plugins/{name:.*}/upgrade", "/plugins/{name}/upgrade", F),
	V("POST", "/plugins/{name:.*}/set", "/plugins/{name}/set", F),
	V("POST", "/plugins/create", "/plugins/create", F | S),
	/* distribution/distribution.go */
	V("GET", "/distribution/{name:.*}/json", "/distribution/{name}/json", F),
	/* grpc/grpc.go (BuildKit) */
	V("POST", "/grpc", "/grpc", U),
	/* network/network.go */
	V("GET", "/networks", "/networks", F),
	V("GET", "/networks/", "/networks/", F),
	V("GET", "/networks/{id:.+}", "/networks/{id}", F),
	V("POST", "/networks/create", "/networks/create", F),
	V("POST", "/networks/{id:.*}/connect", "/networks/{id}/connect", F),
	V("POST", "/networks/{id:.*}/disconnect", "/networks/{id}/disconnect", F),
	V("POST", "/networks/prune", "/networks/prune", F),
	V("DELETE", "/networks/{id:.*}", "/networks/{id}", F),
	/* server.go createMux: debug/debug.go routes, "/debug" + path, no
	 * version prefix, no method matcher */
	{ NULL, "/debug/vars", "/debug/vars", 0, 1 },
	{ NULL, "/debug/pprof/", "/debug/pprof/", 0, 1 },
	{ NULL, "/debug/pprof/cmdline", "/debug/pprof/cmdline", 0, 1 },
	{ NULL, "/debug/pprof/profile", "/debug/pprof/profile", 0, 1 },
	{ NULL, "/debug/pprof/symbol", "/debug/pprof/symbol", 0, 1 },
	{ NULL, "/debug/pprof/trace", "/debug/pprof/trace", 0, 1 },
	{ NULL, "/debug/pprof/{name}", "/debug/pprof/{name}", 0, 1 },
};
#undef V

enum var_kind {
	VAR_SEGMENT, /* {x}: [^/]+ (mux's default pattern) */
	VAR_ANY,     /* {x:.*} */
	VAR_SOME,    /* {x:.+} */
};

/* Parses the variable at p ('{'); returns the pattern text after '}'. */
static const char *parse_var(const char *p, enum var_kind *kind)
{
	const char *end = strchr(p, '}');
	const char *colon = memchr(p, ':', (size_t)(end - p));

	if (colon == NULL)
		*kind = VAR_SEGMENT;
	else if (strncmp(colon, ":.*}", 4) == 0)
		*kind = VAR_ANY;
	else
		*kind = VAR_SOME; /* the table has only ".*" and ".+" */
	return end + 1;
}

/* Anchored match of pattern pat against s, the way Go's regexp finds the
 * leftmost-first match of mux's compiled "^...$" expression: a greedy
 * variable takes the longest length that still lets the rest match. */
static int match_here(const char *pat, const char *s, const char *base,
		      struct dpp_route_match *m)
{
	while (*pat != '\0' && *pat != '{') {
		if (*pat != *s)
			return 0;
		pat++;
		s++;
	}
	if (*pat == '\0')
		return *s == '\0';
	{
		enum var_kind kind;
		const char *rest = parse_var(pat, &kind);
		size_t max = kind == VAR_SEGMENT ? strcspn(s, "/") : strlen(s);
		size_t min = kind == VAR_ANY ? 0 : 1;
		size_t idx = m->n_vars;

		if (idx >= DPP_ROUTE_MAX_VARS)
			return 0;
		for (size_t len = max + 1; len-- > min;) {
			m->n_vars = idx + 1;
			m->vars[idx].off = (size_t)(s - base);
			m->vars[idx].len = len;
			if (match_here(rest, s + len, base, m))
				return 1;
		}
		m->n_vars = idx;
		return 0;
	}
}

int dpp_route_match(const char *method, const char *path, int versioned,
		    struct dpp_route_match *m)
{
	memset(m, 0, sizeof(*m));
	if (method == NULL || path == NULL)
		return 0;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct dpp_route *r = &routes[i];

		if (r->method != NULL && strcmp(r->method, method) != 0)
			continue;
		if (r->unversioned_only && versioned)
			continue;
		m->n_vars = 0;
		if (match_here(r->pattern, path, path, m)) {
			m->route = r;
			return 1;
		}
	}
	memset(m, 0, sizeof(*m));
	return 0;
}

const char *dpp_route_endpoint(const char *method, const char *path, int versioned)
{
	struct dpp_route_match m;

	return dpp_route_match(method, path, versioned, &m) ? m.route->endpoint : NULL;
}

int dpp_route_bad_reference(const struct dpp_route_match *m, const char *path,
			    const char **ref, size_t *ref_len)
{
	if (m->route == NULL || !(m->route->flags & DPP_ROUTE_REF_NO_SLASH) || m->n_vars == 0)
		return 0;
	if (memchr(path + m->vars[0].off, '/', m->vars[0].len) == NULL)
		return 0;
	*ref = path + m->vars[0].off;
	*ref_len = m->vars[0].len;
	return 1;
}

const struct dpp_route *dpp_route_table(size_t *n)
{
	*n = sizeof(routes) / sizeof(routes[0]);
	return routes;
}
