/* The control socket protocol (docs/control.md, version 1): JSON encoding
 * and decoding of every object, with cJSON, and a bounded NDJSON line reader
 * for non-blocking descriptors. Shared by the daemon (src/ctl/server.c) and
 * its clients (src/ctl/client.c).
 *
 * Encoders return a new cJSON tree the caller owns (cJSON_Delete), or NULL
 * when memory is short. Decoders take a borrowed tree, fill a caller's
 * struct and return 0, or -1 when the object is malformed (a field of the
 * wrong type, a number out of range, an unknown name): the struct is then
 * unspecified but nothing was allocated. Missing fields decode as zero / ""
 * (newer peers may leave out what they do not know; the version is in the
 * hello). Strings longer than the struct's field are cut at a UTF-8
 * character boundary.
 *
 * Strings are encoded and decoded as valid UTF-8: a byte that does not start a valid
 * sequence (an event's path cut mid-character, a binary header) is written
 * as '?', so every line the daemon sends parses in strict JSON readers.
 *
 * Threads: every function is reentrant (no global state except cJSON's
 * allocator hooks, which this code never changes). */
#ifndef DPP_CTL_PROTO_H
#define DPP_CTL_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "dpp/auth.h"
#include "dpp/control.h"
#include "dpp/event.h"
#include "dpp/log.h"
#include "dpp/ratelimit.h"

#define DPP_PROTO_VERSION 1
#define DPP_PROTO_LINE_MAX (4u * 1024u * 1024u) /* bytes of one line, without '\n' */

/* ---- scalar names ---------------------------------------------------- */

/* Event kind from its name (dpp_event_kind_name's). Returns 0, or -1. */
int dpp_proto_kind_parse(const char *name, enum dpp_event_kind *out);
/* Trace outcome names: "no_match", "matched", "allowed", "denied",
 * "dry_run", "error". Static; "error" for values out of range. */
const char *dpp_proto_outcome_name(unsigned outcome);
int dpp_proto_outcome_parse(const char *name, unsigned *out);

/* ---- the hello ------------------------------------------------------- */

/* Client -> daemon: {"hello": 1, "client": "console", "on_behalf_of": ...} */
struct dpp_proto_hello {
	int version;            /* the number after "hello" */
	char client[16];        /* "console" or "ctl" (the server checks) */
	char on_behalf_of[64];  /* "" when absent */
};
/* Daemon -> client: {"hello": 1, "pid", "server", "version", "user"} */
struct dpp_proto_hello_reply {
	int version;
	long pid;
	char server[64];
	char version_str[32];   /* the daemon's program version, "0.1.0" */
	char user[64];          /* the peer's user name as the daemon sees it */
};

cJSON *dpp_proto_hello_to_json(const struct dpp_proto_hello *h);
/* A hello whose "hello" member is not an integer is malformed (-1); any
 * integer is decoded, so the server can answer unsupported_version. */
int dpp_proto_hello_from_json(const cJSON *obj, struct dpp_proto_hello *h);
cJSON *dpp_proto_hello_reply_to_json(const struct dpp_proto_hello_reply *h);
int dpp_proto_hello_reply_from_json(const cJSON *obj, struct dpp_proto_hello_reply *h);

/* ---- errors ---------------------------------------------------------- */

/* Error codes of docs/control.md. */
#define DPP_PROTO_E_BAD_REQUEST "bad_request"
#define DPP_PROTO_E_UNKNOWN_COMMAND "unknown_command"
#define DPP_PROTO_E_FORBIDDEN "forbidden"
#define DPP_PROTO_E_NOT_FOUND "not_found"
#define DPP_PROTO_E_INVALID "invalid"
#define DPP_PROTO_E_CONFLICT "conflict"
#define DPP_PROTO_E_NO_CONFIG "no_config"
#define DPP_PROTO_E_BUSY "busy"
#define DPP_PROTO_E_INTERNAL "internal"
#define DPP_PROTO_E_UNSUPPORTED_VERSION "unsupported_version"

/* The error object {"code", "message"} (message NULL: ""). Wrap it yourself:
 * {"error": ...} unasked, or {"id", "ok": false, "error": ...} as an answer
 * (dpp_proto_response). */
