/* Event bus: per-subscriber bounded lock-free rings + eventfd wake-up.
 *
 * Lock order: there are no locks in this file. Everything is C11 atomics:
 *   - slot.sub / slot.users: a subscriber pointer published in a fixed array
 *     of slots. A publisher increments slot.users, then loads slot.sub, uses
 *     it, decrements. Unsubscribe stores NULL, then waits for users == 0
 *     before freeing (seq_cst on both sides, so a publisher that saw the old
 *     pointer is always counted). Only unsubscribe waits; publishers do not.
 *   - ring: Vyukov's bounded MPMC queue. cell.seq == pos means "free for
 *     position pos", pos + 1 means "holds the event for pos"; the consumer
 *     frees a cell by storing pos + capacity. A producer that finds the cell
 *     of its position still occupied reports "full" and the event is dropped
 *     (never a wait). Positions are 64-bit and never wrap in practice.
 *   - wake-up: sub.signalled is 1 while a wake-up is pending in the eventfd
 *     or the consumer is known to be awake. A producer writes the eventfd only
 *     when it flips signalled 0 -> 1. The consumer, on finding the ring empty,
 *     drains the eventfd, stores 0, and looks at the ring again; seq_cst
 *     fences on both sides (store-buffer pattern) make a lost wake-up
 *     impossible.
 * Why not a mutex per ring with trylock-and-drop: under contention between
 * workers it would drop events while the ring still has room; the lock-free
 * ring only drops when the ring is really full. */
#include "dpp/bus.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct dpp_bus_sub {
	struct dpp_bus *bus;
	char name[DPP_BUS_NAME_MAX + 1];
	/* The sequence numbers apart from the events: initialising them must not
	 * touch every event's page (a 4,096-event ring would be ~4 MiB resident
	 * at start-up, unused). */
	_Atomic uint64_t *seqs;
	struct dpp_event *evs;
	uint64_t capacity;
	_Atomic uint64_t head; /* next position to enqueue */
	_Atomic uint64_t tail; /* next position to dequeue */
	atomic_uint_least64_t dropped;
	_Atomic uint32_t kinds;
	atomic_int signalled;
	atomic_int kicked;
	int efd;
};

struct slot {
	_Atomic(struct dpp_bus_sub *) sub;
	atomic_uint users;
};

struct dpp_bus {
	struct slot slots[DPP_BUS_MAX_SUBSCRIBERS];
};

struct dpp_bus *dpp_bus_create(const char **err)
{
	struct dpp_bus *bus = calloc(1, sizeof(*bus));

	if (bus == NULL) {
		*err = "out of memory";
		return NULL;
	}
	for (size_t i = 0; i < DPP_BUS_MAX_SUBSCRIBERS; i++) {
		atomic_init(&bus->slots[i].sub, NULL);
		atomic_init(&bus->slots[i].users, 0);
	}
	return bus;
}

static void sub_free(struct dpp_bus_sub *sub)
{
	if (sub == NULL)
		return;
	if (sub->efd >= 0)
		close(sub->efd);
	free(sub->seqs);
	free(sub->evs);
	free(sub);
}

void dpp_bus_free(struct dpp_bus *bus)
{
	if (bus == NULL)
		return;
	for (size_t i = 0; i < DPP_BUS_MAX_SUBSCRIBERS; i++)
		sub_free(atomic_load(&bus->slots[i].sub));
	free(bus);
}

