#!/usr/bin/env python3
"""Builds the face-blur evaluation clips: moving 1280x720 30 fps Y4M clips made
from real photographs and video that ship in packages, with ground-truth face
boxes known by construction (each source face was annotated by hand once, and
every frame's box follows from the same scale and offset that placed the
picture).

    make_clips.py OUT_DIR [--preview PNG_DIR]

Writes OUT_DIR/<clip>.y4m, OUT_DIR/<clip>.faces.json and OUT_DIR/manifest.json.
When OUT_DIR/manifest.json already records the same inputs (assets, this code,
library versions) and the clips are there, it does nothing.

Pixels: BT.601 limited range, 4:2:0 with chroma averaged over 2x2 (see y4m.py).
Boxes: full-frame pixel coordinates, x right, y down, a box spans
[x, x+w) x [y, y+h), tight around the face (brow to chin, ear to ear).
`ignore` lists, per frame, regions holding real faces that are not annotated
(a blurred stadium crowd, tiny pedestrians): they count neither for recall nor
for collateral. Assets and their licences: ASSETS.md.
"""

import argparse
import hashlib
import json
import os
import sys

import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from y4m import Y4mWriter, rgb_to_yuv420  # noqa: E402

try:
    import cv2
    import skimage
except ImportError as missing:
    sys.exit(f"make_clips: {missing.name} is missing; run scripts/blur-eval/install-deps.sh")

W, H, FPS = 1280, 720, 30
SEED = 7

SKIMAGE_DATA = os.path.join(os.path.dirname(skimage.__file__), "data")
OPENCV_DATA = "/usr/share/doc/opencv-doc/examples/data"

# Every input file, pinned: a different package version must not silently
# change the evaluation set. scikit-image 0.24.0 wheel; Debian opencv-doc
# 4.6.0+dfsg-12 (bookworm).
ASSETS = {
    "astronaut.png": (SKIMAGE_DATA, "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"),
    "camera.png": (SKIMAGE_DATA, "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a"),
    "lfw_subset.npy": (SKIMAGE_DATA, "9560ec2f5edfac01973f63a8a99d00053fecd11e21877e18038fbe500f8e872c"),
    "brick.png": (SKIMAGE_DATA, "7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf"),
    "coffee.png": (SKIMAGE_DATA, "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7"),
    "chelsea.png": (SKIMAGE_DATA, "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb"),
    "rocket.jpg": (SKIMAGE_DATA, "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c"),
    "messi5.jpg": (OPENCV_DATA, "1d570e49654e84c7a943918537bd9e5e1ef82920152e147c834006e235be97c9"),
    "basketball1.png": (OPENCV_DATA, "ba06f6701f7260998b430c39b6557f775497e6ce7b1a74f0b7ea6af371bf54a6"),
    "basketball2.png": (OPENCV_DATA, "b3047772e0dc6c9d83c26f64894ca1a897f799f855c5574ac24b2ef934c2978e"),
    "vtest.avi": (OPENCV_DATA, "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf"),
}

