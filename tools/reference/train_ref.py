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
    src/model/synthetic_init.ts), eval mode (stochastic depth off), run in FLOAT64 so that the
    reference carries no float32 rounding (and none of OpenBLAS's per-CPU kernel choices). IN holds
    ``images`` (S,B,3,H,W) float32 and ``labels`` (S,B,H,W) int32 for S steps, and optionally
    ``param.<name>`` (a trained state to start from instead of the initialisation's parameters).
    Config: {"backbone",
    "dataset", "seed", "lr", "weight_decay", "milestones", "gamma"}. Step s: zero_grad, 0.5 CE +
    0.5 Dice, backward, optimizer.step(), scheduler.step() (train.py steps the scheduler per epoch;
    here every step is an epoch so that a milestone falls inside the run). After every step the
    weights and moments are rounded to float32, so that each step starts from a state the float32
    engine can hold exactly (teacher forcing: the engine is loaded with ``step{s}.*`` and its one
    step compared with ``step{s+1}.*`` / ``final.*``). OUT holds, per step s, the state before the
    step (``step{s}.param|exp_avg|exp_avg_sq.{name}``) and the float64 gradient ``step{s}.grad.{name}``
    (absent where p.grad is None), the state after the last step (``final.*``), the buffers under
    their state_dict names, and metadata "losses" (float64 [total, ce, dice] per step), "losses32"
    and "rounding32" (the same step evaluated in float32 at the same weights: the losses, and per
    parameter the RMS of float32 minus float64 gradient: the rounding of a float32 implementation),
    "lrs" (the lr each step used).

Optim mode: float32 on the CPU; the AdamW is torch's default single-tensor path (foreach off on CPU tensors).
"""
import argparse
import copy
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


def _f32(t):
    """Rounds a float64 tensor to the nearest float32 value, kept in float64."""
    return t.float().double()


def run_train(inputs, cfg):
    """Teacher-forced float64 steps: the engine takes every step from this run's state, so each
    comparison is one step's rounding, with nothing compounded (see the module docstring)."""
    torch.manual_seed(0)
    model = SegFace(make_config(cfg["backbone"], cfg["dataset"])).eval()
    init_synthetic(model, cfg["seed"])
    # a trained state (inputs "param.<name>", e.g. from compare_step.ts --after N) replaces the
    # initialisation's parameters; buffers stay the initialisation's
    with torch.no_grad():
        for n, p in model.named_parameters():
            if f"param.{n}" in inputs:
                p.copy_(torch.from_numpy(inputs[f"param.{n}"].copy()))
    model = model.double()
    named = list(model.named_parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"], foreach=False)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=cfg["milestones"], gamma=cfg.get("gamma", 0.1))
    images, labels = inputs["images"], inputs["labels"]
    out, losses, losses32, lrs, rounding32 = {}, [], [], [], {n: [] for n, _ in named}
    for s in range(images.shape[0]):
        # the state the step starts from, as float32 (every value below is float32-representable)
        for n, p in named:
            st = opt.state.get(p, {})
            out[f"step{s}.param.{n}"] = p.detach().float().numpy().copy()
            out[f"step{s}.exp_avg.{n}"] = (st["exp_avg"] if st else torch.zeros_like(p)).float().numpy().copy()
            out[f"step{s}.exp_avg_sq.{n}"] = (st["exp_avg_sq"] if st else torch.zeros_like(p)).float().numpy().copy()
        x = torch.from_numpy(images[s].copy())
        y = torch.from_numpy(labels[s].astype(np.int64))
        # the same gradient in float32 at the same weights: the rounding of a float32 implementation
        model32 = copy.deepcopy(model).float()
        total32, ce32, dice32 = seg_losses(model32(x), y)
        total32.backward()
        losses32.append([total32.item(), ce32.item(), dice32.item()])
        opt.zero_grad(set_to_none=True)
        total, ce, dice = seg_losses(model(x.double()), y)
        total.backward()
        losses.append([total.item(), ce.item(), dice.item()])
        grads32 = dict(model32.named_parameters())
        for n, p in named:
            if p.grad is None:
                rounding32[n].append(0.0)
                continue
            out[f"step{s}.grad.{n}"] = p.grad.float().numpy().copy()
            rounding32[n].append(float(torch.sqrt(torch.mean((grads32[n].grad.double() - p.grad) ** 2))))
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(_f32(p))
                st = opt.state.get(p)
                if st:
                    st["exp_avg"].copy_(_f32(st["exp_avg"]))
                    st["exp_avg_sq"].copy_(_f32(st["exp_avg_sq"]))
    for n, p in named:
        st = opt.state.get(p, {})
        out[f"final.param.{n}"] = p.detach().float().numpy().copy()
        out[f"final.exp_avg.{n}"] = (st["exp_avg"] if st else torch.zeros_like(p)).float().numpy().copy()
        out[f"final.exp_avg_sq.{n}"] = (st["exp_avg_sq"] if st else torch.zeros_like(p)).float().numpy().copy()
    out.update({k: v.detach().float().numpy().copy() if v.is_floating_point() else v.numpy().copy()
                for k, v in model.state_dict().items() if k not in dict(named)})
    return out, {"losses": json.dumps(losses), "losses32": json.dumps(losses32), "rounding32": json.dumps(rounding32),
                 "lrs": json.dumps(lrs)}


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
