/* Request bodies as dockerd reads them.
 *
 * dockerd decodes JSON request bodies with Go's encoding/json into Go structs.
 * This module parses a buffered body with cJSON and refuses every body where
 * cJSON's tree could differ from what Go's decoder builds, so policy rules
 * see what Docker will execute:
 *
 *   - malformed JSON, and bytes other than JSON whitespace after the first
 *     value (Go's Decoder ignores them; we refuse);
 *   - invalid UTF-8 anywhere, and \u escapes naming lone surrogates (Go
 *     silently replaces both with U+FFFD; we refuse);
 *   - \u0000 in a string (cJSON would cut the C string there; Go keeps it);
 *   - raw control bytes in strings, a UTF-8 BOM, non-JSON whitespace and
 *     number spellings outside RFC 8259 ("01", "1.", "+1"): Go refuses them,
 *     cJSON is lenient; we refuse them too;
 *   - nesting deeper than max_depth (default 64);
 *   - duplicate keys: Go lets a repeated key overwrite the earlier one (and
 *     merges repeated objects), and matches struct field names without
 *     regard to case (strings.EqualFold), so "Privileged" and "privileged"
 *     set the same field. In objects decoded into Go structs two keys equal
 *     under EqualFold are refused; in objects decoded into Go maps (Labels,
 *     Sysctls, ...: listed below) keys
 *     are case-sensitive, so only byte-identical keys are refused.
 *
 * EqualFold coverage: ASCII letters fold to each other, U+212A KELVIN SIGN
 * folds with k/K and U+017F LATIN SMALL LETTER LONG S folds with s/S (the
 * only Unicode simple-fold orbits that reach ASCII letters; Go's
 * unicode.SimpleFold tables). Every other non-ASCII rune compares exactly:
 * all of Docker's Go field names are ASCII, so two keys that differ only in
 * other non-ASCII case cannot name a field and Go ignores both.
 *
 * Docker's spelling: Go assigns "tYpe" to the field Type, so a rule that
 * reads a body as JSON text (a regex on an object) must see "Type". After the
 * checks, every key of an object decoded into a struct that names a field of
 * Docker's types (a table in body.c, from moby's api/types and the Engine API
 * reference: container create/update/start, exec, networks, volumes, swarm
 * services, secrets, configs, nodes, swarm init/join, auth, plugin
 * privileges) is stored in the tree with the field's spelling. Keys that name
 * no field, keys below a type the table does not know, and map keys keep the
 * client's spelling (Go keeps map keys as sent). Lookups are unaffected
 * (EqualFold either way). Error messages quote keys as sent.
 *
 * The proxy forwards the original bytes, never a re-print: cJSON stores
 * numbers as doubles, which are exact only up to 2^53. For every number this
 * module keeps the literal text as sent (dpp_body_number_text), and
 * dpp_body_get_int64 reads integers exactly from that text. Number literals
 * longer than 63 bytes are refused (cJSON's limit).
 *
 * Source: Go encoding/json (decode.go object(): exact field name first, then
 * EqualFold; maps keep keys as sent), strings.EqualFold, unicode.SimpleFold;
 * Docker Engine API reference for the request bodies. */
#ifndef DPP_BODY_H
#define DPP_BODY_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define DPP_BODY_DEFAULT_MAX_DEPTH 64
/* Upper bound for max_depth: cJSON's own CJSON_NESTING_LIMIT is 1000. */
#define DPP_BODY_MAX_DEPTH_LIMIT 512
/* Limits of a field path. */
#define DPP_BODY_PATH_MAX_SEGMENTS 64
#define DPP_BODY_PATH_MAX_LEN 1024

/* What the daemon does with a request body. */
enum dpp_body_kind {
	DPP_BODY_NONE = 0, /* the handler never reads a body (GET, HEAD, DELETE,
			    * OPTIONS); the proxy must refuse a non-empty one
			    * rather than forward bytes no rule has seen */
	DPP_BODY_JSON,     /* decoded as JSON: buffer it (bounded) and parse it
			    * with dpp_body_parse before the rules run */
	DPP_BODY_STREAM,   /* tar or other binary data streamed to the daemon:
			    * build context, archive upload, image load/import,
			    * plugin create. Forward it unread. */
};

