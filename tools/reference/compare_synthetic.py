"""Per-epoch validation mean F1 of engine runs against train_synthetic.py runs, as a Markdown table.

    python3 tools/reference/compare_synthetic.py --engine runs/A/metrics.jsonl --torch torch_s1.json [--engine ... --torch ...]

Pairs are taken in order (one seed each). Prints one row per epoch: engine %, PyTorch %, and the
difference in points, and exits 1 when any |difference| exceeds --max-diff (default 3 points).
"""
import argparse
import json
import sys


def engine_curve(path):
    with open(path) as f:
        recs = [json.loads(line) for line in f if line.strip()]
    return {r["epoch"]: 100 * r["meanF1"] for r in recs if r.get("kind") == "val"}


def torch_curve(path):
    with open(path) as f:
        return {r["epoch"]: 100 * r["meanF1"] for r in json.load(f)["epochs"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", action="append", required=True)
    ap.add_argument("--torch", action="append", required=True)
    ap.add_argument("--max-diff", type=float, default=3.0)
    a = ap.parse_args()
    if len(a.engine) != len(a.torch):
        raise SystemExit("give one --torch per --engine")
    worst = 0.0
    print("| run | epoch | engine mean F1 % | PyTorch mean F1 % | difference (points) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for k, (e, t) in enumerate(zip(a.engine, a.torch)):
        ce, ct = engine_curve(e), torch_curve(t)
        for ep in sorted(set(ce) & set(ct)):
            d = ce[ep] - ct[ep]
            worst = max(worst, abs(d))
            print(f"| {k + 1} | {ep} | {ce[ep]:.2f} | {ct[ep]:.2f} | {d:+.2f} |")
    print(f"\nlargest |difference|: {worst:.2f} points (limit {a.max_diff})")
    sys.exit(1 if worst > a.max_diff else 0)


if __name__ == "__main__":
    main()
