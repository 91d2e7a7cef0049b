#!/usr/bin/env python3
"""lm_vocab.py: the helpers of experiments/lm_vocab.sh (the 4096-id BPE language-modelling
study): `best` prints a family's best stage-A learning rate (the lowest held-out bits per byte
in results/lm_vocab/eval_<key>_sotu.json); `plan` turns the timing probes of runs/lm_vocab/
timing/ into the expected machine time of the study (printed, and results/lm_vocab/plan.json);
`collect` writes metrics.csv, metrics.json, table.md and the charts from the run directories, or
from the committed results alone when the run directories are gone (--redraw).

A run's key is FAMILY-SIZE-lrLR-sSEED (lm_vocab.sh names them the same way).

Training FLOPs per token (Kaplan et al. 2020's 6N, forward and backward):
    6 * N_non-embedding  +  6 * width * vocab (the LM head)  [+ 6 * layers * L * width, the
    Transformer's attention scores and mixing at context L]
The inner loops' own work (TTT's hidden-state updates, Mamba's scan) is not counted."""
import argparse
import csv
import json
import math
import os
import statistics
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# collect.py (read_run, chart_curves; it loads matplotlib) is imported by `collect` only, so that
# `best` and `plan` start quickly

FLOPS_FORMULA = ("training FLOPs per token = 6 x non-embedding parameters + 6 x width x vocab (LM head)"
                 " + for the Transformer 6 x layers x context x width (attention); the inner loops' own"
                 " work (TTT updates, Mamba scan) not counted")
TPP_FORMULA = "tokens per parameter = training tokens / non-embedding parameters"
SPREAD = "mean ± sample standard deviation over the seeds (n-1 denominator); min-max alongside"
LABELS = {"ttt-linear": "TTT-Linear (M)", "ttt-mlp": "TTT-MLP (M)", "transformer": "Transformer", "mamba": "Mamba"}


def key(fam, size, lr, seed):
    return f"{fam}-{size}-lr{lr}-s{seed}"


def read_eval_json(results, k):
    p = os.path.join(results, f"eval_{k}_sotu.json")
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)


def best_lr(results, fam, lrs, need=True):
    """the stage-A learning rate of FAMILY with the lowest held-out bits per byte (ties: the
    first); before stage A is evaluated an error, or None when not NEED"""
    scores = []
    for lr in lrs:
        e = read_eval_json(results, key(fam, "small", lr, 1))
        if e is None or not math.isfinite(e.get("bits_per_byte", float("nan"))):
            if not need:
                return None
            sys.exit(f"lm_vocab.py: no finite bits per byte for {key(fam, 'small', lr, 1)} in {results}: "
                     "stage A is not finished")
        scores.append((e["bits_per_byte"], lr))
    return min(scores, key=lambda s: s[0])[1]


def hms(s):
    s = int(round(s))
    return f"{s // 3600} h {s % 3600 // 60:02d} min" if s >= 3600 else f"{s // 60} min {s % 60:02d} s"


def token_count(path):
    """the number of tokens of a token file (its header: magic, version, width, count)"""
    with open(path, "rb") as f:
        head = f.read(24)
    return struct.unpack_from("<Q", head, 16)[0]


def probe_times(runs, name, tokens_per_step):
    """(seconds per training step, evaluation tokens/s) of the probe runs/timing/NAME (here NAME
    is FAMILY-SIZE): the median logged step after the first, and its short evaluation"""
    d = os.path.join(runs, "timing", name)
    tps = []
    for line in open(os.path.join(d, "metrics.jsonl")):
        r = json.loads(line)
        if r.get("tokens_per_s"):
            tps.append(r["tokens_per_s"])
    tps = tps[1:] or tps
    ev = open(os.path.join(d, "eval.txt")).read()
    eval_tps = float(ev.split(" tokens/s")[0].split()[-1])
    return tokens_per_step / statistics.median(tps), eval_tps


def planned_runs(a):
    """every run of the study as (stage, family, size, lr, seed); the learning rate of B and C
    is None until stage A is evaluated (the time does not depend on it)"""
    best = {f: best_lr(a.results, f, a.lrs, need=False) for f in a.families}
    out = [("A", f, "small", lr, 1) for lr in a.lrs for f in a.families]
    out += [("B", f, "small", best[f], s) for f in a.families for s in a.seeds]
    out += [("C", f, "large", best[f], 1) for f in a.families]
    return out


