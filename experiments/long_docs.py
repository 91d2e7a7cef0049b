#!/usr/bin/env python3
"""long_docs.py: the helpers of experiments/long_docs.sh (long context on long documents):
`plan` turns the timing probes of runs/long_docs/timing/ into the expected machine time of the
study (printed, and results/long_docs/plan.json); `collect` writes metrics.csv, metrics.json,
table.md and the charts from the run directories and the evaluations, or from the committed
results alone when the run directories are gone (--redraw).

A run's key is FAMILY-CONTEXT-sSEED (long_docs.sh names them the same way). Its loss by
position is the three books' `ttt eval --by-position` buckets pooled by targets:
    loss(bucket) = sum_books mean_loss(book, bucket) * targets(book, bucket) / sum_books targets
and its mean over position ranges the same over the buckets of a range. Over seeds, each
number is the mean ± sample standard deviation of the runs' numbers (n-1 denominator).

The reading of the paper's claim (TTT keeps improving with context, Mamba levels off): the
change of the mean loss from one range of positions to the next, per run; a change counts as an
improvement only when every seed's change is below zero and their mean is below zero by more
than two standard errors (with one seed: below zero at all, marked as a single run)."""
import argparse
import csv
import json
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lm_vocab import LABELS, SPREAD, FLOPS_FORMULA, TPP_FORMULA, hms, probe_times, progress, run_numbers, spread, token_count, write_metrics  # noqa: E402,E501

# the ranges of token positions: 1-64, 65-512, 513-2k, 2k-8k, 8k-16k, 16k-32k
SPLITS = [64, 512, 2048, 8192, 16384, 32768]


def key(fam, ctx, seed):
    return f"{fam}-{ctx}-s{seed}"


def planned(a):
    """every run of the study as (family, context, seed)"""
    seeds = lambda f, c: [1] if c == a.short else a.seeds_long_transformer if f == "transformer" else a.seeds_long  # noqa: E731
    return [(f, c, s) for f in a.families for c in (a.short, a.long) for s in seeds(f, c)]


def eval_tokens(a):
    """the targets one model's evaluation reads: every window of eval_context + 1 tokens of each book"""
    n = 0
    for b in a.books:
        w = token_count(os.path.join(a.data, f"long_{b}.tok")) // (a.eval_context + 1)
        n += min(w, a.eval_windows) * a.eval_context if a.eval_windows else w * a.eval_context
    return n


def cmd_plan(a):
    t = {(f, c): probe_times(a.runs, f"{f}-{c}", a.tokens_per_step) for f in a.families for c in (a.short, a.long)}
    ev = eval_tokens(a)
    total = left = 0.0
    per = []
    for f, c, s in planned(a):
        step_s, eval_tps = t[(f, c)]
        x = a.steps * step_s + ev / eval_tps
        total += x
        done = all(os.path.exists(os.path.join(a.results, f"eval_{key(f, c, s)}_{b}.json")) for b in a.books)
        left += 0 if done else x
        per.append({"family": f, "context": c, "seed": s, "expected_s": round(x, 1)})
    print(f"seconds per step ({a.tokens_per_step} tokens) and evaluation tokens/s at {a.eval_context} of the probes:")
    for (f, c), (step_s, eval_tps) in t.items():
        print(f"  {f:12s} {c:6d} {step_s:7.2f} s/step  {eval_tps:8.0f} eval tokens/s")
    print(f"expected machine time of the whole study: {hms(total)} ({len(per)} runs, {ev} evaluation tokens each; "
          f"{hms(left)} for the runs not yet evaluated)", flush=True)
    path = os.path.join(a.results, "plan.json")
    doc = {"study": "long_docs", "short": a.short, "long": a.long, "steps": a.steps, "tokens_per_step": a.tokens_per_step,
           "eval_context": a.eval_context, "eval_tokens": ev, "expected_s": round(total, 1), "expected": hms(total),
           "per_step_s": {f"{f}-{c}": round(v[0], 3) for (f, c), v in t.items()},
           "eval_tokens_per_s": {f"{f}-{c}": round(v[1], 1) for (f, c), v in t.items()}, "runs": per}
    fixed = ("short", "long", "steps", "tokens_per_step", "eval_context")
    old = json.load(open(path)) if os.path.exists(path) else {}
    # a resumed sitting keeps the first estimate of the same plan
    if {x: old.get(x) for x in fixed} != {x: doc[x] for x in fixed}:
        with open(path + ".tmp", "w") as f:
            json.dump(doc, f, indent=1)
        os.replace(path + ".tmp", path)


