/* `docker-policy-proxy setup`: the configuration wizard (full screen,
 * --plain line prompts, or --non-interactive flags). The only entry points
 * main.c uses; everything else of the wizard is internal to src/tui/setup_*. */
#ifndef DPP_SETUP_H
#define DPP_SETUP_H

/* Runs the subcommand; argv[0] is "setup". Returns a sysexits(3) code:
 * 0 saved (or listed), 64 bad usage, 73 the file exists and --force was not
 * given, 78 the configuration was refused by the loader, 74 cannot write,
 * 1 cancelled by the user. Reads and writes the terminal or stdin/stdout. */
int dpp_setup_main(int argc, char **argv);

/* Asked by main when the proxy starts on a terminal without any config
 * file: offers the wizard. Returns 1 when the user wants it, 0 otherwise
 * (also when stdin or stdout is not a terminal). */
int dpp_setup_offer(const char *missing_path);

#endif
