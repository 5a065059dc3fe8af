/* Event bus: fan-out of fixed-size struct dpp_event values from the request
 * path (libmicrohttpd worker threads) to a few slow consumers (audit writer,
 * store, console).
 *
 * Publishers never block and never take a lock: each subscriber owns a
 * bounded lock-free ring (D. Vyukov's bounded MPMC queue: one sequence
 * number per cell, a CAS on the position). publish copies the event into
 * every subscriber's ring; when a ring is full the event is dropped for that
 * subscriber only and its `dropped` counter rises. A consumer sleeps on an
 * eventfd (dpp_bus_sub_fd, pollable) or in dpp_bus_pop with a timeout. */
#ifndef DPP_BUS_H
#define DPP_BUS_H

#include <stddef.h>
#include <stdint.h>

#include "dpp/event.h"

#define DPP_BUS_MAX_SUBSCRIBERS 16   /* live subscriptions per bus */
#define DPP_BUS_CAPACITY_MIN 2       /* events per ring */
#define DPP_BUS_CAPACITY_MAX 65536   /* events per ring (~2 KiB each) */
#define DPP_BUS_NAME_MAX 63          /* bytes of a subscriber name */
#define DPP_BUS_KIND(k) (1u << (unsigned)(k))
#define DPP_BUS_KINDS_ALL 0xffffffffu

struct dpp_bus;     /* opaque; thread-safe as documented per function */
struct dpp_bus_sub; /* one subscription: ring + eventfd + counters */

/* Creates an empty bus. Returns NULL with *err set (static text) when memory
 * is short. */
struct dpp_bus *dpp_bus_create(const char **err);

/* Frees the bus and every subscription still attached (their pointers become
 * invalid). Call only when no thread publishes, pops or polls any more.
 * NULL is a no-op. */
void dpp_bus_free(struct dpp_bus *bus);

/* Adds a subscriber named `name` (copied, 1..DPP_BUS_NAME_MAX bytes, used as
 * the metrics label) with a ring of exactly `capacity` events
 * (DPP_BUS_CAPACITY_MIN..DPP_BUS_CAPACITY_MAX). It receives every event
 * published after this call returns, of all kinds until
 * dpp_bus_sub_set_kinds narrows it.
 * The bus owns the result; release it with dpp_bus_unsubscribe. Returns NULL
 * with *err set (static text) on a bad argument, when DPP_BUS_MAX_SUBSCRIBERS
 * are attached, or when memory or an eventfd is short. Thread-safe. */
struct dpp_bus_sub *dpp_bus_subscribe(struct dpp_bus *bus, const char *name, size_t capacity,
				      const char **err);

/* Detaches and frees `sub`. Waits (briefly, spinning with short sleeps) until
 * no publisher is still copying into it; publishers themselves never wait.
 * Events still queued are discarded. The caller must be the only user of
 * `sub` (no concurrent pop/poll). NULL, or a sub of another bus, is a no-op.
 * Thread-safe against publish and subscribe. */
void dpp_bus_unsubscribe(struct dpp_bus *bus, struct dpp_bus_sub *sub);

/* Copies *ev into the ring of every subscriber whose kind set contains
 * ev->kind. Never blocks, never allocates, takes no lock: a full ring drops
 * the event for that subscriber and counts it. Returns how many subscribers
 * received it. Thread-safe; callable from any number of threads. */
size_t dpp_bus_publish(struct dpp_bus *bus, const struct dpp_event *ev);

/* Restricts which kinds reach `sub`: a bit set of DPP_BUS_KIND(kind), or
 * DPP_BUS_KINDS_ALL (the default). Filtered-out events are not counted as
 * dropped. Thread-safe (atomic). */
void dpp_bus_sub_set_kinds(struct dpp_bus_sub *sub, uint32_t kinds);

/* Takes the oldest event of `sub` into *out. timeout_ms: 0 returns at once,
 * < 0 waits without limit, > 0 waits at most that many milliseconds
 * (CLOCK_MONOTONIC). Returns 1 with *out filled, 0 when nothing arrived in
 * time or dpp_bus_sub_wake was called, -1 on a bad argument or a poll(2)
 * error (errno set). Events of one publisher come out in the order it
 * published them (FIFO per ring). Meant for one consumer thread per sub;
 * concurrent pops are safe but interleave. */
int dpp_bus_pop(struct dpp_bus_sub *sub, struct dpp_event *out, int timeout_ms);

/* The subscription's eventfd, readable when events may be waiting (for
 * poll/epoll loops). Borrowed: do not read or close it; after it polls
 * readable, call dpp_bus_pop(sub, ev, 0) until it returns 0 (that also
 * re-arms the fd). Valid until unsubscribe. */
int dpp_bus_sub_fd(const struct dpp_bus_sub *sub);

/* Makes the current (or the next) dpp_bus_pop of `sub` return 0 once the
 * ring is empty, e.g. to stop a consumer thread or make it look at a flag.
 * Uses only an atomic store and write(2): async-signal-safe, thread-safe. */
void dpp_bus_sub_wake(struct dpp_bus_sub *sub);

/* Events dropped for `sub` because its ring was full, since subscribe.
 * Thread-safe (atomic). */
uint64_t dpp_bus_sub_dropped(const struct dpp_bus_sub *sub);

/* The name given at subscribe; borrowed, valid until unsubscribe. */
const char *dpp_bus_sub_name(const struct dpp_bus_sub *sub);

/* Calls fn(arg, name, dropped) once per attached subscriber, e.g. to feed
 * docker_proxy_bus_dropped_total{subscriber} at scrape time. `name` is a
 * copy valid during the call only. fn may call any bus function. Thread-safe. */
void dpp_bus_foreach_sub(struct dpp_bus *bus,
			 void (*fn)(void *arg, const char *name, uint64_t dropped), void *arg);

#endif
