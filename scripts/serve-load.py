#!/usr/bin/env python3
"""serve-load.py: a bounded load test of `ttt serve` on loopback (issue 22; make serve-load).

C concurrent clients (threads, each a closed loop: send, wait for the reply, send the next)
send completion requests with mixed prompt lengths (--kinds distinct requests, prompts of 4 to
256 words, a seed each, --temperature, default 0.8) for a bounded time; requests in flight at the end are
waited for. Every distinct request is first served alone (one at a time, nothing else running)
to get its reference reply; under load every reply must equal its reference (the same choices:
text, finish reason) and every request must get a reply (status 200): none lost or mixed up.
Reported: throughput (requests/s, generated tokens/s), p50/p99 latency from the client, and the
server's mean batch occupancy (sequences per decode step, from GET /metrics) over the loaded
phase. Exit status 1 if a reply is lost or differs from its reference.

Two ways to run it:
  scripts/serve-load.py --url http://127.0.0.1:8080 --clients 64 --seconds 20
      against a running server; the unbatched figure is then the requests served alone.
  scripts/serve-load.py --ttt build/ttt --preset ttt-linear-small --tokenizer data/tok/r50k_base.tiktoken \\
      --clients 64 --seconds 60 --out results/serve/load-ttt-linear.json
      makes the model (ttt init) and runs the same load twice: on `ttt serve --parallel C`
      (batched) and on `ttt serve --parallel 1` (the same load served one request at a time,
      queued), both with the references of the requests served alone; writes the JSON and
      prints a one-line summary.
"""
import argparse
import json
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request


def post(url, body, key=None):
    req = urllib.request.Request(url + "/v1/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": "Bearer " + key} if key else {})})
    t0 = time.time()
    with urllib.request.urlopen(req, timeout=900) as r:
        j = json.loads(r.read())
    return j, time.time() - t0


def metrics(url, key=None):
    req = urllib.request.Request(url + "/metrics", headers={"Authorization": "Bearer " + key} if key else {})
    with urllib.request.urlopen(req, timeout=60) as r:
        out = {}
        for line in r.read().decode().splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
        return out