enum dpp_body_status {
	DPP_BODY_OK = 0,       /* *out holds a document */
	DPP_BODY_EMPTY = 1,    /* zero bytes or JSON whitespace only; *out is
				* NULL. Go's Decoder returns io.EOF here; some
				* handlers accept it (start, exec start, commit),
				* others answer 400: the caller decides. */
	DPP_BODY_INVALID = -1, /* refused: *err says why; answer 400 */
	DPP_BODY_NOMEM = -2,   /* allocation failure: answer 500 */
};

/* Map-typed fields (keys case-sensitive), matched by field name with EqualFold:
 *   Labels, Annotations, Sysctls, StorageOpt, Tmpfs, ExposedPorts, Volumes,
 *   PortBindings, EndpointsConfig, DriverOpts, Options, AuxiliaryAddresses,
 *   and Config only directly inside LogConfig.
 * The values of a map's entries are treated as structs again (EndpointsConfig
 * -> EndpointSettings, ExposedPorts -> struct{}); Docker has no map of maps in
 * its request bodies. The table lives in body.c. */

struct dpp_body_doc; /* opaque; immutable after dpp_body_parse */

/* Parses body[0..len) (need not be NUL-terminated; may be NULL when len is 0).
 * max_depth: deepest allowed nesting of objects/arrays ({"a":[1]} is depth 2);
 * 0 or negative means DPP_BODY_DEFAULT_MAX_DEPTH, larger than
 * DPP_BODY_MAX_DEPTH_LIMIT is clamped to it.
 * Returns DPP_BODY_OK with *out set (caller owns it; dpp_body_free), or
 * DPP_BODY_EMPTY with *out = NULL, or DPP_BODY_INVALID / DPP_BODY_NOMEM with
 * *out = NULL. *err (when err is non-NULL) is set on INVALID and NOMEM to a
 * malloc'd one-line message (caller frees; it may quote up to 64 bytes of a
 * key, always valid UTF-8) suitable for Docker's {"message": ...} body, and
 * may be NULL if even that allocation failed; *err is NULL on OK and EMPTY.
 * Thread-safe: cJSON's parser writes a global error position, so calls into
 * cJSON_ParseWithLengthOpts are serialised by a mutex inside this module. */
enum dpp_body_status dpp_body_parse(const char *body, size_t len, int max_depth,
				    struct dpp_body_doc **out, char **err);

/* Frees a document; NULL is accepted. Every cJSON pointer borrowed from it
 * becomes invalid. */
void dpp_body_free(struct dpp_body_doc *doc);

/* The root value; borrowed, valid while doc lives. Never NULL for a document
 * returned by dpp_body_parse; NULL when doc is NULL. */
const cJSON *dpp_body_root(const struct dpp_body_doc *doc);

/* Looks up a field by path segments, as Go's decoder would assign it:
 *   - in an object decoded into a struct, a segment matches the key equal to
 *     it under EqualFold (dpp_body_parse guarantees at most one);
 *   - in an object decoded into a map (see the list above), the segment
 *     must equal the key byte for byte;
 *   - in an array, a segment in canonical decimal ("0", "12"; no sign, no
 *     leading zeros) indexes it.
 * Segments are used as given: a map key containing '.' ("com.example.x") is
 * one segment. nseg 0 returns the root. Returns a borrowed pointer (valid
 * while doc lives), or NULL when the field is absent, when it or any value on
 * the way is JSON null (the docker CLI sends "Binds": null on every create;
 * Go leaves such fields at their zero value), or when doc is NULL.
 * Thread-safe for concurrent readers. */
const cJSON *dpp_body_lookup(const struct dpp_body_doc *doc,
			     const char *const *segments, size_t nseg);

/* The member `name` of object obj (a value borrowed from a document) as
 * Go's decoder assigns it: map = 0, a struct field, matched with EqualFold
 * as dpp_body_lookup matches struct keys; map = 1, a Go map key, matched
 * byte for byte. For code that walks a value it already holds (the presets)
 * with the same semantics as a lookup from the root. Returns a borrowed
 * pointer, or NULL when obj is not an object or the member is absent or
 * JSON null. Pure, thread-safe. */
const cJSON *dpp_body_member(const cJSON *obj, const char *name, int map);