# Hand-annotated faces, (x, y, w, h) in the source image's pixels, read off
# 4-7x enlargements with a pixel grid.
# astronaut.png: Eileen Collins, frontal; bangs end at y~82, chin y~180,
# cheek/ear edges x~176 and x~270.
ASTRONAUT_FACE = (176, 82, 94, 99)
# Her head with hair and some background, pasted small into the street.
ASTRONAUT_HEAD = (140, 20, 166, 190)
# messi5.jpg: head tilted down; forehead below the hair at y~101, chin y~131,
# left cheek x~219 (the ear is under his hair), right cheek x~257.
MESSI_FACE = (219, 101, 38, 31)
# messi5.jpg rows 0..265 are a stadium crowd, out of focus, faces ~10 px:
# real faces nobody can annotate, so the region is ignored.
MESSI_CROWD = (0, 0, 548, 265)
# basketball1/2.png: the left man, three-quarter view (ear at x~61, hairline
# y~94, chin y~138), and the right man in profile facing left (brow y~66,
# nose tip x~511 in frame 1 and x~519 in frame 2, chin y~127, hair over the
# ear at x~565).
BASKETBALL_FACES = {
    "basketball1.png": [(61, 94, 41, 45, "basketball_left"), (511, 66, 54, 62, "basketball_profile")],
    "basketball2.png": [(61, 94, 41, 45, "basketball_left"), (519, 66, 54, 62, "basketball_profile")],
}
# camera.png: the man's face (profile) is at x 170..260, y 100..200; these
# crops are away from it: the grass and buildings right of him, and the coat,
# tripod and grass below his hands.
CAMERA_FACE_FREE = [(330, 0, 182, 512), (0, 300, 512, 212)]
# lfw_subset.npy: images 0..99 are 25x25 face crops (brow to chin), 100..199
# non-faces. These were checked to be frontal faces of varied people.
LFW_FACES = [0, 13, 26, 31, 46, 52, 64, 74, 83, 91]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--preview", metavar="PNG_DIR", help="also write every 10th frame with its boxes drawn")
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)

    inputs = manifest_inputs()
    manifest_path = os.path.join(args.out_dir, "manifest.json")
    if up_to_date(manifest_path, inputs, args.out_dir) and not args.preview:
        print(f"make_clips: clips in {args.out_dir} are up to date")
        return

    if os.path.exists(manifest_path):
        os.remove(manifest_path)  # written again only once every clip is
    clips = []
    for name, frames in CLIPS.items():
        clips.append(write_clip(args.out_dir, name, frames(), args.preview))
        print(f"make_clips: {name}: {clips[-1]['frames']} frames, {clips[-1]['faces']} faces")
    manifest = {
        "width": W, "height": H, "fps": FPS,
        "matrix": "bt601", "range": "limited", "chroma": "420jpeg (2x2 mean)",
        "box_convention": "full-frame pixels, [x, x+w) x [y, y+h); the face ellipse is the one inscribed in the box",
        "inputs": inputs,
        "clips": clips,
    }
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=1)


# --- the clips -------------------------------------------------------------
# Each is a generator of (rgb frame, faces, ignore regions).


def astronaut_pan():
    """The portrait as a poster on a brick wall; the camera pans and zooms out
    so the face goes from ~300 px to ~100 px."""
    photo, wall = load_rgb("astronaut.png"), brick_wall()
    n = 60
    for i in range(n):
        t = i / (n - 1)
        scale = 3.0 * (1.05 / 3.0) ** t  # geometric: constant zoom rate
        face_at = (470 + 330 * t, 330 + 40 * t)  # where the face centre lands
        frame, faces, _ = place(wall, photo, scale, ASTRONAUT_FACE, face_at, "astronaut")
        yield frame, faces, []


def messi_scale():
    """messi5.jpg from a close-up (face ~250 px) down to a small picture on a
    wall (face ~36 px)."""
    photo, wall = load_rgb("messi5.jpg"), brick_wall()
    n = 60
    for i in range(n):
        t = i / (n - 1)
        scale = 6.5 * (0.95 / 6.5) ** t
        face_at = (640 + 60 * t, 360 - 60 * t)
        frame, faces, ignore = place(wall, photo, scale, MESSI_FACE, face_at, "messi", MESSI_CROWD)
        yield frame, faces, ignore


