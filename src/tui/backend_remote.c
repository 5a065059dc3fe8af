/* The console's remote backend (backend.h): a running daemon over its
 * control socket (docs/control.md, src/ctl/client.h). Requests go over one
 * connection, the event and log feed over a second one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "backend_remote.h"
#include "client.h"
#include "proto.h"

struct remote {
	struct tui_backend b; /* first: the console's handle */
	char path[108];
	char obo[64];
	struct dpp_ctlclient *cl;
	struct dpp_ctlsub *sub;
	int gone;
	struct dpp_proto_sub *subs; /* of the last snapshot */
	size_t n_subs;
};

static struct remote *R(struct tui_backend *b)
{
	return (struct remote *)b;
}

static char *dup_err(const struct dpp_ctl_error *e)
{
	char *s = strdup(e->message[0] ? e->message : "error");

	return s;
}

/* One request; NULL with *errtext (malloc'd, may be NULL) on failure. */
static cJSON *ask(struct remote *r, const char *cmd, cJSON *args, char **errtext)
{
	struct dpp_ctl_error e;
	cJSON *resp = NULL;

	memset(&e, 0, sizeof(e));
	if (r->cl == NULL || r->gone) {
		cJSON_Delete(args);
		if (errtext != NULL)
			*errtext = strdup("the daemon is not attached (r reconnects)");
		return NULL;
	}
	if (dpp_ctlclient_request(r->cl, cmd, args, 0, &resp, &e) == 0)
		return resp;
	if (e.kind == DPP_CTL_GONE || e.kind == DPP_CTL_TIMEOUT || e.kind == DPP_CTL_PROTOCOL ||
	    e.kind == DPP_CTL_SYSTEM)
		r->gone = 1; /* the connection is unusable now */
	if (errtext != NULL)
		*errtext = dup_err(&e);
	return NULL;
}

static struct dpp_control_snapshot *r_snapshot(struct tui_backend *b)
{
	struct remote *r = R(b);
	struct dpp_control_snapshot *s;
	struct dpp_proto_sub *subs = NULL;
	size_t n = 0;
	cJSON *resp = ask(r, "snapshot", NULL, NULL);

	if (resp == NULL)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL || dpp_proto_snapshot_from_json(resp, s, &subs, &n) != 0) {
		free(s);
		cJSON_Delete(resp);
		return NULL;
	}
	cJSON_Delete(resp);
	free(r->subs);
	r->subs = subs;
	r->n_subs = n;
	return s;
}

static void r_snapshot_free(struct tui_backend *b, struct dpp_control_snapshot *s)
{
	(void)b;
	dpp_control_snapshot_free(s);
}

static void r_foreach_sub(struct tui_backend *b, void (*fn)(void *, const char *, uint64_t), void *arg)
{
	struct remote *r = R(b);

	for (size_t i = 0; i < r->n_subs; i++)
		fn(arg, r->subs[i].name, r->subs[i].dropped);
}

