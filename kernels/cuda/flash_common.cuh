/* Device helpers shared by the fused kernels of attn_flash_cuda.cu and
 * attn_reuse_cuda.cu (included after DEV is defined). */
#ifndef RIPPLE_FLASH_COMMON_CUH
#define RIPPLE_FLASH_COMMON_CUH

#include <stdint.h>

DEV void record_bad(unsigned long long *d_bad, long long head, long long seq, long long row)
{
    if (d_bad && row < seq) atomicMin(d_bad, (unsigned long long)(head * seq + row));
}

/* Four consecutive channels c..c+3 of one row (zeros past dim or when the
 * row is out of range); vec: dim % 4 == 0 and rows 16-byte aligned. */
DEV float4 load4(const float *row, int c, int dim, bool ok, bool vec)
{
    float4 z = make_float4(0.f, 0.f, 0.f, 0.f);
    if (!ok) return z;
    if (vec) return c < dim ? __ldg(reinterpret_cast<const float4 *>(row + c)) : z;
    z.x = c < dim ? __ldg(row + c) : 0.f;
    z.y = c + 1 < dim ? __ldg(row + c + 1) : 0.f;
    z.z = c + 2 < dim ? __ldg(row + c + 2) : 0.f;
    z.w = c + 3 < dim ? __ldg(row + c + 3) : 0.f;
    return z;
}

#endif
