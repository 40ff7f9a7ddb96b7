/* ChaCha20-Poly1305 for BOLT 8 frames (see chachapoly.h): libsodium's AEAD
 * calls, or our AVX2 ChaCha20 (eight blocks per pass, a batch's frames
 * packed into shared passes) with libsodium's Poly1305. */
#include "chachapoly.h"

#include <sodium.h>
#include <string.h>

#include "byteorder.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define PH_HAVE_AVX2_PATH 1
#include <immintrin.h>
#else
#define PH_HAVE_AVX2_PATH 0
#endif

#define BLOCK 64u
#define LANES 8u
/* Lanes of the first pass: header key, header stream, body key, body
 * stream counters 1..5. */
#define FIRST_BODY_BLOCKS 5u

static void make_nonce(uint8_t npub[12], uint64_t n)
{
    memset(npub, 0, 4);
    for (unsigned i = 0; i < 8; i++)
        npub[4 + i] = (uint8_t)(n >> (8 * i));
}

bool ph_chachapoly_supported(ph_chachapoly_impl impl)
{
    switch (impl) {
    case PH_CHACHAPOLY_LIBSODIUM:
        return true;
    case PH_CHACHAPOLY_AVX2:
#if PH_HAVE_AVX2_PATH
        /* libgcc's answer includes the OS check (XCR0 has the YMM state). */
        return __builtin_cpu_supports("avx2");
#else
        return false;
#endif
    default:
        return false;
    }
}

ph_chachapoly_impl ph_chachapoly_best(void)
{
    return ph_chachapoly_supported(PH_CHACHAPOLY_AVX2) ? PH_CHACHAPOLY_AVX2
                                                        : PH_CHACHAPOLY_LIBSODIUM;
}

const char *ph_chachapoly_impl_name(ph_chachapoly_impl impl)
{
    switch (impl) {
    case PH_CHACHAPOLY_LIBSODIUM: return "libsodium";
    case PH_CHACHAPOLY_AVX2: return "avx2";
    default: return "?";
    }
}

void ph_chachapoly_ks_wipe(ph_chachapoly_ks *ks)
{
    if (ks)
        sodium_memzero(ks, sizeof *ks);
}

/* ---- libsodium ---------------------------------------------------------- */

static void sodium_seal(const uint8_t key[32], uint64_t n, uint8_t hdr[18], uint8_t *body,
                        size_t len, uint8_t mac[16])
{
    static const uint8_t empty = 0;
    uint8_t l[2] = {(uint8_t)(len >> 8), (uint8_t)len};
    uint8_t npub[12], scratch;
    make_nonce(npub, n);
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(hdr, hdr + 2, NULL, l, sizeof l, NULL, 0,
                                                       NULL, npub, key);
    make_nonce(npub, n + 1);
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(len ? body : &scratch, mac, NULL,
                                                       len ? body : &empty, len, NULL, 0, NULL,
                                                       npub, key);
}

static bool sodium_open(const uint8_t key[32], uint64_t n, const uint8_t *ct, size_t len,
                        const uint8_t mac[16], uint8_t *out)
{
    static const uint8_t empty = 0;
    uint8_t npub[12], scratch;
    make_nonce(npub, n);
    return crypto_aead_chacha20poly1305_ietf_decrypt_detached(
               len ? out : &scratch, NULL, len ? ct : &empty, len, mac, NULL, 0, npub, key) == 0;
}

#if PH_HAVE_AVX2_PATH
/* ---- Poly1305 over RFC 8439's AEAD input (no associated data) ----------- */

static void le64(uint8_t out[8], uint64_t v)
{
    for (unsigned i = 0; i < 8; i++)
        out[i] = (uint8_t)(v >> (8 * i));
}

/* Short bodies are copied next to their padding and lengths: one call
 * costs less than the four of the streaming interface. */
#define ONESHOT_MAX 512u

