/* Lock order: only w->lock; shutdown(2) is called under it so that an entry
 * cannot be forgotten (and its fd closed and reused) in between. */
#include "dpp/watch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "dpp/log.h"

#define LOG_EVERY_MS 10000

struct slot {
	int64_t since; /* ms; 0: not waiting */
};

struct dpp_watch {
	int deadline_ms;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int stop;
	pthread_t thread;
	struct slot *slots; /* indexed by fd */
	int top;            /* 1 + highest fd ever set: the reaper scans [0, top) */
	atomic_uint_fast64_t cut;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *reaper(void *arg)
{
	struct dpp_watch *w = arg;
	int64_t last_log = 0;
	uint64_t logged = 0;

	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		struct timespec until;
		int64_t now = now_ms();

		for (int fd = 0; fd < w->top; fd++) {
			if (w->slots[fd].since != 0 && now - w->slots[fd].since > w->deadline_ms) {
				(void)shutdown(fd, SHUT_RDWR); /* MHD sees EOF and closes */
				w->slots[fd].since = 0;
				atomic_fetch_add(&w->cut, 1);
			}
		}
		if (atomic_load(&w->cut) != logged && now - last_log >= LOG_EVERY_MS) {
			uint64_t total = atomic_load(&w->cut);

			dpp_log_warn("closed %llu client connection(s) that did not send a complete request within %d s (%llu so far)",
				     (unsigned long long)(total - logged), w->deadline_ms / 1000,
				     (unsigned long long)total);
			logged = total;
			last_log = now;
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&w->wake, &w->lock, &until);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

struct dpp_watch *dpp_watch_start(int deadline_s)
{
	struct dpp_watch *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->deadline_ms = deadline_s * 1000;
	if (deadline_s <= 0)
		return w; /* disabled */
	w->slots = calloc(DPP_WATCH_MAX_FD, sizeof(*w->slots));
	if (w->slots == NULL)
		goto fail;
	if (pthread_mutex_init(&w->lock, NULL) != 0)
		goto fail;
	if (pthread_cond_init(&w->wake, NULL) != 0) {
		pthread_mutex_destroy(&w->lock);
		goto fail;
	}
	if (pthread_create(&w->thread, NULL, reaper, w) != 0) {
		pthread_cond_destroy(&w->wake);
		pthread_mutex_destroy(&w->lock);
		goto fail;
	}
	return w;
fail:
	free(w->slots);
	free(w);
	return NULL;
}

void dpp_watch_stop(struct dpp_watch *w)
{
	if (w == NULL)
		return;
	if (w->slots != NULL) {
		pthread_mutex_lock(&w->lock);
		w->stop = 1;
		pthread_cond_signal(&w->wake);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->thread, NULL);
		pthread_cond_destroy(&w->wake);
		pthread_mutex_destroy(&w->lock);
	}
	free(w->slots);
	free(w);
}

static void set(struct dpp_watch *w, int fd, int64_t since)
{
	if (w == NULL || w->slots == NULL || fd < 0 || fd >= DPP_WATCH_MAX_FD)
		return;
	pthread_mutex_lock(&w->lock);
	w->slots[fd].since = since;
	if (since != 0 && fd >= w->top)
		w->top = fd + 1;
	pthread_mutex_unlock(&w->lock);
}

void dpp_watch_waiting(struct dpp_watch *w, int fd)
{
	int64_t now = now_ms();

	set(w, fd, now != 0 ? now : 1);
}

void dpp_watch_busy(struct dpp_watch *w, int fd) { set(w, fd, 0); }
void dpp_watch_forget(struct dpp_watch *w, int fd) { set(w, fd, 0); }

uint64_t dpp_watch_cut_total(struct dpp_watch *w)
{
	return w != NULL ? atomic_load(&w->cut) : 0;
}
