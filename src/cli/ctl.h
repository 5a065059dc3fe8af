/* `docker-policy-proxy console` (attach to a running daemon) and
 * `docker-policy-proxy ctl` (steer it from scripts): clients of the control
 * socket (docs/control.md, src/ctl/client.h).
 *
 * Exit codes (sysexits.h), the same for both and for the rest of the CLI:
 *   0  ok (ctl events: interrupted by SIGINT/SIGTERM)
 *   64 EX_USAGE        bad arguments
 *   65 EX_DATAERR      the daemon refused the change (conflict, invalid,
 *                      not_found, no_config, busy)
 *   69 EX_UNAVAILABLE  no daemon answers on the socket, it stopped, or it
 *                      did not answer in time
 *   70 EX_SOFTWARE     the daemon reported an internal error
 *   76 EX_PROTOCOL     the daemon sent something this client cannot read
 *   77 EX_NOPERM       permission denied on the socket
 *   78 EX_CONFIG       the configuration naming the socket does not load */
#ifndef DPP_CLI_CTL_H
#define DPP_CLI_CTL_H

#include <stddef.h>

/* argv[0] is "ctl" / "console". Return the process exit code. */
int dpp_cli_ctl(int argc, char **argv);
int dpp_cli_console(int argc, char **argv);

#endif
