/* Built-in policy presets: named sets of checks ("vectors") that a rule
 * `- preset: no-host-escape` switches on (docs/rules.md, "Presets"; README,
 * "Presets", documents every vector). The checks read the request the way
 * dockerd does: the endpoint from dpp/route.h, the JSON body through the
 * same request view as every other rule (Go-decoder semantics, dpp/body.h).
 *
 * This header is what the composition root needs: the list for
 * --list-presets, and the identity of the proxy's own container and files
 * for the protect-self preset. Compiling and evaluating preset rules is
 * internal (src/proxy/presets.h). */
#ifndef DPP_PRESETS_H
#define DPP_PRESETS_H

#include <stddef.h>
#include <stdio.h>

/* Writes every preset with its vectors and a one-line explanation of each,
 * the format of --list-presets. Returns 0, or -1 on a write error. */
int dpp_presets_list(FILE *out);

/* What protect-self protects. container_id: the proxy's own container (64
 * hex digits) or NULL/"" when it does not run in one; container_name: its
 * name (with or without the leading '/'), NULL/"" when unknown; socket_path,
 * config_path: the Docker socket and the configuration file as the proxy
 * sees them (NULL/"": none). Strings are copied; a later call replaces
 * them. Thread-safe (a lock; evaluation reads under it), but meant to be
 * called at start-up and on reload. Returns 0, or -1 on allocation failure
 * (the previous values stay). */
int dpp_presets_set_self(const char *container_id, const char *container_name,
			 const char *socket_path, const char *config_path);

/* Finds the id of the container this process runs in: a 64-hex-digit id
 * after "/containers/" in the root of the /proc/self/mountinfo entry mounted
 * at /etc/hostname, /etc/hosts or /etc/resolv.conf (dockerd bind-mounts them
 * from /var/lib/docker/containers/ID/; a Docker host's own mountinfo names
 * other containers' directories, at other mount points),
 * else after "docker/" or "docker-" in /proc/self/cgroup (cgroup v1, or v2
 * without a private cgroup namespace). mountinfo and cgroup name the files
 * to read (NULL: the /proc/self ones; for tests). Writes the id
 * (NUL-terminated, 65 bytes needed) and returns 0, or returns -1 when none is
 * found (not in a Docker container, or the files are unreadable). */
int dpp_presets_detect_container(const char *mountinfo, const char *cgroup, char *out,
				 size_t len);

#endif
