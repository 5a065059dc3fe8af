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

/* The run directory is the daemon's when it may create entries there: as
 * root, or as a service user whose RuntimeDirectory= systemd made. */
static int run_dir_usable(void)
{
	struct stat st;

	if (geteuid() == 0)
		return 1;
	return stat(DPP_CTLSOCK_RUN_DIR, &st) == 0 && S_ISDIR(st.st_mode) &&
	       access(DPP_CTLSOCK_RUN_DIR, W_OK | X_OK) == 0;
}

int dpp_ctlsock_default(const struct dpp_settings *s, const char *cfg_path, int daemon, char *out,
			size_t len)
{
	char store[4096];
	const char *slash;
	int n;

	if (daemon ? run_dir_usable() : geteuid() == 0)
		return snprintf(out, len, "%s", DPP_CTLSOCK_ROOT_DEFAULT) < (int)len ? 0 : -1;
	/* Where the store would be when it is off. */
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
	if (n >= (int)len)
		return -1;
	/* A user's own daemon beside its store first, then the service's. */
	if (!daemon && !is_socket(out) && is_socket(DPP_CTLSOCK_ROOT_DEFAULT))
		snprintf(out, len, "%s", DPP_CTLSOCK_ROOT_DEFAULT);
	return 0;
}

int dpp_ctlsock_resolve(const char *flag_path, const char *config_path, char *out, size_t len,
			char *msg, size_t msglen)
{
	struct dpp_config_flags flags;
	struct dpp_config *cfg = NULL;
	struct dpp_settings none;
	const struct dpp_settings *s = &none;
	const char *cfg_path;
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
	rc = dpp_ctlsock_default(s, cfg_path, 0, out, len);
cleanup:
	dpp_config_free(cfg);
	return rc;
}
