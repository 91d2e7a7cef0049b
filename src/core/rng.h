/* rng.h: a small deterministic random number generator (xoshiro256** seeded by splitmix64)
 * with normal and truncated-normal draws, so that initialisation is reproducible from a seed
 * on every platform. */
#ifndef TTT_CORE_RNG_H
#define TTT_CORE_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} ttt_rng;

void ttt_rng_seed(ttt_rng *r, uint64_t seed);
uint64_t ttt_rng_u64(ttt_rng *r);
double ttt_rng_uniform(ttt_rng *r);            /* [0, 1) with 53 random bits */
double ttt_rng_normal(ttt_rng *r);             /* N(0, 1), Box-Muller */
double ttt_rng_trunc_normal(ttt_rng *r);       /* N(0, 1) conditioned on |x| <= 2 */

#endif
