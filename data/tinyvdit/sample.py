"""50-step Euler sampler of the rectified flow, and PNG strips of generated clips.

A strip has one row per clip, frames left to right; rows come per class in class order
(class 0 sample 0, class 0 sample 1, ..., the classes of moving_fmnist.CLASS_NAMES), labelled
at the left (label_strip, which needs Pillow).

t runs from 1 (noise) to 0 (data) on a uniform grid of num_steps + 1 points;
step i evaluates the model at t_i = 1 - i / num_steps and moves x by (t_{i+1} - t_i) * v.

CLI:  PYTHONPATH=data python3 -m tinyvdit.sample --weights data/models/tiny-vdit.h5 \
          --out data/results/samples.png --seed 0 --per-class 2 --cfg 2.0
"""

import argparse
import struct
import zlib

import numpy as np
import torch


def timesteps(num_steps):
    return torch.linspace(1.0, 0.0, num_steps + 1)


@torch.no_grad()
def euler_sample(model, y, noise, num_steps=50, cfg_scale=1.0, on_step=None):
    """on_step(i, t) is called before the model evaluation of step i (used by captures).
    With cfg_scale != 1 the batch is [cond; uncond]: captures take the conditional half."""
    ts = timesteps(num_steps).tolist()
    x = noise
    null = torch.full_like(y, model.cfg.num_classes)
    for i in range(num_steps):
        t, tn = ts[i], ts[i + 1]
        if on_step is not None:
            on_step(i, t)
        tt = torch.full((x.shape[0],), t, device=x.device)
        if cfg_scale == 1.0:
            v = model(x, tt, y)
        else:
            vc, vu = model(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([y, null])).chunk(2)
            v = vu + cfg_scale * (vc - vu)
        x = x + (tn - t) * v
    return x


def write_png(path, img):
    """img: uint8 [H, W] grayscale."""
    img = np.ascontiguousarray(img, dtype=np.uint8)
    H, W = img.shape
    raw = b"".join(b"\x00" + img[r].tobytes() for r in range(H))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def strip_image(clips, upscale=3, gap=2):
    """clips: [R, T, H, W] in [-1, 1] -> one image, a row per clip, frames across."""
    clips = np.clip((np.asarray(clips) + 1) / 2, 0, 1)
    R, T, H, W = clips.shape
    h, w = H * upscale, W * upscale
    out = np.full((R * (h + gap) + gap, T * (w + gap) + gap), 128, np.uint8)
    for r in range(R):
        for t in range(T):
            tile = np.kron(clips[r, t], np.ones((upscale, upscale)))
            y0, x0 = gap + r * (h + gap), gap + t * (w + gap)
            out[y0:y0 + h, x0:x0 + w] = (tile * 255 + 0.5).astype(np.uint8)
    return out


def label_strip(img, labels, rows_per_label, frames, tile=96, gap=2, font_px=20):
    """Adds class labels to a strip of strip_image's layout (rows of tile + gap pixels under a
    gap-pixel border; frames across): a white margin at the left with labels[i] centred on rows
    i * rows_per_label .. (i + 1) * rows_per_label - 1, a line between the labels, and a top
    margin with the frame numbers. img: uint8 [H, W] -> uint8 [H + top, W + left]."""
    from PIL import Image, ImageDraw, ImageFont  # only the labels need Pillow
    H, W = img.shape
    rows, cols = (H - gap) // (tile + gap), (W - gap) // (tile + gap)
    if (rows * (tile + gap) + gap, cols * (tile + gap) + gap) != (H, W) or cols != frames \
            or rows != len(labels) * rows_per_label:
        raise ValueError(f"a {W}x{H} image is not a strip of {len(labels)} x {rows_per_label} rows of "
                         f"{frames} frames of {tile} px (already labelled?)")
    try:
        font = ImageFont.truetype("DejaVuSans.ttf", font_px)
    except OSError:
        font = ImageFont.load_default(size=font_px)
    draw0 = ImageDraw.Draw(Image.new("L", (1, 1)))
    width = lambda s: draw0.textbbox((0, 0), s, font=font)[2]
    texts = [f"{name} ({i})" for i, name in enumerate(labels)]
    left, top = max(width(t) for t in texts) + 24, font_px + 16
    out = Image.new("L", (W + left, H + top), 255)
    out.paste(Image.fromarray(np.ascontiguousarray(img, dtype=np.uint8)), (left, top))
    d = ImageDraw.Draw(out)
    d.text((left // 2, top // 2), "class", font=font, fill=0, anchor="mm")
    for f in range(cols):
        d.text((left + gap + f * (tile + gap) + tile // 2, top // 2), f"frame {f}", font=font, fill=0, anchor="mm")
    span = rows_per_label * (tile + gap)
    for i, t in enumerate(texts):
        y0 = top + gap + i * span
        d.text((left - 12, y0 + (span - gap) // 2), t, font=font, fill=0, anchor="rm")
        if i:
            d.line([(4, y0 - gap // 2 - 1), (left - 4, y0 - gap // 2 - 1)], fill=160, width=1)
    return np.asarray(out)


@torch.no_grad()
def class_strips(model, device, seed=0, per_class=2, cfg_scale=2.0, num_steps=50):
    """Returns clips [num_classes * per_class, T, H, W] (rows: class 0 sample 0, class 0 sample 1, ...)."""
    cfg = model.cfg
    y = torch.arange(cfg.num_classes).repeat_interleave(per_class).to(device)
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(len(y), 1, cfg.frames, cfg.height, cfg.width, generator=g).to(device)
    x = euler_sample(model, y, noise, num_steps, cfg_scale)
    return x[:, 0].float().cpu().numpy()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-class", type=int, default=2)
    ap.add_argument("--cfg", type=float, default=2.0)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args()
    from .model import load_weights
    model, _ = load_weights(a.weights, a.device)
    clips = class_strips(model, a.device, a.seed, a.per_class, a.cfg, a.steps)
    from .moving_fmnist import CLASS_NAMES
    names = CLASS_NAMES if len(CLASS_NAMES) == model.cfg.num_classes else [str(c) for c in range(model.cfg.num_classes)]
    write_png(a.out, label_strip(strip_image(clips), names, a.per_class, clips.shape[1]))
    np.save(a.out.rsplit(".", 1)[0] + ".npy", clips.astype(np.float16))


if __name__ == "__main__":
    main()
