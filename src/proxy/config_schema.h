/* Internal: the schema row as the loader sees it, and a loader entry point
 * that takes a schema, so tests can exercise row kinds that the built-in
 * table does not use yet (lists, nested mappings, booleans). */
#ifndef DPP_CONFIG_SCHEMA_H
#define DPP_CONFIG_SCHEMA_H

#include <stddef.h>

#include "dpp/config.h"

#define DPP_CONFIG_NO_FIELD ((size_t)-1)

/* Extra check of a string value (len bytes, NUL-terminated, no embedded NUL).
 * Returns 0, or -1 with *why set to a static "must be ..." text. */
typedef int (*dpp_config_check_fn)(const char *value, size_t len, const char **why);

struct dpp_config_row {
	struct dpp_config_key k;
	dpp_config_check_fn check; /* STRING (and LIST of STRING) only; may be NULL */
	size_t off;                /* offsetof in struct dpp_settings, or NO_FIELD */
	size_t size;               /* STRING: sizeof the char array (limit + NUL) */
	size_t src_off;            /* offsetof an enum dpp_source member, or NO_FIELD */
};

/* dpp_config_load with an explicit schema (rows[0..n), borrowed for the
 * lifetime of the config). Fields: INT, ENUM and BOOL store an int (or an
 * int-sized enum), STRING a char[size]. MAPPING, LIST and OPAQUE rows store
 * nothing: read them with dpp_config_node. Flags map onto the rows whose key
 * is global.bind, global.port, global.socket and global.log_level. */
int dpp_config_load_schema(const struct dpp_config_row *rows, size_t n,
			   const struct dpp_config_flags *flags, struct dpp_config **out,
			   char **errors);

#endif
