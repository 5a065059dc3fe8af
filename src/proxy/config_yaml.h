/* Internal: the YAML document kept by the config module, for modules that
 * read their own sections (the policy engine reads `auth` and `rules`).
 *
 * Borrowing: every pointer returned here points into the document owned by
 * the struct dpp_config and stays valid exactly as long as that config lives
 * (until dpp_config_free). The config is immutable once loaded: callers must
 * not modify the nodes, so several threads may read the same document.
 * The document is the file after ${VAR} interpolation: every scalar (keys
 * included) already carries its final value, and the node marks are those of
 * the file (0-based in libyaml; add 1 for messages). Duplicate keys have been
 * rejected in every mapping, including those inside auth and rules. */
#ifndef DPP_CONFIG_YAML_H
#define DPP_CONFIG_YAML_H

#include <yaml.h>

#include "dpp/config.h"

/* The whole document, or NULL when no file was read (running on defaults).
 * Use dpp_config_yaml_node to follow node ids: libyaml's accessors take a
 * non-const document. */
const yaml_document_t *dpp_config_yaml(const struct dpp_config *cfg);

/* Node `id` (as stored in pairs and items) of the kept document, or NULL when
 * out of range or there is no document. */
yaml_node_t *dpp_config_yaml_node(const struct dpp_config *cfg, int id);

/* A top-level section ("auth", "rules", "global") as written, whatever its
 * shape; NULL if absent, null (`auth:`, `auth: null`: "not set", the same as
 * no section) or no file. */
yaml_node_t *dpp_config_section(const struct dpp_config *cfg, const char *name);

/* The value node at a dotted path of mapping keys ("global.trusted_proxies"),
 * or NULL when any part is absent or not a mapping. Used for LIST and
 * MAPPING rows, which the schema validates but struct dpp_settings does not
 * store. */
yaml_node_t *dpp_config_node(const struct dpp_config *cfg, const char *dotted);

#endif
