/* The BOLT 8 handshake as initiator and as responder fed arbitrary acts,
 * then arbitrary transport frames in arbitrary chunks.
 *
 * Input: byte 0 chooses the role (bit 0: initiator) and byte 1 seeds the
 * chunk sizes; then the acts the other side would send (act 2 for an
 * initiator; acts 1 and 3 for a responder), then the transport bytes. The
 * keys are fixed, so a recorded session (the seeds, written by
 * PH_FUZZ_WRITE_SEEDS=DIR) passes the handshake and the fuzzer works on the
 * frames. Properties: no crash; a message is never longer than 65,535
 * bytes; after a body's MAC fails, skipping the frame keeps the stream in
 * step; a failed length header is never "repairable" with its own bytes. */
#include <string.h>

#include "fuzz.h"
#include "noise.h"

static const uint8_t PRIV_I[32] = {[0 ... 31] = 0x11};
static const uint8_t PRIV_R[32] = {[0 ... 31] = 0x21};
static const uint8_t EPH_I[32] = {[0 ... 31] = 0x12};
static const uint8_t EPH_R[32] = {[0 ... 31] = 0x22};
static uint8_t pub_r[33];

/* Writes the recorded sessions the fuzzer starts from, one per role. */
static void write_seeds(const char *dir)
{
    ph_noise_hs *hi, *hr;
    uint8_t a1[50], a2[50], a3[66];
    if (ph_noise_hs_create(&hi, PRIV_I, pub_r, EPH_I) || ph_noise_hs_create(&hr, PRIV_R, NULL, EPH_R) ||
        ph_noise_act1_write(hi, a1) || ph_noise_act1_read(hr, a1, 50) ||
        ph_noise_act2_write(hr, a2) || ph_noise_act2_read(hi, a2, 50) ||
        ph_noise_act3_write(hi, a3) || ph_noise_act3_read(hr, a3, 66))
        abort();
    ph_noise *ni, *nr;
    if (ph_noise_hs_finish(hi, &ni) || ph_noise_hs_finish(hr, &nr))
        abort();
    for (int role = 0; role < 2; role++) {
        static uint8_t buf[1 << 20];
        size_t n = 0;
        buf[n++] = (uint8_t)role;
        buf[n++] = 0x5a;
        if (role) { /* we are the initiator: the responder's act 2 */
            memcpy(buf + n, a2, 50);
            n += 50;
        } else {
            memcpy(buf + n, a1, 50);
            memcpy(buf + n + 50, a3, 66);
            n += 116;
        }
        ph_noise *sender = role ? nr : ni;
        /* enough frames to cross a key rotation (500), sizes 0 to 99 */
        for (unsigned i = 0; i < 520; i++) {
            uint8_t m[1200];
            size_t len = (i * 37) % 100;
            for (size_t k = 0; k < len; k++)
                m[k] = (uint8_t)(i + k);
            if (ph_noise_encrypt(sender, m, len, buf + n))
                abort();
            n += len + PH_NOISE_OVERHEAD;
        }
        char path[1024];
        snprintf(path, sizeof path, "%s/seed-%s", dir, role ? "initiator" : "responder");
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(buf, 1, n, f) != n || fclose(f))
            abort();
    }
    ph_noise_destroy(ni);
    ph_noise_destroy(nr);
    ph_noise_hs_destroy(hi);
    ph_noise_hs_destroy(hr);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (ph_noise_global_init() || ph_noise_pubkey(PRIV_R, pub_r))
        abort();
    const char *dir = getenv("PH_FUZZ_WRITE_SEEDS");
    if (dir) {
        write_seeds(dir);
        exit(0);
    }
    return 0;
}

/* The handshake; on success *t is the transport and *used the acts' bytes. */
static ph_noise *handshake(int initiator, const uint8_t *p, size_t len, size_t *used)
{
    ph_noise_hs *hs = NULL;
    ph_noise *t = NULL;
    *used = 0;
    if (initiator) {
        uint8_t a1[50], a3[66];
        if (ph_noise_hs_create(&hs, PRIV_I, pub_r, EPH_I) || ph_noise_act1_write(hs, a1))
            goto out;
        if (ph_noise_act2_read(hs, p, len < 50 ? len : 50))
            goto out;
        *used = 50;
        if (ph_noise_act3_write(hs, a3) || ph_noise_hs_finish(hs, &t))
            goto out;
    } else {
        uint8_t a2[50], pub[33];
        if (ph_noise_hs_create(&hs, PRIV_R, NULL, EPH_R))
            goto out;
        if (ph_noise_act1_read(hs, p, len < 50 ? len : 50))
            goto out;
        if (ph_noise_act2_write(hs, a2))
            goto out;
        if (len < 116 || ph_noise_act3_read(hs, p + 50, len - 50))
            goto out;
        FUZZ_CHECK(ph_noise_hs_remote_pubkey(hs, pub) == PH_OK);
        *used = 116;
        if (ph_noise_hs_finish(hs, &t))
            goto out;
    }
out:
    ph_noise_hs_destroy(hs);
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int initiator = data[0] & 1;
    uint32_t chunk_seed = data[1] | 1u;
    size_t used;
    ph_noise *t = handshake(initiator, data + 2, size - 2, &used);
    if (!t)
        return 0;
    const uint8_t *p = data + 2 + used;
    size_t len = size - 2 - used;
    int skips = 0;
    while (len) {
        chunk_seed = chunk_seed * 1103515245u + 12345u;
        size_t chunk = 1 + (chunk_seed >> 16) % 300;
        if (chunk > len)
            chunk = len;
        size_t got = 0, mlen = 0, need = 0;
        const uint8_t *msg = NULL;
        uint8_t hdr[PH_NOISE_HDR_LEN];
        size_t before = len;
        memcpy(hdr, p, len < sizeof hdr ? len : sizeof hdr);
        ph_err e = ph_noise_decrypt_feed(t, p, chunk, &got, &msg, &mlen, &need);
        FUZZ_CHECK(got <= chunk);
        p += got;
        len -= got;
        if (msg) {
            FUZZ_CHECK(mlen <= PH_NOISE_MAX_MSG);
            /* answer: the send side keeps working whatever was received */
            uint8_t out[64 + PH_NOISE_OVERHEAD];
            FUZZ_CHECK(ph_noise_encrypt(t, msg, mlen < 64 ? mlen : 64, out) == PH_OK);
        }
        if (e == PH_ERR_NOISE_BAD_MAC) {
            size_t blen;
            if (ph_noise_recv_body_failed(t, &blen) && skips++ < 4) {
                FUZZ_CHECK(blen <= PH_NOISE_MAX_MSG);
                FUZZ_CHECK(ph_noise_recv_skip_frame(t) == PH_OK);
                continue;
            }
            FUZZ_CHECK(ph_noise_recv_skip_frame(t) == PH_ERR_STATE || skips > 4);
            break;
        }
        if (e)
            break;
        if (!got && !msg && before == len)
            break;
    }
    /* rarely (65,536 MAC checks): a header never repairs to itself */
    if (data[0] == 0xff && size >= 2 + PH_NOISE_HDR_LEN) {
        size_t fixed;
        uint8_t key[32] = {0};
        if (ph_noise_header_repairable(key, 0, data + 2, &fixed))
            FUZZ_CHECK(fixed <= 0xffff);
    }
    ph_noise_destroy(t);
    return 0;
}
