#!/usr/bin/env python3
"""collect.py: the metrics (CSV, JSON) and charts (PNG) of a study, from its run directories
(runs/<study>/<model>/metrics.jsonl, config.json) and evaluation outputs (results/<study>/
eval_<model>_<name>.txt, bypos_*.csv, ttt_stats_*.csv). Called by experiments/lib.sh; reruns
only redraw. Works from the committed results alone when the run directories are gone (it then
keeps the training numbers already in metrics.json)."""
import argparse
import csv
import glob
import json
import math
import os
import re
import statistics

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LABELS = {
    "ttt-linear": "TTT-Linear (M)", "ttt-mlp": "TTT-MLP (M)", "transformer": "Transformer", "mamba": "Mamba",
    "base": "TTT-Linear (M), b=16", "transformer-backbone": "Transformer backbone", "minibatch-1": "mini-batch 1",
    "minibatch-all": "mini-batch = sequence (batch GD)", "fixed-lr": "fixed inner lr (gate at 0)",
    "no-token-scale": "τ ≡ 1",
}


def label(k):
    return LABELS.get(k, k)


def read_run(run_dir):
    """training numbers of one run directory"""
    out = {}
    mpath = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.exists(mpath):
        return None
    steps, tps, val = {}, [], {}
    start = {}
    # elapsed_s restarts at every sitting ("start" or "resume" event; runs written before the
    # single-process resume logged its event show it as elapsed_s going down): the machine time
    # of the run is the sum over sittings of each one's last logged elapsed_s (steps redone after
    # a resume count; the steps a sitting ran after its last log line do not)
    wall, sitting = 0.0, 0.0
    for line in open(mpath):
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        if r.get("event") in ("start", "resume"):
            if r["event"] == "start":
                start = r
            wall, sitting = wall + sitting, 0.0
        elif "loss" in r:
            if r.get("elapsed_s", 0.0) < sitting:
                wall, sitting = wall + sitting, 0.0
            steps[r["step"]] = (r["loss"], r.get("elapsed_s", 0.0))
            sitting = max(sitting, r.get("elapsed_s", 0.0))
            tps.append(r["tokens_per_s"])
        elif "val_loss" in r:
            val[r["step"]] = r["val_loss"]
    cfgp = os.path.join(run_dir, "model", "config.json")
    cfg = json.load(open(cfgp)) if os.path.exists(cfgp) else {}
    vocab = cfg.get("vocab_size", 0)
    width = cfg.get("hidden_size", cfg.get("d_model", 0))
    params = start.get("parameters", 0)
    tied = cfg.get("tie_word_embeddings", cfg.get("tie_embeddings", True))
    emb = vocab * width * (1 if tied else 2)
    last = max(steps) if steps else 0
    tail = [steps[s][0] for s in sorted(steps)[-max(1, len(steps) // 10):]]
    out.update(
        parameters=params, non_embedding_parameters=params - emb, steps=last,
        tokens=last * start.get("batch", 0) * start.get("seq_len", 0),
        seq_len=start.get("seq_len"), batch=start.get("batch"), lr=start.get("lr"), windows=start.get("windows", "stream"),
        train_loss_final=statistics.mean(tail) if tail else None,
        train_tokens_per_s=statistics.median(tps) if tps else None,
        wall_s=wall + sitting if steps else None,
        curve=[(s, steps[s][0]) for s in sorted(steps)],
    )
    if val:
        out["val_loss_final"] = val[max(val)]
    return out


EVAL_RE = re.compile(r"perplexity ([0-9.]+|nan)\s+\(mean loss ([0-9.]+|nan) over (\d+) targets in (\d+) windows of (\d+); "
                     r"([0-9.]+) tokens/s\)")


def read_eval(path):
    if not os.path.exists(path):
        return None
    m = EVAL_RE.search(open(path).read())
    if not m:
        return None
    return {"ppl": float(m.group(1)), "loss": float(m.group(2)), "targets": int(m.group(3)),
            "windows": int(m.group(4)), "context": int(m.group(5)), "eval_tokens_per_s": float(m.group(6))}


def splice_doc(doc, begin, end, text):
    """replace what lies between the marker lines BEGIN and END of the Markdown file DOC by TEXT
    (atomically; only when it changed): how a study's --redraw writes its table into
    docs/results.md, so that the page's numbers come from the committed results. False when DOC
    or a marker is missing (a smoke run's directory has no docs/)."""
    if not doc or not os.path.exists(doc):
        return False
    with open(doc) as f:
        old = f.read()
    i, j = old.find(begin), old.find(end)
    if i < 0 or j < i:
        return False
    new = old[:i + len(begin)] + "\n" + text.rstrip("\n") + "\n" + old[j:]
    if new != old:
        with open(doc + ".tmp-splice", "w") as f:
            f.write(new)
        os.replace(doc + ".tmp-splice", doc)
    return True


def splice_study(results, study, text):
    """splice_doc for experiments/<study>.sh: docs/results.md two levels above RESULTS
    (results/<study>/ of the checkout), between <!-- <study>-table: begin ... --> and its end"""
    doc = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(results))), "docs", "results.md")
    return splice_doc(doc, f"<!-- {study}-table: begin (written by experiments/{study}.sh from results/{study}/; do not edit) -->",
                      f"<!-- {study}-table: end -->", text)


