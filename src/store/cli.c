/* docker-policy-proxy audit / history: read-only queries over the store, and
 * rollback / confirm (short read-write sessions; the proxy's writer thread
 * absorbs them with its retries). */
#include "store.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <yaml.h>

#include "cfgfile.h"
#include "client.h"
#include "ctlsock.h"
#include "db.h"
#include "dpp/cidr.h"
#include "dpp/config.h"
#include "dpp/runtime.h"

#define PROG "docker-policy-proxy"

struct cli {
	const char *store;
	const char *config;
	const char *since, *until, *event, *rule, *ip, *identity, *role, *path;
	long limit;
	int json, reveal;
	const char *confirm, *comment;
	const char *control_socket; /* --control-socket (rollback) */
	char db_path[4096];
};

static void cli_usage(FILE *out)
{
	fprintf(out,
		"Usage:\n"
		"  " PROG " audit [--since 1h|DATE] [--until 1h|DATE] [--event KIND] [--rule NAME]\n"
		"        [--ip CIDR] [--identity ID] [--role ROLE] [--path PREFIX] [--limit N] [--json]\n"
		"  " PROG " history                      list config versions (* = live)\n"
		"  " PROG " history show N [--reveal]    one version's text (token:/secret: values masked)\n"
		"  " PROG " history diff N [M] [--reveal]  unified diff of N against M (default: the live one)\n"
		"  " PROG " history rollback N [--confirm 10m] [--comment TEXT] [--control-socket PATH]\n"
		"        (through the running daemon's control socket when one answers, else the file + SIGHUP)\n"
		"  " PROG " history confirm              keep a rollback made with --confirm\n"
		"Common: --store PATH (the database) or --config PATH (the proxy's config file,\n"
		"whose global.store.path names it; default $DOCKER_PROXY_CONFIG, else ./config.yaml).\n"
		"DATE: 2026-12-01, 2026-12-01T10:00:00Z (UTC) or a duration back from now (90s, 15m, 1h, 2d).\n");
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "1h" back from now, or an ISO-8601 UTC date/time. */
static int parse_when(const char *s, int64_t *out)
{
	static const char *const fmts[] = {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S",
					   "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"};
	long long secs;

	if (dpp_config_parse_duration(s, &secs) == 0) {
		*out = now_ms() - secs * 1000;
		return 0;
	}
	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		struct tm tm;
		const char *end;

		memset(&tm, 0, sizeof(tm));
		end = strptime(s, fmts[i], &tm);
		if (end == NULL)
			continue;
		if (*end == '.') { /* fractions of a second are ignored */
			end++;
			while (*end >= '0' && *end <= '9')
				end++;
		}
		if (*end == 'Z')
			end++;
		if (*end != '\0')
			continue;
		*out = (int64_t)timegm(&tm) * 1000;
		return 0;
	}
	return -1;
}

/* Finds the database: --store, else global.store.path of the config file. */
static int resolve_db(struct cli *c)
{
	struct dpp_config_flags flags = {0};
	struct dpp_config *cfg = NULL;
	const char *cfg_path;
	int required, on = 1;

	if (c->store != NULL) {
		snprintf(c->db_path, sizeof(c->db_path), "%s", c->store);
		return 0;
	}
	flags.config_path = c->config;
	cfg_path = dpp_config_pick_path(&flags, &required);
	if (dpp_config_load(&flags, &cfg, NULL) == 0) {
		on = dpp_store_resolve_path(dpp_config_settings(cfg), dpp_config_path(cfg),
					    c->db_path, sizeof(c->db_path));
		dpp_config_free(cfg);
	} else {
		/* A config this CLI cannot load (missing ${VAR}s, ...): the default place. */
		struct dpp_settings none;

		memset(&none, 0, sizeof(none));
		on = dpp_store_resolve_path(&none, cfg_path, c->db_path, sizeof(c->db_path));
	}
	if (!on) {
		fprintf(stderr, PROG ": the store is off in %s (global.store.path: \"\")\n", cfg_path);
		return -1;
	}
	return 0;
}

static sqlite3 *open_ro(struct cli *c)
{
	sqlite3 *db = NULL;
	char err[1024];

	if (resolve_db(c) != 0)
		return NULL;
	if (dpp_store_db_open_readonly(c->db_path, &db, err, sizeof(err)) != DPP_STORE_OPEN_OK) {
		fprintf(stderr, PROG ": %s: %s\n", c->db_path, err);
		return NULL;
	}
	return db;
}

static void cidr_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct dpp_cidr *block = sqlite3_get_auxdata(ctx, 1);
	const unsigned char *ip = sqlite3_value_text(argv[0]);

	(void)argc;
	if (block == NULL) {
		const unsigned char *txt = sqlite3_value_text(argv[1]);

		block = sqlite3_malloc(sizeof(*block));
		if (block == NULL || txt == NULL || dpp_cidr_parse((const char *)txt, block) != 0) {
			sqlite3_free(block);
			sqlite3_result_error(ctx, "bad CIDR", -1);
			return;
		}
		sqlite3_set_auxdata(ctx, 1, block, sqlite3_free);
		block = sqlite3_get_auxdata(ctx, 1);
		if (block == NULL) {
			sqlite3_result_int(ctx, 0);
			return;
		}
	}
	sqlite3_result_int(ctx, ip != NULL && dpp_cidr_match(block, (const char *)ip));
}

static const char *col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t != NULL ? (const char *)t : NULL;
}

static int term_width(void)
{
	struct winsize ws;
	const char *env = getenv("COLUMNS");

	if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	if (env != NULL && atoi(env) > 0)
		return atoi(env);
	return 160;
}

/* Prints s in exactly w columns (bytes; control bytes shown as '?'). */
static void cell(FILE *out, const char *s, int w, int last)
{
	int n = 0;

	if (s == NULL)
		s = "-";
	for (; *s != '\0' && n < w; s++, n++) {
		if (n == w - 1 && s[1] != '\0') {
			fputc('~', out);
			n++;
			break;
		}
		fputc((unsigned char)*s < 0x20 ? '?' : *s, out);
	}
	if (!last)
		for (; n < w + 1; n++)
			fputc(' ', out);
}

