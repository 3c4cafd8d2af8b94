/* Image quality of generated frames against reference frames: PSNR and
 * SSIM, the metrics of the paper's Tables 2-4 (Sec. 4.1: the accelerated
 * model's video against the original model's, frame by frame).
 *
 * Pixels are floats in [0, data_range]; ripple_quality_pixels maps a clip
 * of the model (values about [-1, 1]) to [0, 1] the way the PNG strips of
 * `ripple generate` and tinyvdit/sample.py draw it, before 8-bit rounding.
 * Everything accumulates in double.
 *
 *   psnr = 10 log10(data_range^2 / mse), mse over every pixel given;
 *          +inf when the images are equal (as scikit-image's
 *          peak_signal_noise_ratio(ref, img, data_range=R))
 *   ssim = Wang et al. 2004 with a Gaussian window: sigma 1.5, the filter
 *          truncated at 3.5 sigma (radius 5, 11 taps, weights normalised to
 *          sum 1), population (co)variances, K1 = 0.01, K2 = 0.03,
 *          C1 = (K1 R)^2, C2 = (K2 R)^2; the SSIM map is averaged over the
 *          pixels at least 5 from every border (where the window lies
 *          inside the image, so no boundary rule enters): scikit-image's
 *          structural_similarity(ref, img, gaussian_weights=True,
 *          sigma=1.5, use_sample_covariance=False, data_range=R). Images
 *          need at least 11 x 11 pixels; SSIM of equal images is 1.
 *
 * Non-finite pixels are refused (RIPPLE_ERR_NONFINITE). */
#ifndef RIPPLE_QUALITY_H
#define RIPPLE_QUALITY_H

#include "ripple/ripple.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RIPPLE_SSIM_RADIUS 5 /* int(3.5 * 1.5 + 0.5): an 11 x 11 window */

/* p[i] = clamp((x[i] + 1) / 2, 0, 1) for n values; x and p may be the same. */
RIPPLE_API ripple_status ripple_quality_pixels(int64_t n, const float *x, float *p);

/* PSNR of img against ref, n pixels each, range [0, data_range] (> 0). */
RIPPLE_API ripple_status ripple_quality_psnr(int64_t n, const float *img, const float *ref, double data_range,
                                             double *psnr);

/* Mean SSIM of one image against ref: [height, width] row-major each,
 * height and width >= 11. */
RIPPLE_API ripple_status ripple_quality_ssim(int64_t height, int64_t width, const float *img, const float *ref,
                                             double data_range, double *ssim);

/* A clip against a reference clip, frame by frame. */
typedef struct ripple_quality_result {
    double mse;      /* mean over frames of each frame's pixel MSE (= over every pixel) */
    double psnr;     /* 10 log10(R^2 / mse): from the mean MSE, +inf when every frame is equal */
    double ssim;     /* mean over frames of each frame's SSIM */
    double psnr_min; /* the worst frame's PSNR */
    double ssim_min; /* the worst frame's SSIM */
} ripple_quality_result;

/* img, ref: [frames, height, width] pixels in [0, data_range]. */
RIPPLE_API ripple_status ripple_quality_clip(int64_t frames, int64_t height, int64_t width, const float *img,
                                             const float *ref, double data_range, ripple_quality_result *res);

#ifdef __cplusplus
}
#endif

#endif /* RIPPLE_QUALITY_H */
