#!/usr/bin/env python3
"""plot.py: charts of training runs and evaluations (PNG, matplotlib).

  scripts/plot.py --run RUNDIR [--run RUNDIR2 ...] [--out DIR]
      training loss (and validation loss when present) against step, one line per run,
      read from RUNDIR/metrics.jsonl  ->  DIR/loss.png (DIR defaults to the first RUNDIR)
  scripts/plot.py --by-position A.csv:label [--by-position B.csv:label ...] --out DIR
      mean loss against token position (log x axis), one line per model, from the CSV files
      of `ttt eval --by-position`  ->  DIR/loss_by_position.png
"""
import argparse
import csv
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_metrics(path):
    train, val = {}, {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a crash
            if "loss" in r and "step" in r:
                train[r["step"]] = r["loss"]  # a resumed run overwrites its repeated steps
            if "val_loss" in r:
                val[r["step"]] = r["val_loss"]
    return sorted(train.items()), sorted(val.items())


def plot_runs(runs, out):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for run in runs:
        name = os.path.basename(os.path.normpath(run))
        train, val = read_metrics(os.path.join(run, "metrics.jsonl"))
        if train:
            ax.plot([s for s, _ in train], [l for _, l in train], label=f"{name} train")
        if val:
            ax.plot([s for s, _ in val], [l for _, l in val], "o--", label=f"{name} validation")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats per token)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = os.path.join(out, "loss.png")
    fig.savefig(path, dpi=120)
    return path


def plot_by_position(items, out):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for item in items:
        path, _, label = item.partition(":")
        xs, ys = [], []
        with open(path) as f:
            for r in csv.DictReader(f):
                a, b = int(r["position_start"]), int(r["position_end"])
                xs.append((a * b) ** 0.5)  # geometric middle of the bucket
                ys.append(float(r["mean_loss"]))
        ax.plot(xs, ys, marker=".", label=label or os.path.basename(path))
    ax.set_xscale("log")
    ax.set_xlabel("token position")
    ax.set_ylabel("mean loss (nats per token)")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    path = os.path.join(out, "loss_by_position.png")
    fig.savefig(path, dpi=120)
    return path


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", action="append", default=[], help="run directory (metrics.jsonl)")
    p.add_argument("--by-position", action="append", default=[], help="CSV of ttt eval --by-position[:label]")
    p.add_argument("--out", help="output directory")
    a = p.parse_args()
    if not a.run and not a.by_position:
        p.error("give --run and/or --by-position")
    out = a.out or (a.run[0] if a.run else ".")
    os.makedirs(out, exist_ok=True)
    if a.run:
        print(plot_runs(a.run, out))
    if a.by_position:
        print(plot_by_position(a.by_position, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
