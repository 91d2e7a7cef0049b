#!/usr/bin/python3
"""study-mqar.py: the MQAR study (issue 20): associative recall (Zoology's multi-query
associative recall, `ttt synth mqar`) for the four families at matched widths, a resumable grid.

  scripts/study-mqar.py [--grid quick|full] [--families F,..] [--widths W,..] [--pairs K,..]
                        [--seq-len L,..] [--lrs X,..] [--steps N] [--batch B] [--dry-run]
                        [--max-minutes M] [--commit-every N]
  scripts/study-mqar.py --redraw        only summary.csv, table.md, mqar.png (and the table in
                                        docs/results.md) from the committed results/mqar/runs/*.json

Grid: family (the *-tiny presets: llama-tiny, ttt-linear-tiny, ttt-mlp-tiny, mamba-tiny) with
--layers 2 --width W; the attention and TTT families get heads = W / head dim (32), so the head
dim is the same in every model, SwiGLU 11/4 W (176 at 64, the presets'), the Transformer as
many key/value heads as heads; Mamba keeps its preset's expand 2, d_state 16, conv 4. Vocabulary
8192; one token file of steps x batch examples per (K, L) (seed 1; every example seen once), a
held-out file of 1000 examples of seed 2; one learning rate sweep per architecture, the table
keeps the best. Each finished run writes results/mqar/runs/<key>.json atomically (config,
parameters, the bytes of one sequence's state at L tokens from `ttt info --state-size`, i.e. the
recurrent state, or the KV cache for the Transformer, training and evaluation seconds,
held-out accuracy and loss of `ttt eval --accuracy --json`); a run whose JSON exists is skipped,
an interrupted run starts again. Work directories: build/mqar/ (not committed).

Before the runs it measures the seconds per step of each (family, width, L, batch) still to run
(a few steps, cached in build/mqar/timing.json), prints the expected time and writes it with
the plan into results/mqar/plan-<grid>.json; --dry-run stops there.
"""
import argparse
import csv
import datetime
import glob
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "results", "mqar")
RUNS = os.path.join(RESULTS, "runs")
WORK = os.path.join(ROOT, "build", "mqar")
DOC = os.path.join(ROOT, "docs", "results.md")
BEGIN = "<!-- mqar-table: begin (written by scripts/study-mqar.py --redraw from results/mqar/; do not edit) -->"
END = "<!-- mqar-table: end -->"

FAMILIES = ["llama-tiny", "ttt-linear-tiny", "ttt-mlp-tiny", "mamba-tiny"]
LABEL = {"llama-tiny": "Transformer", "ttt-linear-tiny": "TTT-Linear", "ttt-mlp-tiny": "TTT-MLP",
         "mamba-tiny": "Mamba"}
COLOR = {"llama-tiny": "tab:blue", "ttt-linear-tiny": "tab:red", "ttt-mlp-tiny": "tab:orange",
         "mamba-tiny": "tab:green"}

VOCAB = 8192
LAYERS = 2
HEAD_DIM = 32
TEST_EXAMPLES = 1000
TRAIN_SEED, TEST_SEED, INIT_SEED = 1, 2, 1

# The grids, each with its budget (steps x batch, every example seen once). quick is the first
# slice of full (the same budget and a subset of its learning rates), so the full grid reuses
# its runs. short is the first grid run (L 256, 600 x 16): no model reached the phase change
# within it (best 0.12); a probe then showed a 2-layer width-64 Transformer and TTT-Linear pass it
# between 500 and 1250 steps of 32 at L 64 (docs/results.md), hence quick's budget.
GRIDS = {
    "quick": dict(widths=[64, 128], pairs=[4, 8, 16], seq_len=[64], steps=2000, batch=32,
                  lrs={f: ["3e-3", "1e-2"] for f in FAMILIES}),
    "full": dict(widths=[64, 128, 256], pairs=[4, 8, 16], seq_len=[64], steps=2000, batch=32,
                 lrs={f: ["1e-3", "3e-3", "1e-2"] for f in FAMILIES}),
    "short": dict(widths=[64, 128], pairs=[4, 16, 64], seq_len=[256], steps=600, batch=16,
                  lrs={f: ["3e-3", "1e-2"] for f in FAMILIES}),
}