static cJSON *json_str(const char *s)
{
	return s != NULL ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static int cmd_audit(struct cli *c)
{
	sqlite3 *db = open_ro(c);
	sqlite3_stmt *st = NULL;
	char sql[2048];
	int64_t since = 0, until = 0;
	int idx = 1, rc = EX_OK, nrows = 0;
	struct dpp_cidr probe;
	char **lines = NULL;

	if (db == NULL)
		return EX_UNAVAILABLE;
	if ((c->since != NULL && parse_when(c->since, &since) != 0) ||
	    (c->until != NULL && parse_when(c->until, &until) != 0)) {
		fprintf(stderr, PROG ": --since/--until: a duration (1h, 2d) or a date (2026-12-01, 2026-12-01T10:00:00Z)\n");
		sqlite3_close(db);
		return EX_USAGE;
	}
	if (c->ip != NULL && dpp_cidr_parse(c->ip, &probe) != 0) {
		fprintf(stderr, PROG ": --ip: not an address or CIDR block: %s\n", c->ip);
		sqlite3_close(db);
		return EX_USAGE;
	}
	sqlite3_create_function(db, "dpp_cidr_match", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
				cidr_fn, NULL, NULL);
	snprintf(sql, sizeof(sql),
		 "SELECT timestamp, event, peer_ip, method, path, user_agent, user_role, identity,"
		 " rule_name, rule_action, status, dry_run, message, request_id, client_ip,"
		 " duration_ms, query FROM audit_events WHERE 1 = 1%s%s%s%s%s%s%s%s"
		 " ORDER BY time_ms DESC, id DESC LIMIT ?",
		 c->since ? " AND time_ms >= ?" : "", c->until ? " AND time_ms < ?" : "",
		 c->event ? " AND event = ?" : "", c->rule ? " AND rule_name = ?" : "",
		 c->identity ? " AND identity = ?" : "", c->role ? " AND user_role = ?" : "",
		 c->path ? " AND substr(path, 1, length(?)) = ?" : "",
		 c->ip ? " AND dpp_cidr_match(coalesce(client_ip, peer_ip), ?)" : "");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, PROG ": query: %s\n", sqlite3_errmsg(db));
		sqlite3_close(db);
		return EX_SOFTWARE;
	}
	if (c->since)
		sqlite3_bind_int64(st, idx++, since);
	if (c->until)
		sqlite3_bind_int64(st, idx++, until);
	if (c->event)
		sqlite3_bind_text(st, idx++, c->event, -1, SQLITE_STATIC);
	if (c->rule)
		sqlite3_bind_text(st, idx++, c->rule, -1, SQLITE_STATIC);
	if (c->identity)
		sqlite3_bind_text(st, idx++, c->identity, -1, SQLITE_STATIC);
	if (c->role)
		sqlite3_bind_text(st, idx++, c->role, -1, SQLITE_STATIC);
	if (c->path) {
		sqlite3_bind_text(st, idx++, c->path, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, idx++, c->path, -1, SQLITE_STATIC);
	}
	if (c->ip)
		sqlite3_bind_text(st, idx++, c->ip, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, idx, c->limit > 0 ? c->limit : -1);

	/* Newest first from SQLite, printed oldest first. */
	for (;;) {
		int s = sqlite3_step(st);
		char *line = NULL;

		if (s == SQLITE_DONE)
			break;
		if (s != SQLITE_ROW) {
			fprintf(stderr, PROG ": query: %s\n", sqlite3_errmsg(db));
			rc = EX_SOFTWARE;
			break;
		}
		if (c->json) {
			cJSON *o = cJSON_CreateObject();

			cJSON_AddItemToObject(o, "timestamp", json_str(col(st, 0)));
			cJSON_AddItemToObject(o, "event", json_str(col(st, 1)));
			cJSON_AddItemToObject(o, "peer_ip", json_str(col(st, 2)));
			cJSON_AddItemToObject(o, "method", json_str(col(st, 3)));
			cJSON_AddItemToObject(o, "path", json_str(col(st, 4)));
			cJSON_AddItemToObject(o, "user_agent", json_str(col(st, 5)));
			cJSON_AddItemToObject(o, "user_role", json_str(col(st, 6)));
			cJSON_AddItemToObject(o, "identity", json_str(col(st, 7)));
			cJSON_AddItemToObject(o, "rule_name", json_str(col(st, 8)));
			cJSON_AddItemToObject(o, "rule_action", json_str(col(st, 9)));
			cJSON_AddNumberToObject(o, "status", sqlite3_column_int(st, 10));
			cJSON_AddBoolToObject(o, "dry_run", sqlite3_column_int(st, 11));
			cJSON_AddItemToObject(o, "message", json_str(col(st, 12)));
			if (sqlite3_column_type(st, 13) != SQLITE_NULL)
				cJSON_AddNumberToObject(o, "request_id", (double)sqlite3_column_int64(st, 13));
			if (col(st, 14) != NULL && (col(st, 2) == NULL || strcmp(col(st, 14), col(st, 2)) != 0))
				cJSON_AddStringToObject(o, "client_ip", col(st, 14));
			cJSON_AddNumberToObject(o, "duration_ms", sqlite3_column_int(st, 15));
			if (col(st, 16) != NULL)
				cJSON_AddStringToObject(o, "query", col(st, 16));
			line = cJSON_PrintUnformatted(o);
			cJSON_Delete(o);
		} else {
			char *buf = NULL;
			size_t len = 0;
			FILE *f = open_memstream(&buf, &len);
			int w = term_width(), rest, wreq, wmsg;
			char req[600], when[32];
			const char *client = col(st, 14) != NULL ? col(st, 14) : col(st, 2);

			if (f == NULL) {
				rc = EX_OSERR;
				break;
			}
			snprintf(when, sizeof(when), "%.19s", col(st, 0) != NULL ? col(st, 0) : "");
			if (strlen(when) > 10)
				when[10] = ' ';
			snprintf(req, sizeof(req), "%s %s", col(st, 3) != NULL ? col(st, 3) : "-",
				 col(st, 4) != NULL ? col(st, 4) : "-");
			rest = w - (19 + 12 + 15 + 18 + 16 + 6 + 7);
			if (rest < 30)
				rest = 30;
			wreq = rest * 55 / 100;
			wmsg = rest - wreq;
			{
				char status[16];

				snprintf(status, sizeof(status), "%d", sqlite3_column_int(st, 10));
				cell(f, when, 19, 0);
				cell(f, col(st, 1), 12, 0);
				cell(f, client != NULL ? client : "unix", 15, 0);
				cell(f, col(st, 7), 18, 0);
				cell(f, req, wreq, 0);
				cell(f, col(st, 8), 16, 0);
				cell(f, status, 6, 0);
				cell(f, col(st, 12), wmsg, 1);
			}
			fclose(f);
			line = buf;
		}
		if (line == NULL) {
			rc = EX_OSERR;
			break;
		}
		{
			char **grown = realloc(lines, sizeof(*lines) * (size_t)(nrows + 1));

			if (grown == NULL) {
				free(line);
				rc = EX_OSERR;
				break;
			}
			lines = grown;
			lines[nrows++] = line;
		}
	}
	if (!c->json && rc == EX_OK && nrows > 0) {
		int w = term_width(), rest = w - (19 + 12 + 15 + 18 + 16 + 6 + 7), wreq, wmsg;

		if (rest < 30)
			rest = 30;
		wreq = rest * 55 / 100;
		wmsg = rest - wreq;
		cell(stdout, "TIME (UTC)", 19, 0);
		cell(stdout, "EVENT", 12, 0);
		cell(stdout, "CLIENT", 15, 0);
		cell(stdout, "IDENTITY", 18, 0);
		cell(stdout, "REQUEST", wreq, 0);
		cell(stdout, "RULE", 16, 0);
		cell(stdout, "STATUS", 6, 0);
		cell(stdout, "MESSAGE", wmsg, 1);
		putchar('\n');
	}
	for (int i = nrows - 1; i >= 0; i--) {
		if (rc == EX_OK)
			printf("%s\n", lines[i]);
		free(lines[i]);
	}
	free(lines);
	sqlite3_finalize(st);
	sqlite3_close(db);
	if (rc == EX_OK && fflush(stdout) != 0)
		rc = EX_IOERR;
	return rc;
}

/* ---- history ----------------------------------------------------------- */

struct version {
	int64_t id, based_on, rollback_of, deadline;
	int applied;
	char *content;
	size_t len;
	char sha[65];
	char source[32], author[128], when[40], state[32];
	char *comment, *errors, *path;
};

static void version_free(struct version *v)
{
	free(v->content);
	free(v->comment);
	free(v->errors);
	free(v->path);
	memset(v, 0, sizeof(*v));
}

static char *dup_col(sqlite3_stmt *st, int i, size_t *len)
{
	const void *p = sqlite3_column_blob(st, i);
	int n = sqlite3_column_bytes(st, i);
	char *d;

	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return NULL;
	d = malloc((size_t)n + 1);
	if (d == NULL)
		return NULL;
	if (n > 0)
		memcpy(d, p, (size_t)n);
	d[n] = '\0';
	if (len != NULL)
		*len = (size_t)n;
	return d;
}

static const char version_cols[] =
	"id, timestamp, source, author, sha256, content, applied, errors, based_on, rollback_of,"
	" comment, path, confirm_deadline_ms, coalesce(confirm_state, '')";