static void aead_tag(uint8_t tag[16], const uint8_t poly_key[32], const uint8_t *ct, size_t len)
{
    if (len <= ONESHOT_MAX) {
        uint8_t in[ONESHOT_MAX + 16 + 16];
        size_t padded = (len + 15) & ~(size_t)15;
        if (len)
            memcpy(in, ct, len);
        memset(in + len, 0, padded - len + 8);
        le64(in + padded + 8, len);
        crypto_onetimeauth_poly1305(tag, in, padded + 16, poly_key);
        return;
    }
    static const uint8_t zeros[16];
    uint8_t lens[16];
    le64(lens, 0);
    le64(lens + 8, len);
    crypto_onetimeauth_poly1305_state st;
    crypto_onetimeauth_poly1305_init(&st, poly_key);
    if (len)
        crypto_onetimeauth_poly1305_update(&st, ct, len);
    if (len % 16)
        crypto_onetimeauth_poly1305_update(&st, zeros, 16 - len % 16);
    crypto_onetimeauth_poly1305_update(&st, lens, sizeof lens);
    crypto_onetimeauth_poly1305_final(&st, tag);
    sodium_memzero(&st, sizeof st);
}

/* The header's 2 bytes, padded, and the lengths block: 32 bytes, one call. */
static void header_tag(uint8_t tag[16], const uint8_t poly_key[32], const uint8_t ct[2])
{
    uint8_t in[32] = {0};
    in[0] = ct[0];
    in[1] = ct[1];
    in[24] = 2; /* le64(ciphertext length) after le64(0) */
    crypto_onetimeauth_poly1305(tag, in, sizeof in, poly_key);
}

/* ---- AVX2: eight blocks per pass ----------------------------------------- */

#define AVX2_FN __attribute__((target("avx2")))

#define ROTL(x, r) _mm256_or_si256(_mm256_slli_epi32((x), (r)), _mm256_srli_epi32((x), 32 - (r)))

#define QR(a, b, c, d)                                                       \
    do {                                                                     \
        a = _mm256_add_epi32(a, b); d = _mm256_xor_si256(d, a);              \
        d = _mm256_shuffle_epi8(d, rot16);                                   \
        c = _mm256_add_epi32(c, d); b = _mm256_xor_si256(b, c);              \
        b = ROTL(b, 12);                                                     \
        a = _mm256_add_epi32(a, b); d = _mm256_xor_si256(d, a);              \
        d = _mm256_shuffle_epi8(d, rot8);                                    \
        c = _mm256_add_epi32(c, d); b = _mm256_xor_si256(b, c);              \
        b = ROTL(b, 7);                                                      \
    } while (0)

/* Eight words of eight blocks (vector a_i holds word i of every lane) into
 * each block's 32 bytes at `off`: an 8 x 8 transpose of 32-bit words. */
#define TRANSPOSE_STORE(a0, a1, a2, a3, a4, a5, a6, a7, out, off)                         \
    do {                                                                                  \
        __m256i t0 = _mm256_unpacklo_epi32(a0, a1), t1 = _mm256_unpackhi_epi32(a0, a1);   \
        __m256i t2 = _mm256_unpacklo_epi32(a2, a3), t3 = _mm256_unpackhi_epi32(a2, a3);   \
        __m256i t4 = _mm256_unpacklo_epi32(a4, a5), t5 = _mm256_unpackhi_epi32(a4, a5);   \
        __m256i t6 = _mm256_unpacklo_epi32(a6, a7), t7 = _mm256_unpackhi_epi32(a6, a7);   \
        __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);   \
        __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);   \
        __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);   \
        __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);   \
        _mm256_storeu_si256((__m256i *)((out) + 0 * 64 + (off)),                          \
                            _mm256_permute2x128_si256(u0, u4, 0x20));                     \
        _mm256_storeu_si256((__m256i *)((out) + 1 * 64 + (off)),                          \
                            _mm256_permute2x128_si256(u1, u5, 0x20));                     \
        _mm256_storeu_si256((__m256i *)((out) + 2 * 64 + (off)),                          \
                            _mm256_permute2x128_si256(u2, u6, 0x20));                     \
        _mm256_storeu_si256((__m256i *)((out) + 3 * 64 + (off)),                          \
                            _mm256_permute2x128_si256(u3, u7, 0x20));                     \
        _mm256_storeu_si256((__m256i *)((out) + 4 * 64 + (off)),                          \
                            _mm256_permute2x128_si256(u0, u4, 0x31));                     \
        _mm256_storeu_si256((__m256i *)((out) + 5 * 64 + (off)),                          \
                            _mm256_permute2x128_si256(u1, u5, 0x31));                     \
        _mm256_storeu_si256((__m256i *)((out) + 6 * 64 + (off)),                          \
                            _mm256_permute2x128_si256(u2, u6, 0x31));                     \
        _mm256_storeu_si256((__m256i *)((out) + 7 * 64 + (off)),                          \
                            _mm256_permute2x128_si256(u3, u7, 0x31));                     \
    } while (0)

