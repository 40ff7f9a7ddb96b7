/* The BOLT test vectors' JSON reader (tests only).
 *
 * The library parses JSON with jansson; the vectors cannot use it: they carry
 * integers up to 2^64 - 1 (BigSize, u64 fields), beyond jansson's signed
 * 64-bit json_int_t, which refuses them. This DOM keeps every number's
 * source text, so the tests read those exactly. Every node and string comes
 * from one arena owned by the root. */
#include "vecjson.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"

#define MAX_DEPTH 256

struct ph_vjson {
    ph_vjson_kind kind;
    bool boolean;
    const char *text;  /* string value (decoded) or number source text */
    size_t text_len;
    size_t count;      /* array elements or object members */
    ph_vjson **items;   /* values */
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
 * that ph_vjson_free can find it. */
struct root_holder {
    ph_vjson node;
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

static ph_err parse_value(struct parser *p, ph_vjson *out);

static bool read_u4(struct parser *p, unsigned *out)
{
    if (p->len - p->pos < 4)
        return false;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = ph_hex_digit((unsigned char)p->s[p->pos + i]);
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

static ph_err parse_number(struct parser *p, ph_vjson *out)
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
    out->kind = PH_VJSON_NUMBER;
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
    ph_vjson **items;
    const char **keys;
    size_t n, cap;
};

static ph_err collect_push(struct collect *c, ph_vjson *v, const char *key)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        ph_vjson **items = realloc(c->items, cap * sizeof *items);
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

static ph_err collect_finish(struct parser *p, struct collect *c, ph_vjson *out, bool with_keys)
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

static ph_err parse_container(struct parser *p, ph_vjson *out, bool is_object)
{
    if (++p->depth > MAX_DEPTH)
        return PH_ERR_JSON;
    char close = is_object ? '}' : ']';
    out->kind = is_object ? PH_VJSON_OBJECT : PH_VJSON_ARRAY;
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
        ph_vjson *v = arena_alloc(p, sizeof *v);
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

static ph_err parse_value(struct parser *p, ph_vjson *out)
{
    skip_ws(p);
    if (p->pos >= p->len)
        return PH_ERR_JSON;
    char c = p->s[p->pos];
    if (c == '{' || c == '[')
        return parse_container(p, out, c == '{');
    if (c == '"') {
        out->kind = PH_VJSON_STRING;
        return parse_string(p, &out->text, &out->text_len);
    }
    if (c == '-' || (c >= '0' && c <= '9'))
        return parse_number(p, out);
    if (match_word(p, "true")) {
        out->kind = PH_VJSON_BOOL;
        out->boolean = true;
        return PH_OK;
    }
    if (match_word(p, "false")) {
        out->kind = PH_VJSON_BOOL;
        return PH_OK;
    }
    if (match_word(p, "null")) {
        out->kind = PH_VJSON_NULL;
        return PH_OK;
    }
    return PH_ERR_JSON;
}

ph_err ph_vjson_parse(ph_vjson **out, const char *text, size_t len, size_t *err_offset)
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
        ph_vjson_free(&root->node);
        return err;
    }
    *out = &root->node;
    return PH_OK;
}

ph_err ph_vjson_parse_file(ph_vjson **out, const char *path, size_t *err_offset)
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
    ph_err err = ph_vjson_parse(out, buf, len, err_offset);
    free(buf);
    return err;
}

void ph_vjson_free(ph_vjson *root)
{
    if (!root)
        return;
    struct root_holder *h = (struct root_holder *)root;
    arena_free(h->arena);
    free(h);
}

ph_vjson_kind ph_vjson_type(const ph_vjson *v)
{
    return v ? v->kind : PH_VJSON_NULL;
}

const ph_vjson *ph_vjson_get(const ph_vjson *obj, const char *key)
{
    if (!obj || obj->kind != PH_VJSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < obj->count; i++)
        if (strcmp(obj->keys[i], key) == 0)
            return obj->items[i];
    return NULL;
}

const ph_vjson *ph_vjson_at(const ph_vjson *arr, size_t i)
{
    if (!arr || arr->kind != PH_VJSON_ARRAY || i >= arr->count)
        return NULL;
    return arr->items[i];
}

size_t ph_vjson_len(const ph_vjson *v)
{
    if (!v || (v->kind != PH_VJSON_ARRAY && v->kind != PH_VJSON_OBJECT))
        return 0;
    return v->count;
}

const char *ph_vjson_key_at(const ph_vjson *obj, size_t i, const ph_vjson **val)
{
    if (!obj || obj->kind != PH_VJSON_OBJECT || i >= obj->count)
        return NULL;
    if (val)
        *val = obj->items[i];
    return obj->keys[i];
}

const char *ph_vjson_str(const ph_vjson *v, size_t *len)
{
    if (!v || v->kind != PH_VJSON_STRING)
        return NULL;
    if (len)
        *len = v->text_len;
    return v->text;
}

bool ph_vjson_bool(const ph_vjson *v, bool *out)
{
    if (!v || v->kind != PH_VJSON_BOOL)
        return false;
    *out = v->boolean;
    return true;
}

bool ph_vjson_u64(const ph_vjson *v, uint64_t *out)
{
    if (!v || v->kind != PH_VJSON_NUMBER || v->text[0] == '-' ||
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

bool ph_vjson_i64(const ph_vjson *v, int64_t *out)
{
    if (!v || v->kind != PH_VJSON_NUMBER || strpbrk(v->text, ".eE"))
        return false;
    errno = 0;
    char *end;
    long long x = strtoll(v->text, &end, 10);
    if (errno || *end)
        return false;
    *out = x;
    return true;
}

bool ph_vjson_double(const ph_vjson *v, double *out)
{
    if (!v || v->kind != PH_VJSON_NUMBER)
        return false;
    *out = strtod(v->text, NULL);
    return true;
}

bool ph_vjson_is_null(const ph_vjson *v)
{
    return v && v->kind == PH_VJSON_NULL;
}

const ph_vjson *ph_vjson_path(const ph_vjson *root, const char *path)
{
    const ph_vjson *cur = root;
    char seg[256];
    while (cur && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof seg)
            return NULL;
        memcpy(seg, path, n);
        seg[n] = 0;
        path += n + (path[n] == '.');
        if (cur->kind == PH_VJSON_ARRAY) {
            char *end;
            unsigned long i = strtoul(seg, &end, 10);
            if (!n || *end)
                return NULL;
            cur = ph_vjson_at(cur, i);
        } else {
            cur = ph_vjson_get(cur, seg);
        }
    }
    return cur;
}
