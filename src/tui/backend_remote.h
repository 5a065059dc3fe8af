/* The console's remote backend: a daemon's control socket (docs/control.md). */
#ifndef DPP_TUI_BACKEND_REMOTE_H
#define DPP_TUI_BACKEND_REMOTE_H

#include "backend.h"
#include "client.h"

/* Connects to the daemon at path as client "console" (on behalf of
 * $SUDO_USER when root). The event feed starts with ops->subscribe. Returns
 * the backend (b->pid is the daemon's; free with b->ops->destroy), or NULL
 * with *err. */
struct tui_backend *tui_backend_remote(const char *path, struct dpp_ctl_error *err);

#endif
