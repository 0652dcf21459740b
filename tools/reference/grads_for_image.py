"""PyTorch's side of `npm run verify -- --checkpoint --image --labels`: one eval-mode forward and
backward of SegFace on an image file and its label map, loss 0.5·CE + 0.5·Dice.

    python3 tools/reference/grads_for_image.py --weights W.safetensors|model_299.pt --backbone swin_base \
        --dataset celeb --image IMG --labels LABELS.png --res 512 --loss LOSS.json --grads GRADS.safetensors \
        [--landmarks L.json]

Pre-processing is the official loader's: PIL RGB image, bicubic resize to res (skipped when already
res x res), ToTensor + ImageNet Normalize; labels as 8-bit grey, nearest resize. LaPa landmarks
(a JSON [[x, y] x5] in the image file's pixels) are scaled by (res/w, res/h) and warp the forward.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from segface_ref import SegFace, make_config, seg_losses  # noqa: E402
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def load_state(path):
    if path.endswith(".safetensors"):
        return {k: torch.from_numpy(v.copy()) for k, v in read_safetensors(path).items() if not k.startswith("optim.")}
    ck = torch.load(path, map_location="cpu")
    return ck.get("state_dict_backbone", ck)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--backbone", required=True)
    ap.add_argument("--dataset", default="celeb")
    ap.add_argument("--image", required=True)
    ap.add_argument("--labels", required=True)
    ap.add_argument("--res", type=int, default=512)
    ap.add_argument("--loss", required=True)
    ap.add_argument("--grads", required=True)
    ap.add_argument("--landmarks")
    args = ap.parse_args()

    model = SegFace(make_config(args.backbone, args.dataset)).eval()
    model.load_state_dict(load_state(args.weights), strict=True)
    img = Image.open(args.image).convert("RGB")
    landmarks = None
    if args.landmarks:
        with open(args.landmarks) as f:
            points = np.array(json.load(f), dtype=np.float64).reshape(1, 5, 2)
        landmarks = points * [args.res / img.size[0], args.res / img.size[1]]
    lab = Image.open(args.labels).convert("L")
    if img.size != (args.res, args.res):
        img = img.resize((args.res, args.res), Image.BICUBIC)
    if lab.size != (args.res, args.res):
        lab = lab.resize((args.res, args.res), Image.NEAREST)
    x = TF.normalize(TF.to_tensor(img), MEAN, STD).unsqueeze(0)
    y = torch.from_numpy(np.array(lab, dtype=np.int64)).unsqueeze(0)

    total, ce, dice = seg_losses(model(x, landmarks), y)
    total.backward()
    with open(args.loss, "w") as f:
        json.dump({"total": total.item(), "ce": ce.item(), "dice": dice.item()}, f)
    write_safetensors(args.grads, {n: (p.grad.numpy() if p.grad is not None else np.zeros(tuple(p.shape), np.float32))
                                   for n, p in model.named_parameters()})


if __name__ == "__main__":
    main()
