/* Validating and saving the wizard's file: the real loader and policy
 * compiler judge it first; then temp file (0600), fsync, rename, fsync of
 * the directory, the old file kept as .bak; then config history. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dpp/config.h"
#include "dpp/runtime.h"
#include "dpp/tls.h"
#include "setup_model.h"

__attribute__((format(printf, 2, 3))) static int set_error(char **errors, const char *fmt, ...)
{
	va_list ap;

	free(*errors);
	va_start(ap, fmt);
	if (vasprintf(errors, fmt, ap) < 0)
		*errors = NULL;
	va_end(ap);
	return -1;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The directory part of path (".": none) into out. */
static void dir_of(const char *path, char *out, size_t len)
{
	char tmp[1024];

	snprintf(tmp, sizeof(tmp), "%s", path);
	snprintf(out, len, "%s", dirname(tmp));
}

/* Writes yaml to a new temp file beside path; returns its fd (name in tmp). */
static int write_temp(const char *path, const char *yaml, char *tmp, size_t len, char **errors)
{
	int fd, n;

	n = snprintf(tmp, len, "%s.tmp.XXXXXX", path);
	if (n < 0 || (size_t)n >= len) {
		set_error(errors, "%s: path too long", path);
		return -1;
	}
	fd = mkstemp(tmp); /* mode 0600 */
	if (fd < 0) {
		set_error(errors, "cannot create a file beside %s: %s", path, strerror(errno));
		return -1;
	}
	if (fchmod(fd, 0600) != 0 || write_all(fd, yaml, strlen(yaml)) != 0 || fsync(fd) != 0) {
		set_error(errors, "cannot write %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	return fd;
}

/* The loader reads ${ENV}: give it the generated values for the check. */
static void tokens_env(const struct setup_answers *a, int set)
{
	if (!a->token_env)
		return;
	for (int i = 0; i < a->ntokens; i++) {
		const char *name = a->auth == SETUP_AUTH_SECRET ? "DOCKER_PROXY_SECRET" : a->tokens[i].env;

		if (set)
			setenv(name, a->tokens[i].value, 1);
		else
			unsetenv(name);
		if (a->auth == SETUP_AUTH_SECRET)
			break;
	}
}

/* Loads the file at path as the proxy would at start-up. */
static int validate_file(const struct setup_answers *a, const char *path, char **errors)
{
	struct dpp_config_flags flags = {.config_path = path};
	struct dpp_config *cfg = NULL;
	struct dpp_runtime *rt = NULL;
	struct dpp_tls_creds *creds = NULL;
	struct dpp_settings eff;
	char *warnings = NULL, *tls_err = NULL;
	char *saved_secret = NULL;
	int rc = -1;

	/* The running environment must not change the verdict on the file. */
	if (getenv("DOCKER_PROXY_SECRET") != NULL)
		saved_secret = strdup(getenv("DOCKER_PROXY_SECRET"));
	unsetenv("DOCKER_PROXY_SECRET");
	tokens_env(a, 1);
	*errors = NULL;
	if (dpp_config_load(&flags, &cfg, errors) != 0)
		goto out;
	eff = *dpp_config_settings(cfg);
	if (eff.socket[0] == '\0')
		snprintf(eff.socket, sizeof(eff.socket), "/var/run/docker.sock");
	if (dpp_runtime_build(cfg, &eff, &rt, errors, &warnings) != 0)
		goto out;
	if (eff.tls_cert[0] != '\0') {
		struct dpp_tls_options o = {
			.cert = eff.tls_cert,
			.key = eff.tls_key,
			.client_ca = eff.tls_client_ca[0] != '\0' ? eff.tls_client_ca : NULL,
			.require_client_cert = eff.tls_require_client_cert,
		};

		if (dpp_tls_creds_load(&o, &creds, &tls_err) != 0) {
			set_error(errors, "global.tls: %s", tls_err != NULL ? tls_err : "cannot load");
			goto out;
		}
	}
	rc = 0;
out:
	tokens_env(a, 0);
	if (saved_secret != NULL) {
		setenv("DOCKER_PROXY_SECRET", saved_secret, 1);
		free(saved_secret);
	}
	if (rc != 0 && *errors == NULL)
		set_error(errors, "the configuration was refused");
	free(warnings);
	free(tls_err);
	dpp_tls_creds_unref(creds);
	dpp_runtime_unref(rt);
	dpp_config_free(cfg);
	return rc;
}

int setup_validate(const struct setup_answers *a, const char *yaml, char **errors)
{
	char tmp[1100], dir[1024], probe[1100];
	int fd, rc;

	*errors = NULL;
	/* Beside the target when that directory exists (relative TLS paths
	 * resolve the same), else in /tmp. */
	dir_of(a->output, dir, sizeof(dir));
	snprintf(probe, sizeof(probe), "%s/.dpp-setup-check", dir);
	if (access(dir, W_OK) != 0)
		snprintf(probe, sizeof(probe), "/tmp/dpp-setup-check");
	fd = write_temp(probe, yaml, tmp, sizeof(tmp), errors);
	if (fd < 0)
		return -1;
	close(fd);
	rc = validate_file(a, tmp, errors);
	unlink(tmp);
	return rc;
}

/* Under the package's directory (root:docker-policy-proxy 0750), a file
 * written by root is given to the service user, mode 0600 kept: the
 * service must read it, nobody else may. */
static void give_to_service(int fd, const char *dir)
{
	struct passwd *pw;
	struct stat st;

	if (geteuid() != 0 || stat(dir, &st) != 0 || st.st_gid == 0)
		return;
	pw = getpwnam(SETUP_SERVICE_USER);
	if (pw == NULL || pw->pw_gid != st.st_gid)
		return;
	if (fchown(fd, pw->pw_uid, pw->pw_gid) != 0) {
		/* Stays root's: the service cannot read it, --check-config says so. */
	}
}

/* Keeps the existing file as PATH.bak: a second name for the same inode,
 * so the rename below never leaves a moment without a config. */
static int keep_backup(const char *path, char **errors)
{
	char bak[1100];

	snprintf(bak, sizeof(bak), "%s.bak", path);
	if (unlink(bak) != 0 && errno != ENOENT)
		return set_error(errors, "cannot replace %s: %s", bak, strerror(errno));
	if (link(path, bak) != 0)
		return set_error(errors, "cannot keep the old file as %s: %s", bak, strerror(errno));
	return 0;
}

int setup_save(const struct setup_answers *a, const char *yaml, char **errors, char **note)
{
	char tmp[1100], dir[1024];
	struct stat st;
	int fd = -1, dfd, exists;

	*errors = NULL;
	*note = NULL;
	if (setup_validate(a, yaml, errors) != 0)
		return -1;
	exists = lstat(a->output, &st) == 0;
	if (exists && !S_ISREG(st.st_mode))
		return set_error(errors, "%s exists and is not a regular file: not replaced",
				 a->output);
	if (exists && !a->force)
		return 1;
	dir_of(a->output, dir, sizeof(dir));
	fd = write_temp(a->output, yaml, tmp, sizeof(tmp), errors);
	if (fd < 0)
		return -1;
	give_to_service(fd, dir);
	close(fd);
	if (exists && keep_backup(a->output, errors) != 0)
		goto fail;
	if (rename(tmp, a->output) != 0) {
		set_error(errors, "cannot rename the new file to %s: %s", a->output, strerror(errno));
		goto fail;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd); /* the rename itself survives a crash */
		close(dfd);
	}
	(void)setup_record_version(setup_store_path(a), a->output, yaml, note);
	return 0;
fail:
	unlink(tmp);
	return -1;
}
