/* .lnmsgs files through the input pipeline (the file ends in .lnmsgs: a
 * symlink to an in-memory file), with the headers-first pass (the
 * temporary file) and the replay input built from them. Properties: a file
 * is either used whole or not at all; what is handed out adds up to what
 * the session counted; the replay input holds every message. */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "lninput.h"

static char link_path[256];
static int mfd = -1;

static void cleanup(void)
{
    unlink(link_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    mfd = memfd_create("fuzz-lnmsgs", 0);
    if (mfd < 0)
        abort();
    const char *tmp = getenv("TMPDIR");
    snprintf(link_path, sizeof link_path, "%s/ph-fuzz-%d.lnmsgs", tmp ? tmp : "/tmp",
             (int)getpid());
    char target[64];
    snprintf(target, sizeof target, "/proc/%d/fd/%d", (int)getpid(), mfd);
    unlink(link_path);
    if (symlink(target, link_path) != 0)
        abort();
    atexit(cleanup);
    return 0;
}

struct count {
    uint64_t messages, bytes;
};

static void on_msg(void *ctx, const struct ph_lninput_msg *m)
{
    struct count *c = ctx;
    FUZZ_CHECK(m->len >= 2 && m->len <= 65535);
    FUZZ_CHECK(!m->timed && !m->src);
    c->messages++;
    c->bytes += m->len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (ftruncate(mfd, 0) != 0 || pwrite(mfd, data, size, 0) != (ssize_t)size)
        abort();
    struct count c = {0};
    struct ph_lninput_opts o = {.on_msg = on_msg, .ctx = &c, .stats_first = size & 1,
                                .keep = true};
    ph_lninput *in;
    if (ph_lninput_create(&in, &o) != PH_OK)
        return 0;
    ph_err e = ph_lninput_read(in, link_path);
    if (e) {
        FUZZ_CHECK(c.messages == 0);
        FUZZ_CHECK(ph_lninput_session_count(in) == 0);
    } else {
        FUZZ_CHECK(ph_lninput_session_count(in) == 1);
        const struct ph_lninput_session *s = ph_lninput_session(in, 0);
        FUZZ_CHECK(s->ln.messages[0] == c.messages && s->ln.bytes[0] == c.bytes);
        ph_replay_input *ri;
        FUZZ_CHECK(ph_lninput_replay_input(in, NULL, &ri) == PH_OK);
        FUZZ_CHECK(ph_replay_input_count(ri) == c.messages);
        ph_replay_input_destroy(ri);
    }
    ph_lninput_destroy(in);
    return 0;
}
