"""torch_ttt_layer.py: ttt.torch.TTTLinear inside a plain PyTorch model, trained with torch.optim.

The model: token embedding -> [LayerNorm -> TTTLinear (Mamba-backbone settings: shared Q/K
projection with two causal convolutions, gelu gate) + residual] -> LayerNorm -> linear head.
Its inner loop (forward and backward) runs in libttt's fused kernels; everything else is
ordinary PyTorch. The task: each sequence is 16 random tokens, then the same 16 again, so the
second half can only be predicted by remembering the first one in context, which is what the
TTT layer's inner state does; the loss on the second half falls from ln(vocab) towards 0.

    PYTHONPATH=python TTT_LIB=build/libttt.so python3 examples/python/torch_ttt_layer.py
    ... --steps 300 --lr 3e-3 --threads 2

About 5 s for the default 120 steps on 2 cores (the repeated-half loss goes from 2.9 to about 2.2).
"""
import argparse
import math
import os
import sys
import time

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))  # a checkout without pip install

import ttt.torch  # noqa: E402


class TinyTTTModel(nn.Module):
    def __init__(self, vocab, width, heads, mini_batch):
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.norm1 = nn.LayerNorm(width)
        self.ttt = ttt.torch.TTTLinear(hidden_size=width, num_attention_heads=heads, mini_batch_size=mini_batch,
                                       share_qk=True, use_gate=True, conv_kernel=4, ttt_base_lr=1.0)
        self.norm2 = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab)

    def forward(self, ids):
        h = self.embed(ids)
        h = h + self.ttt(self.norm1(h))
        return self.head(self.norm2(h))


def batch(gen, B, half, vocab):
    first = torch.randint(0, vocab, (B, half), generator=gen)
    ids = torch.cat([first, first], dim=1)
    return ids[:, :-1], ids[:, 1:]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--half", type=int, default=16, help="tokens before the repeat")
    ap.add_argument("--vocab", type=int, default=16)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--mini-batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=6e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed + 1)
    model = TinyTTTModel(a.vocab, a.width, a.heads, a.mini_batch)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.0)
    lossf = nn.CrossEntropyLoss()
    h = a.half
    t0 = time.time()
    first = last = None
    for step in range(1, a.steps + 1):
        x, y = batch(gen, a.batch, h, a.vocab)
        logits = model(x)
        loss = lossf(logits.reshape(-1, a.vocab), y.reshape(-1))
        # the repeated half (targets h .. 2h−2): learnable only in context
        rep = lossf(logits[:, h - 1:].reshape(-1, a.vocab), y[:, h - 1:].reshape(-1)).item()
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = rep if first is None else first
        last = rep
        if step == 1 or step % 25 == 0 or step == a.steps:
            print("step %4d  loss %.4f  repeated-half loss %.4f  (%.1f s)" % (step, loss.item(), rep, time.time() - t0),
                  flush=True)
    print("repeated-half loss: %.4f -> %.4f (chance %.4f)" % (first, last, math.log(a.vocab)))
    return first, last


if __name__ == "__main__":
    main()
