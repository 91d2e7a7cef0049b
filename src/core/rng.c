/* rng.c: xoshiro256** (Blackman and Vigna) seeded through splitmix64; normal draws by the
 * Box-Muller transform (one value per call, no cached second value, so the stream depends
 * only on the number of draws). */
#include "core/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void ttt_rng_seed(ttt_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t ttt_rng_u64(ttt_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double ttt_rng_uniform(ttt_rng *r) { return (double)(ttt_rng_u64(r) >> 11) * 0x1.0p-53; }

double ttt_rng_normal(ttt_rng *r) {
    /* u1 in (0, 1] so that log(u1) is finite */
    double u1 = 1.0 - ttt_rng_uniform(r);
    double u2 = ttt_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}

double ttt_rng_trunc_normal(ttt_rng *r) {
    for (;;) {
        double x = ttt_rng_normal(r);
        if (x >= -2.0 && x <= 2.0) return x;
    }
}
