/*
 * hcb_log: one line per event on stderr: time, level, module, key=value
 * fields. The macro checks the level before formatting. Never log tokens,
 * SAS signatures or keys.
 */
#ifndef HCB_LOG_H
#define HCB_LOG_H

enum hcb_log_level { HCB_LOG_ERR = 0, HCB_LOG_WARN, HCB_LOG_NOTICE, HCB_LOG_INFO, HCB_LOG_DEBUG };

extern int hcb_log_level;

void hcb_log_write(int level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define hcb_log(level, module, ...)                                                                \
    do {                                                                                           \
        if ((level) <= hcb_log_level)                                                              \
            hcb_log_write((level), (module), __VA_ARGS__);                                         \
    } while (0)

#endif
