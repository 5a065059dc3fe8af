/* Atomic replacement of the config file (temp file, fsync, rename). */
#include "cfgfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_BYTES (1024 * 1024)

int dpp_store_read_file(const char *path, char **text, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	*text = NULL;
	*len = 0;
	if (f == NULL)
		return -1;
	buf = malloc(MAX_BYTES + 1);
	if (buf == NULL) {
		fclose(f);
		errno = ENOMEM;
		return -1;
	}
	n = fread(buf, 1, MAX_BYTES + 1, f);
	if (ferror(f) || n > MAX_BYTES) {
		free(buf);
		fclose(f);
		errno = n > MAX_BYTES ? EFBIG : EIO;
		return -1;
	}
	fclose(f);
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return 0;
}

int dpp_store_write_file_atomic(const char *path, const char *text, size_t len, char *err,
				size_t errlen)
{
	char tmp[8300], dir[4096], real[4096];
	const char *slash;
	struct stat st;
	mode_t mode = 0600;
	int have_old, fd = -1, dfd;
	size_t off = 0;

	/* A symlinked file keeps its link: the file it points to is replaced. */
	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
		char *r = realpath(path, NULL);

		if (r == NULL || snprintf(real, sizeof(real), "%s", r) >= (int)sizeof(real)) {
			snprintf(err, errlen, "cannot follow the symlink %s: %s", path,
				 r == NULL ? strerror(errno) : "path too long");
			free(r);
			return -1;
		}
		free(r);
		path = real;
	}
	slash = strrchr(path, '/');
	have_old = stat(path, &st) == 0;

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (have_old)
		mode = st.st_mode & 07777;
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp-%ld", dir, slash != NULL ? slash + 1 : path,
		 (long)getpid());
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		return -1;
	}
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
			goto fail;
		}
		off += (size_t)w;
	}
	if (have_old && fchown(fd, st.st_uid, st.st_gid) != 0 && errno != EPERM) {
		snprintf(err, errlen, "cannot keep the owner of %s: %s", path, strerror(errno));
		goto fail;
	}
	if (fchmod(fd, mode) != 0 || fsync(fd) != 0) {
		snprintf(err, errlen, "cannot finish %s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		snprintf(err, errlen, "cannot finish %s: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "cannot replace %s: %s", path, strerror(errno));
		goto fail;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd); /* the rename is durable once the directory is */
		close(dfd);
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}