def pct(xs, p):
    """the p-th percentile (nearest rank)"""
    xs = sorted(xs)
    return xs[max(0, min(len(xs) - 1, -(-p * len(xs) // 100) - 1))] if xs else float("nan")


def requests_of(kinds, max_tokens, temperature):
    rnd = random.Random(0)
    words = "the of and to in a is that for it as was with be by on not he this are or his from at which".split()
    reqs = []
    for i in range(kinds):
        n = 4 * (2 ** (i % 7))
        reqs.append({"prompt": " ".join(rnd.choice(words) for _ in range(n)), "max_tokens": max_tokens,
                     "temperature": temperature, "seed": i})
    return reqs


def served_alone(url, key, reqs):
    """each request once, one at a time: the reference replies and the latencies"""
    ref, lat = [], []
    for r in reqs:
        j, dt = post(url, r, key)
        ref.append(j["choices"])
        lat.append(dt)
    return ref, lat


def load(url, key, reqs, ref, clients, seconds):
    """the loaded phase: clients closed loops for seconds; every reply checked against ref"""
    m0 = metrics(url, key)
    lat, bad, sent, toks = [], [], [0], [0]
    lock = threading.Lock()
    stop = time.time() + seconds

    def client(c):
        k = 0
        while time.time() < stop:
            i = (c + k) % len(reqs)
            k += 1
            with lock:
                sent[0] += 1
            try:
                j, dt = post(url, reqs[i], key)
                ok = j.get("choices") == ref[i]
            except (OSError, ValueError, urllib.error.URLError) as e:  # HTTPError too: a lost request
                ok, dt, j = False, None, {"error": "%s: %s" % (type(e).__name__, e)}
            with lock:
                if dt is not None:
                    lat.append(dt)
                toks[0] += j.get("usage", {}).get("completion_tokens", 0) if ok else 0
                if not ok:
                    bad.append((i, j))

    t0 = time.time()
    th = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    wall = time.time() - t0
    m1 = metrics(url, key)
    steps = m1["ttt_decode_steps_total"] - m0["ttt_decode_steps_total"]
    occ = (m1["ttt_batch_occupancy"] * m1["ttt_decode_steps_total"] -
           m0["ttt_batch_occupancy"] * m0["ttt_decode_steps_total"]) / steps if steps else 0
    done = sent[0] - len(bad)
    return {"clients": clients, "requests": sent[0], "replies_equal_to_alone": done, "lost_or_mismatched": len(bad),
            "seconds": round(wall, 2), "requests_per_s": round(done / wall, 3),
            "generated_tokens_per_s": round(toks[0] / wall, 1),
            "latency_p50_s": round(pct(lat, 50), 3), "latency_p99_s": round(pct(lat, 99), 3),
            "decode_steps": int(steps), "mean_batch_occupancy": round(occ, 2)}, bad


# ---- the managed mode: the model and the servers made here ------------------------------------
def start_server(ttt, model, parallel, queue, threads, log_path):
    log = open(log_path, "w")
    p = subprocess.Popen([ttt, "serve", "--model", model, "--port", "0", "--parallel", str(parallel), "--queue", str(queue),
                          "--threads", str(threads), "--max-tokens-cap", "4096"], stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL)
    for _ in range(1200):
        time.sleep(0.05)
        with open(log_path) as f:
            m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", f.read())
        if m:
            return p, m.group(1)
        if p.poll() is not None:
            break
    p.kill()
    with open(log_path) as f:
        sys.exit("serve-load: the server did not start:\n" + f.read())


def stop_server(p, log_path):
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = "no exit within 120 s of SIGTERM"
    if rc != 0:
        with open(log_path) as f:
            sys.exit("serve-load: the server's exit after SIGTERM: %s\n%s" % (rc, f.read()[-2000:]))


def parameters(ttt, model):
    out = subprocess.run([ttt, "info", "--model", model], capture_output=True, text=True).stdout
    m = re.search(r"^parameters:\s*(\d+)", out, re.M)
    return int(m.group(1)) if m else None


def managed(a):
    work = tempfile.mkdtemp(prefix="ttt-serve-load-")
    try:
        model = os.path.join(work, "model")
        r = subprocess.run([a.ttt, "init", "--preset", a.preset, "--tokenizer", a.tokenizer, "--out", model] + a.init_flag,
                           capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit("serve-load: ttt init failed:\n" + r.stdout + r.stderr)
        reqs = requests_of(a.kinds, a.max_tokens, a.temperature)
        phases, bad_all = {}, []
        log = os.path.join(work, "batched.log")
        p, url = start_server(a.ttt, model, a.clients, 4 * a.clients, a.threads, log)
        try:
            served_alone(url, None, reqs[:2])  # warm-up (first allocations)
            ref, alone = served_alone(url, None, reqs)
            phases["batched"], bad = load(url, None, reqs, ref, a.clients, a.seconds)
            bad_all += bad
        finally:
            stop_server(p, log)
        log = os.path.join(work, "one-at-a-time.log")
        p, url = start_server(a.ttt, model, 1, 4 * a.clients, a.threads, log)
        try:
            served_alone(url, None, reqs[:2])
            phases["one_at_a_time"], bad = load(url, None, reqs, ref, a.clients, a.seconds)
            bad_all += bad
        finally:
            stop_server(p, log)
        b, o = phases["batched"], phases["one_at_a_time"]
        res = {
            "what": "scripts/serve-load.py: %d clients for %g s on loopback, %d distinct requests (prompts of %s words, "
                    "max_tokens %d, temperature %g, a seed each); every reply compared with the same request served "
                    "alone" % (a.clients, a.seconds, a.kinds, sorted({len(r["prompt"].split()) for r in reqs}), a.max_tokens,
                               a.temperature),
            "model": {"preset": a.preset, "init_flags": a.init_flag, "tokenizer": os.path.basename(a.tokenizer),
                      "parameters": parameters(a.ttt, model)},
            "server": "ttt serve --threads %d; batched: --parallel %d; one at a time: --parallel 1 (queued)" % (
                a.threads, a.clients),
            "machine": "%s, %d CPUs (shared: other jobs ran at the same time, the numbers are noisy)" % (
                platform.machine(), os.cpu_count() or 0),
            "date": time.strftime("%Y-%m-%d"),
            "alone": {"latency_mean_s": round(sum(alone) / len(alone), 3),
                      "requests_per_s": round(len(alone) / sum(alone), 3)},
            "batched": b, "one_at_a_time": o,
            "speedup_requests_per_s": round(b["requests_per_s"] / o["requests_per_s"], 2) if o["requests_per_s"] else None,
            "lost_or_mismatched": len(bad_all),
        }
        if a.out:
            os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
            with open(a.out, "w") as f:
                json.dump(res, f, indent=1)
                f.write("\n")
        line = ("serve-load %s (%s parameters, temperature %g): --parallel %d: %.2f requests/s (%.0f tokens/s), "
                "latency p50 %.2f s, p99 %.2f s, occupancy %.1f; --parallel 1: %.2f requests/s, p50 %.2f s, p99 %.2f s; "
                "%.2fx; %d of %d replies lost or not equal to the request served alone" % (
                    a.preset, res["model"]["parameters"], a.temperature, a.clients, b["requests_per_s"],
                    b["generated_tokens_per_s"], b["latency_p50_s"], b["latency_p99_s"], b["mean_batch_occupancy"],
                    o["requests_per_s"], o["latency_p50_s"], o["latency_p99_s"], res["speedup_requests_per_s"] or 0,
                    len(bad_all), b["requests"] + o["requests"]))
        print(line, flush=True)
        if a.summary:
            with open(a.summary, "a") as f:
                f.write(line + "\n")
        return bad_all
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="a running server (else --ttt: the servers are started here)")
    ap.add_argument("--key")
    ap.add_argument("--ttt", help="the ttt binary: make the model, run the batched and the one-at-a-time servers")
    ap.add_argument("--preset", default="ttt-linear-small")
    ap.add_argument("--init-flag", action="append", default=[], help="one more ttt init argument (repeatable)")
    ap.add_argument("--tokenizer", default="data/tok/r50k_base.tiktoken")
    ap.add_argument("--threads", type=int, default=2, help="ttt serve --threads")
    ap.add_argument("--out", help="write the results here (JSON; with --ttt)")
    ap.add_argument("--summary", help="append the one-line summary to this file (with --ttt)")
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--kinds", type=int, default=8, help="distinct requests (prompt lengths 4..256 words)")
    ap.add_argument("--temperature", type=float, default=0.8, help="of every request (0: greedy)")
    a = ap.parse_args()
    if a.ttt:
        bad = managed(a)
    elif a.url:
        reqs = requests_of(a.kinds, a.max_tokens, a.temperature)
        ref, alone = served_alone(a.url, a.key, reqs)
        res, bad = load(a.url, a.key, reqs, ref, a.clients, a.seconds)
        res.update(alone_latency_mean_s=round(sum(alone) / len(alone), 3),
                   alone_requests_per_s=round(len(alone) / sum(alone), 3))
        print(json.dumps(res))
    else:
        ap.error("give --url (a running server) or --ttt (start the servers here)")
    if bad:
        print("serve-load: %d replies lost or not equal to the request served alone; the first: request %d got %s" % (
            len(bad), bad[0][0], json.dumps(bad[0][1])[:500]), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
