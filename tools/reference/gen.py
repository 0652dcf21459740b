"""Writes a reference case for the engine: weights, input, labels, activations, losses, gradients.

    python3 tools/reference/gen.py --backbone tiny --res 64 --batch 2 --seed 1 --out tests/fixtures/tiny64
    python3 tools/reference/gen.py --backbone swin_t --res 224 --out /tmp/case --no-weights
    python3 tools/reference/gen.py --backbone tiny --dataset lapa --res 64 --batch 2 --seed 1 \
        --landmarks jitter --no-weights --no-block-acts --max-elems 1024 --out tests/fixtures/tiny64_lapa

Weights come from a counter-based hash that the TypeScript side reimplements
(src/model/synthetic_init.ts), so a case need not store them (``--no-weights``); labels and the
image are stored. Output files (safetensors + JSON):
    manifest.json        version, config, shapes, seeds, the loss values, tensor names
    inputs.safetensors   image (B,3,H,W) float32, labels (B,H,W) int32, landmarks (B,5,2) float32
                         (with --landmarks: LaPa's warped forward, see segface_ref.lapa_warp_grids)
    acts.safetensors     activations at every block boundary (names: see segface_ref.SegFace.forward)
    grads.safetensors    d(0.5 CE + 0.5 Dice)/d(param) for every parameter, official names
    weights.safetensors  the state_dict (unless --no-weights)
Eval mode (stochastic depth off), float32, OpenBLAS recommended (see README.md here).

--max-elems N keeps committed fixtures small: an activation or gradient with more than N elements
is stored flattened and strided (elements 0, s, 2s, ...; s the smallest stride >= ceil(n/N) sharing
no factor with any dimension), listed with its stride in the manifest's "strided" {acts, grads};
its full shape stays in "activations" / "state_dict". Relative L2 errors are then measured on
that sample.
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from segface_ref import SegFace, make_config, seg_losses  # noqa: E402
from safetensors_io import write_safetensors  # noqa: E402

VERSION = 1


def fnv1a(text):
    h = 0x811C9DC5
    for b in text.encode():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def hash_uniform(key, n):
    """u_i in [0, 1) with 24 bits: murmur3's fmix32 of (i * 0x9E3779B1 + key)."""
    x = (np.arange(n, dtype=np.uint64) * 0x9E3779B1 + key) & 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x85EBCA6B) & 0xFFFFFFFF
    x ^= x >> 13
    x = (x * 0xC2B2AE35) & 0xFFFFFFFF
    x ^= x >> 16
    return (x >> 8).astype(np.float64) / 16777216.0


def synthetic_value(name, shape, seed):
    """The synthetic initialisation shared with src/model/synthetic_init.ts."""
    n = int(np.prod(shape)) if len(shape) else 1
    u = hash_uniform(fnv1a(f"{name}:{seed}"), n) * 2 - 1  # [-1, 1)
    leaf = name.rsplit(".", 1)[-1]
    if name.endswith("logit_scale"):
        v = np.log(10.0) + 0.2 * u
    elif leaf == "weight" and len(shape) == 1:           # LayerNorm weights
        v = 1.0 + 0.1 * u
    elif leaf == "bias":
        v = 0.1 * u
    elif name.endswith("relative_position_bias_table"):
        v = 0.5 * u
    elif name.endswith("_token.weight") or name.endswith("gaussian_matrix"):
        v = u
    else:                                                # matrices and conv kernels: 1/sqrt(fan_in)
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        v = u / np.sqrt(fan_in)
    return v.astype(np.float32).reshape(shape)


def init_synthetic(model, seed):
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.from_numpy(synthetic_value(name, tuple(p.shape), seed)))
        g = model.pe_layer.positional_encoding_gaussian_matrix
        g.copy_(torch.from_numpy(synthetic_value("pe_layer.positional_encoding_gaussian_matrix", tuple(g.shape), seed)))


def synthetic_inputs(b, res, classes, seed):
    """A normalised image in roughly [-2, 2] and labels with every class present when possible."""
    img = (hash_uniform(fnv1a(f"image:{seed}"), b * 3 * res * res) * 4 - 2).astype(np.float32).reshape(b, 3, res, res)
    lab = np.floor(hash_uniform(fnv1a(f"labels:{seed}"), b * res * res) * classes).astype(np.int32).reshape(b, res, res)
    return img, lab


def jitter_landmarks(b, res, seed):
    """(B,5,2) landmarks: the template under a seeded similarity (rotation +-25 deg, scale 0.75-1.25,
    shift +-8% of res about the centre) plus +-2% of res noise per coordinate, so the fit is not exact."""
    u = hash_uniform(fnv1a(f"landmarks:{seed}"), b * 14).reshape(b, 14) * 2 - 1
    tmpl = np.array([[196, 226], [316, 226], [256, 286], [220, 360.4], [292, 360.4]]) * (res - 1) / 512
    centre = np.array([res / 2, res / 2])
    out = np.empty((b, 5, 2))
    for i in range(b):
        ang, scale = np.deg2rad(25 * u[i, 0]), 1 + 0.25 * u[i, 1]
        rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
        out[i] = (tmpl - centre) @ rot.T * scale + centre + 0.08 * res * u[i, 2:4] + 0.02 * res * u[i, 4:].reshape(5, 2)
    return out.astype(np.float32)