cJSON *dpp_proto_error_to_json(const char *code, const char *message);
/* Decodes an error object: code into code[codelen], *message malloc'd (the
 * caller frees; "" when absent). Returns 0, or -1 (malformed; *message NULL). */
int dpp_proto_error_from_json(const cJSON *err, char *code, size_t codelen, char **message);

/* A response line's skeleton: {"id": id, "ok": true} or, when err is not
 * NULL, {"id": id, "ok": false, "error": err}. Takes ownership of err (also
 * on failure). The caller adds result members to an ok response. */
cJSON *dpp_proto_response(int64_t id, cJSON *err);

/* ---- events ---------------------------------------------------------- */

/* The event object (the value of an {"event": ...} line), every field of
 * struct dpp_event and its trace. */
cJSON *dpp_proto_event_to_json(const struct dpp_event *ev);
int dpp_proto_event_from_json(const cJSON *obj, struct dpp_event *ev);

/* ---- snapshots --------------------------------------------------------- */

struct dpp_proto_sub {
	char name[64];
	uint64_t dropped;
};

/* The status object, with the daemon's pid (not part of the struct); the
 * decoder returns it in *pid (may be NULL). */
cJSON *dpp_proto_status_to_json(const struct dpp_control_status *s, long pid);
int dpp_proto_status_from_json(const cJSON *obj, struct dpp_control_status *s, long *pid);
cJSON *dpp_proto_rule_to_json(const struct dpp_control_rule *r);
int dpp_proto_rule_from_json(const cJSON *obj, struct dpp_control_rule *r);
cJSON *dpp_proto_bucket_to_json(const struct dpp_ratelimit_state *b);
int dpp_proto_bucket_from_json(const cJSON *obj, struct dpp_ratelimit_state *b);
cJSON *dpp_proto_lockout_to_json(const struct dpp_lockout_state *l);
int dpp_proto_lockout_from_json(const cJSON *obj, struct dpp_lockout_state *l);
cJSON *dpp_proto_sub_to_json(const struct dpp_proto_sub *s);
int dpp_proto_sub_from_json(const cJSON *obj, struct dpp_proto_sub *s);

/* Arrays of the above: encoders return a JSON array (n may be 0, a NULL
 * pointer then allowed). Decoders take a JSON array (NULL member: an empty
 * result) and return *out malloc'd (NULL when empty; the caller frees) and
 * *n; -1 when it is not an array, an element is malformed, or memory is
 * short (*out NULL, *n 0). At most DPP_PROTO_ARRAY_MAX elements. */
#define DPP_PROTO_ARRAY_MAX 1000000u
cJSON *dpp_proto_rules_to_json(const struct dpp_control_rule *r, size_t n);
int dpp_proto_rules_from_json(const cJSON *arr, struct dpp_control_rule **out, size_t *n);
cJSON *dpp_proto_buckets_to_json(const struct dpp_ratelimit_state *b, size_t n);
int dpp_proto_buckets_from_json(const cJSON *arr, struct dpp_ratelimit_state **out, size_t *n);
cJSON *dpp_proto_lockouts_to_json(const struct dpp_lockout_state *l, size_t n);
int dpp_proto_lockouts_from_json(const cJSON *arr, struct dpp_lockout_state **out, size_t *n);
cJSON *dpp_proto_subs_to_json(const struct dpp_proto_sub *s, size_t n);
int dpp_proto_subs_from_json(const cJSON *arr, struct dpp_proto_sub **out, size_t *n);

/* Adds "status", "subscribers", "rules", "buckets", "lockouts" of snap (and
 * subs) to obj (a snapshot response). Returns 0, or -1 when memory is short
 * (obj may then hold some of them). */
int dpp_proto_snapshot_add(cJSON *obj, const struct dpp_control_snapshot *snap,
			   const struct dpp_proto_sub *subs, size_t n_subs);
/* Reads those members back: *snap gets malloc'd arrays (free them with
 * dpp_control_snapshot_free's contract: free(rules), free(buckets),
 * free(lockouts); or call dpp_proto_snapshot_clear), *subs malloc'd.
 * Members that are absent decode as empty. Returns 0, or -1 (nothing left
 * allocated). */
int dpp_proto_snapshot_from_json(const cJSON *obj, struct dpp_control_snapshot *snap,
				 struct dpp_proto_sub **subs, size_t *n_subs);