def cmd_plan(a):
    tok = a.seq_len * a.batch
    eval_tokens = token_count(a.eval_data)
    if a.eval_windows:  # at most that many windows (0: all)
        eval_tokens = min(eval_tokens, a.eval_windows * a.seq_len)
    t = {(f, z): probe_times(a.runs, f"{f}-{z}", tok) for f in a.families for z in ("small", "large")}
    total = left = 0.0
    per = []
    for stage, f, z, lr, seed in planned_runs(a):
        step_s, eval_tps = t[(f, z)]
        steps = a.steps_small if z == "small" else a.steps_large
        s = steps * step_s + eval_tokens / eval_tps
        total += s
        done = lr is not None and os.path.exists(os.path.join(a.results, f"eval_{key(f, z, lr, seed)}_sotu.json"))
        left += 0 if done else s
        per.append({"stage": stage, "family": f, "size": z, "lr": lr, "seed": seed, "expected_s": round(s, 1)})
    print("seconds per step and evaluation tokens/s of the probes:")
    for (f, z), (step_s, eval_tps) in t.items():
        print(f"  {f:12s} {z:6s} {step_s:7.2f} s/step  {eval_tps:8.0f} eval tokens/s")
    print(f"expected machine time of the whole study: {hms(total)} ({len(per)} runs; "
          f"{hms(left)} for the runs not yet evaluated)", flush=True)
    path = os.path.join(a.results, "plan.json")
    doc = {"study": "lm_vocab", "seq_len": a.seq_len, "batch": a.batch, "steps_small": a.steps_small,
           "steps_large": a.steps_large, "eval_tokens": eval_tokens, "expected_s": round(total, 1),
           "expected": hms(total),
           "per_step_s": {f"{f}-{z}": round(v[0], 3) for (f, z), v in t.items()},
           "eval_tokens_per_s": {f"{f}-{z}": round(v[1], 1) for (f, z), v in t.items()}, "runs": per}
    old = json.load(open(path)) if os.path.exists(path) else {}
    # a resumed sitting keeps the first estimate of the same plan
    if {x: old.get(x) for x in ("seq_len", "batch", "steps_small", "steps_large")} != \
            {x: doc[x] for x in ("seq_len", "batch", "steps_small", "steps_large")}:
        with open(path + ".tmp", "w") as f:
            json.dump(doc, f, indent=1)
        os.replace(path + ".tmp", path)


def flops_per_token(row):
    f = 6 * row["non_embedding_parameters"] + 6 * row["width"] * row["vocab"]
    if row["family"] == "transformer":
        f += 6 * row["layers"] * row["seq_len"] * row["attn_width"]
    return f


