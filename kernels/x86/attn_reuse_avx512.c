/* CPU variant "avx512" of fused reuse attention (delta rows). Twin of
 * attn_reuse_avx2.c; the algorithm is attn_reuse_body.h on top of the flash
 * kernel's pieces (attn_flash_body.h), with the vector layer of
 * attn_exact_avx512.c. Compiled with -mavx512f (lib/meson.build); called
 * only where the CPU and the OS support it. Delta rows keep DNV = 16 zmm
 * of scores (256 keys) in registers while they add their channels. */
#define FLASH_NO_ENTRY
#define FLASH_FN ripple_attn_exact_avx512_unused
#include "attn_exact_avx512.c"

#ifndef REUSE_FN /* kernels/dev/ renames it */
#define REUSE_FN ripple_attn_reuse_avx512
#endif
#define REUSE_PATH "avx512"
#ifndef DNV
#define DNV 16
#endif
#include "attn_reuse_body.h"
