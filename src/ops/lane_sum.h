/* lane_sum.h: the fixed reduction tree of the matrix-vector kernels (gemv.c, bf16.c): 16 lane
 * partial sums added pairwise ((0+8)+(4+12)) + ..., and four accumulator vectors added as
 * (0+1)+(2+3) before it, so that the sum of a dot product does not depend on the thread count
 * or on which kernel (AVX-512 or portable) computed it. */
#ifndef TTT_OPS_LANE_SUM_H
#define TTT_OPS_LANE_SUM_H

/* lanes 0..15 of s added pairwise: ((0+8)+(4+12)) + ... as a fixed tree */
static inline float lane_sum16(const float *s) {
    float t8[8], t4[4], t2[2];
    for (int l = 0; l < 8; l++) t8[l] = s[l] + s[l + 8];
    for (int l = 0; l < 4; l++) t4[l] = t8[l] + t8[l + 4];
    for (int l = 0; l < 2; l++) t2[l] = t4[l] + t4[l + 2];
    return t2[0] + t2[1];
}

#if defined(__x86_64__)
#include <immintrin.h>
/* four chains added lane-wise as (0+1)+(2+3), then the lanes as above */
__attribute__((target("avx512f,avx512bw"))) static inline float hsum4(__m512 s0, __m512 s1, __m512 s2,
                                                                       __m512 s3) {
    float t[16];
    _mm512_storeu_ps(t, _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
    return lane_sum16(t);
}
#endif

#endif