/* Frees the arrays of a snapshot decoded by dpp_proto_snapshot_from_json
 * (not snap itself) and zeroes them. */
void dpp_proto_snapshot_clear(struct dpp_control_snapshot *snap);

/* ---- unasked lines ----------------------------------------------------- */

/* {"log": {"level": "warn", "line": "..."}}: the whole line object. */
cJSON *dpp_proto_log_to_json(enum dpp_log_level level, const char *line);
/* Decodes the value of "log": level, and the line into line[len]. */
int dpp_proto_log_from_json(const cJSON *obj, enum dpp_log_level *level, char *line, size_t len);
/* {"dropped": {"events": N}} */
cJSON *dpp_proto_dropped_to_json(uint64_t events);
int dpp_proto_dropped_from_json(const cJSON *obj, uint64_t *events);
/* {"bye": {"reason": "..."}} */
cJSON *dpp_proto_bye_to_json(const char *reason);
int dpp_proto_bye_from_json(const cJSON *obj, char *reason, size_t len);

/* ---- requests ---------------------------------------------------------- */

/* A request line's envelope: "id" (an integer, |id| <= 2^53; absent: 0)
 * and "cmd" (a string of 1..31 bytes). Returns 0, or -1 when malformed
 * (*id still set when it was readable, so the error can echo it). */
int dpp_proto_request_parse(const cJSON *obj, int64_t *id, char *cmd, size_t cmdlen);
/* A subscribe's "kinds": an array of event kind names into a bit set of
 * DPP_BUS_KIND(kind); NULL (absent) is every kind. Returns 0, or -1 on a
 * non-array, a non-string or an unknown name. */
int dpp_proto_kinds_parse(const cJSON *arr, uint32_t *mask);

/* ---- framing ----------------------------------------------------------- */

/* One line to send: obj printed unformatted, plus '\n'. Returns malloc'd
 * bytes (caller frees) and *len; NULL when memory is short. Does not take
 * ownership of obj. */
char *dpp_proto_print(const cJSON *obj, size_t *len);
/* Parses one received line (without its '\n'; len bytes, no NUL needed).
 * Returns the object (caller owns), or NULL when the line is not exactly
 * one JSON object (trailing bytes other than spaces refused), or when a
 * string holds U+0000 (cJSON's strings would end there, losing the rest). */
cJSON *dpp_proto_parse(const char *line, size_t len);

/* Bounded NDJSON reader. Usage on a non-blocking fd: when poll says
 * readable, call dpp_proto_reader_fill, then dpp_proto_reader_next until it
 * returns 0. Not thread-safe (one per connection). */
struct dpp_proto_reader {
	char *buf;
	size_t len;   /* bytes held */
	size_t start; /* first byte not yet returned as a line */
	size_t cap;
	size_t max;   /* longest line accepted */
	size_t scan;  /* bytes from start already searched for '\n' */
	int eof;
	int failed;   /* a line was too long: no more lines */
};

/* max: longest line in bytes (0: DPP_PROTO_LINE_MAX). Never fails (the
 * buffer grows on demand). */
void dpp_proto_reader_init(struct dpp_proto_reader *r, size_t max);
/* Frees the buffer. */
void dpp_proto_reader_free(struct dpp_proto_reader *r);
/* Reads what fd has now (one read(2) per call, at most 64 KiB). Returns >0
 * bytes read, 0 at end of file (r->eof set), -1 with errno (EAGAIN: nothing
 * now; ENOMEM). EINTR is retried. */
long dpp_proto_reader_fill(struct dpp_proto_reader *r, int fd);
/* Adds bytes as if read (tests, fuzzing). Returns 0, or -1 (ENOMEM). */
int dpp_proto_reader_feed(struct dpp_proto_reader *r, const void *data, size_t len);
/* The next complete line: returns 1 with *line (NUL-terminated, without the
 * '\n'; borrowed, valid until the next reader call) and *len; 0 when no
 * complete line is held; -1 when the pending line is longer than max (the
 * connection should be closed: the reader refuses further lines). A final
 * line without '\n' at end of file is returned too. */
int dpp_proto_reader_next(struct dpp_proto_reader *r, char **line, size_t *len);

/* Copies src into dst[len], cutting at a UTF-8 character boundary. */
void dpp_proto_copy(char *dst, size_t len, const char *src);

#endif
