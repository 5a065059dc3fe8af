/* `docker-policy-proxy explain`: how the proxy would decide one request, and
 * `explain --replay`: which recorded decisions a candidate config changes.
 * Not part of the proxy core (it may read the store); it drives the core's
 * own functions. */
#ifndef DPP_CLI_EXPLAIN_H
#define DPP_CLI_EXPLAIN_H

/* Runs the subcommand. argv[0] is "explain". Prints to stdout, errors to
 * stderr. Returns the process exit code: 0 the request would be forwarded,
 * 1 it would be refused (by a rule, authentication or a protocol check),
 * EX_USAGE (64) bad arguments, EX_CONFIG (78) the config does not load,
 * EX_NOINPUT (66) the body file cannot be read, EX_SOFTWARE (70) internal. */
int dpp_cli_explain(int argc, char **argv);

#endif
