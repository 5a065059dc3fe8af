/* Edits of the configuration file's text for the operator console: toggle a
 * rule's dry_run, change its priority, replace, add or delete one rule.
 *
 * Positions come from libyaml (node marks), never from a hand-written parse;
 * everything outside the edited span (comments, order, quoting, ${VAR}
 * references) is kept byte for byte. The result is only a proposal: the
 * caller validates it with the real loader before anything is applied
 * (dpp_control_apply does), so an edit this module gets wrong is refused,
 * never run. Rules written in flow style ({name: x, ...}) are refused: edit
 * the whole file instead.
 *
 * Every function is pure and thread-safe. Texts are NUL-terminated; results
 * are malloc'd (caller frees). On failure they return -1 with *err set to a
 * malloc'd one-line message (caller frees), "FILE" free: e.g.
 * "no rule named \"x\"", "line 3 column 5: mapping values are not allowed". */
#ifndef DPP_CFGEDIT_H
#define DPP_CFGEDIT_H

#include <stddef.h>

/* Sets `key: value` in the rule named `name` (value is YAML text, e.g.
 * "true", "12"): an existing scalar value is replaced in place; a missing key
 * is added as a new line right after the rule's `name` line, at the rule's
 * key indentation. */
int dpp_cfgedit_set_rule_key(const char *text, const char *name, const char *key,
			     const char *value, char **out, char **err);

/* The rule named `name` as a one-item YAML list ("- name: ...\n  ..."),
 * dedented to column 0, for $EDITOR. */
int dpp_cfgedit_rule_text(const char *text, const char *name, char **out, char **err);

/* Replaces the rule named `name` with `rule_yaml` (a one-item list as
 * dpp_cfgedit_rule_text gives; comment lines are kept), re-indented to the
 * rule's column. */
int dpp_cfgedit_replace_rule(const char *text, const char *name, const char *rule_yaml,
			     char **out, char **err);

/* Appends `rule_yaml` after the last rule (creating the `rules:` section at
 * the end of the file when there is none, or replacing `rules: null` /
 * `rules: []`). */
int dpp_cfgedit_append_rule(const char *text, const char *rule_yaml, char **out, char **err);

/* Removes the rule named `name` (its lines, from its "- " to the next rule). */
int dpp_cfgedit_delete_rule(const char *text, const char *name, char **out, char **err);

/* The value of `priority` of rule `name` (0 when unset) into *out. */
int dpp_cfgedit_rule_priority(const char *text, const char *name, long *out, char **err);

/* SHA-256 of len bytes of text as 64 lower-case hex digits + NUL (the
 * config version id). Returns 0, or -1 when hashing is unavailable. */
int dpp_cfgedit_version(const char *text, size_t len, char out[65]);

#endif
