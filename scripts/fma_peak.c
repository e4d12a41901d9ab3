// Peak single-core float FMA throughput: 12 independent chains of 512-bit and of 256-bit FMAs.
// The ceiling no GEMM on this core can pass; compare `wavemix bench --profile`'s GEMM rates to it.
//   clang -O2 -mavx512f -mfma scripts/fma_peak.c -o /tmp/fma_peak && /tmp/fma_peak
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void) {
    const long n = 200000000;
    __m512 a[12], b = _mm512_set1_ps(1.0000001f), c = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps((float)i);
    double t = now();
    for (long k = 0; k < n; k++)
        for (int i = 0; i < 12; i++) a[i] = _mm512_fmadd_ps(a[i], b, c);
    t = now() - t;
    float sum = 0;
    for (int i = 0; i < 12; i++) sum += _mm512_reduce_add_ps(a[i]);
    printf("AVX-512 FMA: %.1f GFLOP/s per core (checksum %g)\n", n * 12.0 * 16 * 2 / t / 1e9, sum);

    __m256 x[12], y = _mm256_set1_ps(1.0000001f), z = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) x[i] = _mm256_set1_ps((float)i);
    t = now();
    for (long k = 0; k < n; k++)
        for (int i = 0; i < 12; i++) x[i] = _mm256_fmadd_ps(x[i], y, z);
    t = now() - t;
    float lanes[8];
    sum = 0;
    for (int i = 0; i < 12; i++) {
        _mm256_storeu_ps(lanes, x[i]);
        for (int j = 0; j < 8; j++) sum += lanes[j];
    }
    printf("AVX2 FMA:    %.1f GFLOP/s per core (checksum %g)\n", n * 12.0 * 8 * 2 / t / 1e9, sum);
    return 0;
}
