/* A small JSON DOM parser and a streaming writer.
 *
 * The parser allocates every node and string from one arena owned by the
 * root, so a tree is freed in one call and lookups never copy. Numbers keep
 * their source text: test vectors carry 64-bit values that a double would
 * round. */
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 256

struct ph_json {
    ph_json_kind kind;
    bool boolean;
    const char *text;  /* string value (decoded) or number source text */
    size_t text_len;
    size_t count;      /* array elements or object members */
    ph_json **items;   /* values */
    const char **keys; /* object keys, parallel to items */
};

/* Arena blocks chained from the root; the root node lives in the first. */
struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    _Alignas(max_align_t) unsigned char data[];
};

struct parser {
    const char *s;
    size_t len, pos;
    struct arena_block *arena;
    int depth;
};

/* The root node is followed in memory by a pointer to its arena chain so
 * that ph_json_free can find it. */
struct root_holder {
    ph_json node;
    struct arena_block *arena;
};

static void *arena_alloc(struct parser *p, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct arena_block *b = p->arena;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        struct arena_block *nb = malloc(sizeof *nb + cap);
        if (!nb)
            return NULL;
        nb->next = b;
        nb->used = 0;
        nb->cap = cap;
        p->arena = nb;
        b = nb;
    }
    void *r = b->data + b->used;
    b->used += n;
    return r;
}

static void arena_free(struct arena_block *b)
{
    while (b) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
}

static void skip_ws(struct parser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return;
        p->pos++;
    }
}

static ph_err parse_value(struct parser *p, ph_json *out);

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool read_u4(struct parser *p, unsigned *out)
{
    if (p->len - p->pos < 4)
        return false;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval((unsigned char)p->s[p->pos + i]);
        if (h < 0)
            return false;
        v = v << 4 | (unsigned)h;
    }
    p->pos += 4;
    *out = v;
    return true;
}

