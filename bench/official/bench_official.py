#!/usr/bin/python3
"""bench_official.py: `ttt` side by side with the authors' PyTorch code (ttt.py of
test-time-training/ttt-lm-pytorch), each in its best environment, on the same weights.

  bench_official.py --ttt-py PATH/ttt.py [--ttt build/ttt] [--out results/official]
                    [--rounds 3] [--threads 2] [--quick]

One model per measurement is made with `ttt init` (TTT-Linear at the 125M width, Mamba
backbone, vocabulary 512) and loaded into ttt.py's TTTForCausalLM (its state-dict names are
ours). Before timing, both sides' logits on one input are compared. Measured, in process and
warm (a warm-up run first, then the median of --reps runs):

  forward    the full forward of 12 layers at L = 2048 (the dual form; ttt.py in inference mode)
  fwd+bwd    forward + backward of the loss, 4 layers at L = 1024 (ttt.py in training mode, no
             recomputation: scan_checkpoint_group_size 0, its fastest setting)
  decode     cached decoding of 12 layers from an empty state, one token at a time
  fwd+bwd bf16  the fwd+bwd shape with bf16 mixed precision: `ttt forward --grad --bf16`, and
             for ttt.py its better of float32 and torch.autocast("cpu", torch.bfloat16)

The runs alternate round by round (ttt.py, then ttt) and each side keeps its best round. Each side
runs in its own best environment, printed with the results:
  ttt.py   Debian's python3-torch; torch.set_num_threads(threads); glibc malloc keeping freed memory
           (MALLOC_MMAP_MAX_=0, MALLOC_TRIM_THRESHOLD_=64 GiB, MALLOC_TOP_PAD_=512 MiB: no fresh
           pages after the warm-up); OPENBLAS_CORETYPE the one under which its matrix products run
           fastest, measured at the start (unset, OpenBLAS's own pick, falls back to a generic SSE
           kernel on CPUs it does not recognise).
  ttt      the command as built, --threads threads, the environment as given (its buffers are
           reused across runs already).
Output: a table of ratios on stdout, OUT/official.csv and OUT/official.png. ttt.py is not part
of this repository: give its path. Its sha256 at commit cd831db is checked; another version
gives a warning. The `transformers` names it imports come from bench/official/stubs/.
"""
import argparse
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TTT_PY_SHA256 = "5386ca299328e0d6ffe7b783b09a462023b02b9a0906cba01d83f482ed5b7484"  # commit cd831db
PEER_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "68719476736", "MALLOC_TOP_PAD_": "536870912"}

# name, layers, length, what
FULL = [("forward", 12, 2048), ("fwd+bwd", 4, 1024), ("decode", 12, 32), ("fwd+bwd-bf16", 4, 1024)]
QUICK = [("forward", 2, 256), ("fwd+bwd", 2, 128), ("decode", 2, 16), ("fwd+bwd-bf16", 2, 128)]


# ------------------------------------------------------------------------------------------------
# safetensors without the safetensors package (numpy only)

def st_read(path):
    import numpy as np
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    kinds = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64, "F16": np.float16}
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(data[a:b], dtype=kinds[v["dtype"]]).reshape(v["shape"])
    return out


def st_write_ids(path, ids):
    import numpy as np
    ids = np.ascontiguousarray(ids, dtype=np.int32)
    header = {"input_ids": {"dtype": "I32", "shape": list(ids.shape), "data_offsets": [0, ids.nbytes]}}
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h + ids.tobytes())


# ------------------------------------------------------------------------------------------------
# the peer: ttt.py in this process (run as a worker, in its environment)

def load_peer(ttt_py, model_dir, threads):
    sys.path.insert(0, os.path.join(HERE, "stubs"))
    import importlib.util
    import warnings

    import torch
    warnings.filterwarnings("ignore")
    torch.set_num_threads(threads)
    spec = importlib.util.spec_from_file_location("ttt_authors", ttt_py)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    with open(os.path.join(model_dir, "config.json")) as f:
        c = json.load(f)
    keep = ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
            "rms_norm_eps", "rope_theta", "tie_word_embeddings", "mini_batch_size", "pre_conv", "share_qk",
            "use_gate", "conv_kernel", "ttt_base_lr", "ttt_layer_type", "bos_token_id", "eos_token_id",
            "pad_token_id", "max_position_embeddings", "initializer_range"]
    cfg = mod.TTTConfig(**{k: c[k] for k in keep if k in c}, scan_checkpoint_group_size=0, use_cache=False)
    model = mod.TTTForCausalLM(cfg)
    sd = {k: torch.from_numpy(v.copy()) for k, v in st_read(os.path.join(model_dir, "model.safetensors")).items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not (k == "lm_head.weight" and cfg.tie_word_embeddings)]
    if missing or unexpected:
        raise SystemExit(f"ttt.py does not take the weights of {model_dir}: missing {missing}, unexpected {unexpected}")
    return mod, model, torch


