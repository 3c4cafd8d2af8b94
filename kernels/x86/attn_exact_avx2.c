/* CPU path "avx2": fused exact attention with AVX2 + FMA (8 float lanes).
 * Twin of attn_exact_avx512.c; the algorithm is attn_flash_body.h, the
 * reference lib/src/attn_ref.c, the table lib/src/backend.c.
 * Compiled with -mavx2 -mfma (lib/meson.build); called only where the
 * CPU reports both. Register tiles (16 ymm): QK^T 6 rows x 16 keys (12
 * accumulators), PV 3 rows x 32 channels (12 accumulators). */
#include "backend.h"
#include "internal.h"

#include <immintrin.h>

#define W 8
typedef __m256 vf;
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, x) _mm256_storeu_ps((p), (x))
#define VSET1(s) _mm256_set1_ps(s)
#define VZERO() _mm256_setzero_ps()
#define VFMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define VMUL(a, b) _mm256_mul_ps((a), (b))
#define VADD(a, b) _mm256_add_ps((a), (b))
#define VSUB(a, b) _mm256_sub_ps((a), (b))
#define VMAX(a, b) _mm256_max_ps((a), (b))
#define QK_R 6
#define PV_R 3
#define PV_NV 4
#ifndef FLASH_FN /* kernels/dev/ renames it */
#define FLASH_FN ripple_attn_exact_avx2
#endif
#define FLASH_PATH "avx2"

static inline float VHMAX(vf x)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

static inline float VHSUM(vf x)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

/* n integral: p * 2^n by building the exponent field */
#define VROUND(x) _mm256_round_ps((x), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VMUL_POW2(p, n) \
    _mm256_mul_ps((p), _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23)))

#include "attn_flash_body.h"