static size_t put_utf8(char *dst, unsigned cp)
{
    if (cp < 0x80) {
        dst[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        dst[0] = (char)(0xc0 | cp >> 6);
        dst[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        dst[0] = (char)(0xe0 | cp >> 12);
        dst[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        dst[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    dst[0] = (char)(0xf0 | cp >> 18);
    dst[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    dst[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    dst[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Decoded text is never longer than its escaped source, so one allocation
 * of the source length suffices. */
static ph_err parse_string(struct parser *p, const char **out, size_t *out_len)
{
    p->pos++; /* opening quote */
    size_t start = p->pos;
    size_t end = start;
    while (end < p->len && p->s[end] != '"') {
        if (p->s[end] == '\\')
            end++;
        end++;
    }
    if (end >= p->len)
        return PH_ERR_JSON;
    char *dst = arena_alloc(p, end - start + 1);
    if (!dst)
        return PH_ERR_NOMEM;
    size_t n = 0;
    while (p->pos < end) {
        unsigned char c = (unsigned char)p->s[p->pos++];
        if (c < 0x20)
            return PH_ERR_JSON;
        if (c != '\\') {
            dst[n++] = (char)c;
            continue;
        }
        char e = p->s[p->pos++];
        switch (e) {
        case '"': dst[n++] = '"'; break;
        case '\\': dst[n++] = '\\'; break;
        case '/': dst[n++] = '/'; break;
        case 'b': dst[n++] = '\b'; break;
        case 'f': dst[n++] = '\f'; break;
        case 'n': dst[n++] = '\n'; break;
        case 'r': dst[n++] = '\r'; break;
        case 't': dst[n++] = '\t'; break;
        case 'u': {
            unsigned cp;
            if (!read_u4(p, &cp))
                return PH_ERR_JSON;
            if (cp >= 0xd800 && cp < 0xdc00 && p->pos + 6 <= end && p->s[p->pos] == '\\' &&
                p->s[p->pos + 1] == 'u') {
                p->pos += 2;
                unsigned lo;
                if (!read_u4(p, &lo) || lo < 0xdc00 || lo > 0xdfff)
                    return PH_ERR_JSON;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            n += put_utf8(dst + n, cp);
            break;
        }
        default:
            return PH_ERR_JSON;
        }
    }
    p->pos = end + 1;
    dst[n] = 0;
    *out = dst;
    *out_len = n;
    return PH_OK;
}

static ph_err parse_number(struct parser *p, ph_json *out)
{
    size_t start = p->pos;
    if (p->s[p->pos] == '-')
        p->pos++;
    size_t digits = p->pos;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
        p->pos++;
    if (p->pos == digits)
        return PH_ERR_JSON;
    if (p->pos < p->len && p->s[p->pos] == '.') {
        size_t frac = ++p->pos;
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            p->pos++;
        if (p->pos == frac)
            return PH_ERR_JSON;
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
            p->pos++;
        size_t exp = p->pos;
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            p->pos++;
        if (p->pos == exp)
            return PH_ERR_JSON;
    }
    size_t n = p->pos - start;
    char *t = arena_alloc(p, n + 1);
    if (!t)
        return PH_ERR_NOMEM;
    memcpy(t, p->s + start, n);
    t[n] = 0;
    out->kind = PH_JSON_NUMBER;
    out->text = t;
    out->text_len = n;
    return PH_OK;
}

static bool match_word(struct parser *p, const char *w)
{
    size_t n = strlen(w);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, w, n) != 0)
        return false;
    p->pos += n;
    return true;
}

/* Elements are collected in a growing temporary array, then copied into the
 * arena at their final size. */
struct collect {
    ph_json **items;
    const char **keys;
    size_t n, cap;
};

static ph_err collect_push(struct collect *c, ph_json *v, const char *key)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        ph_json **items = realloc(c->items, cap * sizeof *items);
        if (!items)
            return PH_ERR_NOMEM;
        c->items = items;
        const char **keys = realloc(c->keys, cap * sizeof *keys);
        if (!keys)
            return PH_ERR_NOMEM;
        c->keys = keys;
        c->cap = cap;
    }
    c->items[c->n] = v;
    c->keys[c->n] = key;
    c->n++;
    return PH_OK;
}

static ph_err collect_finish(struct parser *p, struct collect *c, ph_json *out, bool with_keys)
{
    out->count = c->n;
    if (c->n) {
        out->items = arena_alloc(p, c->n * sizeof *out->items);
        if (!out->items)
            return PH_ERR_NOMEM;
        memcpy(out->items, c->items, c->n * sizeof *out->items);
        if (with_keys) {
            out->keys = arena_alloc(p, c->n * sizeof *out->keys);
            if (!out->keys)
                return PH_ERR_NOMEM;
            memcpy(out->keys, c->keys, c->n * sizeof *out->keys);
        }
    }
    return PH_OK;
}

static ph_err parse_container(struct parser *p, ph_json *out, bool is_object)
{
    if (++p->depth > MAX_DEPTH)
        return PH_ERR_JSON;
    char close = is_object ? '}' : ']';
    out->kind = is_object ? PH_JSON_OBJECT : PH_JSON_ARRAY;
    p->pos++;
    struct collect c = {0};
    ph_err err = PH_OK;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        goto done;
    }
    for (;;) {
        const char *key = NULL;
        skip_ws(p);
        if (is_object) {
            size_t klen;
            if (p->pos >= p->len || p->s[p->pos] != '"') {
                err = PH_ERR_JSON;
                goto done;
            }
            if ((err = parse_string(p, &key, &klen)))
                goto done;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') {
                err = PH_ERR_JSON;
                goto done;
            }
            p->pos++;
        }
        ph_json *v = arena_alloc(p, sizeof *v);
        if (!v) {
            err = PH_ERR_NOMEM;
            goto done;
        }
        memset(v, 0, sizeof *v);
        if ((err = parse_value(p, v)) || (err = collect_push(&c, v, key)))
            goto done;
        skip_ws(p);
        if (p->pos >= p->len) {
            err = PH_ERR_JSON;
            goto done;
        }
        char sep = p->s[p->pos++];
        if (sep == close)
            break;
        if (sep != ',') {
            err = PH_ERR_JSON;
            goto done;
        }
    }
done:
    if (!err)
        err = collect_finish(p, &c, out, is_object);
    free(c.items);
    free(c.keys);
    p->depth--;
    return err;
}

static ph_err parse_value(struct parser *p, ph_json *out)
{
    skip_ws(p);
    if (p->pos >= p->len)
        return PH_ERR_JSON;
    char c = p->s[p->pos];
    if (c == '{' || c == '[')
        return parse_container(p, out, c == '{');
    if (c == '"') {
        out->kind = PH_JSON_STRING;
        return parse_string(p, &out->text, &out->text_len);
    }
    if (c == '-' || (c >= '0' && c <= '9'))
        return parse_number(p, out);
    if (match_word(p, "true")) {
        out->kind = PH_JSON_BOOL;
        out->boolean = true;
        return PH_OK;
    }
    if (match_word(p, "false")) {
        out->kind = PH_JSON_BOOL;
        return PH_OK;
    }
    if (match_word(p, "null")) {
        out->kind = PH_JSON_NULL;
        return PH_OK;
    }
    return PH_ERR_JSON;
}

ph_err ph_json_parse(ph_json **out, const char *text, size_t len, size_t *err_offset)
{
    *out = NULL;
    struct root_holder *root = calloc(1, sizeof *root);
    if (!root)
        return PH_ERR_NOMEM;
    struct parser p = {.s = text, .len = len};
    ph_err err = parse_value(&p, &root->node);
    if (!err) {
        skip_ws(&p);
        if (p.pos != p.len)
            err = PH_ERR_JSON;
    }
    root->arena = p.arena;
    if (err) {
        if (err_offset)
            *err_offset = p.pos;
        ph_json_free(&root->node);
        return err;
    }
    *out = &root->node;
    return PH_OK;
}

ph_err ph_json_parse_file(ph_json **out, const char *path, size_t *err_offset)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return PH_ERR_IO;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 65536) {
            cap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return PH_ERR_NOMEM;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        return PH_ERR_IO;
    }
    ph_err err = ph_json_parse(out, buf, len, err_offset);
    free(buf);
    return err;
}

void ph_json_free(ph_json *root)
{
    if (!root)
        return;
    struct root_holder *h = (struct root_holder *)root;
    arena_free(h->arena);
    free(h);
}

ph_json_kind ph_json_type(const ph_json *v)
{
    return v ? v->kind : PH_JSON_NULL;
}

const ph_json *ph_json_get(const ph_json *obj, const char *key)
{
    if (!obj || obj->kind != PH_JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < obj->count; i++)
        if (strcmp(obj->keys[i], key) == 0)
            return obj->items[i];
    return NULL;
}

const ph_json *ph_json_at(const ph_json *arr, size_t i)
{
    if (!arr || arr->kind != PH_JSON_ARRAY || i >= arr->count)
        return NULL;
    return arr->items[i];
}

size_t ph_json_len(const ph_json *v)
{
    if (!v || (v->kind != PH_JSON_ARRAY && v->kind != PH_JSON_OBJECT))
        return 0;
    return v->count;
}

const char *ph_json_key_at(const ph_json *obj, size_t i, const ph_json **val)
{
    if (!obj || obj->kind != PH_JSON_OBJECT || i >= obj->count)
        return NULL;
    if (val)
        *val = obj->items[i];
    return obj->keys[i];
}

const char *ph_json_str(const ph_json *v, size_t *len)
{
    if (!v || v->kind != PH_JSON_STRING)
        return NULL;
    if (len)
        *len = v->text_len;
    return v->text;
}

bool ph_json_bool(const ph_json *v, bool *out)
{
    if (!v || v->kind != PH_JSON_BOOL)
        return false;
    *out = v->boolean;
    return true;
}

bool ph_json_u64(const ph_json *v, uint64_t *out)
{
    if (!v || v->kind != PH_JSON_NUMBER || v->text[0] == '-' ||
        strpbrk(v->text, ".eE"))
        return false;
    errno = 0;
    char *end;
    unsigned long long x = strtoull(v->text, &end, 10);
    if (errno || *end)
        return false;
    *out = x;
    return true;
}

bool ph_json_i64(const ph_json *v, int64_t *out)
{
    if (!v || v->kind != PH_JSON_NUMBER || strpbrk(v->text, ".eE"))
        return false;
    errno = 0;
    char *end;
    long long x = strtoll(v->text, &end, 10);
    if (errno || *end)
        return false;
    *out = x;
    return true;
}

bool ph_json_double(const ph_json *v, double *out)
{
    if (!v || v->kind != PH_JSON_NUMBER)
        return false;
    *out = strtod(v->text, NULL);
    return true;
}

bool ph_json_is_null(const ph_json *v)
{
    return v && v->kind == PH_JSON_NULL;
}

const ph_json *ph_json_path(const ph_json *root, const char *path)
{
    const ph_json *cur = root;
    char seg[256];
    while (cur && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof seg)
            return NULL;
        memcpy(seg, path, n);
        seg[n] = 0;
        path += n + (path[n] == '.');
        if (cur->kind == PH_JSON_ARRAY) {
            char *end;
            unsigned long i = strtoul(seg, &end, 10);
            if (!n || *end)
                return NULL;
            cur = ph_json_at(cur, i);
        } else {
            cur = ph_json_get(cur, seg);
        }
    }
    return cur;
}

ph_err ph_hex_decode(const char *hex, size_t hex_len, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (hex_len % 2)
        return PH_ERR_PARSE;
    uint8_t *buf = malloc(hex_len / 2 + 1);
    if (!buf)
        return PH_ERR_NOMEM;
    for (size_t i = 0; i < hex_len / 2; i++) {
        int hi = hexval((unsigned char)hex[2 * i]), lo = hexval((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(buf);
            return PH_ERR_PARSE;
        }
        buf[i] = (uint8_t)(hi << 4 | lo);
    }
    *out = buf;
    *out_len = hex_len / 2;
    return PH_OK;
}

ph_err ph_hex_decode_fixed(const char *hex, uint8_t *out, size_t n)
{
    if (!hex || strlen(hex) != 2 * n)
        return PH_ERR_PARSE;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval((unsigned char)hex[2 * i]), lo = hexval((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return PH_ERR_PARSE;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return PH_OK;
}

void ph_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = 0;
}

/* ---- writer ---- */

struct ph_json_writer {
    FILE *f;
    bool pretty;
    int depth;
    bool need_comma[MAX_DEPTH + 1];
    bool after_key;
    ph_err err;
    /* The last number ph_jw_double formatted: a capture's messages come
     * many to a packet, with one timestamp. */
    bool have_last;
    double last;
    char last_text[32];
};

ph_err ph_json_writer_create(ph_json_writer **out, FILE *f, bool pretty)
{
    ph_json_writer *w = calloc(1, sizeof *w);
    if (!w)
        return PH_ERR_NOMEM;
    w->f = f;
    w->pretty = pretty;
    *out = w;
    return PH_OK;
}

void ph_json_writer_destroy(ph_json_writer *w)
{
    free(w);
}

/* A writer belongs to one thread: stdio's per-call locking is not needed
 * (dump --json writes a dozen tokens per message). */
static void emit(ph_json_writer *w, const char *s, size_t n)
{
    if (!w->err && fwrite_unlocked(s, 1, n, w->f) != n)
        w->err = PH_ERR_IO;
}

static void emits(ph_json_writer *w, const char *s)
{
    emit(w, s, strlen(s));
}

static void indent(ph_json_writer *w)
{
    if (!w->pretty)
        return;
    emit(w, "\n", 1);
    for (int i = 0; i < w->depth; i++)
        emit(w, "  ", 2);
}

/* Called before every value or key: separators and indentation. */
static void before_item(ph_json_writer *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth > 0) {
        if (w->need_comma[w->depth])
            emit(w, ",", 1);
        indent(w);
    }
    w->need_comma[w->depth] = true;
}

static void open_container(ph_json_writer *w, const char *c)
{
    before_item(w);
    emits(w, c);
    if (w->depth >= MAX_DEPTH) {
        w->err = PH_ERR_LIMIT;
        return;
    }
    w->depth++;
    w->need_comma[w->depth] = false;
}

static void close_container(ph_json_writer *w, const char *c)
{
    if (w->depth == 0) {
        w->err = PH_ERR_STATE;
        return;
    }
    bool had_items = w->need_comma[w->depth];
    w->depth--;
    if (had_items)
        indent(w);
    emits(w, c);
}

void ph_jw_object_begin(ph_json_writer *w) { open_container(w, "{"); }
void ph_jw_object_end(ph_json_writer *w) { close_container(w, "}"); }
void ph_jw_array_begin(ph_json_writer *w) { open_container(w, "["); }
void ph_jw_array_end(ph_json_writer *w) { close_container(w, "]"); }

static bool plain_char(unsigned char c)
{
    return c >= 0x20 && c != '"' && c != '\\';
}

/* Runs of characters that need no escape go out in one write. */
static void write_escaped(ph_json_writer *w, const char *s)
{
    emit(w, "\"", 1);
    const unsigned char *c = (const unsigned char *)s;
    while (*c) {
        const unsigned char *run = c;
        while (*c && plain_char(*c))
            c++;
        if (c > run)
            emit(w, (const char *)run, (size_t)(c - run));
        if (!*c)
            break;
        char esc[8];
        switch (*c) {
        case '"': emits(w, "\\\""); break;
        case '\\': emits(w, "\\\\"); break;
        case '\n': emits(w, "\\n"); break;
        case '\r': emits(w, "\\r"); break;
        case '\t': emits(w, "\\t"); break;
        default:
            snprintf(esc, sizeof esc, "\\u%04x", *c);
            emits(w, esc);
        }
        c++;
    }
    emit(w, "\"", 1);
}

void ph_jw_key(ph_json_writer *w, const char *key)
{
    before_item(w);
    write_escaped(w, key);
    emits(w, w->pretty ? ": " : ":");
    w->after_key = true;
}

void ph_jw_string(ph_json_writer *w, const char *s)
{
    before_item(w);
    write_escaped(w, s ? s : "");
}

void ph_jw_u64(ph_json_writer *w, uint64_t v)
{
    char buf[24];
    size_t i = sizeof buf;
    before_item(w);
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    emit(w, buf + i, sizeof buf - i);
}

void ph_jw_i64(ph_json_writer *w, int64_t v)
{
    char buf[32];
    before_item(w);
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    emits(w, buf);
}

void ph_jw_double(ph_json_writer *w, double v)
{
    char buf[64];
    before_item(w);
    if (!isfinite(v)) {
        emits(w, "null");
        return;
    }
    /* The shortest %.Ng (6 <= N <= 17) that reads back as v: %.17g always
     * does, and a form that does stays exact with more digits, so the
     * shortest is found by bisection. */
    if (w->have_last && v == w->last && !(v == 0 && signbit(v) != signbit(w->last))) {
        emits(w, w->last_text);
        return;
    }
    int lo = 6, hi = 17;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        snprintf(buf, sizeof buf, "%.*g", mid, v);
        if (strtod(buf, NULL) == v)
            hi = mid;
        else
            lo = mid + 1;
    }
    snprintf(buf, sizeof buf, "%.*g", lo, v);
    emits(w, buf);
    snprintf(w->last_text, sizeof w->last_text, "%s", buf);
    w->last = v;
    w->have_last = true;
}

void ph_jw_bool(ph_json_writer *w, bool v)
{
    before_item(w);
    emits(w, v ? "true" : "false");
}

void ph_jw_null(ph_json_writer *w)
{
    before_item(w);
    emits(w, "null");
}

void ph_jw_newline(ph_json_writer *w)
{
    emit(w, "\n", 1);
    w->need_comma[0] = false;
}

ph_err ph_json_writer_error(const ph_json_writer *w)
{
    return w->err;
}