struct dpp_bus_sub *dpp_bus_subscribe(struct dpp_bus *bus, const char *name, size_t capacity,
				      const char **err)
{
	struct dpp_bus_sub *sub = NULL;
	size_t name_len;

	if (bus == NULL || name == NULL) {
		*err = "bus subscribe: missing bus or name";
		goto fail;
	}
	name_len = strlen(name);
	if (name_len == 0 || name_len > DPP_BUS_NAME_MAX) {
		*err = "bus subscribe: name must be 1..63 bytes";
		goto fail;
	}
	/* The cell sequence protocol needs two cells at least: with one, "full
	 * for position p" and "free for position p" would be the same value. */
	if (capacity < DPP_BUS_CAPACITY_MIN || capacity > DPP_BUS_CAPACITY_MAX) {
		*err = "bus subscribe: capacity must be 2..65536";
		goto fail;
	}
	sub = calloc(1, sizeof(*sub));
	if (sub == NULL) {
		*err = "out of memory";
		goto fail;
	}
	sub->efd = -1;
	sub->bus = bus;
	memcpy(sub->name, name, name_len + 1);
	sub->capacity = capacity;
	sub->seqs = calloc(capacity, sizeof(*sub->seqs));
	sub->evs = calloc(capacity, sizeof(*sub->evs));
	if (sub->seqs == NULL || sub->evs == NULL) {
		*err = "out of memory";
		goto fail;
	}
	for (size_t i = 0; i < capacity; i++)
		atomic_init(&sub->seqs[i], (uint64_t)i);
	atomic_init(&sub->head, 0);
	atomic_init(&sub->tail, 0);
	atomic_init(&sub->dropped, 0);
	atomic_init(&sub->kinds, DPP_BUS_KINDS_ALL);
	atomic_init(&sub->signalled, 0);
	atomic_init(&sub->kicked, 0);
	sub->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (sub->efd < 0) {
		*err = "bus subscribe: eventfd failed";
		goto fail;
	}
	for (size_t i = 0; i < DPP_BUS_MAX_SUBSCRIBERS; i++) {
		struct dpp_bus_sub *expected = NULL;

		if (atomic_compare_exchange_strong(&bus->slots[i].sub, &expected, sub))
			return sub;
	}
	*err = "bus subscribe: too many subscribers";
fail:
	sub_free(sub);
	return NULL;
}

void dpp_bus_unsubscribe(struct dpp_bus *bus, struct dpp_bus_sub *sub)
{
	if (bus == NULL || sub == NULL || sub->bus != bus)
		return;
	for (size_t i = 0; i < DPP_BUS_MAX_SUBSCRIBERS; i++) {
		struct slot *s = &bus->slots[i];
		struct dpp_bus_sub *expected = sub;

		if (!atomic_compare_exchange_strong(&s->sub, &expected, NULL))
			continue;
		/* A publisher that loaded `sub` holds s->users > 0 until done. */
		while (atomic_load(&s->users) != 0) {
			struct timespec ts = {0, 50 * 1000};

			nanosleep(&ts, NULL);
		}
		sub_free(sub);
		return;
	}
}

/* Returns 1 when stored, 0 when the ring is full. */
static int ring_push(struct dpp_bus_sub *sub, const struct dpp_event *ev)
{
	uint64_t pos = atomic_load_explicit(&sub->head, memory_order_relaxed);
	uint64_t k;

	for (;;) {
		uint64_t seq;
		int64_t diff;

		k = pos % sub->capacity;
		seq = atomic_load_explicit(&sub->seqs[k], memory_order_acquire);
		diff = (int64_t)(seq - pos);
		if (diff == 0) {
			if (atomic_compare_exchange_weak_explicit(&sub->head, &pos, pos + 1,
								  memory_order_relaxed,
								  memory_order_relaxed))
				break;
		} else if (diff < 0) {
			return 0;
		} else {
			pos = atomic_load_explicit(&sub->head, memory_order_relaxed);
		}
	}
	sub->evs[k] = *ev;
	atomic_store_explicit(&sub->seqs[k], pos + 1, memory_order_release);
	return 1;
}

/* Returns 1 with *out filled, 0 when empty (or the oldest cell is still being
 * written by a producer; that producer wakes us when it is done). */
static int ring_pop(struct dpp_bus_sub *sub, struct dpp_event *out)
{
	uint64_t pos = atomic_load_explicit(&sub->tail, memory_order_relaxed);
	uint64_t k;

	for (;;) {
		uint64_t seq;
		int64_t diff;

		k = pos % sub->capacity;
		seq = atomic_load_explicit(&sub->seqs[k], memory_order_acquire);
		diff = (int64_t)(seq - (pos + 1));
		if (diff == 0) {
			if (atomic_compare_exchange_weak_explicit(&sub->tail, &pos, pos + 1,
								  memory_order_relaxed,
								  memory_order_relaxed))
				break;
		} else if (diff < 0) {
			return 0;
		} else {
			pos = atomic_load_explicit(&sub->tail, memory_order_relaxed);
		}
	}
	*out = sub->evs[k];
	atomic_store_explicit(&sub->seqs[k], pos + sub->capacity, memory_order_release);
	return 1;
}

