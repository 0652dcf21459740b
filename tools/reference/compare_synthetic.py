"""Per-epoch validation mean F1 and training loss of engine runs against train_synthetic.py runs, as a
Markdown table.

    python3 tools/reference/compare_synthetic.py --engine runs/A/metrics.jsonl --torch torch_s1.json [--engine ... --torch ...]

Pairs are taken in order (one seed each). Prints one row per epoch: engine mean F1 % (mean training
loss of the epoch), PyTorch's, and the F1 difference in points; then, per pair, the first optimizer
step whose losses differ by more than 1e-4 (where float rounding has grown into a visible divergence:
both sides start from the same weights and see the same batches). Exits 1 when any |difference|
exceeds --max-diff (default 3 points).
"""
import argparse
import json
import sys


def engine_run(path):
    with open(path) as f:
        recs = [json.loads(line) for line in f if line.strip()]
    f1 = {r["epoch"]: 100 * r["meanF1"] for r in recs if r.get("kind") == "val"}
    steps = [r for r in recs if r.get("kind") == "train"]
    loss = {}
    for r in steps:   # a train record's epoch is 0-based, a val record's 1-based
        loss.setdefault(r["epoch"] + 1, []).append(r["loss"])
    return f1, {e: sum(v) / len(v) for e, v in loss.items()}, [r["loss"] for r in steps]


def torch_run(path):
    with open(path) as f:
        eps = json.load(f)["epochs"]
    return ({r["epoch"]: 100 * r["meanF1"] for r in eps}, {r["epoch"]: r["loss"] for r in eps},
            [x for r in eps for x in r.get("stepLosses", [])])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", action="append", required=True)
    ap.add_argument("--torch", action="append", required=True)
    ap.add_argument("--max-diff", type=float, default=3.0)
    a = ap.parse_args()
    if len(a.engine) != len(a.torch):
        raise SystemExit("give one --torch per --engine")
    worst = 0.0
    print("| run | epoch | engine mean F1 % (loss) | PyTorch mean F1 % (loss) | difference (points) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    notes = []
    for k, (e, t) in enumerate(zip(a.engine, a.torch)):
        (fe, le, se), (ft, lt, st) = engine_run(e), torch_run(t)
        for ep in sorted(set(fe) & set(ft)):
            d = fe[ep] - ft[ep]
            worst = max(worst, abs(d))
            print(f"| {k + 1} | {ep} | {fe[ep]:.2f} ({le.get(ep, float('nan')):.3f}) | {ft[ep]:.2f} ({lt[ep]:.3f}) | {d:+.2f} |")
        apart = next((i for i, (x, y) in enumerate(zip(se, st)) if abs(x - y) > 1e-4), None)
        if st:
            notes.append(f"run {k + 1}: step losses agree within 1e-4 up to step {apart if apart is not None else min(len(se), len(st))}"
                         f" of {min(len(se), len(st))}")
    print()
    for n in notes:
        print(n)
    print(f"largest |difference|: {worst:.2f} points (limit {a.max_diff})")
    sys.exit(1 if worst > a.max_diff else 0)


if __name__ == "__main__":
    main()