def basketball():
    """Two people (one in profile), alternating the two frames of the
    sequence, panning, with the exposure swept from dark to overexposed."""
    photos = {name: load_rgb(name) for name in BASKETBALL_FACES}
    n = 45
    for i in range(n):
        t = i / (n - 1)
        name = "basketball1.png" if (i // 3) % 2 == 0 else "basketball2.png"
        scale = 2.0 + 0.2 * t
        offset = (-100 * t, -150 * t)
        canvas = np.zeros((H, W, 3), np.uint8)
        resized, sx, sy = resize(photos[name], scale)
        paste(canvas, resized, offset)
        gain = 0.3 * (1.8 / 0.3) ** t  # exposure sweep, clipping at the end
        frame = np.clip(canvas.astype(np.float32) * gain, 0, 255).astype(np.uint8)
        faces = [box_in_frame((x, y, w, h), sx, sy, offset, source) for x, y, w, h, source in BASKETBALL_FACES[name]]
        yield frame, [f for f in faces if f is not None], []


def small_faces_street():
    """The street video (pedestrians seen from a first floor) with twelve
    faces pasted at 20-70 px, each drifting and growing or shrinking: the far
    bystanders a head-worn camera sees. Ten are LFW crops (25 px, so enlarged
    and soft), two are the astronaut's head scaled down (sharp, with hair and
    background around the face). Pedestrians' own faces are a few pixels and
    unannotated, so their silhouettes (by background subtraction against the
    video's median) are ignore regions."""
    video = read_vtest()
    rng = np.random.default_rng(SEED)
    lfw = np.load(asset_bytes_path("lfw_subset.npy"))
    grey = lambda a: cv2.cvtColor((np.clip(a, 0, 1) * 255).astype(np.uint8), cv2.COLOR_GRAY2RGB)
    tiles = [(f"lfw_subset[{i}]", grey(lfw[i]), (0, 0, 25, 25)) for i in LFW_FACES]
    head = crop(load_rgb("astronaut.png"), ASTRONAUT_HEAD)
    face_in_head = (ASTRONAUT_FACE[0] - ASTRONAUT_HEAD[0], ASTRONAUT_FACE[1] - ASTRONAUT_HEAD[1]) + ASTRONAUT_FACE[2:]
    tiles += [("astronaut_small", head, face_in_head)] * 2
    n = 60
    # One face per cell of a 6x2 grid, so pasted faces never overlap.
    cell_w, cell_h = W // 6, H // 2
    tracks = []
    for k, (source, tile, face) in enumerate(tiles):
        size0 = rng.uniform(20, 64)
        size1 = float(np.clip(size0 * rng.uniform(0.7, 1.4), 20, 70))
        most = max(size0, size1) / max(face[2:])  # the largest scale of the tile
        cx0, cy0 = (k % 6) * cell_w, (k // 6) * cell_h
        room = 8, cell_w - 8 - tile.shape[1] * most, cell_h - 8 - tile.shape[0] * most
        start, end = ([cx0 + rng.uniform(room[0], room[1]), cy0 + rng.uniform(room[0], room[2])] for _ in range(2))
        tracks.append((source, tile, face, size0, size1, start, end))
    background = np.median(video[::5], axis=0).astype(np.int16)
    for i in range(n):
        t = i / (n - 1)
        source_frame = video[i]
        frame = street_crop(source_frame)
        faces = []
        for source, tile, face, size0, size1, start, end in tracks:
            scale = (size0 + (size1 - size0) * t) / max(face[2:])
            x = round(start[0] + (end[0] - start[0]) * t)
            y = round(start[1] + (end[1] - start[1]) * t)
            sx, sy = paste_soft(frame, tile, x, y, scale)
            faces.append(box_in_frame(face, sx, sy, (x, y), source))
        yield frame, faces, pedestrians(source_frame, background)


def no_faces():
    """A pan across face-free pictures: camera.png away from the man's face,
    a rocket launch, a coffee cup, a cat (a non-human face a detector may fire
    on), a brick wall. Every blurred pixel here is collateral."""
    camera = load_rgb("camera.png")
    parts = [crop(camera, CAMERA_FACE_FREE[0]), load_rgb("rocket.jpg"), load_rgb("coffee.png"),
             load_rgb("chelsea.png"), crop(camera, CAMERA_FACE_FREE[1]), brick_wall()]
    strip = np.hstack([cv2.resize(p, (round(p.shape[1] * H / p.shape[0]), H), interpolation=cv2.INTER_AREA
                                  if p.shape[0] > H else cv2.INTER_CUBIC) for p in parts])
    n = 40
    for i in range(n):
        x = round((strip.shape[1] - W) * i / (n - 1))
        yield np.ascontiguousarray(strip[:, x:x + W]), [], []


CLIPS = {
    "astronaut_pan": astronaut_pan,
    "messi_scale": messi_scale,
    "basketball": basketball,
    "small_faces_street": small_faces_street,
    "no_faces": no_faces,
}


# --- composition -------------------------------------------------------------


def place(wall, photo, scale, face, face_at, source, ignore_region=None):
    """The photo scaled by `scale` on the wall, its `face` box centred at
    `face_at` in the frame; returns the frame, the face box and the ignore
    region mapped into the frame."""
    resized, sx, sy = resize(photo, scale)
    fx, fy, fw, fh = face
    offset = (round(face_at[0] - (fx + fw / 2) * sx), round(face_at[1] - (fy + fh / 2) * sy))
    frame = wall.copy()
    paste(frame, resized, offset)
    faces = [f for f in [box_in_frame(face, sx, sy, offset, source)] if f is not None]
    ignore = []
    if ignore_region is not None:
        region = box_in_frame(ignore_region, sx, sy, offset, source + "_crowd")
        if region is not None:
            ignore.append(region)
    return frame, faces, ignore


def resize(image, scale):
    h, w = image.shape[:2]
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(image, (nw, nh), interpolation=interpolation), nw / w, nh / h


def paste(frame, image, offset):
    """Copies `image` into `frame` with its top-left corner at integer
    `offset`, clipped to the frame."""
    ox, oy = round(offset[0]), round(offset[1])
    x0, y0 = max(ox, 0), max(oy, 0)
    x1, y1 = min(ox + image.shape[1], W), min(oy + image.shape[0], H)
    if x0 < x1 and y0 < y1:
        frame[y0:y1, x0:x1] = image[y0 - oy:y1 - oy, x0 - ox:x1 - ox]


def paste_soft(frame, tile, x, y, scale):
    """`tile` scaled by `scale` with its top-left corner at (x, y), blended in
    over a feathered border (15 % of its shorter side) so it has no hard
    edge; returns the actual x and y scale factors."""
    resized, sx, sy = resize(tile, scale)
    h, w = resized.shape[:2]
    feather = max(1.0, 0.15 * min(h, w))
    ramp = lambda n: np.clip((np.minimum(np.arange(n), np.arange(n)[::-1]) + 0.5) / feather, 0, 1)
    alpha = np.outer(ramp(h), ramp(w))[:, :, None]
    region = frame[y:y + h, x:x + w].astype(np.float32)
    frame[y:y + h, x:x + w] = np.rint(alpha * resized + (1 - alpha) * region).astype(np.uint8)
    return sx, sy


def box_in_frame(source_box, sx, sy, offset, source):
    """A source-image box mapped into the frame, clipped to it; None when it
    falls outside."""
    x, y, w, h = source_box
    x0, y0 = max(offset[0] + x * sx, 0.0), max(offset[1] + y * sy, 0.0)
    x1, y1 = min(offset[0] + (x + w) * sx, float(W)), min(offset[1] + (y + h) * sy, float(H))
    if x1 <= x0 or y1 <= y0:
        return None
    return box(x0, y0, x1 - x0, y1 - y0, source)


def box(x, y, w, h, source):
    return {"x": round(float(x), 2), "y": round(float(y), 2), "w": round(float(w), 2), "h": round(float(h), 2),
            "source": source}


def crop(image, region):
    x, y, w, h = region
    return image[y:y + h, x:x + w]


def brick_wall():
    """A face-free backdrop: skimage's brick texture (grey) tiled over the frame."""
    tile = load_rgb("brick.png")
    reps = (H // tile.shape[0] + 1, W // tile.shape[1] + 1, 1)
    return np.ascontiguousarray(np.tile(tile, reps)[:H, :W])


# vtest.avi is 768x576; rows 60..492 are the 16:9 band with the road and the
# pedestrians, scaled by 5/3 to 1280x720.
STREET_ROWS = (60, 492)


def street_crop(frame):
    return cv2.resize(frame[STREET_ROWS[0]:STREET_ROWS[1]], (W, H), interpolation=cv2.INTER_CUBIC)


def pedestrians(frame, background):
    """Boxes (in the 1280x720 frame) around what moves in the street video:
    pixels far from the median background, opened and closed, as connected
    blobs, grown by a few pixels."""
    diff = np.abs(frame.astype(np.int16) - background).max(axis=2)
    mask = (diff > 40).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask)
    boxes, k = [], W / frame.shape[1]
    for x, y, w, h, area in stats[1:count]:
        if area < 60:
            continue
        x0, y0 = (x - 4) * k, (y - 4 - STREET_ROWS[0]) * k
        x1, y1 = (x + w + 4) * k, (y + h + 4 - STREET_ROWS[0]) * k
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
        if x1 > x0 and y1 > y0:
            boxes.append(box(x0, y0, x1 - x0, y1 - y0, "vtest_pedestrian"))
    return boxes


# --- assets ------------------------------------------------------------------


def asset_bytes_path(name):
    """The asset's path, after checking its SHA-256."""
    directory, expected = ASSETS[name]
    path = os.path.join(directory, name)
    if not os.path.exists(path):
        sys.exit(f"make_clips: {path} is missing; run scripts/blur-eval/install-deps.sh")
    with open(path, "rb") as f:
        got = hashlib.sha256(f.read()).hexdigest()
    if got != expected:
        sys.exit(f"make_clips: {path} has SHA-256 {got}, expected {expected}")
    return path


def load_rgb(name):
    image = cv2.imread(asset_bytes_path(name), cv2.IMREAD_COLOR)  # grey files come back as 3 equal channels
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_vtest():
    capture = cv2.VideoCapture(asset_bytes_path("vtest.avi"))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    if len(frames) < 60:
        sys.exit(f"make_clips: vtest.avi decoded to {len(frames)} frames, expected 795")
    return np.stack(frames)


# --- output ------------------------------------------------------------------


def write_clip(out_dir, name, frames, preview_dir):
    y4m_path = os.path.join(out_dir, name + ".y4m")
    all_faces, all_ignore = [], []
    with Y4mWriter(y4m_path + ".partial", W, H, FPS) as writer:
        for index, (rgb, faces, ignore) in enumerate(frames):
            writer.write(*rgb_to_yuv420(rgb))
            all_faces.append(faces)
            all_ignore.append(ignore)
            if preview_dir and index % 10 == 0:
                write_preview(preview_dir, f"{name}_{index:03d}.png", rgb, faces, ignore)
    os.replace(y4m_path + ".partial", y4m_path)
    truth = {"width": W, "height": H, "fps": FPS, "matrix": "bt601", "range": "limited",
             "frames": all_faces, "ignore": all_ignore}
    with open(os.path.join(out_dir, name + ".faces.json"), "w") as f:
        json.dump(truth, f, separators=(",", ":"))
    return {"name": name, "frames": len(all_faces), "faces": sum(map(len, all_faces)),
            "y4m_bytes": os.path.getsize(y4m_path)}


def write_preview(preview_dir, file_name, rgb, faces, ignore):
    os.makedirs(preview_dir, exist_ok=True)
    image = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    for colour, boxes in (((0, 255, 0), faces), ((0, 160, 255), ignore)):
        for b in boxes:
            p0, p1 = (round(b["x"]), round(b["y"])), (round(b["x"] + b["w"]) - 1, round(b["y"] + b["h"]) - 1)
            cv2.rectangle(image, p0, p1, colour, 1)
            if colour[0] == 0 and colour[1] == 255:
                centre = (round(b["x"] + b["w"] / 2), round(b["y"] + b["h"] / 2))
                cv2.ellipse(image, centre, (round(b["w"] / 2), round(b["h"] / 2)), 0, 0, 360, (255, 0, 255), 1)
    cv2.imwrite(os.path.join(preview_dir, file_name), image)


def manifest_inputs():
    """What the clips depend on: the assets, this code, the libraries that
    decode and resize."""
    here = os.path.dirname(os.path.abspath(__file__))
    code = {f: hashlib.sha256(open(os.path.join(here, f), "rb").read()).hexdigest()
            for f in ("make_clips.py", "y4m.py")}
    assets = {name: ASSETS[name][1] for name in ASSETS if asset_bytes_path(name)}  # each one checked
    return {"code": code, "assets": assets, "opencv": cv2.__version__, "numpy": np.__version__}


def up_to_date(manifest_path, inputs, out_dir):
    try:
        manifest = json.load(open(manifest_path))
    except (OSError, ValueError):
        return False
    if manifest.get("inputs") != inputs:
        return False
    def present(clip):
        y4m, faces = (os.path.join(out_dir, clip["name"] + ext) for ext in (".y4m", ".faces.json"))
        return os.path.exists(faces) and os.path.exists(y4m) and os.path.getsize(y4m) == clip["y4m_bytes"]

    return [c["name"] for c in manifest["clips"]] == list(CLIPS) and all(map(present, manifest["clips"]))


if __name__ == "__main__":
    main()
