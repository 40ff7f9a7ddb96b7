/* peerheap decode: one summary line per Lightning message, from hex
 * arguments or from a .lnmsgs file ([u16 big-endian length][message]...). */
#include "cli.h"
#include "commands.h"
#include "hex.h"
#include "lnmsgs.h"
#include "wire.h"
#include "wire_summary.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Counts per message type, for --count (65,536 types: index = type). */
struct counts {
    size_t *by_type;
    size_t total;
};

static void print_summary(const ph_wire_msg *m)
{
    char line[512];
    size_t need = ph_wire_summary(m, line, sizeof(line));
    if (need < sizeof(line)) {
        puts(line);
        return;
    }
    char *big = malloc(need + 1);
    if (!big) {
        puts(line);
        return;
    }
    ph_wire_summary(m, big, need + 1);
    puts(big);
    free(big);
}

/* Decode one message; prints its summary or counts it. `where` names the
 * input for errors. Returns false on bad input. */
static bool decode_one(const uint8_t *b, size_t len, struct counts *c, const char *where)
{
    ph_wire_msg *m = NULL;
    size_t eo = 0;
    ph_err e = ph_wire_decode(b, len, PH_WIRE_BORROW, &m, &eo);
    if (e) {
        uint16_t type = 0;
        const char *name = NULL;
        if (ph_wire_peek_type(b, len, &type) == PH_OK)
            name = ph_wire_type_name(type);
        if (name)
            ph_cli_error("%s: %s: %s (at byte %zu of %zu)", where, name, ph_strerror(e), eo, len);
        else
            ph_cli_error("%s: %s (at byte %zu of %zu)", where, ph_strerror(e), eo, len);
        return false;
    }
    if (c) {
        c->by_type[ph_wire_msg_type(m)]++;
        c->total++;
    } else {
        print_summary(m);
    }
    ph_wire_msg_free(m);
    return true;
}