def peer_worker(a):
    mod, model, torch = load_peer(a.ttt_py, a.model, a.threads)
    import numpy as np
    ids = torch.from_numpy(st_read(a.input)["input_ids"].astype(np.int64))
    res = {}
    if a.measure == "logits":
        with torch.inference_mode():
            np.save(a.logits_out, model(input_ids=ids, use_cache=False).logits.float().numpy())
    elif a.measure == "forward":
        model.eval()
        times = []
        with torch.inference_mode():
            for r in range(a.reps + 1):
                t0 = time.perf_counter()
                model(input_ids=ids, use_cache=False)
                times.append(time.perf_counter() - t0)
        res["seconds"] = statistics.median(times[1:])
    elif a.measure in ("fwd+bwd", "fwd+bwd-bf16"):
        import contextlib
        model.train()
        times = []
        bf16 = a.measure == "fwd+bwd-bf16"
        try:
            for r in range(a.reps + 1):
                model.zero_grad(set_to_none=True)
                ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
                t0 = time.perf_counter()
                with ctx:
                    loss = model(input_ids=ids, labels=ids, use_cache=False).loss
                loss.backward()
                times.append(time.perf_counter() - t0)
            res["seconds"] = statistics.median(times[1:])
        except Exception as e:  # autocast may not cover every op of ttt.py
            if not bf16:
                raise
            res["seconds"], res["error"] = None, f"{type(e).__name__}: {e}".splitlines()[0][:200]
    elif a.measure == "decode":
        model.eval()
        B, T = ids.shape
        with torch.inference_mode():
            for warm in (True, False):
                cache = mod.TTTCache(model.model, B)
                n = 4 if warm else T
                t0 = time.perf_counter()
                for t in range(n):
                    model(input_ids=ids[:, t:t + 1], cache_params=cache, use_cache=True)
                dt = time.perf_counter() - t0
        res["seconds"] = dt  # T tokens, one per step
    print(json.dumps(res))


# ------------------------------------------------------------------------------------------------
# the driver

def run(cmd, env=None):
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}{p.stderr}")
    return p.stdout, p.stderr


CORETYPES = ["", "Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"]  # "": OpenBLAS's own pick

PROBE = """
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
a, w = torch.randn(2048, 768), torch.randn(2048, 768)
for _ in range(3): torch.nn.functional.linear(a, w)
t0 = time.perf_counter()
for _ in range(10): torch.nn.functional.linear(a, w)
print(2 * 2048 * 768 * 2048 * 10 / (time.perf_counter() - t0) / 1e9)
"""


def peer_env(threads, coretype=None):
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    env.update(PEER_ENV)
    env["OMP_NUM_THREADS"] = str(threads)
    ct = PEER_CORETYPE if coretype is None else coretype
    if ct:
        env["OPENBLAS_CORETYPE"] = ct
    return env


PEER_CORETYPE = ""


