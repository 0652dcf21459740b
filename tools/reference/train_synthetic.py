"""The synthetic-faces recipe of `npm run train` in PyTorch, on the very samples the engine trains on:
evidence that the engine, not PyTorch, is not what limits the default run.

    npx tsx tools/reference/write_synthetic.ts --preset default --seed 1 --out /tmp/s1.safetensors
    python3 tools/reference/train_synthetic.py /tmp/s1.safetensors --json /tmp/torch_s1.json

The file (written by write_synthetic.ts) holds normalised images, labels, each step's sample indices
and the recipe (src/train/presets.ts) with its seed. This script trains the same SegFace config
(segface_ref.py, torchvision's Swin) from the same synthetic initialisation (gen.py's hash, shared
with src/model/synthetic_init.ts) with torch.optim.AdamW, LinearLR warm-up then CosineAnnealingLR
stepped per optimizer step, 0.5 CE + 0.5 Dice and stochastic depth on (torch draws its own masks, so
the runs agree statistically, not bit for bit), and after every epoch computes the validation F1
exactly as src/train/metrics.ts (the official inference.py): one confusion matrix over the split,
F1_k = 2 tp / (gt_k + pred_k), mean F1 over classes 1..K-1.
``--set key=value`` overrides a recipe field (lr, warmup_steps, ...), for exploring recipes.
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen import init_synthetic  # noqa: E402
from safetensors_io import read_safetensors  # noqa: E402
from segface_ref import SegFace, make_config, seg_losses  # noqa: E402


def read_metadata(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n)).get("__metadata__", {})


def f1_scores(hist):
    tp = np.diag(hist)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 2 * tp / (hist.sum(0) + hist.sum(1))


def evaluate(model, images, labels, batch, classes):
    model.eval()
    hist = np.zeros((classes, classes), dtype=np.float64)
    with torch.no_grad():
        for i in range(0, len(images), batch):
            pred = model(torch.from_numpy(images[i:i + batch].copy())).argmax(1).numpy()
            gt = labels[i:i + batch]
            hist += np.bincount(gt.reshape(-1).astype(np.int64) * classes + pred.reshape(-1), minlength=classes * classes).reshape(classes, classes)
    model.train()
    f1 = f1_scores(hist)
    return float(np.mean(f1[1:])), f1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", help="safetensors file written by write_synthetic.ts")
    ap.add_argument("--json", help="write the per-epoch validation results here")
    ap.add_argument("--set", action="append", default=[], help="override a recipe field: key=value")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    recipe = json.loads(read_metadata(args.data)["recipe"])
    for kv in args.set:
        k, v = kv.split("=", 1)
        recipe[k] = type(recipe[k])(float(v)) if isinstance(recipe[k], (int, float)) else v
    d = read_safetensors(args.data)
    order = d["order"]
    epochs, steps, batch = order.shape
    epochs = min(epochs, int(recipe["epochs"]))
    total = epochs * steps
    torch.manual_seed(recipe["seed"])
    cfg = make_config(recipe["model"], recipe["dataset"])
    if recipe.get("dropPath") is not None:  # the recipe's stochastic-depth rate; absent: the backbone's
        cfg.stochastic_depth = float(recipe["dropPath"])
    model = SegFace(cfg).train()
    init_synthetic(model, recipe["seed"])
    lr, warm = recipe["lr"], int(recipe["warmupSteps"])
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=recipe["weightDecay"], foreach=False)
    scheds, miles = [], []
    if warm > 0:
        scheds.append(torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.01, end_factor=1.0, total_iters=warm))
        miles.append(warm)
    scheds.append(torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total - warm, eta_min=recipe["minLr"]))
    sched = scheds[0] if len(scheds) == 1 else torch.optim.lr_scheduler.SequentialLR(opt, scheds, milestones=miles)
    classes = len(cfg.tokens)
    timgs, tlabs = d["train.images"], d["train.labels"].astype(np.int64)
    results = []
    t0 = time.time()
    for e in range(epochs):
        losses = []
        for s in range(steps):
            idx = order[e, s]
            opt.zero_grad(set_to_none=True)
            total_loss, _, _ = seg_losses(model(torch.from_numpy(timgs[idx])), torch.from_numpy(tlabs[idx]))
            total_loss.backward()
            if recipe.get("clipGrad"):
                torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None], recipe["clipGrad"])
            opt.step()
            sched.step()
            losses.append(total_loss.item())
        mean_f1, f1 = evaluate(model, d["val.images"], d["val.labels"], batch, classes)
        results.append({"epoch": e + 1, "loss": float(np.mean(losses)), "stepLosses": losses, "meanF1": mean_f1, "f1": [None if math.isnan(x) else float(x) for x in f1],
                        "seconds": time.time() - t0})
        print(f"epoch {e + 1}: loss {np.mean(losses):.4f} val mean F1 {100 * mean_f1:.2f}  ({time.time() - t0:.0f} s)", flush=True)
        if args.json:  # after every epoch, so that a run stopped early keeps the epochs it finished
            with open(args.json + ".tmp", "w") as f:
                json.dump({"recipe": recipe, "torch": torch.__version__, "epochs": results}, f, indent=1)
            os.replace(args.json + ".tmp", args.json)
    print("per-class F1 %: " + ", ".join(f"{n} {100 * x:.1f}" for n, x in zip(cfg.tokens, results[-1]["f1"]) if x is not None))


if __name__ == "__main__":
    main()
