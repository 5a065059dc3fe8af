/* The endpoint of a request as dockerd's router sees it.
 *
 * dockerd routes with gorilla/mux: every route is a method plus a path
 * template such as "/containers/{name:.*}/start", registered in a fixed order,
 * and the FIRST route whose method and whole path match wins. A variable
 * without a pattern ("{id}") matches one segment ([^/]+); "{name:.*}" is a
 * greedy regular expression that also matches '/', so
 * "/containers/PARENT/alias/start" is container start for the container
 * "PARENT/alias" (a legacy link alias), and "/images/registry:5000/team/app/push"
 * is image push for "registry:5000/team/app". Deciding by splitting the path at
 * its first '/' gets both wrong; this module replays the router instead.
 *
 * The table is dockerd 20.10's (API 1.41), in registration order: the routers
 * in cmd/dockerd/daemon.go initRouter (checkpoint, container, image, system,
 * volume, build, session, swarm, plugin, distribution, grpc, network), each
 * with the routes of its initRoutes, in source order (moby
 * api/server/router/{checkpoint/checkpoint.go, container/container.go,
 * image/image.go, system/system.go, volume/volume.go, build/build.go,
 * session/session.go, swarm/cluster.go, plugin/plugin.go,
 * distribution/distribution.go, grpc/grpc.go, network/network.go}), then the
 * debug routes that api/server/server.go createMux adds on unversioned paths
 * only, for any method. Methods compare case-sensitively (mux compares
 * r.Method with the upper-case method it was given). Checked against the
 * running dockerd 20.10.24: e.g. DELETE /containers/x/checkpoints/y reaches
 * the (experimental, 501) checkpoint route, not container removal.
 *
 * An endpoint is the route's template with the variable patterns removed:
 * "/containers/{name}/start", "/images/{name}/push", "/exec/{id}/start"
 * (dockerd names the exec variable {name} on start/resize and {id} on json;
 * the endpoint uses {id} for all three, as the Engine API reference does).
 * A path that no route matches has no endpoint: dockerd answers 404 to it and
 * runs no handler. The proxy's built-ins then fail closed: a body is parsed as
 * JSON, no upgrade or hijack is relayed, form Content-Types are refused. The
 * table is dockerd 20.10's: routes of newer daemons get no endpoint.
 *
 * Pure, no globals besides the constant table; thread-safe. */
#ifndef DPP_ROUTE_H
#define DPP_ROUTE_H

#include <stddef.h>

/* Route flags. */
enum {
	/* The request body is a tar or binary stream (build context, archive
	 * upload, image load/import, plugin create): forwarded unread. */
	DPP_ROUTE_BODY_STREAM = 1u << 0,
	/* dockerd hijacks the connection (attach, exec start). */
	DPP_ROUTE_HIJACK = 1u << 1,
	/* The handler may answer 101 Switching Protocols: the hijack routes,
	 * the attach websocket, and BuildKit's /session and /grpc (h2c). An
	 * Upgrade request anywhere else is ignored (RFC 9110 7.8 allows it). */
	DPP_ROUTE_UPGRADE = 1u << 2,
	/* The handler reads the form (httputils.ParseForm, r.FormValue or
	 * httputils.BoolValue...): Go's ParseForm then merges a
	 * application/x-www-form-urlencoded body into the query parameters. */
	DPP_ROUTE_FORM = 1u << 3,
	/* The first variable names a container, exec instance, network or
	 * volume: none of these can contain '/' except a container's legacy
	 * link alias ("PARENT/alias"), which no current client sends. */
	DPP_ROUTE_REF_NO_SLASH = 1u << 4,
	/* The response never ends by itself (events; logs and stats depending
	 * on the query: see the server). */
	DPP_ROUTE_STREAM = 1u << 5,
};

/* Endpoints the proxy's built-in decisions name. */
#define DPP_EP_CONTAINER_CREATE "/containers/create"
#define DPP_EP_CONTAINER_START "/containers/{name}/start"
#define DPP_EP_CONTAINER_ATTACH "/containers/{name}/attach"
#define DPP_EP_CONTAINER_LOGS "/containers/{name}/logs"
#define DPP_EP_CONTAINER_STATS "/containers/{name}/stats"
#define DPP_EP_EXEC_START "/exec/{id}/start"
#define DPP_EP_EVENTS "/events"
#define DPP_EP_SERVICE_LOGS "/services/{id}/logs"
#define DPP_EP_TASK_LOGS "/tasks/{id}/logs"

/* One route of the table (static storage). */
struct dpp_route {
	const char *method;   /* "GET", ...; NULL: any method (debug routes) */
	const char *pattern;  /* mux template as registered: "/containers/{name:.*}/start" */
	const char *endpoint; /* template without patterns: "/containers/{name}/start" */
	unsigned flags;       /* DPP_ROUTE_* */
	int unversioned_only; /* debug routes: not reachable under "/vX.Y" */
};

#define DPP_ROUTE_MAX_VARS 2

/* A match: the route and where its variables lie in the matched path. */
struct dpp_route_match {
	const struct dpp_route *route; /* NULL: no route matches */
	size_t n_vars;
	struct {
		size_t off, len; /* bytes of the path */
	} vars[DPP_ROUTE_MAX_VARS];
};

/* Finds the route dockerd runs for `method path`. path is the canonical path
 * (dpp_target_path: percent-decoded, version prefix removed); versioned is
 * nonzero when the request carried a "/vX.Y" prefix. Variables capture as Go's
 * regexp does (leftmost, greedy). Returns 1 with *m filled, or 0 with
 * m->route = NULL when no route matches (or method/path is NULL). */
int dpp_route_match(const char *method, const char *path, int versioned,
		    struct dpp_route_match *m);

/* The endpoint of `method path` (see dpp_route_match), or NULL when no route
 * matches. Static string. */
const char *dpp_route_endpoint(const char *method, const char *path, int versioned);

/* 1 when the match names a container, exec instance, network or volume whose
 * reference contains '/' (DPP_ROUTE_REF_NO_SLASH); *ref and *ref_len then
 * point into path at the reference. 0 otherwise. */
int dpp_route_bad_reference(const struct dpp_route_match *m, const char *path,
			    const char **ref, size_t *ref_len);

/* The whole table, in router order, for tests and documentation. */
const struct dpp_route *dpp_route_table(size_t *n);

#endif
