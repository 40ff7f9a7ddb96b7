/* Capture files through the whole input pipeline: the file formats (pcap,
 * pcapng), link layers, tunnels, IP, TCP, reassembly, BOLT 8 session
 * detection, resynchronisation and decryption. The key log (PH_FUZZ_KEYLOG,
 * written by tests/fuzz/run.sh from the malformed corpus's key logs) holds
 * the keys of the generator's sessions, so that mutated sessions are
 * decrypted, not only parsed.
 *
 * Properties: no crash, no leak, no sanitizer report; every session's
 * stream bytes add up (handshake + frames + undecrypted = delivered). */
#include <string.h>

#include "capture.h"
#include "fuzz.h"
#include "keylog.h"
#include "lnsession.h"
#include "noise.h"

static ph_keylog *kl;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (ph_noise_global_init() != PH_OK)
        abort();
    const char *path = getenv("PH_FUZZ_KEYLOG");
    if (path && ph_keylog_load(&kl, path, NULL) != PH_OK)
        kl = NULL;
    return 0;
}

static void on_record(void *ctx, const struct ph_ln_record *r)
{
    (void)ctx;
    FUZZ_CHECK(r->len <= PH_NOISE_MAX_MSG);
    FUZZ_CHECK(r->dir == PH_LN_I2R || r->dir == PH_LN_R2I);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!size)
        return 0;
    FILE *fp = fmemopen((void *)data, size, "rb");
    if (!fp)
        return 0;
    ph_capture *c = NULL;
    if (ph_capture_open_stream(&c, fp, true, NULL, NULL) != PH_OK)
        return 0;
    /* small limits: eviction, budgets and caps are reached by small inputs */
    struct ph_lnsession_opts o = {
        .max_problems = 50,
        .limits = {.max_conns = 16, .max_memory = 1u << 16, .max_buffer = 1u << 14,
                   .max_segments = 64, .retain = 1024},
    };
    ph_lnsessions *s = NULL;
    if (ph_lnsession_create(&s, kl, &o, on_record, NULL) != PH_OK) {
        ph_capture_close(c);
        return 0;
    }
    (void)ph_lnsession_run(s, c);
    for (size_t i = 0; i < ph_lnsession_count(s); i++) {
        const struct ph_ln_session_stats *st = ph_lnsession_stats(s, i);
        for (int d = 0; d < 2; d++)
            FUZZ_CHECK(st->handshake_bytes[d] + st->frame_bytes[d] + st->undecrypted[d] ==
                       st->stream_bytes[d]);
    }
    for (size_t i = 0; i < ph_lnsession_problem_count(s); i++)
        FUZZ_CHECK(strlen(ph_lnsession_problem(s, i)->text) < PH_LN_PROBLEM_TEXT);
    ph_lnsession_destroy(s);
    ph_capture_close(c);
    return 0;
}