static void version_read(sqlite3_stmt *st, struct version *v)
{
	memset(v, 0, sizeof(*v));
	v->id = sqlite3_column_int64(st, 0);
	snprintf(v->when, sizeof(v->when), "%s", col(st, 1) ? col(st, 1) : "");
	snprintf(v->source, sizeof(v->source), "%s", col(st, 2) ? col(st, 2) : "");
	snprintf(v->author, sizeof(v->author), "%s", col(st, 3) ? col(st, 3) : "");
	snprintf(v->sha, sizeof(v->sha), "%s", col(st, 4) ? col(st, 4) : "");
	v->content = dup_col(st, 5, &v->len);
	v->applied = sqlite3_column_int(st, 6);
	v->errors = dup_col(st, 7, NULL);
	v->based_on = sqlite3_column_int64(st, 8);
	v->rollback_of = sqlite3_column_int64(st, 9);
	v->comment = dup_col(st, 10, NULL);
	v->path = dup_col(st, 11, NULL);
	v->deadline = sqlite3_column_int64(st, 12);
	snprintf(v->state, sizeof(v->state), "%s", col(st, 13) ? col(st, 13) : "");
}

/* id > 0: that version; id == 0: the live one. Returns 1 found, 0 not, -1 error. */
/* A control request's version_id: a whole number 1..2^53. Casting a
 * larger double to int64_t is undefined (x86 gives INT64_MIN, which
 * version_get reads as "the latest applied"), so 1e20 must not get there. */
static int json_version_id(const cJSON *it, int64_t *out)
{
	if (!cJSON_IsNumber(it) || !(it->valuedouble >= 1 && it->valuedouble <= 9007199254740992.0) ||
	    it->valuedouble != (double)(int64_t)it->valuedouble)
		return -1;
	*out = (int64_t)it->valuedouble;
	return 0;
}

static int version_get(sqlite3 *db, int64_t id, struct version *v)
{
	sqlite3_stmt *st = NULL;
	char sql[512];
	int rc;

	snprintf(sql, sizeof(sql), "SELECT %s FROM config_versions WHERE %s", version_cols,
		 id > 0 ? "id = ?1" : "applied = 1 ORDER BY id DESC LIMIT 1");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, PROG ": %s\n", sqlite3_errmsg(db));
		return -1;
	}
	if (id > 0)
		sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		version_read(st, v);
	else if (rc != SQLITE_DONE)
		fprintf(stderr, PROG ": %s\n", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int parse_id(const char *s, int64_t *out)
{
	char *end = NULL;
	long long v;

	if (s == NULL)
		return -1;
	v = strtoll(s, &end, 10);
	if (end == s || *end != '\0' || v <= 0)
		return -1;
	*out = v;
	return 0;
}

static void state_text(const struct version *v, char *out, size_t len)
{
	char when[40];

	if (strcmp(v->state, "pending") == 0) {
		dpp_store_iso_time(v->deadline, when, sizeof(when));
		snprintf(out, len, "pending confirm until %s", when);
	} else if (v->state[0] != '\0') {
		snprintf(out, len, "%s%s", v->applied ? "applied, " : "", v->state);
	} else {
		snprintf(out, len, "%s", v->applied ? "applied" : v->source[0] == 'f' ? "not loaded" : "refused");
	}
}

static int cmd_history_list(struct cli *c)
{
	sqlite3 *db = open_ro(c);
	sqlite3_stmt *st = NULL;
	struct version live;
	char sql[512];
	int have_live, rc = EX_OK;

	if (db == NULL)
		return EX_UNAVAILABLE;
	have_live = version_get(db, 0, &live);
	snprintf(sql, sizeof(sql), "SELECT %s FROM config_versions ORDER BY id%s", version_cols,
		 c->limit > 0 ? " DESC LIMIT ?1" : "");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, PROG ": %s\n", sqlite3_errmsg(db));
		sqlite3_close(db);
		return EX_SOFTWARE;
	}
	if (c->limit > 0)
		sqlite3_bind_int64(st, 1, c->limit);
	printf("  %-5s %-24s %-9s %-16s %-12s %-8s %-40s %s\n", "ID", "TIME (UTC)", "SOURCE",
	       "AUTHOR", "SHA256", "BASED_ON", "STATE", "COMMENT / ERRORS");
	for (;;) {
		struct version v;
		char state[96], based[24];
		int s = sqlite3_step(st);

		if (s != SQLITE_ROW) {
			if (s != SQLITE_DONE) {
				fprintf(stderr, PROG ": %s\n", sqlite3_errmsg(db));
				rc = EX_SOFTWARE;
			}
			break;
		}
		version_read(st, &v);
		state_text(&v, state, sizeof(state));
		snprintf(based, sizeof(based), "%lld", (long long)v.based_on);
		printf("%c %-5lld %-24s %-9s %-16.16s %-12.12s %-8s %-40s ",
		       have_live == 1 && live.id == v.id ? '*' : ' ', (long long)v.id, v.when, v.source,
		       v.author, v.sha, v.based_on > 0 ? based : "-", state);
		if (v.comment != NULL)
			printf("%s", v.comment);
		if (v.errors != NULL) {
			char *nl = strchr(v.errors, '\n');

			printf("%s%.*s%s", v.comment != NULL ? " | " : "",
			       nl != NULL ? (int)(nl - v.errors) : (int)strlen(v.errors), v.errors,
			       nl != NULL && nl[1] != '\0' ? " ..." : "");
		}
		putchar('\n');
		version_free(&v);
	}
	if (have_live == 1)
		version_free(&live);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

/* Masks the values of `token:` and `secret:` keys (any depth, block or flow
 * style), located with libyaml's marks so quoting and flow mappings are
 * handled by the parser. Text libyaml cannot parse is masked line by line:
 * everything after such a key, to the end of the line. Returns malloc'd. */
static int is_secret_key(const char *k)
{
	return strcmp(k, "token") == 0 || strcmp(k, "secret") == 0;
}

static char *mask_lines(const char *text, size_t len)
{
	char *out = malloc(len * 2 + 16), *o = out;
	const char *p = text, *end = text + len;

	if (out == NULL)
		return NULL;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl != NULL ? nl : end, *hit = NULL;

		for (const char *q = p; q + 6 <= le && hit == NULL; q++) {
			int klen = strncmp(q, "token", 5) == 0 ? 5 : strncmp(q, "secret", 6) == 0 ? 6 : 0;

			if (klen == 0 || (q > p && (isalnum((unsigned char)q[-1]) || q[-1] == '_')))
				continue;
			{
				const char *r = q + klen;

				while (r < le && (*r == ' ' || *r == '\t'))
					r++;
				if (r < le && *r == ':')
					hit = r + 1;
			}
		}
		if (hit != NULL) {
			memcpy(o, p, (size_t)(hit - p));
			o += hit - p;
			memcpy(o, " \"********\"", 11);
			o += 11;
		} else {
			memcpy(o, p, (size_t)(le - p));
			o += le - p;
		}
		if (nl != NULL)
			*o++ = '\n';
		p = nl != NULL ? nl + 1 : end;
	}
	*o = '\0';
	return out;
}

struct range {
	size_t a, b;
};

