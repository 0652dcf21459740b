"""Writes the image I/O fixtures of tests/train/image.test.ts to tests/fixtures/images/.

The official SegFace loaders resize with PIL through torchvision (images BICUBIC, labels NEAREST)
and normalise with ToTensor + Normalize; this script records what Pillow and torch produce so the
TS ports in src/train/image/ can be held to exact equality without Python at test time.

Source images are drawn from a xorshift32 byte stream (`prng_bytes`, ported in the test), so the
big cases need no stored input. Every resize case records a CRC-32 of each band of output rows
(an exact check that points at the first differing band); small outputs are also stored as PNG
for a pixel-level diff.

  manifest.json          {version, pillow, torch, torchvision, libjpeg, bicubic, nearest, formats,
                          jpeg, exif, normalize}: one entry per case (see the dicts built below)
  src_rgb_37x29.png      prng_bytes(1, 37*29*3) as RGB, the decoder round-trip source
  bicubic_<case>.png     Image.resize(BICUBIC) outputs of the small cases
  nearest_<case>.png     Image.resize(NEAREST) outputs of the small label cases ('L')
  fmt_<name>.png         one tiny PNG per colour type Pillow writes (L, 1-bit, LA, RGBA, P 8/4-bit,
                         P + tRNS, I;16); its content is a prng stream the test regenerates
  jpeg_<name>.jpg/.png   a synthetic photo saved by Pillow (4:2:0, 4:2:2, 4:4:4, grey, progressive) and
                         libjpeg-turbo's decode of it via Pillow (what cv2.imread also yields:
                         ISLOW IDCT + fancy upsampling)
  jpeg_exif.jpg, exif_<o>.png   a JPEG with an EXIF Orientation tag, and for o = 1..8 (the test
                         patches the tag) libjpeg's decode of it rotated/flipped by exif_transpose
  normalize_16x16.npy    torchvision ToTensor + Normalize(ImageNet) of a 16x16 image that holds
                         every u8 value in each channel (float32, CHW)

Run: /usr/bin/python3 tools/reference/make_image_fixtures.py   (needs python3-pil, python3-numpy;
torch/torchvision optional: with them, the script also asserts torchvision's resize == PIL's)
"""
import io
import json
import os
import zlib

import numpy as np
import PIL
from PIL import Image, features

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "images"))
VERSION = 1
STORE_MAX_PIXELS = 1100  # outputs up to this many pixels are stored as PNG too (RGB ~3 KB)

try:
    import torch
    import torchvision
    import torchvision.transforms.functional as TF
    from torchvision.transforms import InterpolationMode
except ImportError:  # the resize fixtures need only Pillow
    torch = None


def prng_bytes(seed, n):
    """xorshift32 (13, 17, 5); each step yields the state's top byte. Ported in the TS test."""
    s = seed & 0xFFFFFFFF
    out = bytearray(n)
    for i in range(n):
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        out[i] = s >> 24
    return bytes(out)


