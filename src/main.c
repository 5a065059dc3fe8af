/* Composition root: flags, modes; wires the proxy (and later store and tui). */
#include <stdio.h>

#include "dpp/log.h"

int main(void)
{
	dpp_log_info("docker-policy-proxy %s", DPP_VERSION);
	return 0;
}