static char *mask_secrets(const char *text, size_t len)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	/* per open collection: 1 = mapping expecting a key, 2 = mapping expecting a value, 0 = sequence */
	int stack[128], mask_next[128], depth = 0, ok = 1, done = 0;
	struct range *r = NULL;
	size_t nr = 0, outlen;
	char *out, *o;

	if (!yaml_parser_initialize(&parser))
		return NULL;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (!done) {
		int value_pos;

		if (!yaml_parser_parse(&parser, &ev)) {
			ok = 0;
			break;
		}
		value_pos = depth > 0 && stack[depth - 1] == 2;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT:
			if (depth >= 127) {
				ok = 0;
				done = 1;
				break;
			}
			if (value_pos)
				stack[depth - 1] = 1;
			mask_next[depth] = 0;
			stack[depth++] = ev.type == YAML_MAPPING_START_EVENT ? 1 : 0;
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			if (depth > 0)
				depth--;
			break;
		case YAML_SCALAR_EVENT:
			if (depth > 0 && stack[depth - 1] == 1) {
				mask_next[depth - 1] = is_secret_key((const char *)ev.data.scalar.value);
				stack[depth - 1] = 2;
			} else if (value_pos) {
				if (mask_next[depth - 1] && ev.data.scalar.length > 0) {
					struct range *g = realloc(r, sizeof(*r) * (nr + 1));

					if (g == NULL) {
						ok = 0;
						done = 1;
						break;
					}
					r = g;
					r[nr].a = ev.start_mark.index;
					r[nr].b = ev.end_mark.index;
					nr++;
				}
				stack[depth - 1] = 1;
			}
			break;
		case YAML_ALIAS_EVENT:
			if (depth > 0 && stack[depth - 1] == 2)
				stack[depth - 1] = 1;
			else if (depth > 0 && stack[depth - 1] == 1)
				stack[depth - 1] = 2;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	if (!ok) {
		free(r);
		return mask_lines(text, len);
	}
	outlen = len + nr * 12 + 1;
	out = malloc(outlen);
	if (out == NULL) {
		free(r);
		return NULL;
	}
	o = out;
	{
		size_t pos = 0;

		for (size_t i = 0; i < nr; i++) {
			if (r[i].a < pos || r[i].b > len)
				continue;
			memcpy(o, text + pos, r[i].a - pos);
			o += r[i].a - pos;
			memcpy(o, "\"********\"", 10);
			o += 10;
			pos = r[i].b;
		}
		memcpy(o, text + pos, len - pos);
		o += len - pos;
	}
	*o = '\0';
	free(r);
	return out;
}

static char *shown_text(const struct version *v, int reveal)
{
	if (reveal) {
		char *d = malloc(v->len + 1);

		if (d != NULL) {
			memcpy(d, v->content != NULL ? v->content : "", v->len);
			d[v->len] = '\0';
		}
		return d;
	}
	return mask_secrets(v->content != NULL ? v->content : "", v->len);
}

static int cmd_history_show(struct cli *c, const char *arg)
{
	sqlite3 *db;
	struct version v;
	char state[96];
	char *text;
	int64_t id;
	int found;

	if (parse_id(arg, &id) != 0) {
		fprintf(stderr, PROG ": history show: a version number is needed\n");
		return EX_USAGE;
	}
	db = open_ro(c);
	if (db == NULL)
		return EX_UNAVAILABLE;
	found = version_get(db, id, &v);
	sqlite3_close(db);
	if (found != 1) {
		if (found == 0)
			fprintf(stderr, PROG ": no config version %lld\n", (long long)id);
		return found == 0 ? EX_DATAERR : EX_SOFTWARE;
	}
	state_text(&v, state, sizeof(state));
	printf("# version %lld, %s, source %s, author %s, %s\n# sha256 %s%s%s\n", (long long)v.id,
	       v.when, v.source, v.author, state, v.sha, v.path != NULL ? ", file " : "",
	       v.path != NULL ? v.path : "");
	if (v.based_on > 0)
		printf("# based on version %lld\n", (long long)v.based_on);
	if (v.rollback_of > 0)
		printf("# rollback to version %lld\n", (long long)v.rollback_of);
	if (v.comment != NULL)
		printf("# comment: %s\n", v.comment);
	if (v.errors != NULL) {
		char *p = v.errors;

		while (*p != '\0') {
			char *nl = strchr(p, '\n');
			int n = nl != NULL ? (int)(nl - p) : (int)strlen(p);

			printf("# error: %.*s\n", n, p);
			p += n + (nl != NULL);
		}
	}
	if (!c->reveal)
		printf("# token: and secret: values masked; --reveal shows them\n");
	text = shown_text(&v, c->reveal);
	if (text == NULL) {
		version_free(&v);
		return EX_OSERR;
	}
	fputs(text, stdout);
	if (v.len > 0 && text[strlen(text) - 1] != '\n')
		putchar('\n');
	free(text);
	version_free(&v);
	return fflush(stdout) == 0 ? EX_OK : EX_IOERR;
}

static int write_temp(const char *text, char *name, size_t namelen)
{
	const char *tmpdir = getenv("TMPDIR");
	size_t len = strlen(text), off = 0;
	int fd;

	snprintf(name, namelen, "%s/dpp-history-XXXXXX", tmpdir != NULL && tmpdir[0] ? tmpdir : "/tmp");
	fd = mkstemp(name);
	if (fd < 0)
		return -1;
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);

		if (w <= 0) {
			close(fd);
			unlink(name);
			return -1;
		}
		off += (size_t)w;
	}
	return close(fd);
}

static int cmd_history_diff(struct cli *c, const char *a, const char *b)
{
	sqlite3 *db;
	struct version va, vb;
	int64_t ida, idb = 0;
	char fa[4096], fb[4096], la[128], lb[128];
	char *ta = NULL, *tb = NULL;
	int rc = EX_SOFTWARE, fa_ok = 0, fb_ok = 0;

	if (parse_id(a, &ida) != 0 || (b != NULL && parse_id(b, &idb) != 0)) {
		fprintf(stderr, PROG ": history diff: version numbers are needed (N [M])\n");
		return EX_USAGE;
	}
	db = open_ro(c);
	if (db == NULL)
		return EX_UNAVAILABLE;
	memset(&va, 0, sizeof(va));
	memset(&vb, 0, sizeof(vb));
	if (version_get(db, ida, &va) != 1 || version_get(db, idb, &vb) != 1) {
		fprintf(stderr, PROG ": no config version %lld\n",
			(long long)(va.id == 0 ? ida : idb));
		sqlite3_close(db);
		version_free(&va);
		version_free(&vb);
		return EX_DATAERR;
	}
	sqlite3_close(db);
	ta = shown_text(&va, c->reveal);
	tb = shown_text(&vb, c->reveal);
	if (ta == NULL || tb == NULL)
		goto out;
	fa_ok = write_temp(ta, fa, sizeof(fa)) == 0;
	fb_ok = write_temp(tb, fb, sizeof(fb)) == 0;
	if (!fa_ok || !fb_ok) {
		fprintf(stderr, PROG ": cannot write temporary files: %s\n", strerror(errno));
		goto out;
	}
	snprintf(la, sizeof(la), "version %lld (%s)", (long long)va.id, va.when);
	snprintf(lb, sizeof(lb), "version %lld (%s)%s", (long long)vb.id, vb.when,
		 b == NULL ? " live" : "");
	fflush(stdout);
	{
		pid_t pid = fork();
		int status = 0;

		if (pid < 0) {
			fprintf(stderr, PROG ": fork: %s\n", strerror(errno));
			goto out;
		}
		if (pid == 0) {
			execlp("diff", "diff", "-u", "--label", la, "--label", lb, fa, fb, (char *)NULL);
			fprintf(stderr, PROG ": cannot run diff (diffutils): %s\n", strerror(errno));
			_exit(127);
		}
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 1))
			rc = EX_OK;
		else
			rc = EX_SOFTWARE;
	}
out:
	if (fa_ok)
		unlink(fa);
	if (fb_ok)
		unlink(fb);
	free(ta);
	free(tb);
	version_free(&va);
	version_free(&vb);
	return rc;
}

/* Validates text with the real loader and policy compiler, from a temporary
 * file beside the target (so relative paths read as they will). */
