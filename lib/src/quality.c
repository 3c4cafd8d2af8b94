/* PSNR and SSIM of frames (ripple/quality.h). The SSIM follows
 * scikit-image's structural_similarity with gaussian_weights=True: the
 * Gaussian filter (scipy.ndimage.gaussian_filter1d weights,
 * exp(-x^2 / (2 sigma^2)) normalised, x in [-5, 5]) applied along rows and
 * columns to img, ref, img^2, ref^2 and img*ref; only the pixels the final
 * mean keeps (5 or more from every border) are filtered, and their windows
 * lie inside the image, so scipy's boundary mode never enters. */
#include "ripple/quality.h"

#include "internal.h"

#include <math.h>
#include <stdlib.h>

#define SSIM_SIGMA 1.5
#define SSIM_K1 0.01
#define SSIM_K2 0.03
enum { R = RIPPLE_SSIM_RADIUS, TAPS = 2 * RIPPLE_SSIM_RADIUS + 1 };

static ripple_status check_pixels(const char *what, int64_t n, const float *img, const float *ref,
                                  double data_range)
{
    if (!img || !ref) return ripple_fail(RIPPLE_ERR_INVALID, "%s: %s is NULL", what, !img ? "img" : "ref");
    if (!(data_range > 0) || !isfinite(data_range))
        return ripple_fail(RIPPLE_ERR_INVALID, "%s: data_range must be positive and finite (got %g)", what,
                           data_range);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(img[i]) || !isfinite(ref[i]))
            return ripple_fail(RIPPLE_ERR_NONFINITE, "%s: non-finite pixel %lld in %s", what, (long long)i,
                               !isfinite(img[i]) ? "img" : "ref");
    return RIPPLE_OK;
}

ripple_status ripple_quality_pixels(int64_t n, const float *x, float *p)
{
    if (n < 0 || (n > 0 && (!x || !p))) return ripple_fail(RIPPLE_ERR_INVALID, "quality pixels: bad arguments");
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            return ripple_fail(RIPPLE_ERR_NONFINITE, "quality pixels: non-finite value %lld", (long long)i);
        double v = ((double)x[i] + 1.0) / 2.0;
        p[i] = (float)(v < 0 ? 0 : v > 1 ? 1 : v);
    }
    return RIPPLE_OK;
}

static double mse_of(int64_t n, const float *img, const float *ref)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)img[i] - (double)ref[i];
        s += d * d;
    }
    return s / (double)n;
}

static double psnr_of(double mse, double data_range)
{
    return mse == 0 ? INFINITY : 10.0 * log10(data_range * data_range / mse);
}

ripple_status ripple_quality_psnr(int64_t n, const float *img, const float *ref, double data_range, double *psnr)
{
    if (n <= 0 || !psnr) return ripple_fail(RIPPLE_ERR_INVALID, "psnr: %s", n <= 0 ? "no pixels" : "psnr is NULL");
    ripple_status s = check_pixels("psnr", n, img, ref, data_range);
    if (s) return s;
    *psnr = psnr_of(mse_of(n, img, ref), data_range);
    return RIPPLE_OK;
}