def run_numbers(runs, k, row, old):
    """ROW (key, family, ...) completed with the training numbers of run K: from its run
    directory under RUNS, else from OLD (the committed metrics.json rows by key, when the run
    directory is gone); with the tokens per parameter and the FLOPs per token. (row, curve), or
    (None, None) when the run is in neither. Shared with long_docs.py."""
    from collect import read_run
    r = read_run(os.path.join(runs, k))
    if r is not None:
        cfg = json.load(open(os.path.join(runs, k, "model", "config.json")))
        width = cfg["hidden_size"]
        heads = cfg.get("num_attention_heads", 0)
        row.update(non_embedding_parameters=r["non_embedding_parameters"],
                   embedding_parameters=r["parameters"] - r["non_embedding_parameters"],
                   layers=cfg["num_hidden_layers"], width=width, attn_width=heads * cfg.get("head_dim", width // max(1, heads)),
                   vocab=cfg["vocab_size"], seq_len=r["seq_len"], batch=r["batch"], steps=r["steps"], tokens=r["tokens"],
                   train_loss_final=r["train_loss_final"], train_tokens_per_s=r["train_tokens_per_s"], wall_s=r["wall_s"],
                   windows=r["windows"])
        row.setdefault("lr", r["lr"])
        curve = r["curve"]
    elif k in old:  # the committed numbers, when the run directory is gone
        row.update({x: y for x, y in old[k].items() if x not in row and x != "curve"})
        curve = old[k].get("curve")
    else:
        return None, None
    row["tokens_per_parameter"] = row["tokens"] / row["non_embedding_parameters"]
    row["flops_per_token"] = flops_per_token(row)
    return row, curve


def run_row(a, stage, fam, size, lr, seed, old):
    k = key(fam, size, lr, seed)
    row, curve = run_numbers(a.runs, k, {"key": k, "stage": stage, "family": fam, "size": size, "lr": float(lr),
                                         "seed": seed}, old)
    if row is None:
        return None, None
    e = read_eval_json(a.results, k)
    if e:
        row.update(eval_loss=e["mean_loss"], perplexity=e["perplexity"], bits_per_byte=e["bits_per_byte"],
                   eval_targets=e["targets"], eval_windows=e["windows"])
    return row, curve


def spread(xs):
    return {"mean": statistics.mean(xs), "std": statistics.stdev(xs) if len(xs) > 1 else 0.0,
            "min": min(xs), "max": max(xs), "n": len(xs)}


def write_metrics(results, doc, rows, md):
    """a study's metrics.json (DOC, atomically), metrics.csv (ROWS, every column but the curves
    and position buckets) and table.md (MD). Shared with long_docs.py and ladder.py."""
    jpath = os.path.join(results, "metrics.json")
    with open(jpath + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(jpath + ".tmp", jpath)
    cols = []
    for m in rows:
        cols += [c for c in m if c not in cols and c not in ("curve", "buckets")]
    with open(os.path.join(results, "metrics.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    with open(os.path.join(results, "table.md"), "w") as f:
        f.write(md + "\n")


def progress(rows, planned, plan, study):
    """the line under a study's table in docs/results.md: runs evaluated, training time so far"""
    wall = sum(r.get("wall_s") or 0 for r in rows)
    return (f"{sum('bits_per_byte' in r for r in rows)} of {planned} runs evaluated; training wall time so far "
            f"{hms(wall)}" + (f" (expected for the whole study: {plan['expected']})" if plan else "") +
            f". Per-run numbers: results/{study}/table.md.")


def fmt_int(x):
    return f"{x:,}" if isinstance(x, int) else str(x)


def table_md(rows, summary, plan):
    windows = "/".join(sorted({str(r["eval_windows"]) for r in rows if "eval_windows" in r})) or "–"
    ctx = "/".join(sorted({str(r["seq_len"]) for r in rows})) or "–"
    out = ["# lm_vocab: the 4096-id BPE vocabulary, four families at two sizes", "",
           "Generated by experiments/lm_vocab.py from results/lm_vocab/ (do not edit).", "",
           f"* {TPP_FORMULA}.", f"* {FLOPS_FORMULA}.",
           f"* held-out: the eval split (State of the Union 2000-2021), {windows} windows of {ctx} (context as"
           " trained), BOS targets masked; bits per byte over the text's bytes (ttt eval --bits-per-byte).", ""]
    if plan:
        wall = sum(r.get("wall_s") or 0 for r in rows)
        out += [f"Expected machine time (plan.json, from timing probes before stage A): {plan['expected']}; "
                f"training wall time of the runs so far: {hms(wall)}.", ""]
    head = ("| run | family | size | non-embedding params | embedding params | lr | seed | tokens | tokens/param |"
            " FLOPs/token | held-out loss | perplexity | bits per byte |")
    names = {"A": "Stage A: learning-rate sweep, small size, seed 1",
             "B": "Stage B: the best stage-A learning rate, small size, seeds 1-3",
             "C": "Stage C: the best stage-A learning rate, large size, seed 1"}
    for st in "ABC":
        out += [f"## {names[st]}", "", head, "|" + "---|" * 13]
        for r in rows:
            if st not in r["stages"]:
                continue
            ev = (f"{r['eval_loss']:.4f} | {r['perplexity']:.2f} | {r['bits_per_byte']:.4f}" if "bits_per_byte" in r
                  else "– | – | –")
            out.append(f"| {r['key']} | {LABELS.get(r['family'], r['family'])} | {r['size']} | "
                       f"{fmt_int(r['non_embedding_parameters'])} | {fmt_int(r['embedding_parameters'])} | {r['lr']:g} | "
                       f"{r['seed']} | {fmt_int(r['tokens'])} | {r['tokens_per_parameter']:.3f} | "
                       f"{r['flops_per_token'] / 1e6:.1f}M | {ev} |")
        out.append("")
        if st == "B" and summary:
            out += [f"Over the seeds ({SPREAD}):", "",
                    "| family | lr | seeds | held-out loss | perplexity | bits per byte | bits per byte min-max |",
                    "|---|---|---|---|---|---|---|"]
            for s in summary:
                b = s["bits_per_byte"]
                out.append(f"| {LABELS.get(s['family'], s['family'])} | {s['lr']:g} | {b['n']} | "
                           f"{s['eval_loss']['mean']:.4f} ± {s['eval_loss']['std']:.4f} | "
                           f"{s['perplexity']['mean']:.2f} ± {s['perplexity']['std']:.2f} | "
                           f"{b['mean']:.4f} ± {b['std']:.4f} | {b['min']:.4f}-{b['max']:.4f} |")
            out.append("")
    return "\n".join(out)


def summary_md(rows, summary, a, plan):
    """the study's table for docs/results.md: per family the stage-A sweep, the three seeds of
    the best learning rate and the large size (the run tables are in table.md)"""
    by = {r["key"]: r for r in rows}
    bpb = lambda k: f"{by[k]['bits_per_byte']:.4f}" if k in by and "bits_per_byte" in by[k] else "–"  # noqa: E731
    out = ["| family | non-embedding params small / large | bits per byte, lr " + " / ".join(a.lrs) +
           " (seed 1) | best lr | small, seeds 1-3: bits per byte | min-max | large, seed 1 | tokens/param small / large |"
           " FLOPs/token small / large |", "|---|---|---|---|---|---|---|---|---|"]
    sm = {s["family"]: s for s in summary}
    for f in a.families:
        best = best_lr(a.results, f, a.lrs, need=False)
        sw = " / ".join(bpb(key(f, "small", lr, 1)) for lr in a.lrs)
        small = by.get(key(f, "small", best, 1)) if best else None
        large = by.get(key(f, "large", best, 1)) if best else None
        s = sm.get(f)
        seeds = (f"{s['bits_per_byte']['mean']:.4f} ± {s['bits_per_byte']['std']:.4f} (n {s['bits_per_byte']['n']})"
                 if s else "–")
        mm = f"{s['bits_per_byte']['min']:.4f}-{s['bits_per_byte']['max']:.4f}" if s else "–"
        # DONE: only for an evaluated run (the tokens per parameter of one in training are partial)
        two = lambda fmt, done=False: " / ".join(fmt(r) if r and (not done or "bits_per_byte" in r) else "–"  # noqa: E731
                                                  for r in (small, large))
        out.append(f"| {LABELS[f]} | {two(lambda r: format(r['non_embedding_parameters'], ','))} | {sw} | "
                   f"{best or '–'} | {seeds} | {mm} | {bpb(key(f, 'large', best, 1)) if best else '–'} | "
                   f"{two(lambda r: format(r['tokens_per_parameter'], '.2f'), done=True)} | "
                   f"{two(lambda r: format(r['flops_per_token'] / 1e6, '.1f') + 'M')} |")
    out += ["", progress(rows, len(planned_runs(a)), plan, "lm_vocab")]
    return "\n".join(out)


def chart(rows, summary, a, path):
    from collect import plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for f in a.families:
        pts = sorted((r["lr"], r["bits_per_byte"]) for r in rows if r["family"] == f and "A" in r["stages"]
                     and "bits_per_byte" in r)
        if pts:
            ax1.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=LABELS[f])
    ax1.set_xscale("log")
    ax1.set_xlabel("peak learning rate")
    ax1.set_ylabel("held-out bits per byte")
    ax1.set_title("stage A: small size, seed 1")
    ax1.grid(alpha=0.3)
    ax1.legend()
    xs = range(len(a.families))
    small = {s["family"]: s["bits_per_byte"] for s in summary}
    large = {r["family"]: r["bits_per_byte"] for r in rows if "C" in r["stages"] and "bits_per_byte" in r}
    ys = [small[f]["mean"] if f in small else math.nan for f in a.families]
    err = [[small[f]["mean"] - small[f]["min"] if f in small else 0 for f in a.families],
           [small[f]["max"] - small[f]["mean"] if f in small else 0 for f in a.families]]
    size = {z: statistics.mean([r["non_embedding_parameters"] for r in rows if r["size"] == z] or [0]) / 1e6
            for z in ("small", "large")}
    ax2.bar([x - 0.2 for x in xs], ys, 0.4, yerr=err, capsize=4,
            label=f"small (~{size['small']:.2g}M non-embedding), mean, min-max of {len(a.seeds) + 1} seeds")
    ax2.bar([x + 0.2 for x in xs], [large.get(f, math.nan) for f in a.families], 0.4,
            label=f"large (~{size['large']:.2g}M), seed 1")
    ax2.set_xticks(list(xs))
    ax2.set_xticklabels([LABELS[f] for f in a.families])
    ax2.set_ylabel("held-out bits per byte")
    ax2.set_title("best learning rate per family")
    vals = [v for v in ys + list(large.values()) if math.isfinite(v)]
    if vals:
        ax2.set_ylim(min(vals) * 0.95, max(vals) * 1.03)
    ax2.grid(alpha=0.3, axis="y")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def cmd_collect(a):
    jpath = os.path.join(a.results, "metrics.json")
    old = {}
    if os.path.exists(jpath):
        old = {m["key"]: m for m in json.load(open(jpath)).get("models", [])}
    plan_path = os.path.join(a.results, "plan.json")
    plan = json.load(open(plan_path)) if os.path.exists(plan_path) else None
    want = {}  # key -> (stage list, family, size, lr, seed)
    for f in a.families:
        for lr in a.lrs:
            want[key(f, "small", lr, 1)] = [["A"], f, "small", lr, 1]
        best = best_lr(a.results, f, a.lrs)
        want[key(f, "small", best, 1)][0].append("B")
        for s in a.seeds:
            want[key(f, "small", best, s)] = [["B"], f, "small", best, s]
        want[key(f, "large", best, 1)] = [["C"], f, "large", best, 1]
    rows, curves = [], {}
    for k, (stages, f, z, lr, s) in want.items():
        row, curve = run_row(a, stages[0], f, z, lr, s, old)
        if row is None:
            continue
        row["stage"] = "+".join(stages)
        row["stages"] = stages
        rows.append(row)
        if curve:
            curves[k] = curve
    summary = []
    for f in a.families:
        rs = [r for r in rows if r["family"] == f and "B" in r["stages"] and "bits_per_byte" in r]
        if rs:
            summary.append({"family": f, "lr": rs[0]["lr"], "seeds": [r["seed"] for r in rs],
                            **{m: spread([r[m] for r in rs]) for m in ("eval_loss", "perplexity", "bits_per_byte")}})
    models = [dict(r, curve=curves.get(r["key"])) for r in rows]
    for m in models:
        del m["stages"]
    doc = {"study": "lm_vocab", "flops_formula": FLOPS_FORMULA, "tokens_per_parameter": TPP_FORMULA,
           "spread": SPREAD, "stage_b_over_seeds": summary, "models": models}
    md = table_md(rows, summary, plan)
    write_metrics(a.results, doc, models, md)
    chart(rows, summary, a, os.path.join(a.results, "bits_per_byte.png"))
    from collect import splice_study
    splice_study(a.results, "lm_vocab", summary_md(rows, summary, a, plan))
    # the training curves of the seed-1 runs at the best learning rate, both sizes
    best = [r["key"] for r in rows if ("B" in r["stages"] and r["seed"] == 1) or "C" in r["stages"]]
    runs = {r["key"]: dict(curve=curves[r["key"]], batch=r["batch"], seq_len=r["seq_len"]) for r in rows
            if r["key"] in best and r["key"] in curves}
    if runs:
        from collect import chart_curves
        chart_curves(list(runs), runs, a.results)
    print(md)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("best")
    b.add_argument("--results", required=True)
    b.add_argument("--family", required=True)
    b.add_argument("--lrs", nargs="+", required=True)
    for name in ("plan", "collect"):
        p = sub.add_parser(name)
        p.add_argument("--results", required=True)
        p.add_argument("--runs", required=True)
        p.add_argument("--seq-len", type=int, required=True)
        p.add_argument("--batch", type=int, required=True)
        p.add_argument("--steps-small", type=int, required=True)
        p.add_argument("--steps-large", type=int, required=True)
        p.add_argument("--families", nargs="+", required=True)
        p.add_argument("--lrs", nargs="+", required=True)
        p.add_argument("--seeds", nargs="+", type=int, required=True)
        if name == "plan":
            p.add_argument("--eval-data", required=True)
            p.add_argument("--eval-windows", type=int, default=0, help="windows evaluated (0: all)")
    a = ap.parse_args()
    if a.cmd == "best":
        print(best_lr(a.results, a.family, a.lrs))
    elif a.cmd == "plan":
        cmd_plan(a)
    else:
        cmd_collect(a)


if __name__ == "__main__":
    main()