/* Eight keystream blocks into out[512]: lane j under `key` with block
 * counter ctr[j] and nonce (0, nonce[j]). The input words are reloaded for
 * the final addition rather than kept: the rounds need every register.
 * (What the compiler spills to the stack is state mixed with the key, as
 * in any ChaCha20 implementation in C; the keystream itself is wiped by
 * the callers.) */
AVX2_FN static void avx2_pass(const uint8_t key[32], const uint32_t ctr[8],
                              const uint64_t nonce[8], uint8_t out[512])
{
    const __m256i rot16 = _mm256_setr_epi8(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13,
                                           2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
    const __m256i rot8 = _mm256_setr_epi8(3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14,
                                          3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14);
    uint32_t lo[8], hi[8];
    for (unsigned i = 0; i < 8; i++) {
        lo[i] = (uint32_t)nonce[i];
        hi[i] = (uint32_t)(nonce[i] >> 32);
    }
#define C0 _mm256_set1_epi32(0x61707865)
#define C1 _mm256_set1_epi32(0x3320646e)
#define C2 _mm256_set1_epi32(0x79622d32)
#define C3 _mm256_set1_epi32(0x6b206574)
#define K(i) _mm256_set1_epi32((int)ph_le32(key + 4 * (i)))
#define CTR _mm256_loadu_si256((const __m256i *)ctr)
#define NLO _mm256_loadu_si256((const __m256i *)lo)
#define NHI _mm256_loadu_si256((const __m256i *)hi)
    __m256i x0 = C0, x1 = C1, x2 = C2, x3 = C3;
    __m256i x4 = K(0), x5 = K(1), x6 = K(2), x7 = K(3);
    __m256i x8 = K(4), x9 = K(5), x10 = K(6), x11 = K(7);
    __m256i x12 = CTR, x13 = _mm256_setzero_si256(), x14 = NLO, x15 = NHI;
    for (int r = 0; r < 10; r++) {
        QR(x0, x4, x8, x12);
        QR(x1, x5, x9, x13);
        QR(x2, x6, x10, x14);
        QR(x3, x7, x11, x15);
        QR(x0, x5, x10, x15);
        QR(x1, x6, x11, x12);
        QR(x2, x7, x8, x13);
        QR(x3, x4, x9, x14);
    }
    x0 = _mm256_add_epi32(x0, C0);
    x1 = _mm256_add_epi32(x1, C1);
    x2 = _mm256_add_epi32(x2, C2);
    x3 = _mm256_add_epi32(x3, C3);
    x4 = _mm256_add_epi32(x4, K(0));
    x5 = _mm256_add_epi32(x5, K(1));
    x6 = _mm256_add_epi32(x6, K(2));
    x7 = _mm256_add_epi32(x7, K(3));
    TRANSPOSE_STORE(x0, x1, x2, x3, x4, x5, x6, x7, out, 0);
    x8 = _mm256_add_epi32(x8, K(4));
    x9 = _mm256_add_epi32(x9, K(5));
    x10 = _mm256_add_epi32(x10, K(6));
    x11 = _mm256_add_epi32(x11, K(7));
    x12 = _mm256_add_epi32(x12, CTR);
    x14 = _mm256_add_epi32(x14, NLO);
    x15 = _mm256_add_epi32(x15, NHI);
    TRANSPOSE_STORE(x8, x9, x10, x11, x12, x13, x14, x15, out, 32);
#undef C0
#undef C1
#undef C2
#undef C3
#undef K
#undef CTR
#undef NLO
#undef NHI
}

AVX2_FN static void xor_bytes(uint8_t *out, const uint8_t *in, const uint8_t *ks, size_t len)
{
    size_t i = 0;
    for (; i + 32 <= len; i += 32) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(in + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(ks + i));
        _mm256_storeu_si256((__m256i *)(out + i), _mm256_xor_si256(a, b));
    }
    for (; i < len; i++)
        out[i] = in[i] ^ ks[i];
}

