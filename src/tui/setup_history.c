/* Config history for the wizard's saves: the one place that talks to the
 * store. This build has no store (src/store is not part of it), so a save
 * is not recorded and the note says so; the daemon records the version
 * itself when it next loads the file. */
#include <stdio.h>
#include <stdlib.h>

#include "setup_model.h"

int setup_record_version(const char *store_path, const char *config_path, const char *yaml,
			 char **note)
{
	(void)store_path;
	(void)yaml;
	if (asprintf(note, "config history: this build has no store; %s is not recorded as a version",
		     config_path) < 0)
		*note = NULL;
	return -1;
}
