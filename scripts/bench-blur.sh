#!/usr/bin/env bash
# Face blurring, egocap against deface, on the same frames in the same run
# (issue 7, "Evaluation"): builds the evaluation clips (scripts/blur-eval/
# make_clips.py) into target/blur-eval/, runs deface 1.5.0 at full resolution
# and with --scale 640x360, and `egocap bench blur`, each pinned to core 0,
# then prints the comparison table (scripts/blur-eval/report.py) and writes
# it to target/blur-eval/report.json.
#
#   scripts/bench-blur.sh [extra `egocap bench blur` flags]
#
#   EGOCAP_BIN=path      the egocap binary (default target/release/egocap;
#                        build it first: cargo build --release -p egocap-cli)
#   REUSE_DEFACE=1       keep deface's outputs from an earlier run when present
#   SECOND_DETECTOR=0    skip the second-detector check (~0.4 s a frame)
#
# Needs ~2 GB in target/blur-eval (265 frames of 1280x720 I420 per clip set,
# times the input and three outputs).
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${EGOCAP_BIN:-target/release/egocap}"
if [ ! -x "$bin" ]; then
    echo "bench-blur: no egocap binary at $bin; build it (cargo build --release -p egocap-cli) or set EGOCAP_BIN" >&2
    exit 1
fi

bash scripts/blur-eval/install-deps.sh
bash scripts/fetch-face-model.sh

out=target/blur-eval
python3 scripts/blur-eval/make_clips.py "$out"
mapfile -t clips < <(python3 -c 'import json, sys; [print(c["name"]) for c in json.load(open(sys.argv[1]))["clips"]]' "$out/manifest.json")

# `egocap`: the defaults (the cadence the time budget chooses); `egocap-kK`:
# detection on every K-th frame (1, 4 and 8: recall and leaks by cadence);
# `egocap-still`: no camera motion measured
# (newly found faces get the fastest head turn's reach); `egocap-whole-frame`:
# one pass at 640x360, no small-face pass (the detector before 2026-12-04);
# `egocap-one-look`: the defaults before 2026-12-04's second session
# (small-face pass at threshold 0.5, no second look, no tracing or following
# of lost faces, and the wearer's 12 px a frame of jiggle as every face's room
# to stray even where the camera's motion is measured); `egocap-no-trace`: the defaults without
# following faces by their picture (neither newly found ones nor ones seen at
# both detections); `egocap-k8-no-trace`: the same at k=8, beside
# `egocap-k8` (the cadence the budget picks varies from run to run, so a
# fixed one compares the two fairly); `egocap-no-follow` and
# `egocap-k8-no-follow`: without following lost faces forward by their
# picture (nor joining their tracks).
variants=(egocap egocap-k1 egocap-k4 egocap-k8 egocap-k8-no-trace egocap-still egocap-whole-frame egocap-one-look
    egocap-no-trace egocap-no-follow egocap-k8-no-follow)
declare -A variant_flags=(
    [egocap]=""
    [egocap-k1]="--cadence 1"
    [egocap-k4]="--cadence 4"
    [egocap-k8]="--cadence 8"
    [egocap-still]="--no-camera-motion"
    [egocap-whole-frame]="--no-small-face-pass --detector-size 640x360"
    [egocap-one-look]="--small-face-threshold 0.5 --no-second-look --deviation-share 1 --no-trace --no-trace-followed --no-follow-lost"
    [egocap-no-trace]="--no-trace --no-trace-followed"
    [egocap-k8-no-trace]="--cadence 8 --no-trace --no-trace-followed"
    [egocap-no-follow]="--no-follow-lost"
    [egocap-k8-no-follow]="--cadence 8 --no-follow-lost"
)

lscpu | grep -E '^Model name' || true
for clip in "${clips[@]}"; do
    in="$out/$clip.y4m"
    for variant in deface deface-640x360; do
        if [ "${REUSE_DEFACE:-0}" = 1 ] && [ "$out/$clip.$variant.masks.json" -nt "$in" ]; then
            continue
        fi
        scale=()
        [ "$variant" = deface-640x360 ] && scale=(--scale 640x360)
        taskset -c 0 python3 scripts/blur-eval/run_deface.py "$in" \
            "$out/$clip.$variant.masks.json" "$out/$clip.$variant.blurred.y4m" "${scale[@]}"
    done
    # The clips are BT.601 (manifest.json); the Y4M reader would guess BT.709 at 720p.
    for variant in "${variants[@]}"; do
        read -r -a flags <<<"${variant_flags[$variant]}"
        taskset -c 0 "$bin" bench blur --clip "$in" --matrix bt601 "${flags[@]}" \
            --masks "$out/$clip.$variant.masks.json" --blurred "$out/$clip.$variant.blurred.y4m" "$@"
    done
done

# The whole recording pipeline with blurring (capture -> blur -> encode ->
# segment -> write) on the astronaut clip, looped: one core, then two.
for cores in 0 0,1; do
    taskset -c "$cores" "$bin" bench blur --pipeline --frames 600 --clip "$out/astronaut_pan.y4m" --matrix bt601 "$@"
done

second=()
[ "${SECOND_DETECTOR:-1}" = 0 ] && second=(--no-second-detector)
python3 scripts/blur-eval/report.py "$out" --tools "${variants[@]}" deface deface-640x360 \
    --json "$out/report.json" "${second[@]}"
