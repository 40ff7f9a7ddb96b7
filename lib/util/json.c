/* JSON through jansson (parse with one-line errors, strict reads, latched
 * building, fixed dump style), and hex. */
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void parse_error(const json_error_t *e, char *why, size_t len)
{
    if (why && len)
        snprintf(why, len, "line %d column %d: %s", e->line, e->column, e->text);
}

ph_err ph_json_parse(const char *text, size_t len, json_t **out, char *why, size_t why_len)
{
    json_error_t e;
    *out = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
    if (*out)
        return PH_OK;
    parse_error(&e, why, why_len);
    return json_error_code(&e) == json_error_out_of_memory ? PH_ERR_NOMEM : PH_ERR_JSON;
}

ph_err ph_json_load_file(const char *path, json_t **out, char *why, size_t why_len)
{
    *out = NULL;
    /* Opened here, not by json_load_file, so an unreadable file keeps its
     * errno and reads as an I/O error rather than as bad JSON. */
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (why && why_len)
            snprintf(why, why_len, "%s", strerror(errno));
        return PH_ERR_IO;
    }
    json_error_t e;
    *out = json_loadf(f, JSON_REJECT_DUPLICATES, &e);
    bool read_failed = ferror(f);
    int saved = errno;
    fclose(f);
    if (read_failed) {
        json_decref(*out);
        *out = NULL;
        if (why && why_len)
            snprintf(why, why_len, "%s", strerror(saved));
        errno = saved;
        return PH_ERR_IO;
    }
    if (*out)
        return PH_OK;
    parse_error(&e, why, why_len);
    return json_error_code(&e) == json_error_out_of_memory ? PH_ERR_NOMEM : PH_ERR_JSON;
}

bool ph_json_u64_value(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

bool ph_json_double_value(const json_t *v, double *out)
{
    if (!json_is_number(v))
        return false;
    *out = json_number_value(v);
    return true;
}

void ph_json_copy_text(char *buf, size_t len, const char *src)
{
    if (!len)
        return;
    size_t n = strlen(src);
    if (n >= len) {
        n = len - 1;
        /* src[n] is the first byte left out: if it continues a character,
         * that character is left out whole */
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(buf, src, n);
    buf[n] = 0;
}

void ph_json_copy_str(const json_t *obj, const char *key, char *buf, size_t len)
{
    const char *s = json_string_value(json_object_get(obj, key));
    ph_json_copy_text(buf, len, s ? s : "");
}

void ph_json_put(json_t *obj, const char *key, json_t *v, bool *failed)
{
    /* json_object_set_new takes `v` even when it fails, and fails on NULL */
    if (json_object_set_new(obj, key, v) != 0)
        *failed = true;
}

void ph_json_append(json_t *arr, json_t *v, bool *failed)
{
    if (json_array_append_new(arr, v) != 0)
        *failed = true;
}

json_t *ph_json_u64(uint64_t v)
{
    if (v > (uint64_t)INT64_MAX)
        return json_real((double)v);
    return json_integer((json_int_t)v);
}

json_t *ph_json_real(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

json_t *ph_json_text(const char *s)
{
    json_t *j = json_string(s);
    if (j || !s)
        return j;
    /* jansson refuses invalid UTF-8: keep the ASCII, mark the rest */
    size_t n = strlen(s);
    char *copy = malloc(n + 1);
    if (!copy)
        return NULL;
    for (size_t i = 0; i <= n; i++)
        copy[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    j = json_string(copy);
    free(copy);
    return j;
}

ph_err ph_json_dump(const json_t *v, FILE *f, bool pretty)
{
    size_t flags = (pretty ? JSON_INDENT(2) : JSON_COMPACT) | JSON_PRESERVE_ORDER;
    /* A small value (dump --json writes one per message) goes out in one
     * write: json_dumpf calls stdio once per token. */
    char buf[1024];
    size_t n = json_dumpb(v, buf, sizeof buf - 1, flags);
    if (n > 0 && n < sizeof buf - 1) {
        buf[n++] = '\n';
        if (fwrite(buf, 1, n, f) != n)
            return PH_ERR_IO;
        return ferror(f) ? PH_ERR_IO : PH_OK;
    }
    if (json_dumpf(v, f, flags) != 0 || fputc('\n', f) == EOF)
        return PH_ERR_IO;
    return ferror(f) ? PH_ERR_IO : PH_OK;
}
