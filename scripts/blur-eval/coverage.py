"""Which pixels a box or an ellipse covers, and how boxes match: the one
definition every metric and both tools' masks are measured with.

Coordinates are full-frame luma pixels, x right, y down; pixel (i, j) is the
unit square [i, i+1) x [j, j+1) with its centre at (i + 0.5, j + 0.5). An
ellipse {cx, cy, rx, ry} covers the pixels whose centre satisfies
((i + 0.5 - cx) / rx)^2 + ((j + 0.5 - cy) / ry)^2 <= 1 (as egocap's
`Ellipse::contains`). A box {x, y, w, h} spans [x, x+w) x [y, y+h); its face
ellipse is the inscribed one.
"""

import numpy as np


def ellipse_of_box(b):
    return {"cx": b["x"] + b["w"] / 2, "cy": b["y"] + b["h"] / 2, "rx": b["w"] / 2, "ry": b["h"] / 2}


def ellipse_window(e, shape):
    """(y0, x0, local mask) of the pixels of ellipse `e` inside a frame of
    `shape`, over the ellipse's bounding window; None when off-frame."""
    h, w = shape
    rx, ry = max(float(e["rx"]), 1e-6), max(float(e["ry"]), 1e-6)
    x0, x1 = max(int(np.floor(e["cx"] - rx)), 0), min(int(np.ceil(e["cx"] + rx)) + 1, w)
    y0, y1 = max(int(np.floor(e["cy"] - ry)), 0), min(int(np.ceil(e["cy"] + ry)) + 1, h)
    if x0 >= x1 or y0 >= y1:
        return None
    dx = ((np.arange(x0, x1) + 0.5 - e["cx"]) / rx) ** 2
    dy = ((np.arange(y0, y1) + 0.5 - e["cy"]) / ry) ** 2
    return y0, x0, (dy[:, None] + dx[None, :]) <= 1.0


def paint_ellipse(mask, e):
    """Sets the pixels of `e` in the bool array `mask` (in place)."""
    window = ellipse_window(e, mask.shape)
    if window is not None:
        y0, x0, local = window
        mask[y0:y0 + local.shape[0], x0:x0 + local.shape[1]] |= local


def uncovered(e, mask):
    """(pixels of ellipse `e` not set in `mask`, pixels of `e`)."""
    window = ellipse_window(e, mask.shape)
    if window is None:
        return 0, 0
    y0, x0, local = window
    covered = mask[y0:y0 + local.shape[0], x0:x0 + local.shape[1]]
    return int((local & ~covered).sum()), int(local.sum())


def ellipses_mask(ellipses, shape):
    mask = np.zeros(shape, dtype=bool)
    for e in ellipses:
        paint_ellipse(mask, e)
    return mask


def paint_box(mask, b, scale=1.0):
    """Sets the pixels whose centre lies in box `b` scaled by `scale` about
    its centre."""
    h, w = mask.shape
    cx, cy = b["x"] + b["w"] / 2, b["y"] + b["h"] / 2
    half_w, half_h = b["w"] * scale / 2, b["h"] * scale / 2
    # pixel i is inside when x0 <= i + 0.5 < x1
    x0, x1 = (max(int(np.ceil(v - 0.5)), 0) for v in (cx - half_w, cx + half_w))
    y0, y1 = (max(int(np.ceil(v - 0.5)), 0) for v in (cy - half_h, cy + half_h))
    mask[y0:min(y1, h), x0:min(x1, w)] = True


def iou(a, b):
    inter = intersection(a, b)
    union = a["w"] * a["h"] + b["w"] * b["h"] - inter
    return inter / union if union > 0 else 0.0


def intersection(a, b):
    w = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
    h = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
    return max(w, 0.0) * max(h, 0.0)


def matches(truth, detection, min_iou=0.3, min_cover=0.5):
    """A detection finds a ground-truth face when their IoU is at least 0.3
    or it covers at least half of the face box (detectors draw looser or
    tighter boxes than our brow-to-chin annotation)."""
    if iou(truth, detection) >= min_iou:
        return True
    area = truth["w"] * truth["h"]
    return area > 0 and intersection(truth, detection) / area >= min_cover
