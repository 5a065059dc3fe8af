/* Config history for the wizard's saves, through the store's own API
 * (src/store: dpp_store_db_open creates or migrates the file,
 * sw_record_version writes the config_versions row). The version is
 * recorded with source "setup" as the live one: it is the file the proxy
 * will run, and when the proxy loads it, the same SHA-256 adds no row. The
 * store is the one the saved file names (global.store.path), resolved as
 * the proxy resolves it. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "db.h"
#include "dpp/config.h"
#include "setup_model.h"
#include "store.h"
#include "writer.h"

__attribute__((format(printf, 2, 3))) static int say(char **note, const char *fmt, ...)
{
	va_list ap;

	free(*note);
	va_start(ap, fmt);
	if (vasprintf(note, fmt, ap) < 0)
		*note = NULL;
	va_end(ap);
	return 0;
}

/* As root, a new store file in a directory the service user owns (its
 * StateDirectory) goes to that user, or the service could not open it. */
static void give_to_dir_owner(const char *db_path)
{
	char dir[PATH_MAX], side[PATH_MAX + 8];
	const char *slash = strrchr(db_path, '/');
	struct stat st;

	if (geteuid() != 0 || slash == NULL)
		return;
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - db_path), db_path);
	if (stat(dir[0] != '\0' ? dir : "/", &st) != 0 || st.st_uid == 0)
		return;
	if (chown(db_path, st.st_uid, st.st_gid) != 0)
		return;
	for (int i = 0; i < 2; i++) {
		snprintf(side, sizeof(side), "%s%s", db_path, i ? "-shm" : "-wal");
		if (access(side, F_OK) == 0 && chown(side, st.st_uid, st.st_gid) != 0)
			return;
	}
}

int setup_record_version(const char *store_path, const char *config_path, const char *yaml,
			 char **note)
{
	struct dpp_config_flags flags = {.config_path = config_path};
	struct dpp_config *cfg = NULL;
	struct store_writer *w = NULL;
	struct sw_version v = {0};
	struct timespec now;
	sqlite3 *db = NULL;
	char path[PATH_MAX], abs_cfg[PATH_MAX], err[512];
	int64_t id;
	int rc = -1;

	*note = NULL;
	if (realpath(config_path, abs_cfg) == NULL)
		snprintf(abs_cfg, sizeof(abs_cfg), "%s", config_path);
	if (store_path != NULL && store_path[0] != '\0') {
		snprintf(path, sizeof(path), "%s", store_path);
	} else {
		if (dpp_config_load(&flags, &cfg, NULL) != 0) {
			say(note, "config history: %s does not load here; not recorded", config_path);
			goto out;
		}
		if (!dpp_store_resolve_path(dpp_config_settings(cfg), abs_cfg, path, sizeof(path))) {
			say(note, "config history: the store is off (global.store.path \"\"); not recorded");
			rc = 0;
			goto out;
		}
	}
	if (dpp_store_db_open(path, 0, &db, err, sizeof(err)) != DPP_STORE_OPEN_OK) {
		say(note, "config history: cannot open the store %s: %s; not recorded", path, err);
		goto out;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL || sw_init(w, db, 16, err, sizeof(err)) != 0) {
		say(note, "config history: %s: %s; not recorded", path, w != NULL ? err : "out of memory");
		free(w);
		w = NULL;
		goto out;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	v.origin = (char *)"setup";
	v.path = abs_cfg;
	v.text = (char *)yaml;
	v.len = strlen(yaml);
	v.applied = 1;
	v.time_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	id = sw_record_version(w, &v);
	if (id < 0) {
		say(note, "config history: writing %s failed (%s); not recorded", path,
		    sqlite3_errstr((int)-id));
		goto out;
	}
	if (id == 0)
		say(note, "config history: %s already holds this version", path);
	else
		say(note, "config history: version %lld (source setup) in %s", (long long)id, path);
	rc = 0;
out:
	if (w != NULL) {
		sw_done(w);
		free(w);
	}
	if (db != NULL) {
		sqlite3_close(db);
		give_to_dir_owner(path);
	}
	dpp_config_free(cfg);
	return rc;
}
