"""PyTorch on the CPU as a benchmark peer: reads a JSON request on stdin, writes JSON on stdout.

    {"cases": [CASE, ...]}  ->  {"torch": "1.13.0", "blas": "...", "threads": 2, "results": [RESULT, ...]}

A RESULT is {"ok": true, "medianMs", "minMs", "maxMs", "samples"} (milliseconds per repetition)
or {"ok": false, "why": "..."}; one failing case never stops the others. CASE kinds:

    {"kind": "matmul", "M", "N", "K", "transA", "transB", "bias"}      C = op(A)·op(B) (+ bias)
    {"kind": "softmax", "rows", "cols"}                                softmax over the last dim
    {"kind": "layernorm", "rows", "cols"}                              F.layer_norm, eps 1e-5
    {"kind": "conv", "B", "C", "H", "W", "E", "k", "stride", "bias"}    F.conv2d, NCHW
    {"kind": "segface", "backbone", "dataset", "res", "batch", "mode"}  mode: forward | step

`segface` builds tools/reference/segface_ref.py's model with stochastic depth off (as the engine's
bench step); "forward" runs eval mode under no_grad, "step" is forward + 0.5·CE + 0.5·Dice +
backward + AdamW (lr 1e-4, weight decay 1e-5). Every case accepts "samples" (default 5) and
"warmup" (default 1). Run with OMP_WAIT_POLICY=PASSIVE (the caller sets it): torch's OpenMP
threads otherwise spin against OpenBLAS's on small machines.
"""
import json
import os
import statistics
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "reference"))


def blas_library():
    """Which libblas the process mapped (Debian's torch links the libblas.so.3 alternative)."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
    except OSError:
        return "unknown"
    return ", ".join(sorted(os.path.basename(os.path.dirname(p)) + "/" + os.path.basename(p) for p in libs)) or "none mapped"


def timed(fn, samples, warmup, min_ms=20.0):
    """Median/min/max ms per call; each sample repeats fn until it lasts about min_ms."""
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    fn()
    once = max((time.perf_counter() - t0) * 1e3, 1e-3)
    reps = max(1, int(min_ms / once))
    per = []
    for _ in range(samples):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        per.append((time.perf_counter() - t0) * 1e3 / reps)
    return {"ok": True, "medianMs": statistics.median(per), "minMs": min(per), "maxMs": max(per), "samples": len(per)}


def rand(torch, *shape):
    g = torch.Generator().manual_seed(1)
    return torch.rand(*shape, generator=g) * 2 - 1


def matmul_case(torch, c):
    a = rand(torch, *([c["K"], c["M"]] if c.get("transA") else [c["M"], c["K"]]))
    b = rand(torch, *([c["N"], c["K"]] if c.get("transB") else [c["K"], c["N"]]))
    bias = rand(torch, c["N"]) if c.get("bias") else None
    A = a.t() if c.get("transA") else a
    B = b.t() if c.get("transB") else b

    def run():
        with torch.no_grad():
            return torch.addmm(bias, A, B) if bias is not None else torch.mm(A, B)
    return run


def segface_case(torch, c):
    import torch.nn.functional as F  # noqa: F401
    from segface_ref import SegFace, make_config, seg_losses
    torch.manual_seed(1)
    cfg = make_config(c["backbone"], c.get("dataset", "celeb"))
    cfg.stochastic_depth = 0.0
    model = SegFace(cfg)
    b, res = c.get("batch", 1), c["res"]
    image = torch.randn(b, 3, res, res)
    labels = torch.randint(0, len(cfg.tokens), (b, res, res))
    if c["mode"] == "forward":
        model.eval()

        def fwd():
            with torch.no_grad():
                model(image)
        return fwd
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-5)

    def step():
        total, _, _ = seg_losses(model(image), labels)
        total.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step


def build(torch, c):
    import torch.nn.functional as F
    kind = c["kind"]
    if kind == "matmul":
        return matmul_case(torch, c)
    if kind == "softmax":
        x = rand(torch, c["rows"], c["cols"])
        return lambda: torch.softmax(x, -1)
    if kind == "layernorm":
        x, w, bb = rand(torch, c["rows"], c["cols"]), rand(torch, c["cols"]), rand(torch, c["cols"])
        return lambda: F.layer_norm(x, (c["cols"],), w, bb, 1e-5)
    if kind == "conv":
        x = rand(torch, c["B"], c["C"], c["H"], c["W"])
        w = rand(torch, c["E"], c["C"], c["k"], c["k"])
        bias = rand(torch, c["E"]) if c.get("bias") else None

        def conv():
            with torch.no_grad():
                return F.conv2d(x, w, bias, stride=c["stride"])
        return conv
    if kind == "segface":
        return segface_case(torch, c)
    raise ValueError(f"unknown case kind {kind!r}")


def main():
    request = json.load(sys.stdin)
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - reported to the caller as the reason
        json.dump({"error": f"cannot import torch: {e}"}, sys.stdout)
        return
    # Every core by default, as lavapipe uses them all (torch alone picks physical cores only).
    torch.set_num_threads(int(request.get("threads") or os.cpu_count() or 1))
    results = []
    for c in request.get("cases", []):
        try:
            fn = build(torch, c)
            results.append(timed(fn, c.get("samples", 5), c.get("warmup", 1), c.get("minMs", 20.0)))
        except Exception as e:  # noqa: BLE001
            results.append({"ok": False, "why": f"{type(e).__name__}: {e}".strip()[:300],
                            "trace": traceback.format_exc(limit=3)})
    torch.mm(torch.ones(8, 8), torch.ones(8, 8))  # make sure libblas is mapped before reporting it
    json.dump({"torch": torch.__version__, "blas": blas_library(), "threads": torch.get_num_threads(),
               "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(default)"), "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