/* SSIM of one checked frame; scratch: 5 * height * (width - 2R) doubles. */
static double ssim_frame(int64_t h, int64_t w, const float *x, const float *y, double data_range, double *scratch)
{
    double g[TAPS], sum = 0;
    for (int i = 0; i < TAPS; i++) sum += g[i] = exp(-0.5 * (double)((i - R) * (i - R)) / (SSIM_SIGMA * SSIM_SIGMA));
    for (int i = 0; i < TAPS; i++) g[i] /= sum;
    const int64_t wo = w - 2 * R, ho = h - 2 * R;
    /* horizontal pass: rows 0..h-1, output columns R..w-R-1 (index c - R) */
    double *hx = scratch, *hy = hx + h * wo, *hxx = hy + h * wo, *hyy = hxx + h * wo, *hxy = hyy + h * wo;
    for (int64_t r = 0; r < h; r++)
        for (int64_t c = 0; c < wo; c++) {
            double a = 0, b = 0, aa = 0, bb = 0, ab = 0;
            for (int k = 0; k < TAPS; k++) {
                const double u = x[r * w + c + k], v = y[r * w + c + k], gk = g[k];
                a += gk * u, b += gk * v, aa += gk * u * u, bb += gk * v * v, ab += gk * u * v;
            }
            const int64_t o = r * wo + c;
            hx[o] = a, hy[o] = b, hxx[o] = aa, hyy[o] = bb, hxy[o] = ab;
        }
    const double c1 = (SSIM_K1 * data_range) * (SSIM_K1 * data_range);
    const double c2 = (SSIM_K2 * data_range) * (SSIM_K2 * data_range);
    double total = 0;
    for (int64_t r = 0; r < ho; r++)
        for (int64_t c = 0; c < wo; c++) {
            double ux = 0, uy = 0, uxx = 0, uyy = 0, uxy = 0;
            for (int k = 0; k < TAPS; k++) {
                const int64_t o = (r + k) * wo + c;
                ux += g[k] * hx[o], uy += g[k] * hy[o], uxx += g[k] * hxx[o], uyy += g[k] * hyy[o];
                uxy += g[k] * hxy[o];
            }
            const double vx = uxx - ux * ux, vy = uyy - uy * uy, vxy = uxy - ux * uy;
            total += ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
        }
    return total / (double)(ho * wo);
}

static ripple_status check_frame(const char *what, int64_t h, int64_t w)
{
    if (h < TAPS || w < TAPS)
        return ripple_fail(RIPPLE_ERR_INVALID, "%s: a frame of %lld x %lld pixels; SSIM's window needs %d x %d",
                           what, (long long)h, (long long)w, TAPS, TAPS);
    if (!ripple_mul3(h, w, 5)) return ripple_fail(RIPPLE_ERR_INVALID, "%s: frame size overflows", what);
    return RIPPLE_OK;
}

ripple_status ripple_quality_ssim(int64_t height, int64_t width, const float *img, const float *ref,
                                  double data_range, double *ssim)
{
    ripple_status s = check_frame("ssim", height, width);
    if (s) return s;
    if (!ssim) return ripple_fail(RIPPLE_ERR_INVALID, "ssim: ssim is NULL");
    if ((s = check_pixels("ssim", height * width, img, ref, data_range))) return s;
    double *scratch = malloc(ripple_mul3(height, width - 2 * R, 5) * sizeof(double));
    if (!scratch) return ripple_fail(RIPPLE_ERR_NOMEM, "ssim: out of memory");
    *ssim = ssim_frame(height, width, img, ref, data_range, scratch);
    free(scratch);
    return RIPPLE_OK;
}

ripple_status ripple_quality_clip(int64_t frames, int64_t height, int64_t width, const float *img,
                                  const float *ref, double data_range, ripple_quality_result *res)
{
    ripple_status s = check_frame("quality", height, width);
    if (s) return s;
    if (frames <= 0 || !res) return ripple_fail(RIPPLE_ERR_INVALID, "quality: %s", frames <= 0 ? "no frames" : "res is NULL");
    const int64_t per = height * width;
    if (!ripple_mul3(frames, per, 1)) return ripple_fail(RIPPLE_ERR_INVALID, "quality: clip size overflows");
    if ((s = check_pixels("quality", frames * per, img, ref, data_range))) return s;
    double *scratch = malloc(ripple_mul3(height, width - 2 * R, 5) * sizeof(double));
    if (!scratch) return ripple_fail(RIPPLE_ERR_NOMEM, "quality: out of memory");
    double mse = 0, ssim = 0, psnr_min = INFINITY, ssim_min = INFINITY;
    for (int64_t f = 0; f < frames; f++) {
        const double m = mse_of(per, img + f * per, ref + f * per);
        const double q = ssim_frame(height, width, img + f * per, ref + f * per, data_range, scratch);
        mse += m / (double)frames, ssim += q / (double)frames;
        const double p = psnr_of(m, data_range);
        psnr_min = p < psnr_min ? p : psnr_min, ssim_min = q < ssim_min ? q : ssim_min;
    }
    free(scratch);
    *res = (ripple_quality_result){mse, psnr_of(mse, data_range), ssim, psnr_min, ssim_min};
    return RIPPLE_OK;
}