def read_buckets(path):
    """[(position_start, position_end, mean_loss, targets)] of a --by-position CSV"""
    return [(int(r["position_start"]), int(r["position_end"]), float(r["mean_loss"]), int(r["targets"]))
            for r in csv.DictReader(open(path))]


def pooled_buckets(a, k):
    """the three books' buckets of run K pooled by targets, or None before its evaluations"""
    acc = {}
    for b in a.books:
        p = os.path.join(a.results, f"bypos_{k}_{b}.csv")
        if not os.path.exists(p):
            return None
        for s, e, loss, n in read_buckets(p):
            x = acc.setdefault((s, e), [0.0, 0])
            x[0] += loss * n
            x[1] += n
    return [(s, e, v[0] / v[1], v[1]) for (s, e), v in sorted(acc.items()) if v[1] > 0]


def position_ranges(buckets):
    """mean loss per range of SPLITS: a bucket counts in the first range whose upper split is >=
    its last position; {range label: (loss, targets, first position, last position)}"""
    acc = {}
    for s, e, loss, n in buckets:
        i = next(i for i, x in enumerate(SPLITS) if e <= x)
        x = acc.setdefault(i, [0.0, 0, s, e])
        x[0] += loss * n
        x[1] += n
        x[2], x[3] = min(x[2], s), max(x[3], e)
    return {range_label(i): (v[0] / v[1], v[1], v[2], v[3]) for i, v in sorted(acc.items())}


def range_label(i):
    lo = 1 if i == 0 else SPLITS[i - 1] + 1
    k = lambda x: f"{x // 1024}k" if x >= 2048 else str(x)  # noqa: E731
    return f"{k(lo) if lo < 2048 else k(lo - 1)}-{k(SPLITS[i])}"


def run_row(a, fam, ctx, seed, old):
    k = key(fam, ctx, seed)
    row, curve = run_numbers(a.runs, k, {"key": k, "family": fam, "context": ctx, "seed": seed}, old)
    if row is None:
        return None, None, None
    evs = [os.path.join(a.results, f"eval_{k}_{b}.json") for b in a.books]
    buckets = pooled_buckets(a, k)
    if all(os.path.exists(p) for p in evs) and buckets:
        e = [json.load(open(p)) for p in evs]
        bits = sum(x["bits_per_byte"] * x["bytes"] for x in e)
        nll = sum(x["mean_loss"] * x["targets"] for x in e)
        row.update(eval_context=e[0]["context"], eval_windows=sum(x["windows"] for x in e),
                   eval_targets=sum(x["targets"] for x in e), eval_loss=nll / sum(x["targets"] for x in e),
                   bits_per_byte=bits / sum(x["bytes"] for x in e),
                   **{f"bits_per_byte_{b}": x["bits_per_byte"] for b, x in zip(a.books, e)})
        for lab, (loss, n, _, _) in position_ranges(buckets).items():
            row[f"loss_{lab}"] = round(loss, 6)
    elif k in old:
        row.update({x: y for x, y in old[k].items() if x not in row and x != "curve" and x != "buckets"})
        buckets = old[k].get("buckets")
    return row, curve, buckets


def changes(row):
    """the change of the mean loss from each range of positions to the next"""
    labs = [range_label(i) for i in range(len(SPLITS)) if f"loss_{range_label(i)}" in row]
    return {f"{b} minus {p}": row[f"loss_{b}"] - row[f"loss_{p}"] for p, b in zip(labs, labs[1:])}


def verdict(s):
    """the sign of a difference over seeds (S: spread() of the per-seed differences), counted
    only when it exceeds the spread: every seed's difference on the same side of zero and the
    mean beyond two standard errors, 2 std / sqrt(n); 'single run' with one seed. Shared with
    ladder.py."""
    if s["n"] == 1:
        return "lower (single run)" if s["mean"] < 0 else "not lower (single run)"
    se = s["std"] / math.sqrt(s["n"])
    if s["max"] < 0 and s["mean"] < -2 * se:
        return "lower"
    if s["min"] > 0 and s["mean"] > 2 * se:
        return "higher"
    return "within the spread"