static int validate_config(const char *target, const char *text, size_t len, FILE *errf)
{
	char tmp[4200], dir[4096];
	const char *slash = strrchr(target, '/');
	struct dpp_config_flags flags = {0};
	struct dpp_config *cfg = NULL;
	struct dpp_runtime *rt = NULL;
	char *errors = NULL, *warnings = NULL;
	int fd, ok = 0;
	size_t off = 0;

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - target), target);
	snprintf(tmp, sizeof(tmp), "%s/.dpp-rollback-check-XXXXXX", dir);
	fd = mkstemp(tmp);
	if (fd < 0) {
		fprintf(errf, PROG ": cannot write a temporary file in %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);

		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(fd);
	flags.config_path = tmp;
	if (off == len && dpp_config_load(&flags, &cfg, &errors) == 0) {
		struct dpp_settings eff = *dpp_config_settings(cfg);

		if (eff.socket[0] == '\0')
			snprintf(eff.socket, sizeof(eff.socket), "/var/run/docker.sock");
		if (dpp_runtime_build(cfg, &eff, &rt, &errors, &warnings) == 0)
			ok = 1;
	}
	unlink(tmp);
	if (!ok)
		fprintf(errf, "%s" PROG ": the version does not load; nothing changed\n",
			errors != NULL ? errors : "");
	free(errors);
	free(warnings);
	dpp_runtime_unref(rt);
	dpp_config_free(cfg);
	return ok ? 0 : -1;
}

/* The running proxy holds an exclusive flock on PATH.pid. Returns its pid, 0. */
static pid_t find_proxy(const char *db_path)
{
	char pidfile[4200], buf[32];
	int fd;
	ssize_t n;
	long pid;

	dpp_store_pidfile_path(db_path, pidfile, sizeof(pidfile));
	fd = open(pidfile, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0 || errno != EWOULDBLOCK) {
		close(fd); /* nobody holds it: a stale file */
		return 0;
	}
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, NULL, 10);
	return pid > 1 ? (pid_t)pid : 0;
}

/* 1 when the daemon behind cl runs the configuration file config names
 * (dpp_config_pick_path's choice), compared by realpath. */
static int same_config(struct dpp_ctlclient *cl, const char *config)
{
	struct dpp_config_flags flags;
	struct dpp_ctl_error e;
	cJSON *resp = NULL;
	const cJSON *st, *cp;
	char a[PATH_MAX], b[PATH_MAX];
	const char *mine;
	int required, same = 0;

	memset(&flags, 0, sizeof(flags));
	flags.config_path = config;
	mine = dpp_config_pick_path(&flags, &required);
	if (mine == NULL || realpath(mine, a) == NULL)
		return 0;
	if (dpp_ctlclient_request(cl, "status", NULL, 5000, &resp, &e) != 0)
		return 0;
	st = cJSON_GetObjectItem(resp, "status");
	cp = cJSON_GetObjectItem(st, "config_path");
	same = cJSON_IsString(cp) && realpath(cp->valuestring, b) != NULL && strcmp(a, b) == 0;
	cJSON_Delete(resp);
	return same;
}

/* The newest version id in the daemon's history whose SHA-256 is sha (any
 * sha when NULL) and whose id is above after; 0 when none. */
static long long newest_version(struct dpp_ctlclient *cl, const char *sha, long long after)
{
	struct dpp_ctl_error e;
	cJSON *args = cJSON_CreateObject(), *resp = NULL;
	const cJSON *it;
	long long nid = 0;

	if (args == NULL || cJSON_AddNumberToObject(args, "limit", 5) == NULL) {
		cJSON_Delete(args);
		return 0;
	}
	if (dpp_ctlclient_request(cl, "history_list", args, 5000, &resp, &e) != 0)
		return 0;
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(resp, "versions"))
	{
		const cJSON *h = cJSON_GetObjectItem(it, "sha256"), *id = cJSON_GetObjectItem(it, "id");
		long long v = cJSON_IsNumber(id) ? (long long)id->valuedouble : 0;

		if (v > after && v > nid &&
		    (sha == NULL || (cJSON_IsString(h) && strcmp(h->valuestring, sha) == 0)))
			nid = v;
	}
	cJSON_Delete(resp);
	return nid;
}

/* The rollback's copy: the daemon's store writer records it shortly after
 * the answer, so wait for it a little (a rollback to the live version
 * records nothing: 0). */
static long long wait_copy(struct dpp_ctlclient *cl, const cJSON *sha, long long before)
{
	for (int i = 0; cJSON_IsString(sha) && i < 100; i++) {
		long long nid = newest_version(cl, sha->valuestring, before);

		if (nid > 0)
			return nid;
		usleep(50 * 1000);
	}
	return 0;
}

/* A running daemon does the rollback itself when its control socket
 * answers (command history_rollback: the same validate / record / swap
 * path as every change). Returns the exit code, or -1 when no daemon
 * answers there (the file + SIGHUP path below then applies). */
static int rollback_over_socket(struct cli *c, int64_t id, long long confirm_s)
{
	struct dpp_ctl_error e;
	struct dpp_ctl_peer peer;
	struct dpp_ctlclient *cl;
	char path[4096], msg[1200], obo[64];
	cJSON *args, *resp = NULL;
	long long before;
	int rc;

	if (dpp_ctlsock_resolve(c->control_socket, c->config, path, sizeof(path), msg, sizeof(msg)) != 0)
		return -1; /* turned off: the file path */
	memset(&e, 0, sizeof(e));
	dpp_ctl_on_behalf_of(obo, sizeof(obo));
	cl = dpp_ctlclient_connect(path, "ctl", obo, 5000, &peer, &e);
	if (cl == NULL) {
		if (e.kind == DPP_CTL_NO_DAEMON && c->control_socket == NULL)
			return -1;
		fprintf(stderr, PROG ": history rollback: %s\n", e.message);
		return dpp_ctl_exit_code(&e);
	}
	if (c->control_socket == NULL && !same_config(cl, c->config)) {
		/* A daemon answers on the default socket, but it runs another
		 * configuration than the one this rollback is for. */
		dpp_ctlclient_close(cl);
		return -1;
	}
	args = cJSON_CreateObject();
	if (args == NULL || cJSON_AddNumberToObject(args, "version_id", (double)id) == NULL ||
	    (confirm_s > 0 && cJSON_AddNumberToObject(args, "confirm_ms", (double)confirm_s * 1000) == NULL) ||
	    (c->comment != NULL && cJSON_AddStringToObject(args, "comment", c->comment) == NULL)) {
		cJSON_Delete(args);
		dpp_ctlclient_close(cl);
		fprintf(stderr, PROG ": history rollback: out of memory\n");
		return EX_OSERR;
	}
	before = newest_version(cl, NULL, 0);
	if (dpp_ctlclient_request(cl, "history_rollback", args, 60000, &resp, &e) != 0) {
		if (e.kind == DPP_CTL_REFUSED)
			fprintf(stderr, PROG ": history rollback to version %lld refused by the daemon (%s): %s\n",
				(long long)id, e.code, e.message);
		else
			fprintf(stderr, PROG ": history rollback: %s\n", e.message);
		rc = dpp_ctl_exit_code(&e);
	} else {
		const cJSON *dl = cJSON_GetObjectItem(resp, "confirm_deadline_ms");
		long long nid = wait_copy(cl, cJSON_GetObjectItem(resp, "version"), before);

		/* The words of the file + SIGHUP path, so scripts see one answer. */
		if (nid > 0)
			printf("the proxy (pid %ld) reloaded: version %lld is live (a copy of version %lld)\n",
			       peer.pid, nid, (long long)id);
		else
			printf("the proxy (pid %ld) reloaded: a copy of version %lld is live\n", peer.pid,
			       (long long)id);
		if (cJSON_IsNumber(dl) && dl->valuedouble > 0) {
			char when[40];

			dpp_store_iso_time((int64_t)dl->valuedouble, when, sizeof(when));
			printf("run `" PROG " history confirm` before %s or the proxy reverts\n", when);
		}
		rc = EX_OK;
	}
	cJSON_Delete(resp);
	dpp_ctlclient_close(cl);
	return rc;
}

/* The writing half of `history rollback`, shared by the CLI and the
 * daemon's control socket (history_rollback): checks version id with the
 * real loader, records a hand edit since the live version, records the
 * request (who, why, the confirmation deadline: confirm_s > 0) and writes
 * the file atomically, all in one transaction. Messages go to out and errf.
 * author NULL: dpp_store_author. Returns an EX_* status; on EX_OK *written
 * is 1 when the file was written (0: that version is live already), *dbp
 * the open database (the caller closes it), *req_id the request row, and
 * sha (65 bytes) the version's SHA-256. */
