/* Control socket path resolution for clients (ctlsock.h). */
#include "ctlsock.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dpp/config.h"
#include "store.h"

static int is_socket(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

int dpp_ctlsock_resolve(const char *flag_path, const char *config_path, char *out, size_t len,
			char *msg, size_t msglen)
{
	struct dpp_config_flags flags;
	struct dpp_config *cfg = NULL;
	struct dpp_settings none;
	const struct dpp_settings *s = &none;
	char store[4096];
	const char *cfg_path, *slash;
	int required, n, rc = 0;

	if (msglen > 0)
		msg[0] = '\0';
	if (flag_path != NULL)
		return snprintf(out, len, "%s", flag_path) < (int)len ? 0 : -1;
	memset(&flags, 0, sizeof(flags));
	memset(&none, 0, sizeof(none));
	flags.config_path = config_path;
	cfg_path = dpp_config_pick_path(&flags, &required);
	if (dpp_config_load(&flags, &cfg, NULL) == 0) {
		s = dpp_config_settings(cfg);
		cfg_path = dpp_config_path(cfg);
	}
	if (s->control_socket_source != DPP_SOURCE_DEFAULT) {
		if (s->control_socket[0] == '\0') {
			snprintf(msg, msglen, "the control socket is off in %s (global.control_socket: \"\")",
				 cfg_path != NULL ? cfg_path : "the configuration");
			rc = 1;
			goto cleanup;
		}
		n = snprintf(out, len, "%s", s->control_socket);
		rc = n < (int)len ? 0 : -1;
		goto cleanup;
	}
	if (geteuid() == 0) {
		n = snprintf(out, len, "%s", DPP_CTLSOCK_ROOT_DEFAULT);
		rc = n < (int)len ? 0 : -1;
		goto cleanup;
	}
	/* As the daemon does (main.c): where the store would be when it is off. */
	if (!dpp_store_resolve_path(s, cfg_path, store, sizeof(store))) {
		struct dpp_settings d = *s;

		d.store_path_source = DPP_SOURCE_DEFAULT;
		dpp_store_resolve_path(&d, cfg_path, store, sizeof(store));
	}
	slash = strrchr(store, '/');
	if (slash == NULL)
		n = snprintf(out, len, "control.sock");
	else
		n = snprintf(out, len, "%.*s/control.sock", (int)(slash - store), store);
	rc = n < (int)len ? 0 : -1;
	if (rc == 0 && !is_socket(out) && is_socket(DPP_CTLSOCK_ROOT_DEFAULT))
		snprintf(out, len, "%s", DPP_CTLSOCK_ROOT_DEFAULT);
cleanup:
	dpp_config_free(cfg);
	return rc;
}
