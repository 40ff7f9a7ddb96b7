#include "msgcount.h"

#include <stdlib.h>
#include <string.h>

static bool widen(ph_msgcounts *c)
{
    c->wide = calloc(PH_MSGTYPE__COUNT, sizeof *c->wide);
    if (!c->wide)
        return false;
    for (unsigned s = 0; s < PH_MSGTYPE_COMMON; s++) {
        c->wide[s].msgs = c->msgs[s];
        c->wide[s].bytes = c->bytes[s];
    }
    return true;
}

void ph_msgcounts_add(ph_msgcounts *c, uint16_t type, size_t bytes)
{
    unsigned slot = ph_msgtype_slot(type);
    bool fits = slot < PH_MSGTYPE_COMMON && c->msgs[slot] != UINT32_MAX;
    if (!c->wide && !fits && !widen(c)) {
        c->unwidened++;
        if (slot >= PH_MSGTYPE_COMMON)
            slot = PH_MSGTYPE_OTHER;
        if (c->msgs[slot] != UINT32_MAX)
            c->msgs[slot]++;
        c->bytes[slot] += bytes;
        return;
    }
    if (c->wide) {
        c->wide[slot].msgs++;
        c->wide[slot].bytes += bytes;
        return;
    }
    c->msgs[slot]++;
    c->bytes[slot] += bytes;
}

void ph_msgcounts_get(const ph_msgcounts *c, ph_msgcount *out)
{
    if (c->wide) {
        memcpy(out, c->wide, PH_MSGTYPE__COUNT * sizeof *out);
        return;
    }
    memset(out, 0, PH_MSGTYPE__COUNT * sizeof *out);
    for (unsigned s = 0; s < PH_MSGTYPE_COMMON; s++) {
        out[s].msgs = c->msgs[s];
        out[s].bytes = c->bytes[s];
    }
}

size_t ph_msgcounts_heap_bytes(const ph_msgcounts *c)
{
    return c->wide ? PH_MSGTYPE__COUNT * sizeof *c->wide : 0;
}

void ph_msgcounts_release(ph_msgcounts *c)
{
    if (!c)
        return;
    free(c->wide);
    memset(c, 0, sizeof *c);
}