def table_md(rows, summary, a, plan):
    labs = [range_label(i) for i in range(len(SPLITS))]
    out = ["# long_docs: long context on long documents, four families at the small size", "",
           "Generated by experiments/long_docs.py from results/long_docs/ (do not edit).", "",
           f"* training: {a.steps} steps of {a.tokens_per_step:,} tokens on the books and State of the Union addresses"
           " 1790-1999 of the training split, every window inside one document (--doc-windows).",
           f"* evaluation: every window of {a.eval_context} tokens of the three held-out books "
           f"({', '.join(b.replace('_', ' ') for b in a.books)}), BOS targets masked; loss in nats per token, pooled"
           " over the books by targets; bits per byte over the books' bytes.",
           f"* {TPP_FORMULA}.", f"* {FLOPS_FORMULA}.", f"* spread: {SPREAD}.", ""]
    if plan:
        wall = sum(r.get("wall_s") or 0 for r in rows)
        out += [f"Expected machine time (plan.json, from timing probes before training): {plan['expected']}; "
                f"training wall time of the runs so far: {hms(wall)}.", ""]
    out += ["## Runs", "",
            "| run | family | trained at | seed | lr | non-embedding params | tokens | tokens/param | FLOPs/token |"
            " training loss (last 10%) | bits per byte | " + " | ".join(labs) + " |",
            "|" + "---|" * (11 + len(labs))]
    for r in rows:
        ls = " | ".join(f"{r[f'loss_{x}']:.4f}" if f"loss_{x}" in r else "–" for x in labs)
        bpb = f"{r['bits_per_byte']:.4f}" if "bits_per_byte" in r else "–"
        out.append(f"| {r['key']} | {LABELS[r['family']]} | {r['context']} | {r['seed']} | {r.get('lr', '–')} | "
                   f"{r['non_embedding_parameters']:,} | {r['tokens']:,} | {r['tokens_per_parameter']:.3f} | "
                   f"{r['flops_per_token'] / 1e6:.1f}M | {r['train_loss_final']:.4f} | {bpb} | {ls} |")
    out.append("")
    if summary:
        out += ["## Over seeds: the loss by range of positions, and its change from one range to the next", "",
                over_seeds_md(summary), ""]
    return "\n".join(out)


def over_seeds_md(summary):
    """the over-seeds tables (also docs/results.md's): mean loss per range of positions, and its
    change from one range to the next with the verdict"""
    labs = [range_label(i) for i in range(len(SPLITS))]
    out = ["| family | trained at | seeds | bits per byte | " + " | ".join(labs) + " |", "|" + "---|" * (4 + len(labs))]
    if summary:
        for s in summary:
            ls = " | ".join(f"{s['ranges'][x]['mean']:.4f} ± {s['ranges'][x]['std']:.4f}" if x in s["ranges"] else "–"
                            for x in labs)
            out.append(f"| {LABELS[s['family']]} | {s['context']} | {s['bits_per_byte']['n']} | "
                       f"{s['bits_per_byte']['mean']:.4f} ± {s['bits_per_byte']['std']:.4f} | {ls} |")
        out.append("")
        names = list(summary[0]["changes"])
        out += ["| family | trained at | seeds | " + " | ".join(names) + " |", "|" + "---|" * (3 + len(names))]
        for s in summary:
            cs = " | ".join(f"{s['changes'][x]['mean']:+.4f} ± {s['changes'][x]['std']:.4f} ({s['changes'][x]['verdict']})"
                            if x in s["changes"] else "–" for x in names)
            out.append(f"| {LABELS[s['family']]} | {s['context']} | {s['bits_per_byte']['n']} | {cs} |")
        gaps = gaps_to_mamba(summary)
        if gaps:
            out += ["", "The mean loss minus Mamba's at the same training length, per range of positions (means over"
                    " seeds; the books' content at a position is the same for every model, so it cancels here: the"
                    " paper's claim is that this falls along the sequence for the TTT layers):", "",
                    "| family | trained at | " + " | ".join(labs) + " |", "|" + "---|" * (2 + len(labs))]
            for g in gaps:
                out.append(f"| {LABELS[g['family']]} | {g['context']} | " +
                           " | ".join(f"{g['gap'][x]:+.4f}" if x in g["gap"] else "–" for x in labs) + " |")
    return "\n".join(out)


def gaps_to_mamba(summary):
    """per family other than Mamba and training length: its mean loss per range of positions
    minus Mamba's at the same training length (both means over their seeds)"""
    mamba = {s["context"]: s for s in summary if s["family"] == "mamba"}
    out = []
    for s in summary:
        m = mamba.get(s["context"])
        if s["family"] == "mamba" or m is None:
            continue
        out.append({"family": s["family"], "context": s["context"],
                    "gap": {x: v["mean"] - m["ranges"][x]["mean"] for x, v in s["ranges"].items() if x in m["ranges"]}})
    return out


