"""Records cv2.imread's decode of every JPEG fixture, so tests/train/jpeg.test.ts can hold the
engine's decoder (libjpeg-turbo in WebAssembly, src/train/image/jpeg.ts) to bit-exactness with
OpenCV without OpenCV at test time.

It first adds the layouts Pillow cannot write (make_image_fixtures.py made the others: 4:2:0,
4:2:2, 4:4:4, grey, progressive) with libjpeg-turbo's own cjpeg: 4:4:0 (1x2), 4:1:1 (4x1),
restart markers, arithmetic coding, and one larger 4:2:0 image whose chroma edges span many MCUs.
Then, for every tests/fixtures/images/jpeg_*.jpg and for jpeg_exif.jpg with its orientation tag
patched to each of 1..8, it stores the SHA-256 of cv2.imread(IMREAD_COLOR)'s pixels as RGB.

  jpeg_cv2.json   {opencv, libjpeg, cases: [{jpg, size: [w, h], sha256}],
                   exif: [{orientation, size, sha256}]}

Run: /usr/bin/python3 tools/reference/make_jpeg_fixtures.py  (needs python3-opencv, python3-pil,
libjpeg-turbo-progs; run after make_image_fixtures.py)
"""
import glob
import hashlib
import json
import os
import subprocess
import tempfile

import cv2
import numpy as np
from PIL import Image

from make_image_fixtures import OUT, synthetic_photo

CJPEG = [  # name, size, cjpeg flags
    ("440", (45, 35), ["-sample", "1x2"]),
    ("411", (45, 35), ["-sample", "4x1"]),
    ("420_restart", (45, 35), ["-sample", "2x2", "-restart", "1"]),
    ("420_arithmetic", (45, 35), ["-sample", "2x2", "-arithmetic"]),
    ("420_large", (203, 157), ["-sample", "2x2"]),
]


def write_cjpeg_cases():
    with tempfile.TemporaryDirectory() as tmp:
        for name, (w, h), flags in CJPEG:
            ppm = os.path.join(tmp, f"{name}.ppm")
            synthetic_photo(w, h).save(ppm)
            out = os.path.join(OUT, f"jpeg_{name}.jpg")
            subprocess.run(["cjpeg", "-quality", "90", *flags, "-outfile", out, ppm], check=True)


def cv2_rgb(data: bytes) -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert bgr is not None
    return np.ascontiguousarray(bgr[:, :, ::-1])


def record(rgb: np.ndarray) -> dict:
    h, w, _ = rgb.shape
    return {"size": [w, h], "sha256": hashlib.sha256(rgb.tobytes()).hexdigest()}


def main():
    write_cjpeg_cases()
    cases = []
    for path in sorted(glob.glob(os.path.join(OUT, "jpeg_*.jpg"))):
        name = os.path.basename(path)
        if name == "jpeg_exif.jpg":
            continue
        with open(path, "rb") as f:
            cases.append({"jpg": name, **record(cv2_rgb(f.read()))})
    manifest = json.load(open(os.path.join(OUT, "manifest.json")))
    e = manifest["exif"]
    data = bytearray(open(os.path.join(OUT, e["jpg"]), "rb").read())
    exif = []
    for o in range(1, 9):
        data[e["offset"]:e["offset"] + 2] = o.to_bytes(2, "little" if e["littleEndian"] else "big")
        exif.append({"orientation": o, **record(cv2_rgb(bytes(data)))})
    out = {"opencv": cv2.__version__, "libjpeg": "libjpeg62-turbo 2.1.5 (Debian bookworm, OpenCV's system libjpeg)",
           "cases": cases, "exif": exif}
    with open(os.path.join(OUT, "jpeg_cv2.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases + {len(exif)} orientations to {OUT}/jpeg_cv2.json")


if __name__ == "__main__":
    main()
