/* Token buckets keyed by (rule name, client IP); see dpp/ratelimit.h.
 *
 * Lock order: one mutex (rl->lock), never held while calling out. */
#include "dpp/ratelimit.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct bucket {
	struct bucket *next; /* hash chain */
	uint32_t hash;
	char rule[DPP_RATELIMIT_RULE_MAX];
	char ip[DPP_RATELIMIT_IP_MAX];
	double tokens;
	uint32_t capacity;
	uint64_t period_ms;
	uint64_t refilled_ms;     /* time tokens were last brought up to date */
	uint64_t used_ms;         /* last take, for LRU eviction */
	uint64_t locked_until_ms; /* penalty lockout end; 0 = none */
	uint64_t refused;         /* takes refused since the bucket was created */
};

struct dpp_ratelimit {
	pthread_mutex_t lock;
	struct bucket **slots;
	size_t n_slots; /* power of two */
	size_t count;
	size_t max;
	uint64_t evictions;
};

uint64_t dpp_ratelimit_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct dpp_ratelimit *dpp_ratelimit_create(size_t max_buckets)
{
	struct dpp_ratelimit *rl;
	size_t slots = 16;

	if (max_buckets == 0 || max_buckets > DPP_RATELIMIT_BUCKETS_MAX)
		return NULL;
	while (slots < max_buckets)
		slots *= 2;
	rl = calloc(1, sizeof(*rl));
	if (rl == NULL)
		return NULL;
	rl->slots = calloc(slots, sizeof(*rl->slots));
	if (rl->slots == NULL || pthread_mutex_init(&rl->lock, NULL) != 0) {
		free(rl->slots);
		free(rl);
		return NULL;
	}
	rl->n_slots = slots;
	rl->max = max_buckets;
	return rl;
}

