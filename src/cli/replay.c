/* `explain --replay`. The request history lives in the SQLite store
 * (src/store, `audit_events` with `requests: all`), which this build does not
 * have yet: until it is merged, --replay says so and fails (EX_UNAVAILABLE)
 * instead of pretending that no decision changes. */
#include "replay.h"

#include <stdio.h>
#include <sysexits.h>

int dpp_cli_replay(const char *config_path, const char *since, const char *store_path,
		   int json)
{
	(void)config_path;
	(void)since;
	(void)store_path;
	(void)json;
	fprintf(stderr, "docker-policy-proxy explain --replay: this build has no request store "
			"(src/store); nothing to replay\n");
	return EX_UNAVAILABLE;
}
