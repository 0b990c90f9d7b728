/* hcb_log: see log.h. Thread-safe: one fprintf per line. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

int hcb_log_level = HCB_LOG_NOTICE;

static const char *const NAMES[] = {"ERR", "WARN", "NOTICE", "INFO", "DEBUG"};

void hcb_log_write(int level, const char *module, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s bridge.%s %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
            NAMES[level < 0 ? 0 : level > 4 ? 4 : level], module, msg);
}
