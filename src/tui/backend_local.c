/* The console's local backend (backend.h): the proxy in this process,
 * through struct dpp_control and a bus subscription, as before. */
#include <stdlib.h>

#include "backend.h"

struct local {
	struct tui_backend b; /* first: the console's handle */
	struct dpp_control *ctl;
	struct dpp_bus_sub *sub;
};

static struct dpp_control *ctl_of(struct tui_backend *b)
{
	return ((struct local *)b)->ctl;
}

static struct dpp_control_snapshot *l_snapshot(struct tui_backend *b)
{
	return dpp_control_snapshot(ctl_of(b));
}

static void l_snapshot_free(struct tui_backend *b, struct dpp_control_snapshot *s)
{
	(void)b;
	dpp_control_snapshot_free(s);
}

static void l_foreach_sub(struct tui_backend *b, void (*fn)(void *, const char *, uint64_t), void *arg)
{
	dpp_control_foreach_sub(ctl_of(b), fn, arg);
}

static int l_cond_text(struct tui_backend *b, uint64_t ruleset_id, size_t rule, size_t cond,
		       char *name, size_t namelen, char *buf, size_t len)
{
	return dpp_control_cond_text(ctl_of(b), ruleset_id, rule, cond, name, namelen, buf, len);
}

static int l_read_config(struct tui_backend *b, char **text, char version[DPP_CONTROL_VERSION_LEN],
			 char **err)
{
	return dpp_control_read_config(ctl_of(b), text, version, err);
}

static int l_validate(struct tui_backend *b, const char *text, const char *source, const char *author,
		      char **errors)
{
	return dpp_control_validate(ctl_of(b), text, source, author, errors);
}

static int l_apply(struct tui_backend *b, const char *text, const char *based_on, const char *source,
		   const char *author, char new_version[DPP_CONTROL_VERSION_LEN], char **errors)
{
	return dpp_control_apply(ctl_of(b), text, based_on, source, author, new_version, errors);
}

static int l_reload(struct tui_backend *b, char **errors)
{
	return dpp_control_reload(ctl_of(b), errors);
}

static int l_subscribe(struct tui_backend *b, size_t capacity, const char **err)
{
	struct local *l = (struct local *)b;

	l->sub = dpp_control_subscribe(l->ctl, "console", capacity, err);
	return l->sub != NULL ? 0 : -1;
}

static int l_pop(struct tui_backend *b, struct dpp_event *ev)
{
	struct local *l = (struct local *)b;

	if (l->sub == NULL)
		return 0;
	return dpp_bus_pop(l->sub, ev, 0) == 1 ? 1 : 0;
}

static int l_fd(struct tui_backend *b)
{
	struct local *l = (struct local *)b;

	return l->sub != NULL ? dpp_bus_sub_fd(l->sub) : -1;
}

static void l_unsubscribe(struct tui_backend *b)
{
	struct local *l = (struct local *)b;

	if (l->sub != NULL)
		dpp_control_unsubscribe(l->ctl, l->sub);
	l->sub = NULL;
}

static int l_gone(struct tui_backend *b)
{
	(void)b;
	return 0;
}

static void l_destroy(struct tui_backend *b)
{
	if (b == NULL)
		return;
	l_unsubscribe(b);
	free(b);
}

static const struct tui_backend_ops local_ops = {
	.snapshot = l_snapshot,
	.snapshot_free = l_snapshot_free,
	.foreach_sub = l_foreach_sub,
	.cond_text = l_cond_text,
	.read_config = l_read_config,
	.validate = l_validate,
	.apply = l_apply,
	.reload = l_reload,
	.subscribe = l_subscribe,
	.pop = l_pop,
	.fd = l_fd,
	.unsubscribe = l_unsubscribe,
	.gone = l_gone,
	.reconnect = NULL,
	.destroy = l_destroy,
};

struct tui_backend *tui_backend_local(struct dpp_control *ctl)
{
	struct local *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->b.ops = &local_ops;
	l->ctl = ctl;
	return &l->b;
}
