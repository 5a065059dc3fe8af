/* `explain --replay`: the recorded request history through a candidate
 * configuration. Internal to src/cli. */
#ifndef DPP_CLI_REPLAY_H
#define DPP_CLI_REPLAY_H

struct dpp_config;
struct dpp_runtime;

/* Loads config_path (NULL: the usual default) and builds its runtime as
 * start-up does, without contacting Docker. Errors go to stderr. Returns 0
 * with *cfg and *rt (caller frees both), or EX_CONFIG. */
int dpp_cli_load_runtime(const char *config_path, struct dpp_config **cfg,
			 struct dpp_runtime **rt);

/* Runs the replay; since: "24h", "30m", "7d" (NULL: 24h); store_path: the
 * store file (NULL: the candidate config's store path). Returns an exit
 * code (0 no decision changes, 1 some change, EX_* on errors). */
int dpp_cli_replay(const char *config_path, const char *since, const char *store_path,
		   int json);

#endif