static int rollback_write(struct cli *c, int64_t id, long long confirm_s, const char *who,
			  FILE *out, FILE *errf, sqlite3 **dbp, int64_t *req_id_out,
			  int64_t *deadline_out, char *sha_out, int *written)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	struct version v, live;
	char err[1024], author[128], target[4096], *cur = NULL, cur_sha[65];
	int64_t deadline = 0, req_id = 0, t0;
	size_t curlen = 0;
	int rc = EX_SOFTWARE, have_live;

	memset(&v, 0, sizeof(v));
	memset(&live, 0, sizeof(live));
	*dbp = NULL;
	*written = 0;
	if (dpp_store_db_open_cli_rw(c->db_path, &db, err, sizeof(err)) != DPP_STORE_OPEN_OK) {
		fprintf(errf, PROG ": %s: %s\n", c->db_path, err);
		return EX_UNAVAILABLE;
	}
	if (version_get(db, id, &v) != 1) {
		fprintf(errf, PROG ": no config version %lld\n", (long long)id);
		rc = EX_DATAERR;
		goto out;
	}
	have_live = version_get(db, 0, &live) == 1;
	if (c->config != NULL)
		snprintf(target, sizeof(target), "%s", c->config);
	else if (have_live && live.path != NULL)
		snprintf(target, sizeof(target), "%s", live.path);
	else if (v.path != NULL)
		snprintf(target, sizeof(target), "%s", v.path);
	else {
		fprintf(errf, PROG ": which config file? none is recorded; give --config PATH\n");
		rc = EX_USAGE;
		goto out;
	}
	if (have_live && strcmp(live.sha, v.sha) == 0) {
		fprintf(out, "version %lld is the live configuration already (version %lld); nothing to do\n",
		       (long long)id, (long long)live.id);
		rc = EX_OK;
		snprintf(sha_out, 65, "%s", v.sha);
		goto out;
	}
	if (validate_config(target, v.content != NULL ? v.content : "", v.len, errf) != 0) {
		rc = EX_CONFIG;
		goto out;
	}
	if (who != NULL)
		snprintf(author, sizeof(author), "%s", who);
	else
		dpp_store_author(author, sizeof(author));
	t0 = now_ms();
	if (confirm_s > 0)
		deadline = t0 + confirm_s * 1000;
	if (dpp_store_exec(db, "BEGIN IMMEDIATE", err, sizeof(err)) != SQLITE_OK) {
		fprintf(errf, PROG ": the store is busy: %s\n", err);
		rc = EX_TEMPFAIL;
		goto out;
	}
	/* A hand edit since the live version goes into history before it is replaced. */
	if (dpp_store_read_file(target, &cur, &curlen) == 0 &&
	    dpp_store_sha256_hex(cur, curlen, cur_sha) == 0 && (!have_live || strcmp(cur_sha, live.sha) != 0)) {
		char ts[40];

		dpp_store_iso_time(t0, ts, sizeof(ts));
		if (sqlite3_prepare_v2(db,
				       "INSERT INTO config_versions (time_ms, timestamp, source, author, sha256,"
				       " content, applied, based_on, comment, path) VALUES (?1, ?2, 'file', ?3, ?4, ?5,"
				       " 0, ?6, 'edited by hand since the live version; replaced by a rollback', ?7)",
				       -1, &st, NULL) != SQLITE_OK)
			goto db_fail;
		sqlite3_bind_int64(st, 1, t0);
		sqlite3_bind_text(st, 2, ts, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, author, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, cur_sha, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, cur, (int)curlen, SQLITE_STATIC);
		if (have_live)
			sqlite3_bind_int64(st, 6, live.id);
		sqlite3_bind_text(st, 7, target, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto db_fail;
		sqlite3_finalize(st);
		st = NULL;
		fprintf(out, "the file was edited by hand since version %lld: recorded as version %lld (source file)\n",
		       (long long)live.id, (long long)sqlite3_last_insert_rowid(db));
	}
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO config_requests (time_ms, sha256, source, author, comment,"
			       " rollback_of, confirm_deadline_ms) VALUES (?1, ?2, 'rollback', ?3, ?4, ?5, ?6)",
			       -1, &st, NULL) != SQLITE_OK)
		goto db_fail;
	sqlite3_bind_int64(st, 1, t0);
	sqlite3_bind_text(st, 2, v.sha, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, author, -1, SQLITE_STATIC);
	if (c->comment != NULL)
		sqlite3_bind_text(st, 4, c->comment, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, id);
	if (deadline > 0)
		sqlite3_bind_int64(st, 6, deadline);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto db_fail;
	sqlite3_finalize(st);
	st = NULL;
	req_id = sqlite3_last_insert_rowid(db);
	if (dpp_store_write_file_atomic(target, v.content != NULL ? v.content : "", v.len, err,
					sizeof(err)) != 0) {
		fprintf(errf, PROG ": %s; nothing changed\n", err);
		dpp_store_exec(db, "ROLLBACK", NULL, 0);
		rc = EX_CANTCREAT;
		goto out;
	}
	if (dpp_store_exec(db, "COMMIT", err, sizeof(err)) != SQLITE_OK)
		goto db_fail;
	fprintf(out, "wrote version %lld to %s\n", (long long)id, target);
	snprintf(sha_out, 65, "%s", v.sha);
	*req_id_out = req_id;
	*deadline_out = deadline;
	*written = 1;
	rc = EX_OK;
	goto out;
db_fail:
	fprintf(errf, PROG ": %s\n", sqlite3_errmsg(db));
	if (sqlite3_get_autocommit(db) == 0)
		dpp_store_exec(db, "ROLLBACK", NULL, 0);
	rc = EX_SOFTWARE;
out:
	sqlite3_finalize(st);
	free(cur);
	version_free(&v);
	version_free(&live);
	if (rc == EX_OK)
		*dbp = db;
	else
		sqlite3_close(db);
	return rc;
}

