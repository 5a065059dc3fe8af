/* Internal helpers shared by the modules that read the kept YAML document
 * (config, auth, rules). */
#ifndef DPP_YAML_UTIL_H
#define DPP_YAML_UTIL_H

#include <yaml.h>

/* 1 for an absent node or a plain null scalar ("", "~", "null", "Null",
 * "NULL": YAML 1.2 core schema); quoted scalars are strings, never null. */
int dpp_yaml_is_null(const yaml_node_t *n);

/* "[i]" for node paths in messages, written at the end of num (24 bytes,
 * the caller's) without printf: a large file has tens of thousands of
 * paths. Returns the start of the text inside num (NUL-terminated). */
const char *dpp_yaml_index_text(size_t i, char num[24]);

#endif
