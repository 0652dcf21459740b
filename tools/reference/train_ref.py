"""PyTorch's side of tests/train/optim_reference.test.ts: the optimizer and training steps of
train.py (torch.optim.AdamW + torch.optim.lr_scheduler.MultiStepLR), run on inputs written by the
TypeScript engine, results written back as safetensors.

    python3 tools/reference/train_ref.py optim --inputs IN.safetensors --out OUT.safetensors --config JSON
    python3 tools/reference/train_ref.py train --inputs IN.safetensors --out OUT.safetensors --config JSON

optim: IN holds the initial parameters ``param.{i}`` and each step's gradients ``grad.{s}.{i}``
    (a missing gradient means p.grad is None at that step: torch skips the parameter). Config:
    {"lr", "weight_decay", "betas", "eps", "milestones", "gamma", "steps", "max_norm" (optional)}.
    Step s: set the gradients, clip_grad_norm_ (when max_norm), optimizer.step(), scheduler.step()
    (one scheduler step per optimizer step: each step is an "epoch"). OUT holds ``step{s}.param.{i}``
    after every step and the final ``exp_avg.{i}`` / ``exp_avg_sq.{i}``; metadata "lrs" (JSON, the lr
    each step used) and "steps" (JSON, torch's per-parameter state['step'], 0 where no state).

train: SegFace with the synthetic initialisation of gen.py (hash shared with
    src/model/synthetic_init.ts), eval mode (stochastic depth off). IN holds ``images`` (S,B,3,H,W)
    float32 and ``labels`` (S,B,H,W) int32 for S steps. Config: {"backbone", "dataset", "seed", "lr",
    "weight_decay", "milestones", "gamma"}. Step s: zero_grad, 0.5 CE + 0.5 Dice, backward,
    optimizer.step(), scheduler.step() (train.py steps the scheduler per epoch; here every step is
    an epoch so that a milestone falls inside the run). OUT holds the final state_dict under official
    names, ``noise.{name}`` (uint8 masks: 1 where the gradient was <= 1e-5 x the step's largest
    gradient at some step, i.e. rounding noise or zero there, whose Adam updates follow the rounding) and
    metadata "losses" (JSON list of [total, ce, dice] per step, computed before that step's update).

Float32 on the CPU; the AdamW is torch's default single-tensor path (foreach off on CPU tensors).
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen import init_synthetic  # noqa: E402
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402
from segface_ref import SegFace, make_config, seg_losses  # noqa: E402


def run_optim(inputs, cfg):
    n = len([k for k in inputs if k.startswith("param.")])
    params = [torch.nn.Parameter(torch.from_numpy(inputs[f"param.{i}"].copy())) for i in range(n)]
    opt = torch.optim.AdamW(params, lr=cfg["lr"], betas=tuple(cfg.get("betas", (0.9, 0.999))), eps=cfg.get("eps", 1e-8),
                            weight_decay=cfg["weight_decay"], foreach=False)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=cfg["milestones"], gamma=cfg.get("gamma", 0.1))
    out, lrs = {}, []
    for s in range(cfg["steps"]):
        for i, p in enumerate(params):
            g = inputs.get(f"grad.{s}.{i}")
            p.grad = None if g is None else torch.from_numpy(g.copy())
        if cfg.get("max_norm"):
            torch.nn.utils.clip_grad_norm_([p for p in params if p.grad is not None], cfg["max_norm"])
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
        for i, p in enumerate(params):
            out[f"step{s}.param.{i}"] = p.detach().numpy().copy()
    steps = []
    for i, p in enumerate(params):
        st = opt.state.get(p, {})
        steps.append(int(st["step"]) if "step" in st else 0)
        if st:
            out[f"exp_avg.{i}"] = st["exp_avg"].numpy().copy()
            out[f"exp_avg_sq.{i}"] = st["exp_avg_sq"].numpy().copy()
    return out, {"lrs": json.dumps(lrs), "steps": json.dumps(steps)}


# A gradient element this far below the step's largest gradient is rounding noise (exactly zero in
# exact arithmetic: softmax shift invariance, or a ReLU active for every class token), or zero.
NOISE = 1e-5


def run_train(inputs, cfg):
    torch.manual_seed(0)
    model = SegFace(make_config(cfg["backbone"], cfg["dataset"])).eval()
    init_synthetic(model, cfg["seed"])
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"], foreach=False)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=cfg["milestones"], gamma=cfg.get("gamma", 0.1))
    images, labels = inputs["images"], inputs["labels"]
    losses = []
    noise = {n: np.zeros(tuple(p.shape), dtype=bool) for n, p in model.named_parameters()}
    for s in range(images.shape[0]):
        opt.zero_grad(set_to_none=True)
        total, ce, dice = seg_losses(model(torch.from_numpy(images[s].copy())), torch.from_numpy(labels[s].astype(np.int64)))
        total.backward()
        losses.append([total.item(), ce.item(), dice.item()])
        grads = {n: p.grad.abs().numpy() for n, p in model.named_parameters() if p.grad is not None}
        gmax = max(float(g.max()) for g in grads.values())
        for n, g in grads.items():
            noise[n] |= g <= NOISE * gmax
        opt.step()
        sched.step()
    out = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    out.update({f"noise.{n}": m.astype(np.uint8) for n, m in noise.items()})
    return out, {"losses": json.dumps(losses)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["optim", "train"])
    ap.add_argument("--inputs", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--config", required=True, help="JSON object (see above)")
    args = ap.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    cfg = json.loads(args.config)
    inputs = read_safetensors(args.inputs)
    out, meta = (run_optim if args.mode == "optim" else run_train)(inputs, cfg)
    meta["torch"] = torch.__version__
    write_safetensors(args.out, out, meta)


if __name__ == "__main__":
    main()