/* XOR `len` bytes with the keystream of (key, nonce) from block counter
 * `ctr` on, eight blocks per pass. */
static void avx2_stream_xor(const uint8_t key[32], uint64_t nonce, uint32_t ctr,
                            const uint8_t *in, uint8_t *out, size_t len)
{
    uint8_t ks[512];
    uint64_t nonces[8];
    uint32_t ctrs[8];
    for (unsigned j = 0; j < 8; j++)
        nonces[j] = nonce;
    while (len) {
        for (unsigned j = 0; j < 8; j++)
            ctrs[j] = ctr + j;
        avx2_pass(key, ctrs, nonces, ks);
        if (len >= sizeof ks) {
            xor_bytes(out, in, ks, sizeof ks);
        } else {
            xor_bytes(out, in, ks, len);
            break;
        }
        in += sizeof ks;
        out += sizeof ks;
        len -= sizeof ks;
        ctr += 8;
    }
    sodium_memzero(ks, sizeof ks);
}

/* The first pass of a frame at header nonce n: header Poly1305 key and
 * stream, body Poly1305 key and stream counters 1..5. */
static void avx2_first_pass(const uint8_t key[32], uint64_t n, uint8_t ks[512])
{
    const uint32_t ctrs[8] = {0, 1, 0, 1, 2, 3, 4, 5};
    const uint64_t nonces[8] = {n, n, n + 1, n + 1, n + 1, n + 1, n + 1, n + 1};
    avx2_pass(key, ctrs, nonces, ks);
}

#define KS_HDR_KEY 0u
#define KS_HDR_STREAM 64u
#define KS_BODY_KEY 128u
#define KS_BODY_STREAM 192u

/* Encrypt or decrypt a body with the `blocks` blocks of stream already
 * computed (counters 1..blocks), then more passes. */
static void avx2_body_xor(const uint8_t key[32], uint64_t body_nonce, const uint8_t *first,
                          unsigned blocks, const uint8_t *in, uint8_t *out, size_t len)
{
    size_t head = len < blocks * BLOCK ? len : blocks * BLOCK;
    xor_bytes(out, in, first, head);
    if (len > head)
        avx2_stream_xor(key, body_nonce, 1 + blocks, in + head, out + head, len - head);
}

/* Sealing several frames: their blocks are packed into shared passes, so
 * that a 165-byte message (header key, header stream, body key and three
 * body blocks: six lanes) does not pay for eight. Up to GROUP frames at a
 * time; at most FIRST_BODY_BLOCKS body blocks per frame are packed, the
 * rest of a long body takes passes of its own. */
#define GROUP 8u
#define GROUP_LANES (GROUP * (3u + FIRST_BODY_BLOCKS))

