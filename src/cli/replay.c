/* `explain --replay`: the request history recorded in the store
 * (audit_events; plain requests are there with global.store.requests: all)
 * through a candidate configuration, listing the decisions that would
 * change. The store is opened read-only (dpp_store_db_open_readonly): the
 * running daemon keeps writing undisturbed.
 *
 * What a row holds is what can be replayed: method, canonical path, query,
 * role, identity and client address. Header fields and bodies are not
 * recorded, so a rule condition that reads header.* or body.* sees them
 * absent; the evaluator's trace shows when a reached condition did, and
 * such rows are marked "approximate". Rows decided before the rules
 * (auth_failure, lockout, error) and dry_run rows (an extra row of the same
 * request) are not replayed. Rate limits run on one fresh limiter fed the
 * rows in time order, clocked by their timestamps. */
#include "replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "db.h"
#include "dpp/canon.h"
#include "dpp/config.h"
#include "dpp/policy.h"
#include "dpp/ratelimit.h"
#include "dpp/route.h"
#include "dpp/runtime.h"
#include "store.h"

#define SHOW_MAX 1000 /* changed rows listed; the rest are counted */

struct seen {
	int unrecorded; /* a reached condition read a header or the body */
};

static void on_cond(void *ctx, const struct dpp_trace_cond *c)
{
	struct seen *s = ctx;

	if (c->node == DPP_TRACE_LEAF && c->result != DPP_TRACE_SKIPPED && c->field != NULL &&
	    (strncmp(c->field, "header.", 7) == 0 || strncmp(c->field, "body", 4) == 0))
		s->unrecorded = 1;
}

static const char *query_get(void *ctx, const char *name)
{
	return dpp_target_query_get(ctx, name);
}

/* "24h", "30m", "90s", "7d" -> milliseconds; -1 when malformed. */
static long long parse_since(const char *s)
{
	char *end = NULL;
	long long n = strtoll(s, &end, 10), mul;

	if (end == s || n < 0 || end == NULL || end[0] == '\0' || end[1] != '\0')
		return -1;
	switch (*end) {
	case 's': mul = 1000; break;
	case 'm': mul = 60 * 1000; break;
	case 'h': mul = 3600 * 1000; break;
	case 'd': mul = 86400 * 1000; break;
	default: return -1;
	}
	return n > (1LL << 40) ? -1 : n * mul;
}

static const char *col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t != NULL ? (const char *)t : "";
}

static const char *nz(const char *s)
{
	return s != NULL && *s != '\0' ? s : NULL;
}