/* The path segment that stands for every element of an array and every
 * member of an object in dpp_body_each. */
#define DPP_BODY_ANY "*"

/* Calls fn(arg, value) for every value that segments[0..nseg) names, looked
 * up as dpp_body_lookup does, where a segment DPP_BODY_ANY ("*") stands for
 * each element of an array and each member of an object (map or struct), in
 * document order; several may appear. Absent and null values are skipped (so
 * fn never sees NULL or a JSON null). Stops at the first non-zero return of
 * fn and returns it; returns 0 when every value was visited (or there is
 * none, or doc is NULL). Cost is linear in the nodes visited: elements are
 * reached by walking, never by a fresh lookup from the root. A map key that
 * is literally "*" cannot be addressed. Thread-safe for concurrent readers. */
int dpp_body_each(const struct dpp_body_doc *doc, const char *const *segments, size_t nseg,
		  int (*fn)(void *arg, const cJSON *value), void *arg);

/* A field path compiled once (from rule configuration) and used for many
 * lookups; immutable, safe to share between threads. */
struct dpp_body_path;

/* Splits a dotted path ("HostConfig.Privileged", "HostConfig.Binds.0") on
 * every '.'. A map key that itself contains '.' cannot be written this way:
 * use dpp_body_path_from_segments. Refuses an empty path, empty segments
 * (leading, trailing or doubled dots), more than DPP_BODY_PATH_MAX_SEGMENTS
 * segments or more than DPP_BODY_PATH_MAX_LEN bytes. Returns 0 and *out
 * (caller owns; dpp_body_path_free), or -1 with *out = NULL and *err a static
 * message (never free it; "out of memory" on allocation failure). */
int dpp_body_path_parse(const char *dotted, struct dpp_body_path **out,
			const char **err);

/* Builds a path from segments taken as they are (dots included); same limits
 * and error contract as dpp_body_path_parse, except that an empty segment is
 * allowed (it addresses the key ""). The strings are copied. */
int dpp_body_path_from_segments(const char *const *segments, size_t nseg,
				struct dpp_body_path **out, const char **err);

/* Frees a parsed path. NULL is a no-op. */
void dpp_body_path_free(struct dpp_body_path *path);

/* Number of segments and the i-th segment (borrowed; NULL when out of range). */
size_t dpp_body_path_count(const struct dpp_body_path *path);
const char *dpp_body_path_segment(const struct dpp_body_path *path, size_t i);

/* dpp_body_lookup with a compiled path. */
const cJSON *dpp_body_lookup_path(const struct dpp_body_doc *doc,
				  const struct dpp_body_path *path);

/* The literal text of a number as it appeared in the body ("9007199254740993",
 * "1e3"), NUL-terminated; borrowed from the document. NULL when item is not a
 * number or does not come from dpp_body_parse. (Stored in item->valuestring,
 * which cJSON leaves unused for numbers and frees with the item.) */
const char *dpp_body_number_text(const cJSON *item);

/* Reads an integral number exactly, from its literal text (not from cJSON's
 * double), as Go decodes a number into an int64 field. Accepts only the plain
 * integer form (no fraction, no exponent: Go refuses those for integer fields
 * too) within the int64 range. Returns 0 and *out, or -1 when item is not
 * such a number (the caller cannot decide: deny). */
int dpp_body_get_int64(const cJSON *item, int64_t *out);

/* For tests: checks the table of Docker's field names behind
 * dpp_body_parse's respelling (no empty name, no two names of one struct type
 * equal under EqualFold: Go would then pick by exact match only and the table
 * could not say which field a key names). Returns NULL when the table is
 * sound, else a message (thread-local static buffer). */
const char *dpp_body_spelling_selfcheck(void);

/* Compact JSON text of item (a value borrowed from a document, or any cJSON
 * value), for text operators on objects and arrays: numbers that came from
 * dpp_body_parse appear as their literal text, never re-printed from cJSON's
 * double (9007199254740993 stays exact); keys appear as stored (Docker's
 * spelling, see dpp_body_parse). Returns a malloc'd string (caller frees with
 * free()), or NULL when item is NULL or on allocation failure. Thread-safe. */
char *dpp_body_text(const cJSON *item);

