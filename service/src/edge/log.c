/* Logging to stderr; see log.h. */
#include "log.h"

#include <libwebsockets.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int hcs_log_level = HCS_LOG_NOTICE;

static const char *NAMES[] = {"ERR", "WARN", "NOTICE", "INFO", "DEBUG"};

void hcs_log_write(int level, const char *module, const char *fmt, ...)
{
    char ts[32];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s.%03ldZ %-6s %-9s %s\n", ts, now.tv_nsec / 1000000L,
            NAMES[level < 0 ? 0 : level > 4 ? 4 : level], module, line);
}

static void lws_emit(int level, const char *line)
{
    size_t len = strlen(line);
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    hcs_log(level == LLL_ERR ? HCS_LOG_ERR : HCS_LOG_WARN, "lws", "%.*s", (int)len, line);
}

void hcs_log_route_lws(void)
{
    int mask = LLL_ERR | LLL_WARN;
    lws_set_log_level(mask, lws_emit);
}
