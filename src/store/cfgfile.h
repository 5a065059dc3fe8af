/* Config files for history rollback and the confirm-deadline revert. */
#ifndef DPP_STORE_CFGFILE_H
#define DPP_STORE_CFGFILE_H

#include <stddef.h>

/* Replaces `path` with text[0..len) atomically: a temporary file in the same
 * directory (mode and owner of the old file, 0600 when there was none),
 * fsync, rename(2) over the old name, fsync of the directory. Returns 0, or
 * -1 with err filled (the old file is untouched). */
int dpp_store_write_file_atomic(const char *path, const char *text, size_t len, char *err,
				size_t errlen);

/* Reads a whole file (at most 1 MiB, like the config loader) into *text
 * (malloc'd, NUL-terminated; caller frees). Returns 0, or -1 with errno. */
int dpp_store_read_file(const char *path, char **text, size_t *len);

#endif
