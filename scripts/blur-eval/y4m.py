"""YUV4MPEG2 (Y4M) reading and writing, and the RGB <-> YCbCr conversion the
evaluation uses everywhere: BT.601, limited ("studio") range, as ffmpeg
assumes for untagged yuv420p and as our clips are tagged (XCOLORRANGE=LIMITED).

    Y  =  16 + ( 65.481 R + 128.553 G +  24.966 B) / 255
    Cb = 128 + (-37.797 R -  74.203 G + 112.000 B) / 255
    Cr = 128 + (112.000 R -  93.786 G -  18.214 B) / 255

(ITU-R BT.601-7 §2.5.1-2.5.3, R, G, B in 0..255.) Chroma is the mean of each
2x2 block, i.e. sited between the luma samples: 4:2:0 `C420jpeg`.

Only 8-bit 4:2:0 is read, the one layout our Rust side writes.
"""

import numpy as np

_RGB_TO_YCBCR = np.array(
    [[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]],
    dtype=np.float32,
) / 255.0
_YCBCR_TO_RGB = np.linalg.inv(_RGB_TO_YCBCR)
_OFFSET = np.array([16.0, 128.0, 128.0], dtype=np.float32)


class Y4mReader:
    """Streams frames of a 4:2:0 Y4M file as (y, u, v) uint8 planes."""

    def __init__(self, path):
        self.path = path
        self._file = open(path, "rb")
        header = self._file.readline().decode("ascii").split()
        if not header or header[0] != "YUV4MPEG2":
            raise ValueError(f"{path}: not a YUV4MPEG2 file")
        params = {token[0]: token[1:] for token in header[1:]}
        colour = params.get("C", "420")
        if not colour.startswith("420") or colour.startswith("420p"):
            raise ValueError(f"{path}: colour space C{colour} is not 8-bit 4:2:0")
        self.width, self.height = int(params["W"]), int(params["H"])
        num, den = params.get("F", "30:1").split(":")
        self.fps = int(num) / int(den)
        self._chroma = (self.height + 1) // 2, (self.width + 1) // 2

    def __iter__(self):
        return self

    def __next__(self):
        line = self._file.readline()
        if not line:
            self._file.close()
            raise StopIteration
        if not line.startswith(b"FRAME"):
            raise ValueError(f"{self.path}: expected FRAME, found {line[:16]!r}")
        y = self._plane((self.height, self.width))
        return y, self._plane(self._chroma), self._plane(self._chroma)

    def _plane(self, shape):
        size = shape[0] * shape[1]
        data = self._file.read(size)
        if len(data) != size:
            raise ValueError(f"{self.path}: truncated frame")
        return np.frombuffer(data, dtype=np.uint8).reshape(shape)

    def close(self):
        self._file.close()


class Y4mWriter:
    def __init__(self, path, width, height, fps=30):
        self._file = open(path, "wb")
        header = f"YUV4MPEG2 W{width} H{height} F{int(fps)}:1 Ip A1:1 C420jpeg XCOLORRANGE=LIMITED\n"
        self._file.write(header.encode("ascii"))

    def write(self, y, u, v):
        self._file.write(b"FRAME\n")
        for plane in (y, u, v):
            self._file.write(np.ascontiguousarray(plane, dtype=np.uint8).tobytes())

    def close(self):
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def rgb_to_yuv420(rgb):
    """uint8 HxWx3 RGB (even H and W) -> (y, u, v) uint8 planes."""
    ycc = rgb.astype(np.float32) @ _RGB_TO_YCBCR.T + _OFFSET
    h, w = rgb.shape[:2]
    chroma = ycc[:, :, 1:].reshape(h // 2, 2, w // 2, 2, 2).mean(axis=(1, 3))
    to_u8 = lambda a: np.clip(np.rint(a), 0, 255).astype(np.uint8)
    return to_u8(ycc[:, :, 0]), to_u8(chroma[:, :, 0]), to_u8(chroma[:, :, 1])


def yuv420_to_rgb(y, u, v):
    """(y, u, v) uint8 planes -> uint8 HxWx3 RGB; chroma repeated 2x2."""
    h, w = y.shape
    up = lambda c: np.repeat(np.repeat(c, 2, axis=0), 2, axis=1)[:h, :w]
    ycc = np.stack([y, up(u), up(v)], axis=-1).astype(np.float32) - _OFFSET
    rgb = ycc @ _YCBCR_TO_RGB.T
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def sha256_of(path):
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