static unsigned packed_body_blocks(size_t len)
{
    size_t b = (len + BLOCK - 1) / BLOCK;
    return b < FIRST_BODY_BLOCKS ? (unsigned)b : FIRST_BODY_BLOCKS;
}

static void avx2_seal_group(const uint8_t key[32], const ph_chachapoly_job *jobs, size_t n)
{
    uint8_t ks[GROUP_LANES * BLOCK];
    uint32_t ctr[GROUP_LANES + LANES];
    uint64_t nonce[GROUP_LANES + LANES];
    unsigned base[GROUP], lanes = 0;
    for (size_t j = 0; j < n; j++) {
        uint64_t hn = jobs[j].nonce;
        base[j] = lanes;
        ctr[lanes] = 0, nonce[lanes++] = hn;
        ctr[lanes] = 1, nonce[lanes++] = hn;
        ctr[lanes] = 0, nonce[lanes++] = hn + 1;
        for (unsigned b = 1; b <= packed_body_blocks(jobs[j].len); b++)
            ctr[lanes] = b, nonce[lanes++] = hn + 1;
    }
    /* The last pass's spare lanes compute a harmless block. */
    for (unsigned k = lanes; k % LANES; k++)
        ctr[k] = 0, nonce[k] = 0;
    for (unsigned k = 0; k < lanes; k += LANES)
        avx2_pass(key, ctr + k, nonce + k, ks + (size_t)k * BLOCK);
    for (size_t j = 0; j < n; j++) {
        const ph_chachapoly_job *f = &jobs[j];
        const uint8_t *k = ks + (size_t)base[j] * BLOCK;
        f->hdr[0] = (uint8_t)(f->len >> 8) ^ k[KS_HDR_STREAM];
        f->hdr[1] = (uint8_t)f->len ^ k[KS_HDR_STREAM + 1];
        header_tag(f->hdr + 2, k + KS_HDR_KEY, f->hdr);
        avx2_body_xor(key, f->nonce + 1, k + KS_BODY_STREAM, packed_body_blocks(f->len),
                      f->body, f->body, f->len);
        aead_tag(f->mac, k + KS_BODY_KEY, f->body, f->len);
    }
    sodium_memzero(ks, ((size_t)lanes + LANES - 1) / LANES * LANES * BLOCK);
}

/* The pass is computed where the caller keeps it (no copy), or on the
 * stack and wiped. */
static bool avx2_open_header(const uint8_t key[32], uint64_t n, const uint8_t hdr[18],
                             size_t *len, ph_chachapoly_ks *keep)
{
    uint8_t local[512], tag[16];
    uint8_t *ks = keep ? keep->pass : local;
    avx2_first_pass(key, n, ks);
    header_tag(tag, ks + KS_HDR_KEY, hdr);
    bool ok = crypto_verify_16(tag, hdr + 2) == 0;
    if (ok)
        *len = (size_t)(hdr[0] ^ ks[KS_HDR_STREAM]) << 8 | (hdr[1] ^ ks[KS_HDR_STREAM + 1]);
    if (keep && ok) {
        keep->nonce = n + 1;
        keep->valid = true;
    } else {
        sodium_memzero(ks, sizeof local);
    }
    return ok;
}

static bool avx2_open_body(const uint8_t key[32], uint64_t n, const uint8_t *ct, size_t len,
                           const uint8_t mac[16], uint8_t *out, const ph_chachapoly_ks *have)
{
    uint8_t local[512], tag[16];
    const uint8_t *ks = local;
    bool mine = !(have && have->valid && have->nonce == n);
    if (mine)
        avx2_first_pass(key, n - 1, local); /* lanes 0..1 (the previous header) for nothing */
    else
        ks = have->pass;
    aead_tag(tag, ks + KS_BODY_KEY, ct, len);
    bool ok = crypto_verify_16(tag, mac) == 0;
    if (ok)
        avx2_body_xor(key, n, ks + KS_BODY_STREAM, FIRST_BODY_BLOCKS, ct, out, len);
    else if (len)
        memset(out, 0, len); /* as libsodium leaves it */
    if (mine)
        sodium_memzero(local, sizeof local);
    return ok;
}
#endif /* PH_HAVE_AVX2_PATH */

