/* Compiling a ruleset from the `rules` section of the configuration file.
 * Internal to the proxy core: the config module owns the yaml_document_t. */
#ifndef DPP_RULES_YAML_H
#define DPP_RULES_YAML_H

#include <yaml.h>

#include "dpp/policy.h"

#define DPP_RULES_MAX 10000     /* rules per ruleset */
#define DPP_RULES_DEPTH_MAX 32  /* nesting of and/or/not groups */
#define DPP_RULES_ERRORS_MAX 100 /* errors reported before giving up listing */

/* Compiles rules_node (a sequence of rule mappings in doc; NULL or a null
 * scalar means "no rules") into a new ruleset with reference count 1 and
 * default verdict allow. The document is only read and may be freed after the
 * call. `file` names the configuration in messages.
 *
 * All errors are collected, one per line,
 *   "FILE:LINE:COL: rules[3].conditions[1].value: message"
 * (LINE and COL 1-based, from the node's start mark; rule indexes 0-based),
 * into *errors (malloc'd, caller frees; NULL when there are none; at most
 * DPP_RULES_ERRORS_MAX lines plus a last line saying more were dropped).
 * Returns 0 and *out (caller owns one reference), or -1 with *out = NULL.
 * Allocation failure is reported as an error line too (when possible).
 * Thread-safe (no globals). */
int dpp_ruleset_compile(yaml_document_t *doc, yaml_node_t *rules_node, const char *file,
			struct dpp_ruleset **out, char **errors);

#endif
