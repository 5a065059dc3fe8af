/* libFuzzer target for the control socket's request-line parsing
 * (src/ctl/proto.c, docs/control.md): the bytes a peer sends, fed to the
 * bounded NDJSON reader in uneven chunks; every line is parsed as the
 * daemon does (the hello first, then the request envelope and a
 * subscribe's kinds), and decoded as every object the client reads
 * (event, status, snapshot, hello answer, error, log, dropped, bye).
 * Build and run: tests/fuzz/build_ctl.sh [SECONDS].
 *
 * Checks, besides "no crash, no leak, no UB":
 *   - a decoded object re-encodes to a line that parses and decodes to the
 *     same struct (events, status), i.e. encode/decode are inverse on
 *     everything decode accepts;
 *   - every encoded line is one line (no raw '\n') and valid JSON;
 *   - the reader never returns a line longer than its bound. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LINE_MAX_FUZZ 2048

static cJSON *wire(cJSON *obj)
{
	size_t len = 0;
	char *line = dpp_proto_print(obj, &len);
	cJSON *back;

	cJSON_Delete(obj);
	if (line == NULL)
		return NULL;
	if (len == 0 || line[len - 1] != '\n' || memchr(line, '\n', len - 1) != NULL)
		abort();
	back = dpp_proto_parse(line, len - 1);
	if (back == NULL)
		abort(); /* we printed something we cannot read */
	free(line);
	return back;
}

static void decode_all(const cJSON *o)
{
	struct dpp_event ev, ev2;
	struct dpp_control_status st, st2;
	struct dpp_control_snapshot snap;
	struct dpp_proto_sub *subs = NULL;
	struct dpp_proto_hello_reply hr;
	size_t n_subs = 0;
	char code[32], buf[64];
	char *msg = NULL;
	enum dpp_log_level lvl;
	uint64_t u;
	long pid = 0;
	const cJSON *it;

	if ((it = cJSON_GetObjectItemCaseSensitive(o, "event")) != NULL &&
	    dpp_proto_event_from_json(it, &ev) == 0) {
		cJSON *back = wire(dpp_proto_event_to_json(&ev));

		if (back != NULL) {
			if (dpp_proto_event_from_json(back, &ev2) != 0 || memcmp(&ev, &ev2, sizeof(ev)) != 0)
				abort();
			cJSON_Delete(back);
		}
	}
	if ((it = cJSON_GetObjectItemCaseSensitive(o, "status")) != NULL &&
	    dpp_proto_status_from_json(it, &st, &pid) == 0) {
		cJSON *back = wire(dpp_proto_status_to_json(&st, pid));

		if (back != NULL) {
			if (dpp_proto_status_from_json(back, &st2, NULL) != 0 ||
			    memcmp(&st, &st2, sizeof(st)) != 0)
				abort();
			cJSON_Delete(back);
		}
	}
	if (dpp_proto_snapshot_from_json(o, &snap, &subs, &n_subs) == 0) {
		cJSON *again = cJSON_CreateObject();

		if (again != NULL && dpp_proto_snapshot_add(again, &snap, subs, n_subs) == 0)
			cJSON_Delete(wire(again));
		else
			cJSON_Delete(again);
		dpp_proto_snapshot_clear(&snap);
		free(subs);
	}
	(void)dpp_proto_hello_reply_from_json(o, &hr);
	if (dpp_proto_error_from_json(cJSON_GetObjectItemCaseSensitive(o, "error"), code,
				      sizeof(code), &msg) == 0)
		free(msg);
	(void)dpp_proto_log_from_json(cJSON_GetObjectItemCaseSensitive(o, "log"), &lvl, buf,
				      sizeof(buf));
	(void)dpp_proto_dropped_from_json(cJSON_GetObjectItemCaseSensitive(o, "dropped"), &u);
	(void)dpp_proto_bye_from_json(cJSON_GetObjectItemCaseSensitive(o, "bye"), buf, sizeof(buf));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dpp_proto_reader r;
	size_t off = 0, chunk = 1;
	int first = 1;

	dpp_proto_reader_init(&r, LINE_MAX_FUZZ);
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;
		char *line;
		size_t len;
		int rc;

		if (dpp_proto_reader_feed(&r, data + off, n) != 0)
			break;
		off += n;
		chunk = chunk * 3 + 1; /* uneven chunk sizes: lines split anywhere */
		while ((rc = dpp_proto_reader_next(&r, &line, &len)) == 1) {
			cJSON *o;

			if (len > LINE_MAX_FUZZ || strlen(line) > len)
				abort();
			o = dpp_proto_parse(line, len);
			if (o == NULL)
				continue;
			if (first) {
				struct dpp_proto_hello h;

				first = 0;
				if (dpp_proto_hello_from_json(o, &h) == 0)
					cJSON_Delete(wire(dpp_proto_hello_to_json(&h)));
			} else {
				int64_t id;
				char cmd[32];
				uint32_t mask;

				if (dpp_proto_request_parse(o, &id, cmd, sizeof(cmd)) == 0 &&
				    (strlen(cmd) == 0 || strlen(cmd) > 31))
					abort();
				(void)dpp_proto_kinds_parse(cJSON_GetObjectItemCaseSensitive(o, "kinds"), &mask);
				cJSON_Delete(wire(dpp_proto_response(id, NULL)));
			}
			decode_all(o);
			cJSON_Delete(o);
		}
		if (rc < 0)
			break; /* the daemon closes here */
	}
	dpp_proto_reader_free(&r);
	return 0;
}