/* ---- API ------------------------------------------------------------------ */

ph_err ph_chachapoly_seal_many(ph_chachapoly_impl impl, const uint8_t key[32],
                               const ph_chachapoly_job *jobs, size_t n)
{
    if (!key || (n && !jobs) || !ph_chachapoly_supported(impl))
        return PH_ERR_ARG;
    for (size_t j = 0; j < n; j++) {
        if (!jobs[j].hdr || !jobs[j].mac || (jobs[j].len && !jobs[j].body))
            return PH_ERR_ARG;
        if (jobs[j].len > PH_CHACHAPOLY_MAX_MSG)
            return PH_ERR_NOISE_TOO_LONG;
    }
#if PH_HAVE_AVX2_PATH
    if (impl == PH_CHACHAPOLY_AVX2) {
        for (size_t j = 0; j < n; j += GROUP)
            avx2_seal_group(key, jobs + j, n - j < GROUP ? n - j : GROUP);
        return PH_OK;
    }
#endif
    for (size_t j = 0; j < n; j++)
        sodium_seal(key, jobs[j].nonce, jobs[j].hdr, jobs[j].body, jobs[j].len, jobs[j].mac);
    return PH_OK;
}

ph_err ph_chachapoly_seal(ph_chachapoly_impl impl, const uint8_t key[32], uint64_t n,
                          uint8_t hdr[PH_CHACHAPOLY_HDR_LEN], uint8_t *body, size_t len,
                          uint8_t mac[PH_CHACHAPOLY_TAG_LEN])
{
    ph_chachapoly_job job = {.nonce = n, .hdr = hdr, .body = body, .len = len, .mac = mac};
    return ph_chachapoly_seal_many(impl, key, &job, 1);
}

ph_err ph_chachapoly_open_header(ph_chachapoly_impl impl, const uint8_t key[32], uint64_t n,
                                 const uint8_t hdr[PH_CHACHAPOLY_HDR_LEN], size_t *len,
                                 ph_chachapoly_ks *ks)
{
    if (!key || !hdr || !len || !ph_chachapoly_supported(impl))
        return PH_ERR_ARG;
    if (ks)
        ks->valid = false;
#if PH_HAVE_AVX2_PATH
    if (impl == PH_CHACHAPOLY_AVX2)
        return avx2_open_header(key, n, hdr, len, ks) ? PH_OK : PH_ERR_NOISE_BAD_MAC;
#endif
    uint8_t l[2];
    if (!sodium_open(key, n, hdr, 2, hdr + 2, l))
        return PH_ERR_NOISE_BAD_MAC;
    *len = ph_be16(l);
    return PH_OK;
}

ph_err ph_chachapoly_open_body(ph_chachapoly_impl impl, const uint8_t key[32], uint64_t n,
                               const uint8_t *ct, size_t len,
                               const uint8_t mac[PH_CHACHAPOLY_TAG_LEN], uint8_t *out,
                               const ph_chachapoly_ks *ks)
{
    if (!key || !mac || (len && (!ct || !out)) || !ph_chachapoly_supported(impl))
        return PH_ERR_ARG;
    if (len > PH_CHACHAPOLY_MAX_MSG)
        return PH_ERR_NOISE_TOO_LONG;
#if PH_HAVE_AVX2_PATH
    if (impl == PH_CHACHAPOLY_AVX2)
        return avx2_open_body(key, n, ct, len, mac, out, ks) ? PH_OK : PH_ERR_NOISE_BAD_MAC;
#else
    (void)ks;
#endif
    return sodium_open(key, n, ct, len, mac, out) ? PH_OK : PH_ERR_NOISE_BAD_MAC;
}