def chart_curves(models, runs, out):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for k in models:
        r = runs.get(k)
        if not r or not r.get("curve"):
            continue
        tok = r["batch"] * r["seq_len"]
        ax.plot([s * tok / 1e6 for s, _ in r["curve"]], [l for _, l in r["curve"]], label=label(k))
    ax.set_xlabel("training tokens (millions)")
    ax.set_ylabel("training loss (nats per token)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "training_curves.png"), dpi=120)
    plt.close(fig)


def bypos_files(results):
    """(model, book, context, path) of every `ttt eval --by-position` CSV of a study"""
    out = []
    for f in sorted(glob.glob(os.path.join(results, "bypos_*.csv"))):
        m = re.match(r"bypos_(.+?)_(moby_dick|emma|persuasion)_(\w+)\.csv", os.path.basename(f))
        if m:
            out.append((m.group(1), m.group(2), m.group(3), f))
    return out


def ctx_order(ctx):
    """evaluation contexts by length (8k before 32k)"""
    return (len(ctx), ctx)


def read_by_position(path):
    """(geometric-mean position, mean loss) of each bucket of a `ttt eval --by-position` CSV"""
    xs, ys = [], []
    for r in csv.DictReader(open(path)):
        a, b = int(r["position_start"]), int(r["position_end"])
        xs.append(math.sqrt(a * b))
        ys.append(float(r["mean_loss"]))
    return xs, ys


def draw_by_position(ax, models, per, title, train_len):
    for k in models:
        if k in per:
            xs, ys = read_by_position(per[k])
            ax.plot(xs, ys, marker=".", label=label(k))
    if train_len and ax.get_xlim()[1] > train_len:
        ax.axvline(train_len, color="grey", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel("token position")
    ax.set_ylabel("mean loss (nats per token)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")


def chart_by_position(models, runs, results, out):
    """one chart per (book, context): loss_by_position_<book>_<ctx>.png; and all of them on one
    page, a row per context: loss_by_position.png. A dotted line marks the training length."""
    groups = {}
    for k, book, ctx, f in bypos_files(results):
        groups.setdefault((book, ctx), {})[k] = f
    lens = [runs[k].get("seq_len") for k in models if runs.get(k) and runs[k].get("seq_len")]
    train_len = max(lens) if lens else None
    for (book, ctx), per in sorted(groups.items()):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        draw_by_position(ax, models, per, f"{book.replace('_', ' ')}, context {ctx}", train_len)
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(out, f"loss_by_position_{book}_{ctx}.png"), dpi=120)
        plt.close(fig)
    books = sorted({b for b, _ in groups})
    ctxs = sorted({c for _, c in groups}, key=ctx_order)
    if not groups:
        return
    fig, axes = plt.subplots(len(ctxs), len(books), figsize=(5 * len(books), 3.8 * len(ctxs)), squeeze=False)
    for i, ctx in enumerate(ctxs):
        for j, book in enumerate(books):
            draw_by_position(axes[i][j], models, groups.get((book, ctx), {}),
                             f"{book.replace('_', ' ')}, context {ctx}", train_len)
    axes[0][0].legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "loss_by_position.png"), dpi=110)
    plt.close(fig)