/* Parses JSON text the way cJSON does (for dockerd's responses: no request
 * body checks, keys untouched) and replaces every number with a cJSON_Raw
 * node holding its literal text, so that printing the tree gives every number
 * back exactly as sent (cJSON alone re-prints doubles: 9007199254740993
 * becomes 9.00719925474099e+15, 1e400 becomes null). Bytes after the first
 * value are ignored, as cJSON_ParseWithLength does. A number outside RFC 8259's
 * grammar or longer than 63 bytes is refused. Returns the tree (caller frees
 * with cJSON_Delete), or NULL with *err a static message (err may be NULL).
 * Thread-safe (serialised with dpp_body_parse around cJSON's parser). */
cJSON *dpp_json_parse_exact(const char *text, size_t len, const char **err);

/* Extra check for POST /containers/create bodies. dockerd (up to v26; moby
 * runconfig ContainerConfigWrapper, removed by moby PR 48007) also embeds a
 * *container.HostConfig at the top level of the create body: when "HostConfig"
 * is absent or null, top-level HostConfig fields ("Privileged", "Binds", ...)
 * become the container's host config, and otherwise top-level Memory,
 * MemorySwap, CpuShares, CpusetCpus, VolumeDriver and Cpuset fill in zero
 * values of the nested one. Rules written against "HostConfig.X" would not
 * see them, so this refuses every top-level key that is not a
 * container.Config field (API 1.41-1.47: Hostname, Domainname, User,
 * AttachStdin, AttachStdout, AttachStderr, ExposedPorts, Tty, OpenStdin,
 * StdinOnce, Env, Cmd, Healthcheck, ArgsEscaped, Image, Volumes, WorkingDir,
 * Entrypoint, NetworkDisabled, MacAddress, OnBuild, Labels, StopSignal,
 * StopTimeout, Shell) or HostConfig / NetworkingConfig (EqualFold). An
 * allowlist, so unknown keys fail closed. Also refuses a root that is not an
 * object. doc NULL (empty body) passes: dockerd refuses it itself.
 * Returns 0, or -1 with *err (malloc'd, caller frees; may be NULL on
 * allocation failure; err may be NULL). Pure, thread-safe. */
int dpp_body_check_create(const struct dpp_body_doc *doc, char **err);

/* Whether dockerd decodes the body of `method endpoint` as JSON. endpoint
 * is the route template of dpp/route.h ("/containers/{name}/archive"), or
 * NULL when no route matches. Known binary bodies give DPP_BODY_STREAM:
 * POST /build, PUT /containers/{name}/archive, POST /images/load,
 * POST /images/create (tar for "import" with fromSrc=-; a pull sends no body
 * and the handler does not read one), POST /plugins/create. GET, HEAD,
 * DELETE and OPTIONS give DPP_BODY_NONE. Every other POST or PUT, any unknown
 * method and any path without a route give DPP_BODY_JSON (fail closed: a body
 * the daemon may decode is parsed). Methods compare case-sensitively, as
 * dockerd's router does. Note POST /containers/{name}/start is JSON: dockerd
 * 20.10 refuses a body longer than 7 bytes for API >= 1.24 but, for older API
 * versions in the URL, reads it as a HostConfig (root-level "Privileged",
 * "Binds", ...) and applies it at start; the proxy refuses any body there.
 * Pure and thread-safe. Source: Docker Engine API reference (v1.41+). */
enum dpp_body_kind dpp_body_kind_endpoint(const char *method, const char *endpoint);

/* dpp_body_kind_endpoint for the route dockerd finds for `method
 * canonical_path` (dpp_target_path()'s form: percent-decoded, version prefix
 * removed). Pure and thread-safe. */
enum dpp_body_kind dpp_body_kind(const char *method, const char *canonical_path);

/* "none", "json", "stream"; for logs and audit records. Static string. */
const char *dpp_body_kind_name(enum dpp_body_kind kind);

struct dpp_request_view;
struct dpp_target;

/* Points a policy view's query and body callbacks (dpp/policy.h) at the
 * canonical target t and the decoded body doc (NULL: no JSON body), the one
 * way the proxy and `explain` read a request, so both judge alike. Borrows
 * t and doc: they must outlive the evaluation. */
void dpp_request_view_bind(struct dpp_request_view *view, const struct dpp_target *t,
			   const struct dpp_body_doc *doc);

#endif