static void efd_signal(int efd)
{
	uint64_t one = 1;

	/* Can fail only when the counter is near 2^64 (not reachable) or the fd
	 * is gone; the consumer then still wakes on its timeout. */
	if (write(efd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		return;
}

static void efd_drain(int efd)
{
	uint64_t n;

	/* Non-blocking: EAGAIN when nothing is pending, which is fine. */
	if (read(efd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		return;
}

size_t dpp_bus_publish(struct dpp_bus *bus, const struct dpp_event *ev)
{
	size_t delivered = 0;
	unsigned kind;

	if (bus == NULL || ev == NULL)
		return 0;
	kind = (unsigned)ev->kind;
	for (size_t i = 0; i < DPP_BUS_MAX_SUBSCRIBERS; i++) {
		struct slot *s = &bus->slots[i];
		struct dpp_bus_sub *sub;

		if (atomic_load_explicit(&s->sub, memory_order_relaxed) == NULL)
			continue; /* cheap skip of empty slots; re-checked below */
		atomic_fetch_add(&s->users, 1);
		sub = atomic_load(&s->sub);
		if (sub != NULL && kind < 32 &&
		    (atomic_load_explicit(&sub->kinds, memory_order_relaxed) & (1u << kind)) != 0) {
			if (ring_push(sub, ev)) {
				delivered++;
				atomic_thread_fence(memory_order_seq_cst);
				if (atomic_exchange(&sub->signalled, 1) == 0)
					efd_signal(sub->efd);
			} else {
				atomic_fetch_add_explicit(&sub->dropped, 1, memory_order_relaxed);
			}
		}
		atomic_fetch_sub(&s->users, 1);
	}
	return delivered;
}

void dpp_bus_sub_set_kinds(struct dpp_bus_sub *sub, uint32_t kinds)
{
	if (sub != NULL)
		atomic_store(&sub->kinds, kinds);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int dpp_bus_pop(struct dpp_bus_sub *sub, struct dpp_event *out, int timeout_ms)
{
	int64_t deadline = 0;

	if (sub == NULL || out == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (timeout_ms > 0)
		deadline = now_ms() + timeout_ms;
	for (;;) {
		struct pollfd pfd = {.fd = sub->efd, .events = POLLIN};
		int wait_ms = -1;

		if (ring_pop(sub, out))
			return 1;
		if (atomic_exchange(&sub->kicked, 0))
			return 0;
		/* Empty: re-arm the wake-up, then look once more (see top). */
		efd_drain(sub->efd);
		atomic_store(&sub->signalled, 0);
		atomic_thread_fence(memory_order_seq_cst);
		if (ring_pop(sub, out))
			return 1;
		if (timeout_ms == 0)
			return 0;
		if (timeout_ms > 0) {
			int64_t left = deadline - now_ms();

			if (left <= 0)
				return 0;
			wait_ms = (int)left;
		}
		if (poll(&pfd, 1, wait_ms) < 0 && errno != EINTR)
			return -1;
	}
}

int dpp_bus_sub_fd(const struct dpp_bus_sub *sub) { return sub != NULL ? sub->efd : -1; }

void dpp_bus_sub_wake(struct dpp_bus_sub *sub)
{
	if (sub == NULL)
		return;
	atomic_store(&sub->kicked, 1);
	efd_signal(sub->efd);
}

uint64_t dpp_bus_sub_dropped(const struct dpp_bus_sub *sub)
{
	return sub != NULL ? atomic_load(&((struct dpp_bus_sub *)sub)->dropped) : 0;
}

const char *dpp_bus_sub_name(const struct dpp_bus_sub *sub) { return sub != NULL ? sub->name : ""; }

void dpp_bus_foreach_sub(struct dpp_bus *bus,
			 void (*fn)(void *arg, const char *name, uint64_t dropped), void *arg)
{
	if (bus == NULL || fn == NULL)
		return;
	for (size_t i = 0; i < DPP_BUS_MAX_SUBSCRIBERS; i++) {
		struct slot *s = &bus->slots[i];
		struct dpp_bus_sub *sub;
		char name[DPP_BUS_NAME_MAX + 1];
		uint64_t dropped = 0;
		int found = 0;

		atomic_fetch_add(&s->users, 1);
		sub = atomic_load(&s->sub);
		if (sub != NULL) {
			memcpy(name, sub->name, sizeof(name));
			dropped = atomic_load(&sub->dropped);
			found = 1;
		}
		atomic_fetch_sub(&s->users, 1);
		/* Called unpinned, so fn may unsubscribe without deadlock. */
		if (found)
			fn(arg, name, dropped);
	}
}
