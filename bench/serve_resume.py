#!/usr/bin/env python3
"""serve_resume.py: the cost of resuming a `ttt serve` session against its length (issue 22).

For each family (TTT-Linear, Mamba, the Transformer, at the README's small width: 4 x 256, Mamba
8 x 256, the Llama-2 tokenizer) one server runs with --parallel 1, all three at once, the
families taking turns rep by rep (the noise of a shared machine falls on all alike). For each
length N, a session
is filled with N prompt tokens (random ids from a fixed seed, `max_tokens` 0: prefill only), and
the next request on it, 1 new token and 16 greedy tokens, is timed from the client: what a
follow-up turn of a conversation of N tokens costs. Each point is the median of --reps
sessions; the session's state size comes from GET /v1/sessions/{id}. The TTT and Mamba states
have one size whatever N; the Transformer's KV cache grows with N, and so does the cost of each
of its decode steps.

  /usr/bin/python3 bench/serve_resume.py --ttt build/ttt --out results/serve [--lengths 100,...]
  /usr/bin/python3 bench/serve_resume.py --redraw --out results/serve   (the chart from the CSV)

Writes OUT/resume.csv (family, N, median and min seconds, state bytes) and OUT/resume.png.
"""
import argparse
import csv
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

FAMILIES = [  # (label, preset, extra ttt init flags)
    ("TTT-Linear", "ttt-linear-small", []),
    ("Mamba", "mamba-small", []),
    ("Transformer", "llama-small", ["--max-position", "16384"]),
]


def call(url, path, body=None, method=None):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"}, method=method)
    with urllib.request.urlopen(req, timeout=3600) as r:
        return json.loads(r.read())


def start_server(ttt, model, log):
    proc = subprocess.Popen([ttt, "serve", "--model", model, "--port", "0", "--parallel", "1",
                             "--max-prompt", "1000000", "--session-bytes", "68719476736", "--threads", "2"],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    for _ in range(600):
        time.sleep(0.1)
        with open(log.name) as f:
            m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", f.read())
        if m:
            return proc, m.group(1)
        if proc.poll() is not None:
            break
    proc.kill()
    with open(log.name) as f:
        sys.exit("serve_resume: the server did not start:\n" + f.read())


def measure(ttt, tok, lengths, reps, vocab_ids, work):
    """all three servers run at once; for each N the families alternate rep by rep, so the
    machine's noise falls on all of them alike"""
    servers, logs = [], []
    try:
        for label, preset, extra in FAMILIES:
            model = os.path.join(work, preset)
            subprocess.run([ttt, "init", "--preset", preset, "--out", model, "--tokenizer", tok] + extra,
                           check=True, stdout=subprocess.DEVNULL)
            log = open(os.path.join(work, preset + ".log"), "w")
            logs.append(log)
            proc, url = start_server(ttt, model, log)
            servers.append((label, proc, url))
        rng = random.Random(1)
        for label, proc, url in servers:
            # warm-up: one session through the whole cycle (first allocations, first touch)
            call(url, "/v1/completions", {"prompt": list(range(3, 3 + lengths[0])), "max_tokens": 0, "session": "w"})
            call(url, "/v1/completions", {"prompt": [3], "max_tokens": 16, "temperature": 0, "session": "w"})
            call(url, "/v1/sessions/w", method="DELETE")
        rows = []
        for n in lengths:
            times = {label: [] for label, _, _ in servers}
            state = {}
            for r in range(reps):
                for label, proc, url in servers:
                    sid = "s%d-%d" % (n, r)
                    ids = [rng.randrange(3, vocab_ids) for _ in range(n)]
                    call(url, "/v1/completions", {"prompt": ids, "max_tokens": 0, "session": sid})
                    t0 = time.perf_counter()
                    j = call(url, "/v1/completions", {"prompt": [rng.randrange(3, vocab_ids)], "max_tokens": 16,
                                                      "temperature": 0, "session": sid})
                    times[label].append(time.perf_counter() - t0)
                    if j["usage"]["completion_tokens"] < 1:
                        sys.exit("serve_resume: no token generated: %s" % j)
                    state[label] = int(call(url, "/v1/sessions/" + sid)["state_bytes"])
                    call(url, "/v1/sessions/" + sid, method="DELETE")
            for label, _, _ in servers:
                row = {"family": label, "tokens": n, "median_s": statistics.median(times[label]),
                       "min_s": min(times[label]), "state_bytes": state[label]}
                print("%-12s N = %6d  next reply %.4f s (min %.4f)  state %d bytes" %
                      (label, n, row["median_s"], row["min_s"], row["state_bytes"]), flush=True)
                rows.append(row)
        return sorted(rows, key=lambda r: ([f[0] for f in FAMILIES].index(r["family"]), r["tokens"]))
    finally:
        for _, proc, _ in servers:
            proc.terminate()
            proc.wait(timeout=120)
        for log in logs:
            log.close()


def draw(out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    with open(os.path.join(out, "resume.csv")) as f:
        rows = list(csv.DictReader(f))
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for label, _, _ in FAMILIES:
        rs = [r for r in rows if r["family"] == label]
        n = [int(r["tokens"]) for r in rs]
        a.plot(n, [1e3 * float(r["median_s"]) for r in rs], "o-", label=label)
        b.plot(n, [int(r["state_bytes"]) / 2**20 for r in rs], "o-", label=label)
    a.set_xlabel("tokens in the session before the request")
    a.set_ylabel("next reply (1 + 16 tokens), ms")
    a.set_ylim(bottom=0)
    a.set_title("Resuming a session")
    b.set_xlabel("tokens in the session")
    b.set_ylabel("session state (allocated), MiB")
    b.set_title("State kept per session")
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    tmp = os.path.join(out, ".resume.png.tmp")
    fig.savefig(tmp, dpi=100, format="png")
    os.replace(tmp, os.path.join(out, "resume.png"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ttt", default="build/ttt")
    ap.add_argument("--tokenizer", default="data/tok/llama2")
    ap.add_argument("--out", default="results/serve")
    ap.add_argument("--lengths", default="100,1000,2000,4000,8000")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--redraw", action="store_true", help="only redraw the chart from OUT/resume.csv")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if not a.redraw:
        lengths = [int(x) for x in a.lengths.split(",")]
        if not lengths or min(lengths) < 1 or a.reps < 1:
            sys.exit("serve_resume: --lengths must be positive integers and --reps at least 1")
        work = tempfile.mkdtemp(prefix="serve-resume-")
        try:
            rows = measure(a.ttt, a.tokenizer, lengths, a.reps, 32000, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        tmp = os.path.join(a.out, ".resume.csv.tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["family", "tokens", "median_s", "min_s", "state_bytes"])
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, os.path.join(a.out, "resume.csv"))
    draw(a.out)
    print("wrote %s/resume.csv and %s/resume.png" % (a.out, a.out))


if __name__ == "__main__":
    main()