def load_landmarks(spec, b, res, seed):
    if spec == "jitter":
        return jitter_landmarks(b, res, seed)
    with open(spec) as f:
        lm = np.asarray(json.load(f), dtype=np.float32)
    if lm.shape != (b, 5, 2):
        raise SystemExit(f"--landmarks {spec}: shape {lm.shape}, expected ({b}, 5, 2) pixel (x, y) at {res} px")
    return lm


def stride_for(shape, max_elems):
    """The smallest stride >= ceil(n / max_elems) sharing no factor > 1 with any dimension."""
    n = int(np.prod(shape))
    s = max(1, -(-n // max_elems))
    while s > 1 and any(math.gcd(s, d) > 1 for d in shape if d > 1):
        s += 1
    return s


def subsample(tensors, max_elems, strides):
    out = {}
    for n, a in tensors.items():
        s = stride_for(a.shape, max_elems) if max_elems and a.size > max_elems else 1
        if s > 1:
            strides[n] = s
            out[n] = np.ascontiguousarray(a.reshape(-1)[::s])
        else:
            out[n] = a
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="tiny")
    ap.add_argument("--dataset", default="celeb", choices=["celeb", "lapa", "helen"])
    ap.add_argument("--res", type=int, default=64)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    ap.add_argument("--no-weights", action="store_true", help="do not store weights (the engine regenerates them)")
    ap.add_argument("--no-block-acts", action="store_true", help="store only stage, neck and decoder activations")
    ap.add_argument("--landmarks", help="LaPa only: run the warped forward with landmarks 'jitter' (the "
                    "template under a seeded similarity plus noise) or from a JSON file holding (B,5,2) pixel (x,y)")
    ap.add_argument("--max-elems", type=int, default=0, help="store larger activations/gradients strided (see above)")
    ap.add_argument("--save-pt", help="also write the weights as an official-style torch.save checkpoint "
                    "({epoch, iteration, state_dict_backbone, optimizer, scheduler}) to this path")
    args = ap.parse_args()
    if args.res % 4:
        raise SystemExit(f"--res {args.res}: must be a multiple of 4")

    torch.manual_seed(args.seed)
    cfg = make_config(args.backbone, args.dataset)
    model = SegFace(cfg).eval()
    init_synthetic(model, args.seed)
    k = len(cfg.tokens)
    img, lab = synthetic_inputs(args.batch, args.res, k, args.seed)
    inputs = {"image": img, "labels": lab}
    landmarks = None
    if args.landmarks:
        if args.dataset != "lapa":
            raise SystemExit(f"--landmarks: only LaPa models warp (--dataset {args.dataset})")
        landmarks = load_landmarks(args.landmarks, args.batch, args.res, args.seed)
        inputs["landmarks"] = landmarks

    model.record = True
    # The float32 landmarks (as stored) drive the float64 grid computation.
    logits = model(torch.from_numpy(img), None if landmarks is None else landmarks.astype(np.float64))
    total, ce, dice = seg_losses(logits, torch.from_numpy(lab))
    total.backward()

    os.makedirs(args.out, exist_ok=True)
    acts = {n: t.numpy() for n, t in model.acts.items()
            if not (args.no_block_acts and n.startswith("backbone.0.") and n.count(".") == 3)}
    grads = {n: (p.grad.numpy() if p.grad is not None else None) for n, p in model.named_parameters()}
    no_grad = sorted(n for n, g in grads.items() if g is None)
    grads = {n: g for n, g in grads.items() if g is not None}
    strided = {"acts": {}, "grads": {}}
    write_safetensors(os.path.join(args.out, "inputs.safetensors"), inputs)
    write_safetensors(os.path.join(args.out, "acts.safetensors"), subsample(acts, args.max_elems, strided["acts"]))
    write_safetensors(os.path.join(args.out, "grads.safetensors"), subsample(grads, args.max_elems, strided["grads"]))
    state = {n: t.detach().numpy() for n, t in model.state_dict().items()}
    if not args.no_weights:
        write_safetensors(os.path.join(args.out, "weights.safetensors"), state)
    if args.save_pt:
        torch.save({"epoch": 0, "iteration": 0, "state_dict_backbone": model.state_dict(),
                    "optimizer": {}, "scheduler": {}}, args.save_pt)
    manifest = {
        "version": VERSION,
        "torch": torch.__version__,
        "config": {**cfg.__dict__, "classes": k},
        "res": args.res, "batch": args.batch, "seed": args.seed,
        "weights": "stored" if not args.no_weights else "synthetic",
        "loss": {"total": total.item(), "ce": ce.item(), "dice": dice.item()},
        "state_dict": {n: list(t.shape) for n, t in state.items()},
        "activations": {n: list(a.shape) for n, a in acts.items()},
        "no_grad": no_grad,
    }
    if landmarks is not None:
        manifest["warp"] = {"kind": "lapa_roi_tanh", "landmarks": args.landmarks}
    if args.max_elems:
        manifest["strided"] = strided
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"wrote {args.out}: loss {total.item():.6f} (ce {ce.item():.6f}, dice {dice.item():.6f}), "
          f"{len(acts)} activations, {len(grads)} gradients")


if __name__ == "__main__":
    main()