def pick_coretype(threads):
    """The OpenBLAS kernel under which PyTorch's matrix products run fastest here: on a CPU that
    OpenBLAS does not recognise, its own pick falls back to a generic SSE kernel (Prescott)."""
    best, rates = "", {}
    for ct in CORETYPES:
        p = subprocess.run([sys.executable, "-c", PROBE, str(threads)], env=peer_env(threads, ct),
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if p.returncode == 0 and p.stdout.strip():
            rates[ct] = float(p.stdout.strip().splitlines()[-1])
            if rates[ct] > rates.get(best, 0):
                best = ct
    return best, rates


def peer_measure(a, measure, model, inp, reps, extra=()):
    out, _ = run([sys.executable, os.path.abspath(__file__), "--worker", "--ttt-py", a.ttt_py, "--model", model,
                  "--input", inp, "--measure", measure, "--reps", str(reps), "--threads", str(a.threads), *extra],
                 env=peer_env(a.threads))
    return json.loads(out.strip().splitlines()[-1]) if measure != "logits" else None


def ours_measure(a, measure, model, inp, reps):
    """seconds of one run of `measure` by the ttt command (its median of reps warm runs), from the
    tokens/s it prints (more digits than its seconds)"""
    base = [a.ttt, "forward", "--model", model, "--input", inp, "--threads", str(a.threads)]
    if measure == "forward":
        _, err = run(base + ["--repeat", str(reps)])
        m = re.search(r"loss [0-9.e+-]+ +([0-9.]+) tokens/s", err)
    elif measure in ("fwd+bwd", "fwd+bwd-bf16"):
        bf16 = ["--bf16"] if measure == "fwd+bwd-bf16" else []
        _, err = run(base + ["--repeat", str(reps), "--grad", *bf16, "--output", os.path.join(a.tmp, "grad.safetensors")])
        m = re.search(r"forward\+backward ([0-9.]+) tokens/s", err)
    else:
        _, err = run(base + ["--decode"])
        m = re.search(r"decode ([0-9.]+) tokens/s", err)
    if not m:
        raise SystemExit(f"cannot read the time of ttt forward ({measure}) from:\n{err}")
    return {"seconds": a.shape_tokens[measure] / float(m.group(1))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ttt-py", required=True)
    ap.add_argument("--ttt", default="build/ttt")
    ap.add_argument("--out", default="results/official")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    ap.add_argument("--logits-out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if not os.path.isfile(a.ttt_py):
        raise SystemExit(f"bench_official: --ttt-py {a.ttt_py}: no such file (the authors' ttt.py, "
                         "test-time-training/ttt-lm-pytorch at commit cd831db)")
    if a.worker:
        return peer_worker(a)
    if a.rounds < 1 or a.reps < 1 or a.threads < 1:
        raise SystemExit("bench_official: --rounds, --reps and --threads must be >= 1")
    import numpy as np
    import torch

    with open(a.ttt_py, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != TTT_PY_SHA256:
        print(f"warning: {a.ttt_py} has sha256 {digest}, not that of commit cd831db ({TTT_PY_SHA256}); "
              "the numbers are of another version", file=sys.stderr)
    os.makedirs(a.out, exist_ok=True)
    a.tmp = tempfile.mkdtemp(prefix="ttt-official-")
    global PEER_CORETYPE
    PEER_CORETYPE, rates = pick_coretype(a.threads)
    probe = ("PyTorch's 2048x768x2048 product under OPENBLAS_CORETYPE " +
             ", ".join(f"{ct or '(unset)'} {r:.0f}" for ct, r in rates.items()) +
             f" GFLOP/s: ttt.py runs with {PEER_CORETYPE or '(unset)'}")
    print(probe, flush=True)
    shapes = QUICK if a.quick else FULL
    a.shape_tokens = {m: L for m, _, L in shapes}
    preset = "ttt-linear-tiny" if a.quick else "ttt-linear-125m"
    rng = np.random.default_rng(0)
    models, inputs = {}, {}
    for measure, layers, L in shapes:
        d = os.path.join(a.tmp, f"m{layers}")
        if d not in models.values():
            run([a.ttt, "init", "--preset", preset, "--layers", str(layers), "--vocab", "512", "--seed", "1",
                 "--out", d])
        models[measure] = d
        inputs[measure] = os.path.join(a.tmp, f"{measure}.safetensors")
        st_write_ids(inputs[measure], rng.integers(0, 512, size=(1, L)))

    # the same function: logits of both on one input
    chk = os.path.join(a.tmp, "check.safetensors")
    st_write_ids(chk, rng.integers(0, 512, size=(1, 64)))
    peer_measure(a, "logits", models["forward"], chk, 1, ("--logits-out", os.path.join(a.tmp, "peer.npy")))
    run([a.ttt, "forward", "--model", models["forward"], "--input", chk, "--output", os.path.join(a.tmp, "ours.st")])
    ours = st_read(os.path.join(a.tmp, "ours.st"))["logits"]
    peer = np.load(os.path.join(a.tmp, "peer.npy"))
    diff = float(np.max(np.abs(ours - peer)) / max(1e-30, float(np.max(np.abs(peer)))))
    same = f"same weights, same function: max|logits ttt - ttt.py| = {diff:.2e} of max|logit| (64 tokens)"
    print(same)
    if not diff < 1e-4:
        raise SystemExit("bench_official: the two sides disagree; not timing different functions")

    best = {(s, m): float("inf") for s in ("ttt.py", "ttt") for m, _, _ in shapes}
    peer_errors = {}
    for r in range(a.rounds):
        for measure, _, _ in shapes:
            reps = 1 if measure == "decode" else a.reps
            pr = peer_measure(a, measure, models[measure], inputs[measure], reps)
            if pr["seconds"] is None:
                peer_errors[measure] = pr.get("error", "failed")
            else:
                best["ttt.py", measure] = min(best["ttt.py", measure], pr["seconds"])
            t = ours_measure(a, measure, models[measure], inputs[measure], reps)["seconds"]
            best["ttt", measure] = min(best["ttt", measure], t)
        print(f"round {r + 1}/{a.rounds}: " + ", ".join(
            f"{m} {best['ttt.py', m]:.3f} s / {best['ttt', m]:.3f} s" for m, _, _ in shapes), flush=True)

    lines = []
    commit = subprocess.run(["git", "-C", os.path.dirname(HERE), "rev-parse", "--short", "HEAD"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout.strip() or "unknown"
    width = "tiny (64)" if a.quick else "125M (768)"
    lines.append(f"ttt commit {commit}; ttt.py sha256 {digest[:12]}; {a.threads} threads; TTT-Linear, Mamba backbone, "
          f"width {width}, vocab 512; best of {a.rounds} alternating rounds, each the median of {a.reps} warm runs")
    lines.append(f"  ttt.py: torch {torch.__version__} (Debian python3-torch), {' '.join(f'{k}={v}' for k, v in PEER_ENV.items())}, "
          f"OPENBLAS_CORETYPE={PEER_CORETYPE or '(unset)'} (its fastest here), torch.set_num_threads")
    lines.append(f"  ttt:    {a.ttt}, OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, --threads")
    lines += [f"  {probe}", f"  {same}", ""]
    rows = []
    lines_after = []
    lines += ["| measurement | ttt.py (its best) | ttt | ratio |", "|---|---|---|---|"]
    for measure, layers, L in shapes:
        tp, to = best["ttt.py", measure], best["ttt", measure]
        what = {"forward": f"forward, {layers} layers, L = {L}", "fwd+bwd": f"forward + backward, {layers} layers, L = {L}",
                "decode": f"cached decode, {layers} layers, {L} tokens, batch 1",
                "fwd+bwd-bf16": f"forward + backward, bf16 mixed precision, {layers} layers, L = {L}"}[measure]
        if measure == "fwd+bwd-bf16":  # ttt.py: its better of float32 and autocast bf16
            amp = tp
            tp = min(tp, best["ttt.py", "fwd+bwd"])
            how = (f"autocast bf16 failed: {peer_errors[measure]}" if measure in peer_errors else
                   f"autocast bf16 {L / amp:.1f} tokens/s, float32 {L / best['ttt.py', 'fwd+bwd']:.1f}")
            lines_after.append(f"  ttt.py for the bf16 row: the better of {how}")
        lines.append(f"| {what} | {L / tp:.1f} tokens/s | {L / to:.1f} tokens/s | {tp / to:.2f}x |")
        rows.append((measure, layers, L, tp, to, L / tp, L / to, tp / to))
    text = "\n".join(lines + [""] + lines_after) + "\n"
    print("\n" + text, end="")
    with open(os.path.join(a.out, "official.txt"), "w") as f:
        f.write(text)
    with open(os.path.join(a.out, "official.csv"), "w") as f:
        f.write("measure,layers,tokens,ttt_py_seconds,ttt_seconds,ttt_py_tokens_per_s,ttt_tokens_per_s,ratio\n")
        for r in rows:
            f.write("%s,%d,%d,%.6f,%.6f,%.2f,%.2f,%.3f\n" % r)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(7, 3.5))
        xs = range(len(rows))
        ax.bar([x - 0.2 for x in xs], [r[5] for r in rows], 0.4, label="ttt.py (its best)")
        ax.bar([x + 0.2 for x in xs], [r[6] for r in rows], 0.4, label="ttt")
        for x, r in zip(xs, rows):
            ax.text(x + 0.2, r[6], f"{r[7]:.1f}x", ha="center", va="bottom")
        ax.set_xticks(list(xs), [f"{r[0]}\n{r[1]} layers, {r[2]}" for r in rows])
        ax.set_yscale("log")
        ax.set_ylabel("tokens/s")
        ax.set_title(f"ttt vs the authors' ttt.py, {a.threads} threads")
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(a.out, "official.png"), dpi=120)
        print(f"\nresults: {a.out}/official.txt, official.csv, official.png")
    except ImportError:
        print(f"\nresults: {a.out}/official.csv (no chart: python3-matplotlib is missing)")


if __name__ == "__main__":
    main()