static int cmd_history_rollback(struct cli *c, const char *arg)
{
	sqlite3 *db = NULL;
	char sha[65];
	int64_t id, deadline = 0, req_id = 0, before;
	long long confirm_s = 0;
	int rc, written = 0;
	pid_t pid;

	if (parse_id(arg, &id) != 0) {
		fprintf(stderr, PROG ": history rollback: a version number is needed\n");
		return EX_USAGE;
	}
	if (c->confirm != NULL && dpp_config_parse_duration(c->confirm, &confirm_s) != 0) {
		fprintf(stderr, PROG ": --confirm: a duration such as 10m or 30s\n");
		return EX_USAGE;
	}
	rc = rollback_over_socket(c, id, confirm_s);
	if (rc >= 0)
		return rc;
	if (resolve_db(c) != 0)
		return EX_UNAVAILABLE;
	rc = rollback_write(c, id, confirm_s, NULL, stdout, stderr, &db, &req_id, &deadline, sha,
			    &written);
	if (rc != EX_OK || !written)
		goto out;
	before = 0;
	{
		sqlite3_stmt *q = NULL;

		if (sqlite3_prepare_v2(db, "SELECT coalesce(max(id), 0) FROM config_versions", -1, &q, NULL) == SQLITE_OK &&
		    sqlite3_step(q) == SQLITE_ROW)
			before = sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
	}
	pid = find_proxy(c->db_path);
	if (pid == 0) {
		printf("no running proxy holds %s.pid: the new file takes effect when the proxy starts\n",
		       c->db_path);
		rc = EX_OK;
		goto out;
	}
	if (kill(pid, SIGHUP) != 0) {
		fprintf(stderr, PROG ": cannot signal the proxy (pid %ld): %s\n", (long)pid, strerror(errno));
		rc = EX_NOPERM;
		goto out;
	}
	/* The proxy records the reload; wait for its row. */
	rc = EX_TEMPFAIL;
	for (int i = 0; i < 150; i++) {
		sqlite3_stmt *q = NULL;
		int consumed = 0;

		usleep(100000);
		if (sqlite3_prepare_v2(db, "SELECT consumed FROM config_requests WHERE id = ?1", -1, &q, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(q, 1, req_id);
			if (sqlite3_step(q) == SQLITE_ROW)
				consumed = sqlite3_column_int(q, 0);
		}
		sqlite3_finalize(q);
		if (!consumed)
			continue;
		{
			struct version nv;
			int64_t nid = 0;

			if (sqlite3_prepare_v2(db, "SELECT max(id) FROM config_versions WHERE source = 'rollback' AND id > ?1",
					       -1, &q, NULL) == SQLITE_OK) {
				sqlite3_bind_int64(q, 1, before);
				if (sqlite3_step(q) == SQLITE_ROW)
					nid = sqlite3_column_int64(q, 0);
			}
			sqlite3_finalize(q);
			if (nid > 0 && version_get(db, nid, &nv) == 1) {
				if (nv.applied) {
					printf("the proxy (pid %ld) reloaded: version %lld is live (a copy of version %lld)\n",
					       (long)pid, (long long)nv.id, (long long)id);
					if (deadline > 0) {
						char when[40];

						dpp_store_iso_time(deadline, when, sizeof(when));
						printf("run `" PROG " history confirm` before %s or the proxy reverts to version %lld\n",
						       when, (long long)nv.based_on);
					}
					rc = EX_OK;
				} else {
					fprintf(stderr, PROG ": the proxy refused version %lld:\n%s", (long long)nv.id,
						nv.errors != NULL ? nv.errors : "");
					rc = EX_CONFIG;
				}
				version_free(&nv);
			}
		}
		break;
	}
	if (rc == EX_TEMPFAIL)
		fprintf(stderr, PROG ": the proxy (pid %ld) did not record the reload within 15 s; see its log\n",
			(long)pid);
out:
	sqlite3_close(db);
	return rc;
}


static int history_confirm(struct cli *c, FILE *out, FILE *errf)
{
	sqlite3 *db = NULL;
	struct version live;
	char err[1024], sql[256], when[40];
	int rc = EX_SOFTWARE;
	int64_t now = now_ms();

	memset(&live, 0, sizeof(live));
	if (resolve_db(c) != 0)
		return EX_UNAVAILABLE;
	if (dpp_store_db_open_cli_rw(c->db_path, &db, err, sizeof(err)) != DPP_STORE_OPEN_OK) {
		fprintf(errf, PROG ": %s: %s\n", c->db_path, err);
		return EX_UNAVAILABLE;
	}
	if (version_get(db, 0, &live) != 1 || strcmp(live.state, "pending") != 0) {
		fprintf(errf, PROG ": nothing to confirm: the live version is not waiting for a confirmation\n");
		rc = EX_DATAERR;
		goto out;
	}
	dpp_store_iso_time(live.deadline, when, sizeof(when));
	snprintf(sql, sizeof(sql),
		 "UPDATE config_versions SET confirm_state = 'confirmed' WHERE id = %lld"
		 " AND confirm_state = 'pending' AND confirm_deadline_ms > %lld",
		 (long long)live.id, (long long)now);
	if (dpp_store_exec(db, sql, err, sizeof(err)) != SQLITE_OK) {
		fprintf(errf, PROG ": %s\n", err);
		goto out;
	}
	if (sqlite3_changes(db) != 1) {
		fprintf(errf, PROG ": too late: the deadline of version %lld passed at %s; the proxy reverts it\n",
			(long long)live.id, when);
		rc = EX_DATAERR;
		goto out;
	}
	fprintf(out, "version %lld confirmed: it stays live\n", (long long)live.id);
	rc = EX_OK;
out:
	version_free(&live);
	sqlite3_close(db);
	return rc;
}

static int cmd_history_confirm(struct cli *c)
{
	return history_confirm(c, stdout, stderr);
}

/* ---- the control socket's history commands (store.h) --------------------- */

static cJSON *version_json(const struct version *v, int with_content)
{
	cJSON *o = cJSON_CreateObject();
	char *text = NULL;

	if (o == NULL)
		return NULL;
	cJSON_AddNumberToObject(o, "id", (double)v->id);
	cJSON_AddStringToObject(o, "timestamp", v->when);
	cJSON_AddStringToObject(o, "source", v->source);
	cJSON_AddStringToObject(o, "author", v->author);
	cJSON_AddStringToObject(o, "sha256", v->sha);
	cJSON_AddBoolToObject(o, "applied", v->applied != 0);
	if (v->errors != NULL)
		cJSON_AddStringToObject(o, "errors", v->errors);
	else
		cJSON_AddNullToObject(o, "errors");
	if (v->based_on > 0)
		cJSON_AddNumberToObject(o, "based_on", (double)v->based_on);
	else
		cJSON_AddNullToObject(o, "based_on");
	if (v->rollback_of > 0)
		cJSON_AddNumberToObject(o, "rollback_of", (double)v->rollback_of);
	else
		cJSON_AddNullToObject(o, "rollback_of");
	if (with_content) {
		char state[96];

		state_text(v, state, sizeof(state));
		cJSON_AddStringToObject(o, "state", state);
		if (v->comment != NULL)
			cJSON_AddStringToObject(o, "comment", v->comment);
		if (v->path != NULL)
			cJSON_AddStringToObject(o, "path", v->path);
		text = shown_text(v, 0);
		if (text == NULL || cJSON_AddStringToObject(o, "content", text) == NULL) {
			free(text);
			cJSON_Delete(o);
			return NULL;
		}
		free(text);
	}
	return o;
}

static void set_err(char code[32], char **message, const char *c, const char *msg)
{
	snprintf(code, 32, "%s", c);
	*message = strdup(msg != NULL && msg[0] != '\0' ? msg : "history command failed");
}

static const char *ex_code(int ex)
{
	switch (ex) {
	case EX_USAGE:
		return "bad_request";
	case EX_DATAERR:
		return "not_found";
	case EX_CONFIG:
		return "invalid";
	case EX_TEMPFAIL:
		return "busy";
	default:
		return "internal";
	}
}

int dpp_store_history_ctl(const char *db_path, const char *config_path, const char *cmd,
			  const cJSON *req, const char *author, cJSON *result, char code[32],
			  char **message, int (*reload)(void *arg, char **errors), void *reload_arg)
{
	struct cli c;
	const cJSON *idj = cJSON_GetObjectItemCaseSensitive(req, "id_version");
	sqlite3 *db = NULL;
	char *obuf = NULL, *ebuf = NULL;
	size_t olen = 0, elen = 0;
	FILE *out = NULL, *errf = NULL;
	int rc = -1, ex;

	*message = NULL;
	code[0] = '\0';
	memset(&c, 0, sizeof(c));
	c.store = db_path;
	c.config = config_path;
	snprintf(c.db_path, sizeof(c.db_path), "%s", db_path);
	(void)idj;
	if (strcmp(cmd, "history_list") == 0 || strcmp(cmd, "history_show") == 0) {
		const cJSON *lim = cJSON_GetObjectItemCaseSensitive(req, "limit");
		const cJSON *vid = cJSON_GetObjectItemCaseSensitive(req, "version");
		char err[512];

		if (dpp_store_db_open_cli_rw(db_path, &db, err, sizeof(err)) != DPP_STORE_OPEN_OK) {
			set_err(code, message, "internal", err);
			return -1;
		}
		if (cmd[8] == 'l') {
			long limit = 20;
			sqlite3_stmt *st = NULL;
			cJSON *arr;
			char sql[512];

			if (lim != NULL) {
				if (!cJSON_IsNumber(lim) || lim->valuedouble < 1 || lim->valuedouble > 100000) {
					set_err(code, message, "bad_request", "limit must be 1..100000");
					goto done;
				}
				limit = (long)lim->valuedouble;
			}
			arr = cJSON_AddArrayToObject(result, "versions");
			snprintf(sql, sizeof(sql), "SELECT %s FROM config_versions ORDER BY id DESC LIMIT ?1",
				 version_cols);
			if (arr == NULL || sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
				set_err(code, message, "internal", sqlite3_errmsg(db));
				goto done;
			}
			sqlite3_bind_int64(st, 1, limit);
			while (sqlite3_step(st) == SQLITE_ROW) {
				struct version v;
				cJSON *o;

				version_read(st, &v);
				o = version_json(&v, 0);
				version_free(&v);
				if (o == NULL || !cJSON_AddItemToArray(arr, o)) {
					cJSON_Delete(o);
					break;
				}
			}
			sqlite3_finalize(st);
			rc = 0;
		} else {
			struct version v;
			int found;
			int64_t show_id = 0;
			cJSON *o, *it;

			(void)vid;
			vid = cJSON_GetObjectItemCaseSensitive(req, "version_id");
			if (json_version_id(vid, &show_id) != 0) {
				set_err(code, message, "bad_request", "version_id (a positive integer) is required");
				goto done;
			}
			found = version_get(db, show_id, &v);
			if (found != 1) {
				set_err(code, message, found == 0 ? "not_found" : "internal",
					found == 0 ? "no such config version" : sqlite3_errmsg(db));
				goto done;
			}
			o = version_json(&v, 1);
			version_free(&v);
			if (o == NULL) {
				set_err(code, message, "internal", "out of memory");
				goto done;
			}
			/* Under "entry": its "id" must not clash with the request's. */
			(void)it;
			if (!cJSON_AddItemToObject(result, "entry", o)) {
				cJSON_Delete(o);
				set_err(code, message, "internal", "out of memory");
				goto done;
			}
			rc = 0;
		}
		goto done;
	}
	out = open_memstream(&obuf, &olen);
	errf = open_memstream(&ebuf, &elen);
	if (out == NULL || errf == NULL) {
		set_err(code, message, "internal", "out of memory");
		goto done;
	}
	if (strcmp(cmd, "history_confirm") == 0) {
		ex = history_confirm(&c, out, errf);
		fflush(out);
		fflush(errf);
		if (ex != EX_OK) {
			set_err(code, message, ex == EX_DATAERR ? "conflict" : ex_code(ex), ebuf);
			goto done;
		}
		rc = 0;
		goto done;
	}
	if (strcmp(cmd, "history_rollback") == 0) {
		const cJSON *vid = cJSON_GetObjectItemCaseSensitive(req, "version_id");
		const cJSON *cms = cJSON_GetObjectItemCaseSensitive(req, "confirm_ms");
		const cJSON *com = cJSON_GetObjectItemCaseSensitive(req, "comment");
		int64_t req_id = 0, deadline = 0;
		char sha[65] = "";
		int written = 0;
		long long confirm_s = 0;
		int64_t rb_id = 0;

		if (json_version_id(vid, &rb_id) != 0 ||
		    (cms != NULL && (!cJSON_IsNumber(cms) || cms->valuedouble < 0 ||
				     cms->valuedouble > 31536000000.0)) ||
		    (com != NULL && !cJSON_IsString(com))) {
			set_err(code, message, "bad_request",
				"version_id (a positive integer) is required; confirm_ms a number, "
				"comment a string");
			goto done;
		}
		if (cms != NULL)
			confirm_s = ((long long)cms->valuedouble + 999) / 1000;
		c.comment = com != NULL ? com->valuestring : NULL;
		ex = rollback_write(&c, rb_id, confirm_s, author, out, errf, &db,
				    &req_id, &deadline, sha, &written);
		fflush(out);
		fflush(errf);
		if (ex != EX_OK) {
			set_err(code, message, ex_code(ex), ebuf);
			goto done;
		}
		if (written) {
			char *rerr = NULL;

			if (reload(reload_arg, &rerr) != 0) {
				set_err(code, message, "invalid", rerr);
				free(rerr);
				goto done;
			}
		}
		cJSON_AddStringToObject(result, "version", sha);
		if (deadline > 0)
			cJSON_AddNumberToObject(result, "confirm_deadline_ms", (double)deadline);
		rc = 0;
		goto done;
	}
	set_err(code, message, "unknown_command", "unknown history command");
done:
	if (out != NULL)
		fclose(out);
	if (errf != NULL)
		fclose(errf);
	free(obuf);
	free(ebuf);
	sqlite3_close(db);
	return rc;
}

int dpp_store_cli_is_command(const char *word)
{
	return word != NULL && (strcmp(word, "audit") == 0 || strcmp(word, "history") == 0);
}

int dpp_store_cli_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"store", required_argument, NULL, 'S'},   {"config", required_argument, NULL, 'c'},
		{"since", required_argument, NULL, 1},     {"until", required_argument, NULL, 2},
		{"event", required_argument, NULL, 3},     {"rule", required_argument, NULL, 4},
		{"ip", required_argument, NULL, 5},        {"identity", required_argument, NULL, 6},
		{"role", required_argument, NULL, 7},      {"path", required_argument, NULL, 8},
		{"limit", required_argument, NULL, 9},     {"json", no_argument, NULL, 10},
		{"reveal", no_argument, NULL, 11},         {"confirm", required_argument, NULL, 12},
		{"comment", required_argument, NULL, 13},  {"help", no_argument, NULL, 'h'},
		{"control-socket", required_argument, NULL, 14},
		{NULL, 0, NULL, 0},
	};
	struct cli c;
	const char *cmd = argv[0];
	int opt, audit = strcmp(cmd, "audit") == 0;
	char **pos;
	int npos;

	memset(&c, 0, sizeof(c));
	c.limit = audit ? 100 : 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'S': c.store = optarg; break;
		case 'c': c.config = optarg; break;
		case 1: c.since = optarg; break;
		case 2: c.until = optarg; break;
		case 3: c.event = optarg; break;
		case 4: c.rule = optarg; break;
		case 5: c.ip = optarg; break;
		case 6: c.identity = optarg; break;
		case 7: c.role = optarg; break;
		case 8: c.path = optarg; break;
		case 9: {
			char *end = NULL;

			c.limit = strtol(optarg, &end, 10);
			if (end == optarg || *end != '\0' || c.limit < 0) {
				fprintf(stderr, PROG ": --limit: a number (0: no limit)\n");
				return EX_USAGE;
			}
			break;
		}
		case 10: c.json = 1; break;
		case 11: c.reveal = 1; break;
		case 12: c.confirm = optarg; break;
		case 13: c.comment = optarg; break;
		case 14: c.control_socket = optarg; break;
		case 'h':
			cli_usage(stdout);
			return EX_OK;
		default:
			cli_usage(stderr);
			return EX_USAGE;
		}
	}
	pos = argv + optind;
	npos = argc - optind;
	if (audit) {
		if (npos != 0) {
			fprintf(stderr, PROG ": audit: unexpected argument '%s'\n", pos[0]);
			return EX_USAGE;
		}
		return cmd_audit(&c);
	}
	if (npos == 0 || strcmp(pos[0], "list") == 0)
		return npos <= 1 ? cmd_history_list(&c) : EX_USAGE;
	if (strcmp(pos[0], "show") == 0 && npos == 2)
		return cmd_history_show(&c, pos[1]);
	if (strcmp(pos[0], "diff") == 0 && (npos == 2 || npos == 3))
		return cmd_history_diff(&c, pos[1], npos == 3 ? pos[2] : NULL);
	if (strcmp(pos[0], "rollback") == 0 && npos == 2)
		return cmd_history_rollback(&c, pos[1]);
	if (strcmp(pos[0], "confirm") == 0 && npos == 1)
		return cmd_history_confirm(&c);
	cli_usage(stderr);
	return EX_USAGE;
}