def fmt_lr(x):
    """3e-3 style, the same for '0.003', '3e-3' and 0.003."""
    m, e = f"{float(x):.0e}".split("e")
    return f"{m}e{int(e)}"


def run_key(fam, w, L, k, lr, steps, batch):
    return f"{fam}-w{w}-L{L}-k{k}-lr{fmt_lr(lr)}-{steps}x{batch}"


def model_flags(fam, w):
    flags = ["--layers", str(LAYERS), "--width", str(w)]
    if fam != "mamba-tiny":
        h = max(1, w // HEAD_DIM)
        flags += ["--heads", str(h), "--intermediate", str(w * 11 // 4)]
        if fam == "llama-tiny":
            flags += ["--kv-heads", str(h)]
    return flags


def ttt_bin(a):
    return a.ttt


def run_once(cmd):
    """Runs cmd; returns (returncode, stdout, stderr, CPU seconds of the child and its threads),
    the CPU time from wait4, so that concurrent runs (--jobs) each count their own."""
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
        pr = subprocess.Popen(cmd, stdout=fo, stderr=fe)
        _, status, ru = os.wait4(pr.pid, 0)
        pr.returncode = os.waitstatus_to_exitcode(status)
        fo.seek(0), fe.seek(0)
        return (pr.returncode, fo.read().decode(errors="replace"), fe.read().decode(errors="replace"),
                ru.ru_utime + ru.ru_stime)


def run_cmd(cmd, retry=True, cleanup=None):
    """Runs cmd; on failure waits and tries once more (build/ttt may be briefly missing or not
    executable while another engineer relinks it). Returns a CompletedProcess whose cpu_s is the
    CPU seconds of the tries."""
    cpu = 0.0
    for attempt in (0, 1):
        rc, out, err, c = run_once(cmd)
        cpu += c
        p = subprocess.CompletedProcess(cmd, rc, out, err)
        p.cpu_s = cpu
        if rc == 0 or not retry or attempt == 1:
            return p
        sys.stderr.write(f"study-mqar: {' '.join(cmd[:3])}... failed (rc {rc}): "
                         f"{(err or '').strip()[-300:]}; retrying in 10 s\n")
        time.sleep(10)
        if cleanup:
            cleanup()
    return p


def must(p, what):
    if p.returncode != 0:
        raise RuntimeError(f"{what} failed (rc {p.returncode}): {(p.stderr or p.stdout).strip()[-800:]}")
    return p


def write_json_atomic(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def data_file(a, k, L, n, seed):
    os.makedirs(os.path.join(WORK, "data"), exist_ok=True)
    path = os.path.join(WORK, "data", f"mqar-k{k}-L{L}-V{VOCAB}-n{n}-seed{seed}.tok")
    if not os.path.exists(path):
        must(run_cmd([ttt_bin(a), "synth", "mqar", "--pairs", str(k), "--seq-len", str(L), "--vocab",
                      str(VOCAB), "--examples", str(n), "--seed", str(seed), "--out", path]), "ttt synth mqar")
    return path


def train_cmd(a, fam, w, L, lr, steps, batch, data, rundir):
    return [ttt_bin(a), "train", "--preset", fam] + model_flags(fam, w) + [
        "--data", data, "--run", rundir, "--steps", str(steps), "--seq-len", str(L), "--batch", str(batch),
        "--lr", fmt_lr(lr), "--seed", str(TRAIN_SEED), "--init-seed", str(INIT_SEED), "--ckpt-every", "0",
        "--threads", str(a.threads), "--quiet"]


def eval_cmd(a, model, test, L, out_json):
    return [ttt_bin(a), "eval", "--model", model, "--data", test, "--context", str(L), "--accuracy",
            "--json", out_json, "--threads", str(a.threads)]


def timed(cmd, what, cleanup=None):
    """Runs cmd (retried once); returns (wall seconds, CPU seconds of the child). The machine is
    shared: the CPU seconds divided by the threads are the time on quiet cores."""
    t0 = time.monotonic()
    p = must(run_cmd(cmd, cleanup=cleanup), what)
    return time.monotonic() - t0, p.cpu_s


def timed_train(a, cmd, rundir):
    def clean():
        shutil.rmtree(rundir, ignore_errors=True)
    clean()
    return timed(cmd, "ttt train", clean)


# ---------------------------------------------------------------------------------------------
# timing: seconds per step of each (family, width, L, batch), a few steps of each

def measure(a, fam, w, L, batch):
    """Fixed seconds (start, load, save) and seconds per step of training, and seconds of one
    held-out evaluation, from runs of 2 and 12 steps; each the wall time or, where the machine
    was busy with other work, the CPU seconds divided by the threads (the lower)."""
    d = os.path.join(WORK, "timing")
    os.makedirs(d, exist_ok=True)
    k = max(1, min(16, L // 4))
    train = data_file(a, k, L, 10 * batch, TRAIN_SEED)
    test = data_file(a, k, L, TEST_EXAMPLES, TEST_SEED)
    t = {}
    for n in (2, 12):
        rundir = os.path.join(d, f"{fam}-w{w}-L{L}-b{batch}-{n}")
        wall, cpu = timed_train(a, train_cmd(a, fam, w, L, "3e-3", n, batch, train, rundir), rundir)
        t[n] = min(wall, cpu / a.threads)
    wall, cpu = timed(eval_cmd(a, os.path.join(rundir, "model"), test, L, os.path.join(d, "eval.json")), "ttt eval")
    ev = min(wall, cpu / a.threads)
    per_step = (t[12] - t[2]) / 10
    if per_step <= 0 or t[2] < 2 * per_step:  # disturbed (a shared machine): no fixed part
        per_step = t[12] / 12
    return {"per_step_s": per_step, "fixed_s": max(0.0, t[2] - 2 * per_step), "eval_s": ev}


def timings(a, combos):
    path = os.path.join(WORK, "timing.json")
    cache = {}
    if os.path.exists(path):
        with open(path) as f:
            cache = json.load(f)
    for fam, w, L, batch in combos:
        key = f"{fam}-w{w}-L{L}-b{batch}-t{a.threads}"
        if key not in cache:
            print(f"measuring {fam} width {w} L {L} batch {batch} ...", flush=True)
            m = [measure(a, fam, w, L, batch) for _ in range(2)]  # the quicker of two (a shared machine)
            cache[key] = {x: min(mm[x] for mm in m) for x in m[0]}
            os.makedirs(WORK, exist_ok=True)
            write_json_atomic(path, cache)
    out = {c: cache[f"{c[0]}-w{c[1]}-L{c[2]}-b{c[3]}-t{a.threads}"] for c in combos}
    # where runs of the same family, width, L and batch have finished, their median time is
    # the better estimate (the probes are a few steps and the machine is shared)
    done = {}
    for r in load_runs():
        c = (r["family"], r["width"], r["seq_len"], r["batch"])
        if c in out and r["threads"] == a.threads:
            done.setdefault(c, []).append(r)
    for c, rs in done.items():
        med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
        out[c] = {"per_step_s": med([r["train_seconds"] / r["steps"] for r in rs]), "fixed_s": 0.0,
                  "eval_s": med([r["eval_seconds"] for r in rs]), "from_runs": len(rs)}
    return out


def expected_s(tm, steps):
    return tm["fixed_s"] + steps * tm["per_step_s"] + tm["eval_s"]


def hms(s):
    s = int(round(s))
    return f"{s // 3600} h {s % 3600 // 60:02d} min" if s >= 3600 else f"{s // 60} min {s % 60:02d} s"


# ---------------------------------------------------------------------------------------------
# one run

def state_bytes(a, model, L):
    p = must(run_cmd([ttt_bin(a), "info", "--model", model, "--state-size", str(L)]), "ttt info --state-size")
    m = re.search(r"context\s+%d:\s+(\d+) bytes" % L, p.stdout)
    if not m:
        raise RuntimeError("cannot read the state size from: " + p.stdout)
    return int(m.group(1))


def parameters(a, model):
    p = must(run_cmd([ttt_bin(a), "info", "--model", model]), "ttt info")
    m = re.search(r"^parameters:\s+(\d+)", p.stdout, re.M)
    return int(m.group(1))


def last_train_loss(rundir):
    loss = None
    try:
        with open(os.path.join(rundir, "metrics.jsonl")) as f:
            for line in f:
                try:
                    r = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if "loss" in r:
                    loss = r["loss"]
    except OSError:
        pass
    return loss


def do_run(a, r):
    fam, w, L, k, lr = r["family"], r["width"], r["seq_len"], r["pairs"], r["lr"]
    n_train = a.steps * a.batch
    train = data_file(a, k, L, n_train, TRAIN_SEED)
    test = data_file(a, k, L, TEST_EXAMPLES, TEST_SEED)
    os.makedirs(os.path.join(WORK, "runs"), exist_ok=True)
    rundir = os.path.join(WORK, "runs", r["key"])
    cmd = train_cmd(a, fam, w, L, lr, a.steps, a.batch, train, rundir)
    train_s, train_cpu = timed_train(a, cmd, rundir)
    model = os.path.join(rundir, "model")
    ev_json = os.path.join(rundir, "eval.json")
    ecmd = eval_cmd(a, model, test, L, ev_json)
    eval_s, eval_cpu = timed(ecmd, "ttt eval")
    with open(ev_json) as f:
        ev = json.load(f)
    with open(os.path.join(model, "config.json")) as f:
        cfg = json.load(f)
    rel = lambda c: [os.path.relpath(x, ROOT) if os.path.isabs(x) and x.startswith(ROOT) else x for x in c]  # noqa: E731
    out = {
        "key": r["key"], "family": fam, "label": LABEL[fam], "preset": fam, "width": w, "layers": LAYERS,
        "heads": cfg.get("num_attention_heads"), "kv_heads": cfg.get("num_key_value_heads"),
        "intermediate": cfg.get("intermediate_size"), "head_dim": HEAD_DIM if fam != "mamba-tiny" else None,
        "pairs": k, "seq_len": L, "vocab": VOCAB, "lr": fmt_lr(lr), "steps": a.steps, "batch": a.batch,
        "train_examples": n_train, "test_examples": TEST_EXAMPLES, "train_seed": TRAIN_SEED,
        "test_seed": TEST_SEED, "init_seed": INIT_SEED, "threads": a.threads,
        "parameters": parameters(a, model), "state_bytes": state_bytes(a, model, L),
        "state_kind": "KV cache at L tokens" if fam == "llama-tiny" else "recurrent state",
        "train_seconds": round(train_s, 2), "eval_seconds": round(eval_s, 2),
        "train_cpu_seconds": round(train_cpu, 2), "eval_cpu_seconds": round(eval_cpu, 2),
        "final_train_loss": last_train_loss(rundir),
        "accuracy": ev["accuracy"], "correct": ev["correct"], "targets": ev["targets"],
        "test_loss": ev["mean_loss"],
        "commands": [" ".join(rel(cmd)), " ".join(rel(ecmd))],
        "finished": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True).stdout.strip(),
    }
    os.makedirs(RUNS, exist_ok=True)
    write_json_atomic(os.path.join(RUNS, r["key"] + ".json"), out)
    return out


# ---------------------------------------------------------------------------------------------
# outputs, from the JSON files alone

def load_runs():
    runs = []
    for p in sorted(glob.glob(os.path.join(RUNS, "*.json"))):
        with open(p) as f:
            runs.append(json.load(f))
    return runs


def load_plans():
    plans = {}
    for p in sorted(glob.glob(os.path.join(RESULTS, "plan-*.json"))):
        with open(p) as f:
            j = json.load(f)
        plans[j["grid"]] = j
    return plans


def fam_order(f):
    return FAMILIES.index(f) if f in FAMILIES else len(FAMILIES)


def best_cells(runs):
    """(family, width, L, steps, batch, K) -> the run with the best accuracy over the learning
    rates (ties: the lower test loss), with how many learning rates were tried."""
    cells = {}
    for r in runs:
        c = (r["family"], r["width"], r["seq_len"], r["steps"], r["batch"], r["pairs"])
        cells.setdefault(c, []).append(r)
    best = {}
    for c, rs in cells.items():
        b = max(rs, key=lambda r: (r["accuracy"], -r["test_loss"]))
        best[c] = (b, sorted(fmt_lr(r["lr"]) for r in rs))
    return best


def write_summary(runs):
    cols = ["key", "family", "width", "layers", "heads", "pairs", "seq_len", "vocab", "lr", "steps", "batch",
            "parameters", "state_bytes", "train_seconds", "eval_seconds", "train_cpu_seconds", "eval_cpu_seconds",
            "final_train_loss", "test_loss",
            "accuracy", "correct", "targets"]
    runs = sorted(runs, key=lambda r: (r["seq_len"], r["steps"] * r["batch"], fam_order(r["family"]), r["width"],
                                       r["pairs"], float(r["lr"])))
    path = os.path.join(RESULTS, "summary.csv")
    with open(path, "w", newline="") as f:
        wr = csv.writer(f, lineterminator="\n")
        wr.writerow(cols)
        for r in runs:
            wr.writerow([r[c] for c in cols])
    return path


def groups(runs):
    """The (L, steps, batch) budgets present, the largest budget (steps x batch) first, then the
    one with the most runs."""
    g = {}
    for r in runs:
        g.setdefault((r["seq_len"], r["steps"], r["batch"]), []).append(r)
    return sorted(g.items(), key=lambda kv: (-kv[0][1] * kv[0][2], -len(kv[1]), kv[0]))


def table_md(runs):
    if not runs:
        return "No MQAR run has finished yet.\n"
    best = best_cells(runs)
    plans = load_plans()
    lines = []
    wall = sum(r["train_seconds"] + r["eval_seconds"] for r in runs)
    cpu = sum((r["train_cpu_seconds"] + r["eval_cpu_seconds"]) / r["threads"] for r in runs)
    status = (f"{len(runs)} runs finished: {hms(wall)} of training and evaluation by the clock, "
              f"{hms(cpu)} of CPU time per thread")
    for name in ("quick", "full", "short"):
        if name in plans:
            p = plans[name]
            keys = set(p["runs"])
            done = sum(1 for r in runs if r["key"] in keys)
            status += (f"; {name} grid: {done} of {len(keys)} runs done (expected {hms(p['expected_s'])}"
                       f" on {p.get('jobs', 1)} x {p['threads']} threads, measured {p['measured_on']})")
    lines.append(status + ".\n")
    for (L, steps, batch), rs in groups(runs):
        ks = sorted({r["pairs"] for r in rs})
        lines.append(f"\nL = {L}, vocabulary {VOCAB}, {steps} steps of {batch} sequences ({steps * batch} training "
                     f"examples, each once), {TEST_EXAMPLES} held-out examples of another seed. Each cell: the "
                     "held-out accuracy at the best learning rate tried (in brackets); guessing among the "
                     f"{VOCAB // 2} values gives {2 / VOCAB:.4f}. State: the bytes of one sequence's state at L "
                     "tokens (the KV cache for the Transformer), float32.\n\n")
        lines.append("| family | width | parameters | state bytes | " + " | ".join(f"K = {k}" for k in ks)
                     + " | learning rates tried |\n")
        lines.append("|---|---:|---:|---:|" + "---:|" * len(ks) + "---|\n")
        fw = sorted({(r["family"], r["width"]) for r in rs}, key=lambda t: (fam_order(t[0]), t[1]))
        for fam, w in fw:
            cells, tried, par, sb = [], set(), None, None
            for k in ks:
                c = best.get((fam, w, L, steps, batch, k))
                if c is None:
                    cells.append("—")
                    continue
                b, lrs = c
                tried.update(lrs)
                par, sb = b["parameters"], b["state_bytes"]
                cells.append(f"{b['accuracy']:.4f} ({b['lr']})")
            lines.append(f"| {LABEL.get(fam, fam)} | {w} | {par:,} | {sb:,} | " + " | ".join(cells) + " | "
                         + ", ".join(sorted(tried, key=float)) + " |\n")
    return "".join(lines)


def plot(runs, path):
    """Three panels from the largest group of runs (one L and budget), each point the best
    learning rate: accuracy against width (one line per family and K: the largest K solid, the
    smaller ones dashed and dotted), against K at the widest width, and against the bytes of one
    sequence's state (per family and K as in the first)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    if runs:
        (L, steps, batch), rs = groups(runs)[0]
        best = best_cells(rs)
        ks = sorted({r["pairs"] for r in rs})
        ws = sorted({r["width"] for r in rs})
        kmax, wmax = ks[-1], ws[-1]
        styles = ["-", "--", ":", "-.", (0, (1, 3))]
        style = {k: styles[min(i, len(styles) - 1)] for i, k in enumerate(reversed(ks))}
        fams = sorted({r["family"] for r in rs}, key=fam_order)
        for fam in fams:
            col = COLOR.get(fam)
            for k in ks:
                pts = sorted((w, b["accuracy"], b["state_bytes"]) for (f, w, LL, s, bb, kk), (b, _) in best.items()
                             if f == fam and kk == k)
                if pts:
                    lw = 2.0 if k == kmax else 1.2
                    axes[0].plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ls=style[k], lw=lw, color=col)
                    axes[2].plot([p[2] for p in pts], [p[1] for p in pts], marker="o", ls=style[k], lw=lw, color=col)
            pts = sorted((k, b["accuracy"]) for (f, w, LL, s, bb, k), (b, _) in best.items() if f == fam and w == wmax)
            if pts:
                axes[1].plot([p[0] for p in pts], [p[1] for p in pts], "o-", color=col)
        top = min(1.02, max(0.1, 1.15 * max(r["accuracy"] for r in rs)))
        axes[0].set_xscale("log", base=2)
        axes[0].set_xticks(ws, [str(w) for w in ws])
        axes[0].set_xlabel("model width")
        axes[0].set_title(f"accuracy against width (K = {kmax} solid)")
        axes[1].set_xscale("log", base=2)
        axes[1].set_xticks(ks, [str(k) for k in ks])
        axes[1].set_xlabel("key-value pairs K")
        axes[1].set_title(f"accuracy against K, width {wmax}")
        axes[2].set_xscale("log")
        axes[2].set_xlabel("bytes of one sequence's state at L (Transformer: its KV cache)")
        axes[2].set_title("accuracy against state size")
        for ax in axes:
            ax.set_ylabel("held-out accuracy (best learning rate)")
            ax.set_ylim(-0.02 * top, top)
            ax.grid(alpha=0.3, which="both")
        fam_h = [Line2D([], [], color=COLOR.get(f), marker="o", label=LABEL.get(f, f)) for f in fams]
        k_h = [Line2D([], [], color="0.3", ls=style[k], label=f"K = {k}") for k in reversed(ks)]
        fig.legend(handles=fam_h + k_h, loc="lower center", ncol=len(fam_h) + len(k_h), fontsize=9, frameon=False)
        fig.suptitle(f"MQAR, 2 layers, vocabulary {VOCAB}, L = {L}, {steps} steps x {batch} sequences "
                     f"({steps * batch} training examples)")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path


def update_doc(doc, table):
    sys.path.insert(0, os.path.join(ROOT, "experiments"))
    from collect import splice_doc
    return splice_doc(doc, BEGIN, END, table)


def redraw(doc=DOC):
    os.makedirs(RESULTS, exist_ok=True)
    runs = load_runs()
    outs = [write_summary(runs)]
    table = table_md(runs)
    with open(os.path.join(RESULTS, "table.md"), "w") as f:
        f.write(table)
    outs.append(os.path.join(RESULTS, "table.md"))
    outs.append(plot(runs, os.path.join(RESULTS, "mqar.png")))
    if update_doc(doc, table):
        outs.append(doc)
    return outs


def git_commit(msg):
    """Commits results/mqar/ alone (git commit -- PATH: nothing else staged goes in)."""
    st = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "results/mqar"], capture_output=True,
                        text=True)
    if st.returncode == 0 and not st.stdout.strip():
        return True  # nothing new
    for attempt in (0, 1):
        a = subprocess.run(["git", "-C", ROOT, "add", "--", "results/mqar"], capture_output=True, text=True)
        c = subprocess.run(["git", "-C", ROOT, "commit", "-q", "-m", msg, "--", "results/mqar"],
                           capture_output=True, text=True)
        if a.returncode == 0 and c.returncode == 0:
            print("committed: " + msg, flush=True)
            return True
        time.sleep(3)
    sys.stderr.write("study-mqar: git commit failed: " + (c.stderr or c.stdout).strip()[-300:] + "\n")
    return False


# ---------------------------------------------------------------------------------------------

def csv_list(s, conv=str):
    return [conv(x) for x in s.split(",") if x.strip()]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grid", choices=sorted(GRIDS), default="full")
    p.add_argument("--families", help="comma list of presets (default: the four)")
    p.add_argument("--widths", help="comma list")
    p.add_argument("--pairs", help="comma list of K")
    p.add_argument("--seq-len", help="comma list of L (a K with 4K > L is left out at that L)")
    p.add_argument("--lrs", help="comma list of learning rates, the same for every family")
    p.add_argument("--steps", type=int, help="training steps (default: the grid's)")
    p.add_argument("--batch", type=int, help="sequences per step (default: the grid's)")
    p.add_argument("--threads", type=int, default=2, help="threads of each run")
    p.add_argument("--jobs", type=int, default=1, help="runs at a time (each with --threads)")
    p.add_argument("--ttt", default=os.path.join(ROOT, "build", "ttt"))
    p.add_argument("--dry-run", action="store_true", help="print the runs and the expected time, run nothing")
    p.add_argument("--redraw", action="store_true", help="only the table and chart from results/mqar/runs/*.json")
    p.add_argument("--max-minutes", type=float, default=0,
                   help="start no run that would end past this many minutes of the sitting (0: no limit)")
    p.add_argument("--commit-every", type=int, default=0, help="git commit results/mqar every N finished runs")
    p.add_argument("--doc", default=DOC, help="the page whose MQAR table markers get the table ('' for none)")
    a = p.parse_args()

    if a.redraw:
        for o in redraw(a.doc):
            print(o)
        return 0

    g = GRIDS[a.grid]
    a.steps = a.steps or g["steps"]
    a.batch = a.batch or g["batch"]
    if a.steps < 1 or a.batch < 1 or a.jobs < 1 or a.threads < 1:
        p.error("--steps, --batch, --jobs and --threads must be at least 1")
    fams = csv_list(a.families) if a.families else FAMILIES
    for f in fams:
        if f not in FAMILIES:
            p.error(f"unknown family {f} (one of {', '.join(FAMILIES)})")
    widths = csv_list(a.widths, int) if a.widths else g["widths"]
    pairs = csv_list(a.pairs, int) if a.pairs else g["pairs"]
    lens = csv_list(a.seq_len, int) if a.seq_len else g["seq_len"]
    lrs = {f: (csv_list(a.lrs) if a.lrs else g["lrs"][f]) for f in fams}

    plan = []
    for w in widths:
        for L in lens:
            for k in pairs:
                if 4 * k > L:
                    continue
                for fam in fams:
                    for lr in lrs[fam]:
                        plan.append(dict(key=run_key(fam, w, L, k, lr, a.steps, a.batch), family=fam, width=w,
                                         seq_len=L, pairs=k, lr=lr))
    pending = [r for r in plan if not os.path.exists(os.path.join(RUNS, r["key"] + ".json"))]
    print(f"MQAR grid {a.grid}: {len(plan)} runs, {len(plan) - len(pending)} already done, {len(pending)} to run "
          f"({a.steps} steps of {a.batch} sequences, vocabulary {VOCAB}, {a.jobs} x {a.threads} threads)")
    if not pending:
        for o in redraw(a.doc):
            print(o)
        return 0
    if not os.access(a.ttt, os.X_OK):
        time.sleep(10)
    combos = sorted({(r["family"], r["width"], r["seq_len"], a.batch) for r in pending},
                    key=lambda c: (c[1], c[2], fam_order(c[0])))
    tm = timings(a, combos)
    total = 0.0  # seconds of one run after another; --jobs J runs take about total / J
    for r in pending:
        r["expected_s"] = expected_s(tm[(r["family"], r["width"], r["seq_len"], a.batch)], a.steps)
        total += r["expected_s"]
    for c in combos:
        t = tm[c]
        n = sum(1 for r in pending if (r["family"], r["width"], r["seq_len"]) == c[:3])
        src = f"median of {t['from_runs']} finished runs" if "from_runs" in t else "measured"
        print(f"  {c[0]:16s} width {c[1]:4d} L {c[2]:4d}: {t['per_step_s']:.3f} s/step + {t['fixed_s']:.1f} s, "
              f"eval {t['eval_s']:.1f} s ({src}); {n} runs, {hms(n * expected_s(t, a.steps))}")
    for r in pending:
        print(f"  {r['key']}  ~{r['expected_s']:.0f} s")
    print(f"expected time of the {len(pending)} runs to do: {hms(total / a.jobs)} ({a.jobs} at a time)", flush=True)
    if a.dry_run:
        return 0

    os.makedirs(RESULTS, exist_ok=True)
    plan_path = os.path.join(RESULTS, f"plan-{a.grid}.json")
    old = {}
    if os.path.exists(plan_path):
        with open(plan_path) as f:
            old = json.load(f)
    keys = [r["key"] for r in plan]
    # a slice of the grid (--families, --widths, --pairs, --seq-len, --lrs) runs part of its plan
    # and leaves the grid's plan file as it is
    sliced = any(x is not None for x in (a.families, a.widths, a.pairs, a.seq_len, a.lrs))
    if sliced:
        print(f"a slice of the {a.grid} grid: {plan_path} is kept as it is")
    elif old.get("runs") != keys:  # a new plan; a resumed sitting keeps the first estimate
        write_json_atomic(plan_path, {
            "grid": a.grid, "runs": keys, "expected_s": round(total / a.jobs, 1), "threads": a.threads,
            "jobs": a.jobs,
            "steps": a.steps, "batch": a.batch, "vocab": VOCAB,
            "measured_on": datetime.date.today().isoformat(),
            "seconds_per_step": {f"{c[0]}-w{c[1]}-L{c[2]}-b{c[3]}": round(tm[c]["per_step_s"], 4) for c in combos},
            "seconds_per_step_from": {f"{c[0]}-w{c[1]}-L{c[2]}-b{c[3]}": (
                f"median of {tm[c]['from_runs']} finished runs" if "from_runs" in tm[c] else "a probe of 2 and 12 steps")
                for c in combos},
        })

    stop = {"now": False}

    def on_signal(sig, frame):
        stop["now"] = True
        print("study-mqar: stopping after the run in progress (signal again to stop at once)", flush=True)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    t_start = time.monotonic()
    lock = threading.Lock()
    todo = iter(enumerate(pending))
    st = {"done": 0, "left": total, "error": None}

    def worker():
        while True:
            with lock:
                if stop["now"] or st["error"]:
                    return
                nxt = next(todo, None)
                if nxt is None:
                    return
                i, r = nxt
                el = time.monotonic() - t_start
                if a.max_minutes and el + r["expected_s"] / a.jobs > a.max_minutes * 60:
                    print(f"study-mqar: {hms(el)} spent; the next run would pass --max-minutes {a.max_minutes:g}: "
                          "stopping", flush=True)
                    stop["now"] = True
                    return
                print(f"[{i + 1}/{len(pending)}] {r['key']} (about {hms(st['left'] / a.jobs)} left) ...", flush=True)
            try:
                out = do_run(a, r)
            except Exception as e:  # noqa: BLE001 (reported and re-raised by the main thread)
                with lock:
                    st["error"] = e
                return
            with lock:
                st["left"] -= r["expected_s"]
                st["done"] += 1
                print(f"    {r['key']}: accuracy {out['accuracy']:.4f}, test loss {out['test_loss']:.3f}, train "
                      f"{out['train_seconds']:.0f} s ({out['train_cpu_seconds'] / a.threads:.0f} s of CPU per thread;"
                      f" expected {r['expected_s']:.0f} s)", flush=True)
                if a.commit_every and st["done"] % a.commit_every == 0 and st["done"] < len(pending):
                    redraw(a.doc)
                    git_commit(f"results/mqar: {len(load_runs())} MQAR runs (study-mqar.py --grid {a.grid}, "
                               "in progress)")

    workers = [threading.Thread(target=worker) for _ in range(min(a.jobs, len(pending)))]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    done = st["done"]
    if st["error"]:
        redraw(a.doc)
        raise st["error"]
    redraw(a.doc)
    print(f"study-mqar: {done} runs in {hms(time.monotonic() - t_start)} this sitting; "
          f"{len(pending) - done} of the grid left")
    if a.commit_every and done:
        git_commit(f"results/mqar: {len(load_runs())} MQAR runs (study-mqar.py --grid {a.grid})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
