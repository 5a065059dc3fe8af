#include "dpp/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>

static atomic_int log_level = DPP_LOG_INFO;
static atomic_int log_format = DPP_LOG_FORMAT_TEXT;
static FILE *log_stream;
static dpp_log_sink_fn log_sink;
static void *log_sink_arg;

/* Taps (dpp_log_add_tap): registered at any time, so guarded by a lock;
 * n_taps lets dpp_log skip the lock when there are none. */
#define MAX_TAPS 4
static pthread_mutex_t taps_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	dpp_log_sink_fn fn;
	void *arg;
} taps[MAX_TAPS];
static atomic_int n_taps;

static const char *const level_names[] = {"trace", "debug", "info", "warn", "error"};

void dpp_log_set_level(enum dpp_log_level level) { atomic_store(&log_level, (int)level); }
void dpp_log_set_format(enum dpp_log_format format) { atomic_store(&log_format, (int)format); }
enum dpp_log_level dpp_log_get_level(void) { return (enum dpp_log_level)atomic_load(&log_level); }
void dpp_log_set_stream(FILE *stream) { log_stream = stream; }

void dpp_log_set_sink(dpp_log_sink_fn fn, void *arg)
{
	log_sink = fn;
	log_sink_arg = fn != NULL ? arg : NULL;
}

int dpp_log_add_tap(dpp_log_sink_fn fn, void *arg)
{
	int rc = -1;

	pthread_mutex_lock(&taps_lock);
	for (int i = 0; i < MAX_TAPS; i++) {
		if (taps[i].fn == NULL) {
			taps[i].fn = fn;
			taps[i].arg = arg;
			atomic_fetch_add(&n_taps, 1);
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&taps_lock);
	return rc;
}

void dpp_log_remove_tap(dpp_log_sink_fn fn, void *arg)
{
	pthread_mutex_lock(&taps_lock);
	for (int i = 0; i < MAX_TAPS; i++) {
		if (taps[i].fn == fn && taps[i].arg == arg) {
			taps[i].fn = NULL;
			taps[i].arg = NULL;
			atomic_fetch_sub(&n_taps, 1);
			break;
		}
	}
	pthread_mutex_unlock(&taps_lock);
}

int dpp_log_parse_level(const char *name, enum dpp_log_level *out)
{
	if (name == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(name, level_names[i]) == 0) {
			*out = (enum dpp_log_level)i;
			return 0;
		}
	}
	if (strcasecmp(name, "warning") == 0) {
		*out = DPP_LOG_WARN;
		return 0;
	}
	return -1;
}

const char *dpp_log_level_name(enum dpp_log_level level)
{
	if ((int)level < 0 || (size_t)level >= sizeof(level_names) / sizeof(level_names[0]))
		return "info";
	return level_names[level];
}

/* Replaces control bytes so one event is always one line. */
static void sanitize(char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
	}
}

void dpp_log(enum dpp_log_level level, const char *fmt, ...)
{
	char msg[2048];
	char stamp[96];
	char line[4200];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	FILE *out = log_stream != NULL ? log_stream : stderr;

	if ((int)level < atomic_load(&log_level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sanitize(msg);

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 ts.tv_nsec / 1000000L);

	if (atomic_load(&log_format) == DPP_LOG_FORMAT_JSON) {
		cJSON *obj = cJSON_CreateObject();
		char *text = NULL;

		if (obj != NULL && cJSON_AddStringToObject(obj, "time", stamp) != NULL &&
		    cJSON_AddStringToObject(obj, "level", dpp_log_level_name(level)) != NULL &&
		    cJSON_AddStringToObject(obj, "msg", msg) != NULL)
			text = cJSON_PrintUnformatted(obj);
		cJSON_Delete(obj);
		if (text == NULL)
			return; /* out of memory: nothing sane to print */
		snprintf(line, sizeof(line), "%s\n", text);
		cJSON_free(text);
	} else {
		snprintf(line, sizeof(line), "%s %-5s %s\n", stamp, dpp_log_level_name(level), msg);
	}
	flockfile(out);
	fputs(line, out);
	fflush(out);
	funlockfile(out);
	if (log_sink != NULL || atomic_load(&n_taps) > 0) {
		size_t n = strlen(line);

		if (n > 0 && line[n - 1] == '\n')
			line[n - 1] = '\0';
		if (log_sink != NULL)
			log_sink(log_sink_arg, level, line);
		if (atomic_load(&n_taps) > 0) {
			pthread_mutex_lock(&taps_lock);
			for (int i = 0; i < MAX_TAPS; i++) {
				if (taps[i].fn != NULL)
					taps[i].fn(taps[i].arg, level, line);
			}
			pthread_mutex_unlock(&taps_lock);
		}
	}
}
