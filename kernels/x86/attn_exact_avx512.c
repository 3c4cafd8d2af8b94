/* CPU path "avx512": fused exact attention with AVX-512F (16 float lanes).
 * Twin of attn_exact_avx2.c; the algorithm is attn_flash_body.h, the
 * reference lib/src/attn_ref.c, the table lib/src/backend.c.
 * Compiled with -mavx512f (lib/meson.build); called only where the CPU
 * and the OS support it. Register tiles (32 zmm): QK^T 12 rows x 32 keys
 * (24 accumulators), PV 6 rows x 64 channels (24 accumulators). */
#include "backend.h"
#include "internal.h"

#include <immintrin.h>

#define W 16
typedef __m512 vf;
#define VLOAD(p) _mm512_loadu_ps(p)
#define VSTORE(p, x) _mm512_storeu_ps((p), (x))
#define VSET1(s) _mm512_set1_ps(s)
#define VZERO() _mm512_setzero_ps()
#define VFMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define VMUL(a, b) _mm512_mul_ps((a), (b))
#define VADD(a, b) _mm512_add_ps((a), (b))
#define VSUB(a, b) _mm512_sub_ps((a), (b))
#define VMAX(a, b) _mm512_max_ps((a), (b))
#define VHMAX(x) _mm512_reduce_max_ps(x)
#define VHSUM(x) _mm512_reduce_add_ps(x)
#define QK_R 12
#define PV_R 6
#define PV_NV 4
#ifndef FLASH_FN /* kernels/dev/ renames it */
#define FLASH_FN ripple_attn_exact_avx512
#endif
#define FLASH_PATH "avx512"

/* n integral: p * 2^n by scalef */
#define VROUND(x) _mm512_roundscale_ps((x), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VMUL_POW2(p, n) _mm512_scalef_ps((p), (n))

#include "attn_flash_body.h"