int dpp_cli_replay(const char *config_path, const char *since, const char *store_path,
		   int json)
{
	struct dpp_config *cfg = NULL;
	struct dpp_runtime *rt = NULL;
	struct dpp_ratelimit *rl = NULL;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char path[1024], err[256];
	long long since_ms = parse_since(since != NULL ? since : "24h"), from_ms, first_ms = -1;
	long rows = 0, replayed = 0, changed = 0, approx = 0, skipped = 0;
	cJSON *out = NULL, *list = NULL;
	struct timespec now;
	int rc = EX_SOFTWARE;

	if (since_ms < 0) {
		fprintf(stderr, "docker-policy-proxy explain --replay: --since wants N followed by s, m, h or d (\"24h\"), not '%s'\n",
			since);
		return EX_USAGE;
	}
	if (config_path == NULL) {
		fprintf(stderr, "docker-policy-proxy explain --replay: --config CANDIDATE.yaml is required\n");
		return EX_USAGE;
	}
	rc = dpp_cli_load_runtime(config_path, &cfg, &rt);
	if (rc != 0)
		return rc;
	rc = EX_SOFTWARE;
	if (store_path != NULL) {
		snprintf(path, sizeof(path), "%s", store_path);
	} else if (!dpp_store_resolve_path(dpp_config_settings(cfg), config_path, path,
					   sizeof(path))) {
		fprintf(stderr, "docker-policy-proxy explain --replay: the candidate config turns the store off; name the store with --store PATH\n");
		rc = EX_USAGE;
		goto cleanup;
	}
	if (dpp_store_db_open_readonly(path, &db, err, sizeof(err)) != DPP_STORE_OPEN_OK) {
		fprintf(stderr, "docker-policy-proxy explain --replay: %s: %s\n", path, err);
		rc = EX_NOINPUT;
		goto cleanup;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	from_ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000 - since_ms;
	if (sqlite3_prepare_v2(db,
			       "SELECT time_ms, timestamp, event, method, path, query, user_role, identity,"
			       " client_ip, peer_ip, status, rule_name, id FROM audit_events"
			       " WHERE time_ms >= ?1 AND event IN ('request', 'deny', 'rate_limited')"
			       " ORDER BY time_ms, id",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 1, from_ms) != SQLITE_OK) {
		fprintf(stderr, "docker-policy-proxy explain --replay: %s: %s\n", path, sqlite3_errmsg(db));
		goto cleanup;
	}
	rl = dpp_ratelimit_create(65536);
	out = cJSON_CreateObject();
	list = out != NULL ? cJSON_AddArrayToObject(out, "changed") : NULL;
	if (rl == NULL || list == NULL) {
		fprintf(stderr, "docker-policy-proxy explain --replay: out of memory\n");
		goto cleanup;
	}
	if (!json)
		printf("%-24s %-7s %-40s %-15s %-10s  %-28s  %-28s\n", "time", "method", "path",
		       "client", "role", "recorded", "candidate");
	for (;;) {
		int step = sqlite3_step(st);
		char target[4096], was[160], will[160];
		const char *reason = NULL, *event, *method, *cpath, *query, *client;
		struct dpp_target *t = NULL;
		struct dpp_policy_decision d;
		struct seen seen = {0};
		struct dpp_policy_tracer tr = {NULL, on_cond, NULL, &seen};
		int old_deny, new_deny, differs;
		long long tms;

		if (step == SQLITE_DONE)
			break;
		if (step != SQLITE_ROW) {
			fprintf(stderr, "docker-policy-proxy explain --replay: %s: %s\n", path,
				sqlite3_errmsg(db));
			goto cleanup;
		}
		rows++;
		tms = sqlite3_column_int64(st, 0);
		event = col(st, 2);
		method = col(st, 3);
		cpath = col(st, 4);
		query = col(st, 5);
		client = *col(st, 8) != '\0' ? col(st, 8) : col(st, 9);
		snprintf(target, sizeof(target), "%s%s%s", cpath, *query != '\0' ? "?" : "", query);
		if (*method == '\0' || *cpath != '/' ||
		    dpp_canon_parse(target, strlen(target), &t, &reason) != 0) {
			skipped++;
			continue;
		}
		if (first_ms < 0)
			first_ms = tms;
		{
			const char *p = dpp_target_path(t);
			struct dpp_request_view v = {
				.method = method,
				.path = p,
				/* the recorded path has no version prefix; clients send one */
				.endpoint = dpp_route_endpoint(method, p, 1),
				.query_get = query_get,
				.query_ctx = t,
				.client_ip = client,
				.role = nz(col(st, 6)),
				.identity = nz(col(st, 7)),
			};

			dpp_policy_evaluate_traced(dpp_runtime_rules(rt), &v, rl,
						   (uint64_t)(tms - first_ms) + 1, &tr, &d);
		}
		replayed++;
		old_deny = strcmp(event, "request") != 0;
		new_deny = d.verdict == DPP_POLICY_DENY;
		differs = old_deny != new_deny ||
			  (old_deny && (sqlite3_column_int(st, 10) != d.status ||
					strcmp(col(st, 11), d.rule != NULL ? d.rule : "") != 0));
		if (seen.unrecorded)
			approx++;
		if (differs) {
			changed++;
			if (old_deny)
				snprintf(was, sizeof(was), "%s %d (%s)", event, sqlite3_column_int(st, 10),
					 *col(st, 11) != '\0' ? col(st, 11) : "default");
			else
				snprintf(was, sizeof(was), "allowed (%d)", sqlite3_column_int(st, 10));
			if (new_deny)
				snprintf(will, sizeof(will), "deny %d (%s)", d.status,
					 d.rule != NULL ? d.rule : "default");
			else
				snprintf(will, sizeof(will), "allow%s%s%s", d.rule != NULL ? " (" : "",
					 d.rule != NULL ? d.rule : "", d.rule != NULL ? ")" : "");
			if (changed <= SHOW_MAX) {
				if (json) {
					cJSON *o = cJSON_CreateObject();

					if (o != NULL) {
						cJSON_AddItemToArray(list, o);
						cJSON_AddNumberToObject(o, "id", (double)sqlite3_column_int64(st, 12));
						cJSON_AddStringToObject(o, "timestamp", col(st, 1));
						cJSON_AddStringToObject(o, "method", method);
						cJSON_AddStringToObject(o, "path", cpath);
						cJSON_AddStringToObject(o, "query", query);
						cJSON_AddStringToObject(o, "client_ip", client);
						cJSON_AddStringToObject(o, "user_role", col(st, 6));
						cJSON_AddStringToObject(o, "recorded", was);
						cJSON_AddStringToObject(o, "candidate", will);
						cJSON_AddBoolToObject(o, "approximate", seen.unrecorded);
					}
				} else {
					printf("%-24s %-7s %-40.40s %-15s %-10s  %-28s  %-28s%s\n", col(st, 1),
					       method, target, client, *col(st, 6) != '\0' ? col(st, 6) : "-",
					       was, will,
					       seen.unrecorded ? "  approximate: reads a header or the body (not recorded)" : "");
				}
			}
		}
		dpp_policy_decision_done(&d);
		dpp_target_free(t);
	}
	if (json) {
		char *text;

		cJSON_AddStringToObject(out, "store", path);
		cJSON_AddStringToObject(out, "since", since != NULL ? since : "24h");
		cJSON_AddNumberToObject(out, "rows", (double)rows);
		cJSON_AddNumberToObject(out, "replayed", (double)replayed);
		cJSON_AddNumberToObject(out, "changes", (double)changed);
		cJSON_AddNumberToObject(out, "approximate", (double)approx);
		cJSON_AddNumberToObject(out, "skipped", (double)skipped);
		text = cJSON_Print(out);
		if (text != NULL)
			printf("%s\n", text);
		cJSON_free(text);
	} else {
		if (changed > SHOW_MAX)
			printf("... %ld more\n", changed - SHOW_MAX);
		printf("%ld decision(s) of %ld replayed request(s) would change (store %s, since %s",
		       changed, replayed, path, since != NULL ? since : "24h");
		if (approx > 0)
			printf("; %ld evaluation(s) read a header or the body, which the store does not record", approx);
		if (skipped > 0)
			printf("; %ld row(s) not replayable", skipped);
		printf(").\nOnly requests the store recorded are replayed: plain requests need global.store.requests: all.\n");
	}
	rc = changed > 0 ? 1 : 0;
cleanup:
	if (fflush(stdout) != 0 && rc <= 1)
		rc = EX_IOERR;
	cJSON_Delete(out);
	sqlite3_finalize(st);
	if (db != NULL)
		sqlite3_close(db);
	dpp_ratelimit_free(rl);
	dpp_runtime_unref(rt);
	dpp_config_free(cfg);
	return rc;
}
