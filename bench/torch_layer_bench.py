"""torch_layer_bench.py: one TTT-Linear layer's forward + backward in PyTorch, ours
(ttt.torch.TTTLinear: the inner loop in libttt) against the authors' ttt.py TTTLinear on the
same state dict and the same input, at the 125M width (768, 12 heads, mini-batch 16, Mamba
backbone: share_qk, use_gate) and L = 2048 by default.

    TTT_LIB=build/libttt.so /usr/bin/python3 bench/torch_layer_bench.py --ttt-py /path/to/ttt.py \
        [--seq-len 2048] [--batch 1] [--reps 3] [--threads 2] [--mlp]

ttt.py comes from test-time-training/ttt-lm-pytorch (commit cd831db), never from this
repository; the `transformers` names it imports come from bench/official/stubs. Both run in
one process with torch.set_num_threads(threads) and glibc malloc keeping freed memory
(MALLOC_MMAP_MAX_=0 ..., set by re-executing itself; TTT_BENCH_NO_REEXEC=1 keeps the
environment as given), in training mode (ttt.py with
scan_checkpoint_group_size = 0, its fastest), after one warm-up; the median of --reps runs of
forward + backward of (out · w).sum() is printed, with the outputs' and gradients' agreement.
"""
import argparse
import importlib.util
import os
import statistics
import sys
import time
import warnings

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import ttt.torch as tt  # noqa: E402


def load_authors(path):
    sys.path.insert(0, os.path.join(HERE, "official", "stubs"))
    warnings.filterwarnings("ignore")
    spec = importlib.util.spec_from_file_location("ttt_authors", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def fwd_bwd(m, x, w, pos):
    for p in m.parameters():
        p.grad = None
    t = time.perf_counter()
    y = m(x, position_ids=pos)
    (y * w).sum().backward()
    return time.perf_counter() - t, y


# glibc keeps freed memory (as bench/official does for ttt.py at its best): otherwise every
# large tensor of every step is fresh mmap'ed pages and their first touch dominates both sides
MALLOC_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "68719476736", "MALLOC_TOP_PAD_": "536870912"}


def main():
    if any(os.environ.get(k) != v for k, v in MALLOC_ENV.items()) and not os.environ.get("TTT_BENCH_NO_REEXEC"):
        os.environ.update(MALLOC_ENV)
        os.execv(sys.executable, [sys.executable] + sys.argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ttt-py", required=True)
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mlp", action="store_true", help="TTT-MLP instead of TTT-Linear")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    mod = load_authors(a.ttt_py)
    kind = "mlp" if a.mlp else "linear"
    cfg = mod.TTTConfig(hidden_size=768, num_attention_heads=12, intermediate_size=2048, num_hidden_layers=1,
                        mini_batch_size=16, share_qk=True, use_gate=True, pre_conv=True, conv_kernel=4,
                        ttt_layer_type=kind, ttt_base_lr=1.0, scan_checkpoint_group_size=0)
    torch.manual_seed(0)
    theirs = (mod.TTTMLP if a.mlp else mod.TTTLinear)(cfg, layer_idx=0).train()
    ours = (tt.TTTMLP if a.mlp else tt.TTTLinear)(cfg).train()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    B, L = a.batch, a.seq_len
    x = torch.randn(B, L, 768)
    w = torch.randn(B, L, 768)
    pos = torch.arange(L)[None].expand(B, L)
    times = {"ttt.py": [], "ttt.torch": []}
    outs = {}
    for r in range(a.reps + 1):
        for name, m in (("ttt.py", theirs), ("ttt.torch", ours)):
            dt, y = fwd_bwd(m, x, w, pos)
            if r > 0:
                times[name].append(dt)
            outs[name] = (y.detach(), {n: p.grad.clone() for n, p in m.named_parameters()})
    y0, g0 = outs["ttt.py"]
    y1, g1 = outs["ttt.torch"]
    dy = ((y1 - y0).abs().max() / y0.abs().max()).item()
    dg = max(((g1[n] - g0[n]).abs().max() / g0[n].abs().max().clamp_min(1e-30)).item() for n in g0)
    t0, t1 = statistics.median(times["ttt.py"]), statistics.median(times["ttt.torch"])
    print("TTT-%s layer, width 768, 12 heads, mini-batch 16, B=%d, L=%d, %d threads, torch %s" %
          ("MLP" if a.mlp else "Linear", B, L, a.threads, torch.__version__))
    print("  output max rel diff %.2g, worst parameter-gradient max rel diff %.2g" % (dy, dg))
    print("  forward+backward  ttt.py %.3f s   ttt.torch %.3f s   speed-up %.2fx  (median of %d)" %
          (t0, t1, t0 / t1, a.reps))


if __name__ == "__main__":
    main()