def band_crcs(arr):
    """CRC-32 of each band of `band` output rows (at most 32 bands), as space-separated hex."""
    band = max(1, -(-arr.shape[0] // 32))
    crcs = [zlib.crc32(arr[y:y + band].tobytes()) for y in range(0, arr.shape[0], band)]
    return band, " ".join(f"{c:08x}" for c in crcs)


def save_png(name, im):
    im.save(os.path.join(OUT, name), optimize=True)
    return name


def source(seed, w, h, c, modulo=None):
    data = np.frombuffer(prng_bytes(seed, w * h * c), np.uint8)
    if modulo is not None:
        data = data % modulo
    return data.reshape((h, w, c) if c > 1 else (h, w))


def resize_case(kind, name, seed, w, h, c, W, H, modulo=None):
    mode = {1: "L", 3: "RGB"}[c]
    src = source(seed, w, h, c, modulo)
    im = Image.fromarray(src, mode)
    resample = Image.Resampling.BICUBIC if kind == "bicubic" else Image.Resampling.NEAREST
    out = im.resize((W, H), resample)
    if torch is not None:  # the official path: torchvision.transforms.Resize on a PIL image
        via_tv = TF.resize(im, [H, W], InterpolationMode.BICUBIC if kind == "bicubic" else InterpolationMode.NEAREST)
        assert np.array_equal(np.asarray(via_tv), np.asarray(out)), f"torchvision resize != PIL resize ({name})"
    arr = np.asarray(out)
    band, crcs = band_crcs(arr)
    case = {"name": name, "seed": seed, "src": [w, h, c], "dst": [W, H], "band": band, "bandCrc32": crcs}
    if modulo is not None:
        case["modulo"] = modulo
    if W * H <= STORE_MAX_PIXELS or (kind == "nearest" and W * H <= 4096):
        case["png"] = save_png(f"{kind}_{name}.png", out)
    return case


def format_cases():
    """Tiny PNGs in each colour type. `values` is the prng stream the pixels were built from."""
    w, h = 9, 7
    n = w * h
    cases = []

    def add(name, im, seed, note, **extra):
        cases.append({"name": name, "png": save_png(f"fmt_{name}.png", im), "mode": im.mode,
                      "seed": seed, "size": [w, h], "note": note, **extra})

    g = np.frombuffer(prng_bytes(11, n), np.uint8).reshape(h, w)
    add("gray8", Image.fromarray(g, "L"), 11, "L: value = stream byte")
    bits = (g >= 128).astype(np.uint8) * 255
    add("gray1", Image.fromarray(bits, "L").convert("1"), 11, "1-bit: value = 255 if byte >= 128 else 0")
    la = np.frombuffer(prng_bytes(12, n * 2), np.uint8).reshape(h, w, 2)
    add("la", Image.fromarray(la, "LA"), 12, "LA: grey = byte 2i, alpha = byte 2i+1")
    rgba = np.frombuffer(prng_bytes(13, n * 4), np.uint8).reshape(h, w, 4)
    add("rgba", Image.fromarray(rgba, "RGBA"), 13, "RGBA: 4 bytes per pixel")
    pal = np.frombuffer(prng_bytes(14, 19 * 3), np.uint8)
    idx = np.frombuffer(prng_bytes(15, n), np.uint8).reshape(h, w) % 19
    p = Image.fromarray(idx, "P")
    p.putpalette(pal.tobytes())
    add("pal8", p, 15, "P: index = byte % 19; palette = prng(14, 57)", paletteSeed=14, modulo=19)
    idx16 = np.frombuffer(prng_bytes(16, n), np.uint8).reshape(h, w) % 11
    p4 = Image.fromarray(idx16, "P")
    p4.putpalette(pal.tobytes()[:33])
    p4.save(os.path.join(OUT, "fmt_pal4.png"), bits=4)
    cases.append({"name": "pal4", "png": "fmt_pal4.png", "mode": "P", "seed": 16, "size": [w, h], "modulo": 11,
                  "paletteSeed": 14, "note": "4-bit P: index = byte % 11; palette = first 11 of prng(14, 57)"})
    pt = Image.fromarray(idx, "P")
    pt.putpalette(pal.tobytes())
    buf = io.BytesIO()
    pt.save(buf, "PNG", transparency=3)
    with open(os.path.join(OUT, "fmt_pal_trns.png"), "wb") as f:
        f.write(buf.getvalue())
    cases.append({"name": "pal_trns", "png": "fmt_pal_trns.png", "mode": "P", "seed": 15, "size": [w, h],
                  "modulo": 19, "paletteSeed": 14, "note": "pal8 plus tRNS (index 3 transparent)"})
    g16 = np.frombuffer(prng_bytes(17, n * 2), np.uint8).reshape(h, w, 2)
    v16 = (g16[:, :, 0].astype(np.uint16) << 8) | g16[:, :, 1]
    Image.fromarray(v16.astype(np.uint16), "I;16").save(os.path.join(OUT, "fmt_gray16.png"))
    chk = np.asarray(Image.open(os.path.join(OUT, "fmt_gray16.png")))
    assert np.array_equal(chk.astype(np.uint16), v16), "I;16 PNG round trip"
    cases.append({"name": "gray16", "png": "fmt_gray16.png", "mode": "I;16", "seed": 17, "size": [w, h],
                  "note": "16-bit grey: value = byte 2i << 8 | byte 2i+1; 8-bit reading keeps the high byte"})
    return cases


def synthetic_photo(w, h):
    """Smooth gradients, hard-edged coloured disks (chroma edges) and a little noise."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([40 + 180 * xx / w, 60 + 150 * yy / h, 200 - 120 * (xx + yy) / (w + h)], -1)
    for cx, cy, r, col in [(0.3, 0.35, 0.22, (230, 40, 50)), (0.7, 0.6, 0.25, (30, 200, 90)),
                           (0.55, 0.2, 0.12, (250, 240, 20))]:
        m = (xx - cx * w) ** 2 + (yy - cy * h) ** 2 < (r * min(w, h)) ** 2
        img[m] = col
    noise = np.frombuffer(prng_bytes(21, w * h * 3), np.uint8).reshape(h, w, 3).astype(np.float64)
    img += (noise - 127.5) / 16
    return Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8), "RGB")


def jpeg_cases():
    w, h = 45, 35  # odd sizes: partial MCUs and the last-column/row rules of the upsampler
    photo = synthetic_photo(w, h)
    cases = []
    for name, kw, im in [("420", {"subsampling": 2}, photo), ("422", {"subsampling": 1}, photo),
                         ("444", {"subsampling": 0}, photo), ("gray", {}, photo.convert("L")),
                         ("420_progressive", {"subsampling": 2, "progressive": True}, photo)]:
        path = f"jpeg_{name}.jpg"
        im.save(os.path.join(OUT, path), quality=90, **kw)
        decoded = Image.open(os.path.join(OUT, path))
        decoded.load()
        ref = save_png(f"jpeg_{name}.png", decoded.convert("RGB"))
        cases.append({"name": name, "jpg": path, "png": ref, "size": [w, h], "quality": 90,
                      "pilMode": decoded.mode})
    return cases


def exif_case():
    """A 4:2:0 JPEG with an EXIF Orientation tag. The test patches the tag's value (at `offset`)
    to each of 1..8; exif_<o>.png is Pillow's decode of that file after ImageOps.exif_transpose,
    which follows the EXIF rules as cv2.imread(IMREAD_COLOR) does."""
    from PIL import ImageOps
    w, h = 13, 9
    photo = synthetic_photo(w, h)
    exif = Image.Exif()
    exif[0x0112] = 1
    buf = io.BytesIO()
    photo.save(buf, "JPEG", quality=90, subsampling=2, exif=exif.tobytes())
    data = bytearray(buf.getvalue())
    le, be = b"\x12\x01\x03\x00\x01\x00\x00\x00", b"\x01\x12\x00\x03\x00\x00\x00\x01"
    at, little = (data.find(le), True) if data.find(le) >= 0 else (data.find(be), False)
    assert at >= 0, "orientation tag not found"
    offset = at + 8
    with open(os.path.join(OUT, "jpeg_exif.jpg"), "wb") as f:
        f.write(data)
    refs = []
    for o in range(1, 9):
        data[offset:offset + 2] = o.to_bytes(2, "little" if little else "big")
        im = Image.open(io.BytesIO(bytes(data)))
        assert im.getexif().get(0x0112) == o
        refs.append(save_png(f"exif_{o}.png", ImageOps.exif_transpose(im).convert("RGB")))
    return {"jpg": "jpeg_exif.jpg", "size": [w, h], "offset": offset, "littleEndian": little, "png": refs}


def normalize_case():
    """16x16x3 image with every u8 value once per channel (channel c: (v * (2c+1) + 7c) % 256)."""
    v = np.arange(256, dtype=np.int64)
    img = np.stack([(v * (2 * c + 1) + 7 * c) % 256 for c in range(3)], -1).astype(np.uint8).reshape(16, 16, 3)
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    if torch is not None:
        t = TF.normalize(TF.to_tensor(Image.fromarray(img, "RGB")), mean, std)
        x, by = t.numpy().astype(np.float32), "torchvision to_tensor + normalize"
    else:  # the same float32 operations, one rounding each
        f = img.astype(np.float32) / np.float32(255)
        x = ((f - np.array(mean, np.float32)) / np.array(std, np.float32)).transpose(2, 0, 1)
        by = "numpy float32 emulation (torch absent)"
    np.save(os.path.join(OUT, "normalize_16x16.npy"), np.ascontiguousarray(x, dtype="<f4"))
    return {"npy": "normalize_16x16.npy", "size": [16, 16], "mean": mean, "std": std, "by": by,
            "rule": "channel c pixel i holds (i * (2c+1) + 7c) % 256"}


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith((".png", ".jpg", ".npy", ".json")):
            os.remove(os.path.join(OUT, f))
    Image.fromarray(source(1, 37, 29, 3), "RGB").save(os.path.join(OUT, "src_rgb_37x29.png"))
    bicubic = [
        resize_case("bicubic", "up_37x29_to_64x64", 1, 37, 29, 3, 64, 64),
        resize_case("bicubic", "down_100x80_to_32x32", 2, 100, 80, 3, 32, 32),
        resize_case("bicubic", "down_512x512_to_224x224", 3, 512, 512, 3, 224, 224),
        resize_case("bicubic", "up_250x250_to_512x512", 4, 250, 250, 3, 512, 512),
        resize_case("bicubic", "mixed_29x37_to_23x50", 5, 29, 37, 3, 23, 50),
        resize_case("bicubic", "vertical_64x48_to_64x30", 6, 64, 48, 3, 64, 30),
        resize_case("bicubic", "horizontal_50x20_to_31x20", 7, 50, 20, 3, 31, 20),
        resize_case("bicubic", "tiny_7x5_to_3x2", 8, 7, 5, 3, 3, 2),
        resize_case("bicubic", "huge_factor_300x7_to_2x1", 9, 300, 7, 3, 2, 1),
        resize_case("bicubic", "gray_45x33_to_20x16", 10, 45, 33, 1, 20, 16),
        resize_case("bicubic", "same_13x11", 18, 13, 11, 3, 13, 11),
    ]
    nearest = [
        resize_case("nearest", "up_37x29_to_64x64", 1, 37, 29, 1, 64, 64, modulo=19),
        resize_case("nearest", "down_100x80_to_32x32", 2, 100, 80, 1, 32, 32, modulo=19),
        resize_case("nearest", "down_512x512_to_224x224", 3, 512, 512, 1, 224, 224, modulo=19),
        resize_case("nearest", "down_473x512_to_448x448", 19, 473, 512, 1, 448, 448, modulo=11),
        resize_case("nearest", "mixed_7x5_to_3x11", 8, 7, 5, 1, 3, 11, modulo=19),
        resize_case("nearest", "rgb_29x37_to_23x50", 5, 29, 37, 3, 23, 50),
    ]
    manifest = {
        "version": VERSION,
        "generator": "tools/reference/make_image_fixtures.py",
        "pillow": PIL.__version__,
        "libjpeg": features.version("jpg"),
        "numpy": np.__version__,
        "torch": torch.__version__ if torch is not None else None,
        "torchvision": torchvision.__version__ if torch is not None else None,
        "prng": "xorshift32(13,17,5), byte = state >>> 24 after each step",
        "bicubic": bicubic,
        "nearest": nearest,
        "formats": format_cases(),
        "jpeg": jpeg_cases(),
        "exif": exif_case(),
        "normalize": normalize_case(),
    }
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"image fixtures: {len(os.listdir(OUT))} files, {total / 1024:.1f} KiB in {OUT}")


if __name__ == "__main__":
    main()
