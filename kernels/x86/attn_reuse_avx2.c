/* CPU variant "avx2" of fused reuse attention (delta rows). Twin of
 * attn_reuse_avx512.c; the algorithm is attn_reuse_body.h on top of the
 * flash kernel's pieces (attn_flash_body.h), with the vector layer of
 * attn_exact_avx2.c. Compiled with -mavx2 -mfma (lib/meson.build); called
 * only where the CPU reports both. Delta rows keep DNV = 8 ymm of scores
 * (64 keys) in registers while they add their channels (16 ymm in all). */
#define FLASH_NO_ENTRY
#define FLASH_FN ripple_attn_exact_avx2_unused
#include "attn_exact_avx2.c"

#ifndef REUSE_FN /* kernels/dev/ renames it */
#define REUSE_FN ripple_attn_reuse_avx2
#endif
#define REUSE_PATH "avx2"
#ifndef DNV
#define DNV 8
#endif
#include "attn_reuse_body.h"
