/* Preset rules, internal to the proxy core: rules.c compiles the YAML keys of
 * a `preset:` rule into a preset_cfg, policy.c calls preset_eval for it.
 * The vectors and presets are a constant table in presets.c. */
#ifndef DPP_PRESETS_IMPL_H
#define DPP_PRESETS_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpp/policy.h"
#include "dpp/presets.h"

#define PRESET_VECTORS_MAX 64

struct preset_def; /* static table entry */

/* A compiled preset rule. roles NULL: applies to every caller. Owned by the
 * rule (preset_cfg_free). */
struct preset_cfg {
	const struct preset_def *def;
	uint64_t vectors;   /* bit i: vector i is checked */
	char **roles;       /* applies only to callers with one of these */
	size_t n_roles;
	bool has_roles;
};

/* The preset named `name`, or NULL. */
const struct preset_def *preset_find(const char *name);
const char *preset_name(const struct preset_def *def);

/* The vectors a preset checks by default (bit set). */
uint64_t preset_default_vectors(const struct preset_def *def);

/* Index of the vector `name`, or -1. Name of vector i, NULL out of range. */
int preset_vector_find(const char *name);
const char *preset_vector_name(int i);
int preset_vector_count(void);

/* Checks the request against cfg. Returns 1 when a vector matched, with
 * *msg a malloc'd message "preset NAME: VECTOR: what" (caller frees);
 * 0 when none did (or cfg does not apply to the caller's role); -1 on
 * allocation failure (fail closed: the caller denies with 500). Pure apart
 * from reading protect-self's identity under its lock; thread-safe. */
int preset_eval(const struct preset_cfg *cfg, const struct dpp_request_view *req, char **msg);

void preset_cfg_free(struct preset_cfg *cfg);

#endif
