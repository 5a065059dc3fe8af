#include "dpp/event.h"

#include <stddef.h>

static const char *const kind_names[] = {
	[DPP_EVENT_REQUEST] = "request",
	[DPP_EVENT_DENY] = "deny",
	[DPP_EVENT_DRY_RUN] = "dry_run",
	[DPP_EVENT_AUTH_FAILURE] = "auth_failure",
	[DPP_EVENT_LOCKOUT] = "lockout",
	[DPP_EVENT_RATE_LIMITED] = "rate_limited",
	[DPP_EVENT_ERROR] = "error",
	[DPP_EVENT_STREAM_OPEN] = "stream_open",
	[DPP_EVENT_STREAM_CLOSE] = "stream_close",
};

const char *dpp_event_kind_name(enum dpp_event_kind kind)
{
	if ((int)kind < 0 || (size_t)kind >= sizeof(kind_names) / sizeof(kind_names[0]) ||
	    kind_names[kind] == NULL)
		return "unknown";
	return kind_names[kind];
}
