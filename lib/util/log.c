#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const names[] = { "error", "warn", "info", "debug" };

bool ph_log_enabled(const ph_logger *lg, ph_log_level level)
{
    return lg && lg->fn && level <= lg->level;
}

void ph_logf(const ph_logger *lg, ph_log_level level, const char *fmt, ...)
{
    if (!ph_log_enabled(lg, level))
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    lg->fn(lg->ctx, level, line);
}

const char *ph_log_level_name(ph_log_level level)
{
    return (unsigned)level < sizeof names / sizeof names[0] ? names[level] : "?";
}

ph_err ph_log_level_parse(const char *s, ph_log_level *out)
{
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (ph_log_level)i;
            return PH_OK;
        }
    }
    if (strcmp(s, "warning") == 0) {
        *out = PH_LOG_WARN;
        return PH_OK;
    }
    return PH_ERR_PARSE;
}
