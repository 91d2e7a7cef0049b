#!/usr/bin/env python3
"""plot_bench.py BENCH.csv OUTDIR: charts of `ttt bench` (the paper's latency figure on this CPU).

  OUTDIR/bench_prefill.png  prefill time per token against context length, one line per model
  OUTDIR/bench_decode.png   decode time per token after a prompt of that length
(batch 1 solid, the larger batch dashed; log-log axes)
"""
import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    rows = list(csv.DictReader(open(sys.argv[1])))
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    for measure, title in (("prefill", "prefill (forward) time per token"), ("decode", "decode time per token")):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        series = {}
        for r in rows:
            if r["measure"] != measure:
                continue
            key = (r["model"], int(r["batch"]))
            series.setdefault(key, []).append((int(r["context"]), 1e3 * float(r["s_per_token_median"])))
        for (model, batch), pts in sorted(series.items()):
            pts.sort()
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-" if batch == 1 else "s--",
                    label=f"{model} (batch {batch})")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("context length (tokens)")
        ax.set_ylabel("ms per token" + (" (per step)" if measure == "decode" else ""))
        ax.set_title(title)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = os.path.join(out, f"bench_{measure}.png")
        fig.savefig(path, dpi=120)
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
