/* libFuzzer target for the audit record encoder (dpp_audit_format_record,
 * src/proxy/audit.c). Build and run: tests/fuzz/build_audit.sh [SECONDS].
 *
 * The input fills a struct dpp_event: fixed-size numbers first, then the
 * string fields in declaration order, each up to the next 0xff byte
 * (truncated to its array, NUL-terminated: bytes are arbitrary, invalid
 * UTF-8, controls and quotes included, as a hostile client can send them in
 * the path or User-Agent). Checks, besides "no crash, no leak":
 *   - the record is one line (no raw LF or CR: JSONL readers split on them);
 *   - it is valid JSON, an object whose "event" is the kind's name and whose
 *     "method", "path" and "user_agent" are strings (or null / "-" when
 *     empty), and "status" a number. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "dpp/audit.h"
#include "dpp/event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t take(const uint8_t *data, size_t size, size_t pos, char *dst, size_t cap)
{
	size_t n = 0;

	while (pos < size && data[pos] != 0xff) {
		if (n + 1 < cap && data[pos] != '\0')
			dst[n++] = (char)data[pos];
		pos++;
	}
	dst[n] = '\0';
	return pos < size ? pos + 1 : pos;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dpp_event ev;
	size_t pos = 0;
	char *text;
	cJSON *o;
	const cJSON *j;

	memset(&ev, 0, sizeof(ev));
	if (size >= 8 + 8 + 1 + 2 + 4) {
		memcpy(&ev.id, data, 8);
		memcpy(&ev.time_ms, data + 8, 8);
		ev.kind = (enum dpp_event_kind)(data[16] % (DPP_EVENT_ERROR + 1));
		ev.status = data[17] | (data[18] << 8);
		ev.dry_run = data[17] & 1;
		memcpy(&ev.duration_ms, data + 19, 4);
		pos = 23;
	}
	pos = take(data, size, pos, ev.method, sizeof(ev.method));
	pos = take(data, size, pos, ev.path, sizeof(ev.path));
	pos = take(data, size, pos, ev.peer_ip, sizeof(ev.peer_ip));
	pos = take(data, size, pos, ev.client_ip, sizeof(ev.client_ip));
	pos = take(data, size, pos, ev.user_agent, sizeof(ev.user_agent));
	pos = take(data, size, pos, ev.identity, sizeof(ev.identity));
	pos = take(data, size, pos, ev.user_role, sizeof(ev.user_role));
	pos = take(data, size, pos, ev.rule_name, sizeof(ev.rule_name));
	pos = take(data, size, pos, ev.rule_action, sizeof(ev.rule_action));
	(void)take(data, size, pos, ev.message, sizeof(ev.message));

	text = dpp_audit_format_record(&ev);
	if (text == NULL)
		return 0; /* out of memory */
	if (strchr(text, '\n') != NULL || strchr(text, '\r') != NULL) {
		fprintf(stderr, "record spans lines: %s\n", text);
		abort();
	}
	o = cJSON_Parse(text);
	if (!cJSON_IsObject(o)) {
		fprintf(stderr, "record is not a JSON object: %s\n", text);
		abort();
	}
	j = cJSON_GetObjectItemCaseSensitive(o, "event");
	if (!cJSON_IsString(j) || strcmp(j->valuestring, dpp_event_kind_name(ev.kind)) != 0)
		abort();
	j = cJSON_GetObjectItemCaseSensitive(o, "method");
	if (!(cJSON_IsString(j) || (ev.method[0] == '\0' && cJSON_IsNull(j))))
		abort();
	j = cJSON_GetObjectItemCaseSensitive(o, "path");
	if (!(cJSON_IsString(j) || (ev.path[0] == '\0' && cJSON_IsNull(j))))
		abort();
	j = cJSON_GetObjectItemCaseSensitive(o, "user_agent");
	if (!cJSON_IsString(j))
		abort();
	if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, "status")))
		abort();
	cJSON_Delete(o);
	free(text);
	return 0;
}