void dpp_ratelimit_free(struct dpp_ratelimit *rl)
{
	size_t i;

	if (rl == NULL)
		return;
	for (i = 0; i < rl->n_slots; i++) {
		struct bucket *b = rl->slots[i], *next;

		for (; b != NULL; b = next) {
			next = b->next;
			free(b);
		}
	}
	free(rl->slots);
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

/* FNV-1a over rule, a separator, and ip. */
static uint32_t key_hash(const char *rule, const char *ip)
{
	uint32_t h = 2166136261u;
	const unsigned char *p;

	for (p = (const unsigned char *)rule; *p != '\0'; p++)
		h = (h ^ *p) * 16777619u;
	h = (h ^ 0xffu) * 16777619u;
	for (p = (const unsigned char *)ip; *p != '\0'; p++)
		h = (h ^ *p) * 16777619u;
	return h;
}

/* Tokens the bucket would hold at `now` (without changing it). */
static double tokens_at(const struct bucket *b, uint64_t now)
{
	double t = b->tokens;

	if (now > b->refilled_ms)
		t += (double)(now - b->refilled_ms) * b->capacity / (double)b->period_ms;
	return t > b->capacity ? b->capacity : t;
}

static bool is_idle(const struct bucket *b, uint64_t now)
{
	return now >= b->locked_until_ms && tokens_at(b, now) >= b->capacity;
}

static void unlink_bucket(struct dpp_ratelimit *rl, struct bucket *victim)
{
	struct bucket **pp = &rl->slots[victim->hash & (rl->n_slots - 1)];

	while (*pp != victim)
		pp = &(*pp)->next;
	*pp = victim->next;
	free(victim);
	rl->count--;
}

/* Called with the lock held and the table full. */
static void evict_one(struct dpp_ratelimit *rl, uint64_t now)
{
	struct bucket *idle = NULL, *lru = NULL, *b;
	size_t i;

	for (i = 0; i < rl->n_slots; i++) {
		for (b = rl->slots[i]; b != NULL; b = b->next) {
			if (lru == NULL || b->used_ms < lru->used_ms)
				lru = b;
			if (is_idle(b, now) && (idle == NULL || b->used_ms < idle->used_ms))
				idle = b;
		}
	}
	if (idle != NULL)
		lru = idle;
	if (lru != NULL) {
		unlink_bucket(rl, lru);
		rl->evictions++;
	}
}

int dpp_ratelimit_take(struct dpp_ratelimit *rl, const char *rule, const char *ip,
		       uint32_t requests, uint64_t period_ms, uint64_t penalty_ms,
		       uint64_t now_ms, uint64_t *retry_after_ms)
{
	struct bucket *b;
	uint32_t h;
	int rc;

	if (rl == NULL || rule == NULL || ip == NULL || requests == 0 || period_ms == 0 ||
	    strlen(rule) >= DPP_RATELIMIT_RULE_MAX || strlen(ip) >= DPP_RATELIMIT_IP_MAX)
		return -1;
	h = key_hash(rule, ip);
	pthread_mutex_lock(&rl->lock);
	for (b = rl->slots[h & (rl->n_slots - 1)]; b != NULL; b = b->next) {
		if (b->hash == h && strcmp(b->rule, rule) == 0 && strcmp(b->ip, ip) == 0)
			break;
	}
	if (b == NULL) {
		if (rl->count >= rl->max)
			evict_one(rl, now_ms);
		b = calloc(1, sizeof(*b));
		if (b == NULL) {
			rc = -1;
			goto out;
		}
		b->hash = h;
		strcpy(b->rule, rule);
		strcpy(b->ip, ip);
		b->tokens = requests;
		b->capacity = requests;
		b->period_ms = period_ms;
		b->refilled_ms = now_ms;
		b->next = rl->slots[h & (rl->n_slots - 1)];
		rl->slots[h & (rl->n_slots - 1)] = b;
		rl->count++;
	}
	/* Refill with the old rate up to now, then adopt the current one. */
	b->tokens = tokens_at(b, now_ms);
	if (now_ms > b->refilled_ms)
		b->refilled_ms = now_ms;
	b->capacity = requests;
	b->period_ms = period_ms;
	if (b->tokens > requests)
		b->tokens = requests;
	b->used_ms = now_ms;

	if (now_ms < b->locked_until_ms) {
		if (retry_after_ms != NULL)
			*retry_after_ms = b->locked_until_ms - now_ms;
		b->refused++;
		rc = 0;
	} else if (b->tokens >= 1.0) {
		b->tokens -= 1.0;
		rc = 1;
	} else {
		/* Time until one whole token, rounded up to a millisecond. */
		double need = (1.0 - b->tokens) * (double)period_ms / (double)requests;
		uint64_t wait = (uint64_t)need;

		if ((double)wait < need)
			wait++;
		if (wait == 0)
			wait = 1;
		if (penalty_ms > 0) {
			b->locked_until_ms = now_ms + penalty_ms;
			if (penalty_ms > wait)
				wait = penalty_ms;
		}
		if (retry_after_ms != NULL)
			*retry_after_ms = wait;
		b->refused++;
		rc = 0;
	}
out:
	pthread_mutex_unlock(&rl->lock);
	return rc;
}

static int state_cmp(const void *a, const void *b)
{
	const struct dpp_ratelimit_state *x = a, *y = b;
	int c = strcmp(x->rule, y->rule);

	return c != 0 ? c : strcmp(x->ip, y->ip);
}

int dpp_ratelimit_snapshot(struct dpp_ratelimit *rl, uint64_t now_ms,
			   struct dpp_ratelimit_state **out, size_t *n)
{
	struct dpp_ratelimit_state *s = NULL;
	struct bucket *b;
	size_t i, k = 0;
	int rc = 0;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&rl->lock);
	if (rl->count == 0)
		goto out;
	s = calloc(rl->count, sizeof(*s));
	if (s == NULL) {
		rc = -1;
		goto out;
	}
	for (i = 0; i < rl->n_slots; i++) {
		for (b = rl->slots[i]; b != NULL; b = b->next, k++) {
			memcpy(s[k].rule, b->rule, sizeof(s[k].rule));
			memcpy(s[k].ip, b->ip, sizeof(s[k].ip));
			s[k].tokens = tokens_at(b, now_ms);
			s[k].capacity = b->capacity;
			s[k].period_ms = b->period_ms;
			s[k].penalty_remaining_ms =
				now_ms < b->locked_until_ms ? b->locked_until_ms - now_ms : 0;
			s[k].idle_ms = now_ms > b->used_ms ? now_ms - b->used_ms : 0;
			s[k].refused = b->refused;
		}
	}
out:
	pthread_mutex_unlock(&rl->lock);
	if (s != NULL) {
		qsort(s, k, sizeof(*s), state_cmp);
		*out = s;
		*n = k;
	}
	return rc;
}

size_t dpp_ratelimit_retain(struct dpp_ratelimit *rl, const char *const *rules, size_t n)
{
	struct bucket **pp, *b;
	size_t i, j, dropped = 0;

	pthread_mutex_lock(&rl->lock);
	for (i = 0; i < rl->n_slots; i++) {
		pp = &rl->slots[i];
		while ((b = *pp) != NULL) {
			for (j = 0; j < n; j++) {
				if (strcmp(b->rule, rules[j]) == 0)
					break;
			}
			if (j < n) {
				pp = &b->next;
				continue;
			}
			*pp = b->next;
			free(b);
			rl->count--;
			dropped++;
		}
	}
	pthread_mutex_unlock(&rl->lock);
	return dropped;
}

void dpp_ratelimit_stats(struct dpp_ratelimit *rl, size_t *count, uint64_t *evictions)
{
	pthread_mutex_lock(&rl->lock);
	if (count != NULL)
		*count = rl->count;
	if (evictions != NULL)
		*evictions = rl->evictions;
	pthread_mutex_unlock(&rl->lock);
}