static const char *str_of(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItem(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int r_cond_text(struct tui_backend *b, uint64_t ruleset_id, size_t rule, size_t cond,
		       char *name, size_t namelen, char *buf, size_t len)
{
	struct remote *r = R(b);
	char id[32];
	cJSON *args = cJSON_CreateObject(), *resp;
	const char *v;

	if (len > 0)
		buf[0] = '\0';
	snprintf(id, sizeof(id), "%llu", (unsigned long long)ruleset_id);
	if (args == NULL || cJSON_AddStringToObject(args, "ruleset_id", id) == NULL ||
	    cJSON_AddNumberToObject(args, "rule", (double)rule) == NULL ||
	    (cond != SIZE_MAX && cJSON_AddNumberToObject(args, "cond", (double)cond) == NULL)) {
		cJSON_Delete(args);
		return -1;
	}
	resp = ask(r, "cond_text", args, NULL);
	if (resp == NULL)
		return -1;
	if ((v = str_of(resp, "text")) != NULL)
		dpp_proto_copy(buf, len, v);
	if (name != NULL && namelen > 0)
		dpp_proto_copy(name, namelen, (v = str_of(resp, "name")) != NULL ? v : "");
	cJSON_Delete(resp);
	return 0;
}

static int r_read_config(struct tui_backend *b, char **text, char version[DPP_CONTROL_VERSION_LEN],
			 char **err)
{
	cJSON *resp = ask(R(b), "config_read", NULL, err);
	const char *t, *v;

	*text = NULL;
	if (resp == NULL)
		return -1;
	t = str_of(resp, "text");
	v = str_of(resp, "version");
	if (t == NULL || v == NULL) {
		cJSON_Delete(resp);
		*err = strdup("the daemon's config_read answer has no text or version");
		return -1;
	}
	*text = strdup(t);
	snprintf(version, DPP_CONTROL_VERSION_LEN, "%s", v);
	cJSON_Delete(resp);
	if (*text == NULL) {
		*err = strdup("out of memory");
		return -1;
	}
	return 0;
}

/* source and author are the daemon's to decide (the hello's client and the
 * peer's credentials), so they are not sent. */
static int r_validate(struct tui_backend *b, const char *text, const char *source, const char *author,
		      char **errors)
{
	cJSON *args = cJSON_CreateObject(), *resp;

	(void)source;
	(void)author;
	if (args == NULL || cJSON_AddStringToObject(args, "text", text) == NULL) {
		cJSON_Delete(args);
		*errors = strdup("out of memory");
		return -1;
	}
	resp = ask(R(b), "config_validate", args, errors);
	if (resp == NULL)
		return -1;
	cJSON_Delete(resp);
	return 0;
}

static int r_apply(struct tui_backend *b, const char *text, const char *based_on, const char *source,
		   const char *author, char new_version[DPP_CONTROL_VERSION_LEN], char **errors)
{
	cJSON *args = cJSON_CreateObject(), *resp;
	const char *v;

	(void)source;
	(void)author;
	if (args == NULL || cJSON_AddStringToObject(args, "text", text) == NULL ||
	    cJSON_AddStringToObject(args, "based_on", based_on) == NULL) {
		cJSON_Delete(args);
		*errors = strdup("out of memory");
		return -1;
	}
	resp = ask(R(b), "config_apply", args, errors);
	if (resp == NULL)
		return -1;
	v = str_of(resp, "version");
	if (new_version != NULL)
		snprintf(new_version, DPP_CONTROL_VERSION_LEN, "%s", v != NULL ? v : "");
	cJSON_Delete(resp);
	return 0;
}

static int r_reload(struct tui_backend *b, char **errors)
{
	cJSON *resp = ask(R(b), "reload", NULL, errors);

	if (resp == NULL)
		return -1;
	cJSON_Delete(resp);
	return 0;
}

static int r_subscribe(struct tui_backend *b, size_t capacity, const char **err)
{
	struct remote *r = R(b);
	struct dpp_ctl_error e;

	(void)capacity; /* the daemon bounds each subscriber's queue */
	memset(&e, 0, sizeof(e));
	r->sub = dpp_ctlsub_open(r->path, "console", r->obo, NULL, 0, 1, 0, &e);
	if (r->sub == NULL) {
		if (e.kind == DPP_CTL_REFUSED && e.code[0] != '\0')
			snprintf(b->fail, sizeof(b->fail), "cannot subscribe to events: refused (%.31s): %.180s",
				 e.code, e.message);
		else
			snprintf(b->fail, sizeof(b->fail), "cannot subscribe to events: %.200s",
				 e.message[0] != '\0' ? e.message : "error");
		b->fail_exit = dpp_ctl_exit_code(&e);
		*err = b->fail;
		return -1;
	}
	b->fail[0] = '\0';
	return 0;
}

static int r_pop(struct tui_backend *b, struct dpp_event *ev)
{
	struct remote *r = R(b);
	struct dpp_ctlsub_msg m;
	struct dpp_ctl_error e;

	if (r->sub == NULL)
		return r->gone ? -1 : 0;
	for (;;) {
		int n = dpp_ctlsub_next(r->sub, &m, &e);

		if (n == 0)
			return 0;
		if (n < 0) {
			r->gone = 1;
			dpp_ctlsub_close(r->sub);
			r->sub = NULL;
			return -1;
		}
		switch (m.type) {
		case DPP_CTLSUB_EVENT:
			*ev = m.ev;
			return 1;
		case DPP_CTLSUB_LOG:
			if (b->log_sink != NULL)
				b->log_sink(b->log_arg, m.level, m.line);
			break;
		case DPP_CTLSUB_DROPPED:
			b->self_dropped = m.dropped;
			break;
		case DPP_CTLSUB_BYE:
			r->gone = 1;
			break;
		}
	}
}

static int r_fd(struct tui_backend *b)
{
	struct remote *r = R(b);

	return r->sub != NULL ? dpp_ctlsub_fd(r->sub) : -1;
}

static void r_unsubscribe(struct tui_backend *b)
{
	struct remote *r = R(b);

	dpp_ctlsub_close(r->sub);
	r->sub = NULL;
}

static int r_gone(struct tui_backend *b)
{
	return R(b)->gone;
}

static int r_connect(struct remote *r, struct dpp_ctl_error *e)
{
	struct dpp_ctl_peer peer;

	r->cl = dpp_ctlclient_connect(r->path, "console", r->obo, 0, &peer, e);
	if (r->cl == NULL)
		return -1;
	r->b.pid = peer.pid;
	r->gone = 0;
	return 0;
}

static int r_reconnect(struct tui_backend *b, char **err)
{
	struct remote *r = R(b);
	struct dpp_ctl_error e;
	const char *serr = NULL;

	memset(&e, 0, sizeof(e));
	r_unsubscribe(b);
	dpp_ctlclient_close(r->cl);
	r->cl = NULL;
	if (r_connect(r, &e) != 0) {
		r->gone = 1;
		*err = dup_err(&e);
		return -1;
	}
	if (r_subscribe(b, 0, &serr) != 0) {
		r->gone = 1;
		*err = strdup(serr);
		return -1;
	}
	return 0;
}

static void r_destroy(struct tui_backend *b)
{
	struct remote *r = R(b);

	if (b == NULL)
		return;
	r_unsubscribe(b);
	dpp_ctlclient_close(r->cl);
	free(r->subs);
	free(r);
}

static const struct tui_backend_ops remote_ops = {
	.snapshot = r_snapshot,
	.snapshot_free = r_snapshot_free,
	.foreach_sub = r_foreach_sub,
	.cond_text = r_cond_text,
	.read_config = r_read_config,
	.validate = r_validate,
	.apply = r_apply,
	.reload = r_reload,
	.subscribe = r_subscribe,
	.pop = r_pop,
	.fd = r_fd,
	.unsubscribe = r_unsubscribe,
	.gone = r_gone,
	.reconnect = r_reconnect,
	.destroy = r_destroy,
};

struct tui_backend *tui_backend_remote(const char *path, struct dpp_ctl_error *err)
{
	struct remote *r = calloc(1, sizeof(*r));

	if (r == NULL) {
		err->kind = DPP_CTL_SYSTEM;
		snprintf(err->message, sizeof(err->message), "out of memory");
		return NULL;
	}
	r->b.ops = &remote_ops;
	r->b.remote = 1;
	snprintf(r->path, sizeof(r->path), "%s", path);
	dpp_ctl_on_behalf_of(r->obo, sizeof(r->obo));
	if (r_connect(r, err) != 0) {
		free(r);
		return NULL;
	}
	return &r->b;
}
