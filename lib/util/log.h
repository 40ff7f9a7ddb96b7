/* Logging through a caller-supplied callback: the library never prints.
 *
 * A ph_logger is a plain value (callback, its context, the most verbose
 * level wanted) that modules borrow. Each call produces one line without a
 * trailing newline; the callback decides where it goes (the tool writes it
 * to stderr). A logger with fn == NULL discards everything. */
#ifndef PH_LOG_H
#define PH_LOG_H

#include <stdbool.h>
#include "error.h"

typedef enum ph_log_level {
    PH_LOG_ERROR, PH_LOG_WARN, PH_LOG_INFO, PH_LOG_DEBUG
} ph_log_level;

typedef void (*ph_log_fn)(void *ctx, ph_log_level level, const char *line);

typedef struct ph_logger {
    ph_log_fn fn;
    void *ctx;
    ph_log_level level; /* lines above this level are not formatted */
} ph_logger;

bool ph_log_enabled(const ph_logger *lg, ph_log_level level);
/* Lines longer than 1,023 bytes are cut. `lg` may be NULL. */
void ph_logf(const ph_logger *lg, ph_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *ph_log_level_name(ph_log_level level);
/* "error", "warn", "info", "debug"; PH_ERR_PARSE otherwise. */
PH_MUST_USE
ph_err ph_log_level_parse(const char *s, ph_log_level *out);

#endif
