/* bench_ceilings.h: the machine ceilings of `ttt bench` (bench_ceilings.c). */
#ifndef TTT_CLI_BENCH_CEILINGS_H
#define TTT_CLI_BENCH_CEILINGS_H

#include <stdint.h>

/* fp32 FMA throughput on all threads (GFLOP/s) */
double measure_fma(void);
/* bf16 dot-product throughput (vdpbf16ps, 64 FLOPs per instruction) on all threads (GFLOP/s);
 * 0 where the CPU lacks AVX512_BF16 */
double measure_bf16(void);

/* stream triad a = b + s·c on arrays far beyond the caches (GB/s, 3 arrays counted). The
 * arrays are allocated and first touched once (st->a == NULL) and kept for later calls, so the
 * triad can be measured again next to each model's rows (the bandwidth of this shared virtual
 * machine moves by ±30% over minutes); stream_free releases them. */
typedef struct {
    float *a, *b, *c;
    int64_t n;
} stream_bufs;
double measure_bandwidth(stream_bufs *st);
void stream_free(stream_bufs *st);

/* a large GEMM (n³) through the library's own matmul, the op every linear layer uses (GFLOP/s) */
double measure_gemm(int64_t n);

#endif
