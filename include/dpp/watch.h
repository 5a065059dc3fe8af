/* Request-head deadline: a client must deliver a complete request head
 * within `deadline` seconds of connecting (or of its previous request
 * ending), however slowly it drips bytes; the server re-arms it for a JSON
 * body it buffers before judging (due `deadline` seconds after the head). libmicrohttpd's own timeout only
 * measures silence, so a client sending one byte every few seconds would
 * otherwise hold a connection (and a thread) for ever (slowloris).
 * Connections are keyed by their socket fd, which the server registers
 * before MHD can close it. All functions are thread-safe. */
#ifndef DPP_WATCH_H
#define DPP_WATCH_H

#include <stdint.h>

#define DPP_WATCH_MAX_FD 65536 /* fds above this are not watched */

struct dpp_watch;

/* Starts the reaper thread (wakes once a second). deadline_s 0 disables
 * watching (every call is then a no-op). Returns NULL on allocation or
 * thread failure. */
struct dpp_watch *dpp_watch_start(int deadline_s);

/* Stops and joins the reaper and frees w. NULL is a no-op. */
void dpp_watch_stop(struct dpp_watch *w);

/* fd starts waiting for a request head now (new connection, or the previous
 * request on a keep-alive connection completed). */
void dpp_watch_waiting(struct dpp_watch *w, int fd);

/* The request head of fd arrived: no deadline until dpp_watch_waiting. */
void dpp_watch_busy(struct dpp_watch *w, int fd);

/* fd is about to be closed: forget it (must happen before close(2), so a
 * reused fd number is never cut by mistake). */
void dpp_watch_forget(struct dpp_watch *w, int fd);

/* Connections cut so far (shutdown(2) of a client past its deadline). */
uint64_t dpp_watch_cut_total(struct dpp_watch *w);

#endif
