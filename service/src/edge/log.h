/*
 * hcs_log: one line per event: time, level, module, then key=value fields.
 * The macro checks the level before formatting. Never log tokens or keys.
 */
#ifndef HCS_LOG_H
#define HCS_LOG_H

enum hcs_log_level { HCS_LOG_ERR = 0, HCS_LOG_WARN, HCS_LOG_NOTICE, HCS_LOG_INFO, HCS_LOG_DEBUG };

extern int hcs_log_level;

void hcs_log_write(int level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define hcs_log(level, module, ...)                                                                \
    do {                                                                                           \
        if ((level) <= hcs_log_level)                                                              \
            hcs_log_write((level), (module), __VA_ARGS__);                                         \
    } while (0)

/* Route libwebsockets' own log lines into ours (only warnings and errors). */
void hcs_log_route_lws(void);

#endif