static bool decode_hex_arg(const char *arg, size_t idx, struct counts *c)
{
    char where[64];
    uint8_t *b = NULL;
    size_t n = 0;
    snprintf(where, sizeof(where), "argument %zu", idx);
    if (strncmp(arg, "0x", 2) == 0 || strncmp(arg, "0X", 2) == 0)
        arg += 2;
    if (ph_hex_decode(arg, strlen(arg), &b, &n) != PH_OK) {
        ph_cli_error("%s: not an even-length hex string", where);
        return false;
    }
    bool ok = decode_one(b, n, c, where);
    free(b);
    return ok;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        ph_cli_error("%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *b = malloc(cap);
    while (b) {
        n += fread(b + n, 1, cap - n, f);
        if (n < cap)
            break;
        uint8_t *nb = realloc(b, cap * 2);
        if (!nb) {
            free(b);
            b = NULL;
            break;
        }
        b = nb;
        cap *= 2;
    }
    bool err = ferror(f);
    fclose(f);
    if (!b || err) {
        ph_cli_error("%s: %s", path, b ? "read error" : "out of memory");
        free(b);
        return NULL;
    }
    *len = n;
    return b;
}

/* Returns an exit code. A broken frame ends the walk (the rest cannot be
 * framed); a message that does not decode is reported and skipped. */
static int decode_file(const char *path, struct counts *c)
{
    size_t flen = 0, pos = 0;
    bool bad = false;
    uint8_t *f = slurp(path, &flen);
    if (!f)
        return PH_EXIT_USAGE;
    while (pos < flen) {
        char where[600];
        snprintf(where, sizeof(where), "%s: offset %zu", path, pos);
        const uint8_t *msg;
        size_t len = 0;
        if (ph_lnmsgs_next(f, flen, &pos, &msg, &len) != PH_OK) {
            if (flen - pos < 2)
                ph_cli_error("%s: truncated length prefix (%zu byte left)", where, flen - pos);
            else if (len < PH_LNMSGS_MIN)
                ph_cli_error("%s: record of %zu bytes, shorter than a message type", where, len);
            else
                ph_cli_error("%s: truncated message (length %zu, %zu bytes left)", where, len,
                             flen - pos - 2);
            bad = true;
            break;
        }
        if (!len)
            break;
        if (!decode_one(msg, len, c, where))
            bad = true;
    }
    free(f);
    return bad ? PH_EXIT_USAGE : PH_EXIT_OK;
}

static void print_counts(const struct counts *c)
{
    for (size_t t = 0; t < 65536; t++) {
        if (!c->by_type[t])
            continue;
        char buf[PH_WIRE_TYPE_STRLEN];
        printf("%s %zu\n", ph_wire_type_str((uint16_t)t, buf), c->by_type[t]);
    }
    printf("total %zu\n", c->total);
}

static int decode_all(const char *file, char **hex, int nhex, bool count)
{
    if (!file == !nhex) {
        ph_cli_error("decode: give either HEX arguments or --file F (try 'peerheap decode --help')");
        return PH_EXIT_USAGE;
    }
    struct counts c = {NULL, 0};
    if (count) {
        c.by_type = calloc(65536, sizeof(*c.by_type));
        if (!c.by_type) {
            ph_cli_error("decode: out of memory");
            return PH_EXIT_USAGE;
        }
    }
    int rc = PH_EXIT_OK;
    if (file) {
        rc = decode_file(file, count ? &c : NULL);
    } else {
        for (int i = 0; i < nhex; i++)
            if (!decode_hex_arg(hex[i], (size_t)i + 1, count ? &c : NULL))
                rc = PH_EXIT_USAGE;
    }
    if (count)
        print_counts(&c);
    free(c.by_type);
    return rc;
}

enum { OPT_FILE = PH_OPT_BASE, OPT_COUNT };

static const struct option long_opts[] = {
    {"file", required_argument, NULL, OPT_FILE},
    {"count", no_argument, NULL, OPT_COUNT},
    {NULL, 0, NULL, 0},
};

static int run_decode(int argc, char **argv)
{
    const char *file = NULL;
    bool count = false, file_twice = false;
    int nhex = 0;
    char **hex = calloc((size_t)argc, sizeof *hex);
    if (!hex) {
        ph_cli_error("decode: out of memory");
        return PH_EXIT_USAGE;
    }
    ph_cli_getopt_reset();
    int opt;
    char name[64];
    while ((opt = getopt_long(argc, argv, "-:", long_opts, NULL)) != -1) {
        if (opt == 1) {
            hex[nhex++] = optarg;
        } else if (opt == OPT_FILE) {
            file_twice = file != NULL;
            file = optarg;
        } else if (opt == OPT_COUNT) {
            count = true;
        } else if (opt == ':' && optopt == OPT_FILE) {
            file_twice = true; /* reads the same: one file name, once */
        } else {
            ph_cli_error("decode: unknown option '%s' (try 'peerheap decode --help')",
                         ph_cli_bad_option(argv, name, sizeof name));
            free(hex);
            return PH_EXIT_USAGE;
        }
        if (file_twice) {
            ph_cli_error("decode: --file takes one file name (once)");
            free(hex);
            return PH_EXIT_USAGE;
        }
    }
    for (; optind < argc; optind++) /* after "--" */
        hex[nhex++] = argv[optind];
    int rc = decode_all(file, hex, nhex, count);
    free(hex);
    return rc;
}

const struct ph_command ph_cmd_decode = {
    "decode",
    "print a one-line summary of Lightning wire messages",
    run_decode,
    "usage: peerheap decode HEX...\n"
    "       peerheap decode --file F.lnmsgs [--count]\n"
    "\n"
    "Decodes BOLT 1/2/7 messages (2-byte type included) and prints one line per\n"
    "message: its type name and key fields. Unknown types print as\n"
    "'unknown_type_N len=L'.\n"
    "\n"
    "  HEX          a whole message in hex (an optional 0x prefix is ignored)\n"
    "  --file F     a .lnmsgs file: repeated [u16 big-endian length][message]\n"
    "  --count      print message counts per type (and 'total N') instead\n"
    "\n"
    "Errors name the argument or the file offset of the message. Exit status:\n"
    "0 all messages decoded, 2 bad usage or any input that does not decode.\n",
};
