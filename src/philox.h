/* Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2,
 * 3", SC'11): a counter-based generator, so any backend computes the draw for
 * (seed, sequence, step) without carrying state. Header-only and free of
 * library calls so CUDA and WGSL ports follow it line by line. */
#ifndef GRT_PHILOX_H
#define GRT_PHILOX_H

#include <stdint.h>

#ifndef GRT_HD
#define GRT_HD static inline
#endif

GRT_HD uint32_t grt_mulhilo32(uint32_t a, uint32_t b, uint32_t *hi) {
    uint64_t p = (uint64_t)a * (uint64_t)b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

/* Returns the first 32-bit word of Philox4x32-10 at counter
 * (ctr, seq, 0, 0) with key (seed low, seed high). */
GRT_HD uint32_t grt_philox_u32(uint64_t seed, uint32_t seq, uint32_t ctr) {
    uint32_t c0 = ctr, c1 = seq, c2 = 0, c3 = 0;
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        uint32_t hi0, hi1;
        uint32_t lo0 = grt_mulhilo32(0xD2511F53u, c0, &hi0);
        uint32_t lo1 = grt_mulhilo32(0xCD9E8D57u, c2, &hi1);
        uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return c0;
}

/* Uniform in [0, 1) with 24 bits, exact in float on every backend. */
GRT_HD float grt_philox_uniform(uint64_t seed, uint32_t seq, uint32_t ctr) {
    return (float)(grt_philox_u32(seed, seq, ctr) >> 8) * (1.0f / 16777216.0f);
}

#endif