def position_ranges(models, results):
    """mean loss over the three books (weighted by targets) in ranges of token positions, per
    model and evaluation context: the numbers behind the loss-by-position charts. A bucket of a
    by-position CSV counts in the first range whose upper split is >= the bucket's last position;
    a row reports the positions its buckets actually cover."""
    splits = [64, 512, 2048, 8192, 16384, 1 << 62]
    acc = {}
    for k, _, ctx, f in bypos_files(results):
        if k not in models:
            continue
        for r in csv.DictReader(open(f)):
            a, b, n = int(r["position_start"]), int(r["position_end"]), int(r["targets"])
            i = next(i for i, s in enumerate(splits) if b <= s)
            e = acc.setdefault((k, ctx, i), [a, b, 0.0, 0])
            e[0], e[1] = min(e[0], a), max(e[1], b)
            e[2] += float(r["mean_loss"]) * n
            e[3] += n
    rows = []
    for (k, ctx, i), (a, b, s, n) in sorted(acc.items(), key=lambda x: (models.index(x[0][0]), ctx_order(x[0][1]), x[0][2])):
        rows.append({"model": k, "context": ctx, "position_start": a, "position_end": b,
                     "mean_loss": round(s / n, 6), "targets": n})
    if rows:
        with open(os.path.join(results, "loss_by_position_ranges.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return rows


def chart_ttt_stats(models, results, out):
    fig, axes = plt.subplots(1, len(models), figsize=(6 * len(models), 4.2), squeeze=False)
    rows_out = []
    for ax, k in zip(axes[0], models):
        f = os.path.join(results, f"ttt_stats_{k}.csv")
        if not os.path.exists(f):
            continue
        by_mb = {}
        for r in csv.DictReader(open(f)):
            mb = int(r["minibatch"])
            by_mb.setdefault(mb, []).append((float(r["loss_init"]), float(r["loss_prev"]), float(r["loss_after"])))
        mbs = sorted(by_mb)
        means = [tuple(statistics.mean(v[i] for v in by_mb[mb]) for i in range(3)) for mb in mbs]
        for i, name in enumerate(("ℓ(W0; x_t)", "ℓ(W_prev; x_t)", "ℓ(W_t; x_t)")):
            ax.plot(mbs, [m[i] for m in means], label=name)
        ax.set_xlabel("mini-batch index along the sequence")
        ax.set_ylabel("reconstruction loss (MSE per element), mean over layers")
        ax.set_title(label(k))
        ax.grid(alpha=0.3)
        ax.legend()
        for mb, m in zip(mbs, means):
            rows_out.append({"model": k, "minibatch": mb, "loss_init": m[0], "loss_prev": m[1], "loss_after": m[2]})
    fig.tight_layout()
    fig.savefig(os.path.join(out, "ttt_inner_losses.png"), dpi=120)
    plt.close(fig)
    return rows_out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--study", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--runs", required=True)
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--evals", nargs="*", default=[])
    ap.add_argument("--by-position", action="store_true")
    ap.add_argument("--ttt-stats", action="store_true")
    a = ap.parse_args()
    old = {}
    jpath = os.path.join(a.results, "metrics.json")
    if os.path.exists(jpath):
        old = {m["model"]: m for m in json.load(open(jpath)).get("models", [])}
    runs, table = {}, []
    for k in a.models:
        r = read_run(os.path.join(a.runs, k))
        if r is None and k in old:  # the committed numbers, when the checkpoints are gone
            r = {x: old[k].get(x) for x in old[k] if x != "model"}
        runs[k] = r or {}
        row = {"model": k}
        row.update({x: y for x, y in runs[k].items() if x != "curve"})
        # the cost step's measurement (lib.sh: cost) replaces the run's median tokens/s, which
        # depends on what else shared the machine during the run; the latter is kept alongside
        cpath = os.path.join(a.results, f"cost_{k}.txt")
        if os.path.exists(cpath):
            m = re.search(r"train_tokens_per_s ([0-9.]+)", open(cpath).read())
            if m:
                if "train_tokens_per_s_run" not in row:
                    row["train_tokens_per_s_run"] = row.get("train_tokens_per_s")
                row["train_tokens_per_s"] = float(m.group(1))
        for e in a.evals:
            ev = read_eval(os.path.join(a.results, f"eval_{k}_{e}.txt"))
            if ev:
                row[f"ppl_{e}"] = ev["ppl"]
                row[f"eval_tokens_per_s_{e}"] = ev["eval_tokens_per_s"]
        table.append(row)
    doc = {"study": a.study, "models": table}
    if a.ttt_stats:
        doc["ttt_stats"] = chart_ttt_stats(a.models, a.results, a.results)
    if a.by_position:
        doc["loss_by_position_ranges"] = position_ranges(a.models, a.results)
    # keep the training curves when the checkpoints are gone
    curves = {k: runs[k].get("curve") or (old.get(k, {}).get("curve")) for k in a.models}
    for row in table:
        if curves.get(row["model"]):
            row["curve"] = curves[row["model"]]
            runs[row["model"]]["curve"] = curves[row["model"]]
    json.dump(doc, open(jpath, "w"), indent=1)
    cols = []
    for row in table:
        for c in row:
            if c not in cols and c != "curve":
                cols.append(c)
    with open(os.path.join(a.results, "metrics.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for row in table:
            w.writerow(row)
    if any(runs[k].get("curve") for k in a.models):
        chart_curves(a.models, runs, a.results)
    if a.by_position:
        chart_by_position(a.models, runs, a.results, a.results)
        print("mean loss over the books by token position:")
        for r in doc["loss_by_position_ranges"]:
            print(f"  {r['model']:12s} {r['context']:>4s} {r['position_start']:>6d}-{r['position_end']:<6d} {r['mean_loss']:.4f}")
    # a readable table on stdout
    show = [c for c in cols if c in ("model", "non_embedding_parameters", "tokens", "train_tokens_per_s", "wall_s",
                                     "train_loss_final") or c.startswith("ppl_")]
    print(" | ".join(show))
    for row in table:
        print(" | ".join(f"{row.get(c):.4g}" if isinstance(row.get(c), float) else str(row.get(c)) for c in show))


if __name__ == "__main__":
    main()