def chart(a, groups, path):
    """loss by position, a panel per training length: per family the mean over seeds and the
    min-max band; a dotted line at the training length"""
    from collect import plt
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), squeeze=False)
    for ax, ctx in zip(axes[0], (a.short, a.long)):
        for f in a.families:
            runs = [b for (g, c), bs in groups.items() if g == f and c == ctx for b in bs]
            if not runs:
                continue
            xs = [math.sqrt(s * e) for s, e, _, _ in runs[0]]
            ys = [[b[i][2] for b in runs] for i in range(len(xs))]
            ax.plot(xs, [statistics.mean(y) for y in ys], marker=".",
                    label=f"{LABELS[f]} ({len(runs)} seed{'s' if len(runs) > 1 else ''})")
            if len(runs) > 1:
                ax.fill_between(xs, [min(y) for y in ys], [max(y) for y in ys], alpha=0.2)
        ax.axvline(ctx, color="grey", linestyle=":", linewidth=1)
        ax.set_xscale("log")
        ax.set_xlabel("token position")
        ax.set_ylabel("mean loss (nats per token), three books")
        ax.set_title(f"trained at context {ctx}, evaluated at {a.eval_context}")
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def cmd_collect(a):
    jpath = os.path.join(a.results, "metrics.json")
    old = {m["key"]: m for m in json.load(open(jpath)).get("models", [])} if os.path.exists(jpath) else {}
    plan_path = os.path.join(a.results, "plan.json")
    plan = json.load(open(plan_path)) if os.path.exists(plan_path) else None
    rows, curves, groups = [], {}, {}
    for f, c, s in planned(a):
        row, curve, buckets = run_row(a, f, c, s, old)
        if row is None:
            continue
        rows.append(row)
        if curve:
            curves[row["key"]] = curve
        if buckets:
            row["buckets"] = buckets
            groups.setdefault((f, c), []).append(buckets)
    summary = []
    for f in a.families:
        for c in (a.short, a.long):
            rs = [r for r in rows if r["family"] == f and r["context"] == c and "bits_per_byte" in r]
            if not rs:
                continue
            ranges = {x[5:]: spread([r[x] for r in rs]) for x in rs[0] if x.startswith("loss_")}
            ch = {}
            for n in changes(rs[0]):
                ch[n] = spread([changes(r)[n] for r in rs])
                ch[n]["verdict"] = verdict(ch[n])
            summary.append({"family": f, "context": c, "seeds": [r["seed"] for r in rs],
                            "bits_per_byte": spread([r["bits_per_byte"] for r in rs]), "ranges": ranges, "changes": ch})
    models = [dict(r, curve=curves.get(r["key"])) for r in rows]
    doc = {"study": "long_docs", "flops_formula": FLOPS_FORMULA, "tokens_per_parameter": TPP_FORMULA, "spread": SPREAD,
           "position_ranges": [range_label(i) for i in range(len(SPLITS))], "over_seeds": summary,
           "minus_mamba": gaps_to_mamba(summary), "models": models}
    md = table_md(rows, summary, a, plan)
    write_metrics(a.results, doc, models, md)
    if groups:
        chart(a, groups, os.path.join(a.results, "loss_by_position.png"))
    from collect import splice_study
    splice_study(a.results, "long_docs", over_seeds_md(summary) + "\n\n" + progress(rows, len(planned(a)), plan, "long_docs"))
    runs = {r["key"]: dict(curve=curves[r["key"]], batch=r["batch"], seq_len=r["seq_len"]) for r in rows
            if r["seed"] == 1 and r["key"] in curves}
    if runs:
        from collect import chart_curves
        chart_curves(list(runs), runs, a.results)
    print(md)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("plan", "collect"):
        p = sub.add_parser(name)
        p.add_argument("--results", required=True)
        p.add_argument("--runs", required=True)
        p.add_argument("--families", nargs="+", required=True)
        p.add_argument("--short", type=int, required=True)
        p.add_argument("--long", type=int, required=True)
        p.add_argument("--eval-context", type=int, required=True)
        p.add_argument("--steps", type=int, required=True)
        p.add_argument("--seeds-long", nargs="+", type=int, required=True)
        p.add_argument("--seeds-long-transformer", nargs="+", type=int, required=True)
        p.add_argument("--books", nargs="+", required=True)
        p.add_argument("--tokens-per-step", type=int, default=0)
        if name == "plan":
            p.add_argument("--data", required=True)
            p.add_argument("--eval-windows", type=int, default=0, help="windows evaluated per book (0: all)")
    a = ap.parse_args()
    cmd_plan(a) if a.cmd == "plan" else cmd_collect(a)


if __name__ == "__main__":
    main()
