#!/usr/bin/python3
"""Writes the PIL resize fixtures of onnx_preprocess_test.go.

Run from this folder with Debian's python3-pil and python3-numpy
(Pillow 9.4.0 made the committed files):  /usr/bin/python3 gen.py

src_*.png are synthetic RGB images (gradients, sharp edges that make bicubic
overshoot and clip, a noisy patch). For each case, <case>.png is PIL's
Image.resize of a source to the size that Hugging Face's CLIPImageProcessor
computes for shortest_edge 224 (the long side truncated), with the filter
named in cases.txt.
"""
import numpy as np
from PIL import Image

rng = np.random.default_rng(7)


def synth(w, h):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 100 * np.sin(x / 17.0) * np.cos(y / 23.0)
    g = 255 * x / w
    b = 255 * ((x // 40 + y // 40) % 2)  # checkerboard: hard edges
    img = np.stack([r, g, b], axis=-1)
    ph, pw = min(40, h // 3), min(60, w // 3)
    img[h // 3: h // 3 + ph, w // 2: w // 2 + pw] = rng.integers(0, 256, (ph, pw, 3))
    img[5:9, :, :] = 255  # thin white line
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def short_side(w, h, s=224):
    if w <= h:
        return s, int(s * h / w)
    return int(s * w / h), s


sources = {"src_wide": synth(611, 457), "src_tall": synth(61, 97)}
for name, im in sources.items():
    im.save(name + ".png")

filters = {"lanczos": 1, "bilinear": 2, "bicubic": 3, "box": 4, "hamming": 5}
cases = [("src_wide", f) for f in filters] + [("src_tall", "bicubic")]
with open("cases.txt", "w") as out:
    for src, f in cases:
        im = sources[src]
        size = short_side(*im.size)
        res = im.resize(size, resample=filters[f])
        name = f"{src}_{f}"
        res.save(name + ".png")
        out.write(f"{name} {src} {filters[f]} {size[0]} {size[1]}\n")
