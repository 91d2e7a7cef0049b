#!/usr/bin/env python3
"""train_tiny.py: train a tiny TTT-Linear model from Python, notebook style.

    python3 examples/python/train_tiny.py --plot loss.png [--data TRAIN.tok] [--steps N]

Builds a fresh tiny model (the ttt-linear-tiny preset), trains it on a token file (default:
a synthetic corpus made here, a noisy cyclic pattern a tiny model can learn) with a progress
bar (tqdm when installed, plain lines otherwise), evaluates it on held-out data, and plots the
training loss with matplotlib. About 10 s on 2 cores. Run it from a checkout after `make
python` with build/venv/bin/python, or anywhere the `ttt` package is installed."""
import argparse
import os
import sys
import time

import numpy as np

try:
    import ttt
except ImportError:  # from a checkout without installing: the package next to the repository's build
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
    import ttt

# %% arguments
ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--plot", required=True, help="PNG file for the loss curve")
ap.add_argument("--data", help="a training token file (default: synthetic)")
ap.add_argument("--steps", type=int, default=60)
ap.add_argument("--seq-len", type=int, default=64)
ap.add_argument("--batch", type=int, default=8)
ap.add_argument("--seed", type=int, default=0)
args = ap.parse_args()

# %% data: a token file on disk (what `ttt tokenize` writes), or a synthetic one
V = 97
tmp = os.path.dirname(os.path.abspath(args.plot)) or "."
if args.data:
    header = ttt.tokfile.read(args.data, header_only=True)
    V = header.vocab_size
    train_path, eval_ids = args.data, None
else:
    rs = np.random.RandomState(args.seed)
    n = 40000
    # token t+1 = token t + 1 (mod 90) + 3, with 10% of the tokens random: the loss can fall
    # from ln 97 = 4.57 towards the noise floor
    ids = (np.arange(n) % 90) + 3
    ids = (ids + rs.randint(0, 90)) % 90 + 3
    noise = rs.rand(n) < 0.1
    ids[noise] = rs.randint(3, V, noise.sum())
    train_path = os.path.join(tmp, "train_tiny.tok")
    ttt.tokfile.write(train_path, ids[:32000], vocab_size=V, bos_id=1, eos_id=2)
    eval_ids = ids[32000:]

# %% model
model = ttt.Model.create("ttt-linear-tiny", vocab_size=V, seed=args.seed)
print("model: %d parameters, %s" % (model.num_parameters(),
      {k: model.config[k] for k in ("num_hidden_layers", "hidden_size", "num_attention_heads", "mini_batch_size")}))

# %% training with a progress bar
try:
    from tqdm import tqdm
    bar = tqdm(total=args.steps, unit="step")
except ImportError:
    bar = None

losses = []


def progress(p):
    losses.append(p.loss)
    if bar is not None:
        bar.update(1)
        bar.set_postfix(loss="%.3f" % p.loss, lr="%.1e" % p.lr, tok_s="%.0f" % p.tokens_per_s)
    elif p.step == 1 or p.step % 10 == 0 or p.step == p.steps:
        print("step %3d/%d  loss %.4f  lr %.2e  %.0f tokens/s" % (p.step, p.steps, p.loss, p.lr, p.tokens_per_s),
              flush=True)


t0 = time.time()
before = ttt.evaluate(model, eval_ids if eval_ids is not None else train_path, context=args.seq_len, windows=32)
ttt.train(model, train_path, steps=args.steps, seq_len=args.seq_len, batch=args.batch, lr=3e-3, seed=args.seed,
          callback=progress)
if bar is not None:
    bar.close()

# %% evaluation
after = ttt.evaluate(model, eval_ids if eval_ids is not None else train_path, context=args.seq_len, windows=32)
print("perplexity before %.2f, after %.2f (%d windows of %d; %.1f s)" % (before.ppl, after.ppl, after.windows,
                                                                        args.seq_len, time.time() - t0))

# %% the loss curve
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(np.arange(1, len(losses) + 1), losses, label="training loss")
ax.axhline(np.log(before.ppl), color="gray", ls=":", label="eval before")
ax.axhline(np.log(after.ppl), color="C1", ls="--", label="eval after")
ax.set_xlabel("step")
ax.set_ylabel("cross-entropy (nats)")
ax.set_title("ttt-linear-tiny trained from Python")
ax.legend()
fig.tight_layout()
fig.savefig(args.plot, dpi=100)
print("loss plot: %s" % args.plot)
if not args.data and os.path.exists(train_path):
    os.remove(train_path)
