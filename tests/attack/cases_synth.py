"""cases_synth.py: the attack cases of `ttt synth mqar` (flags: bad, huge, overflowing products,
special output paths) and of token files with a loss mask (version 2, src/data/tokfile.c) under
ttt eval --accuracy and ttt train: truncated masks, stray padding bits, a mask that counts
nothing, a version-1 header over version-2 bytes, future versions. Added to the table of
cases.py."""
import os

from cases import OK, both, case, model
from lib import pattern_ids, tokfile

SYN = "synth mqar --pairs 2 --seq-len 16 --vocab 11 --examples 8 --out {d}/s.tok"


def masked(fname="d.tok", ids=None, mask=None, extra=b"", **kw):
    """a version-2 token file: the mask packed after the document offsets (inside the checksum)"""
    ids = ids if ids is not None else pattern_ids(400)
    mask = mask if mask is not None else [1 if i % 5 == 3 else 0 for i in range(len(ids))]
    mb = bytearray((len(ids) + 7) // 8)
    for i, m in enumerate(mask):
        mb[i // 8] |= (m & 1) << (i % 8)
    kw.setdefault("version", 2)
    return lambda c: c.write(fname, tokfile(ids, trailing=bytes(mb) + extra, **kw))


def has(word):
    return lambda c, o, e: None if word in o else "no %r in the output" % word


EVALA = "eval --model {m} --data {d}/d.tok --context 16 --threads 1 --accuracy"
TRAINM = "train --model {m} --data {d}/d.tok --run {d}/run --steps 2 --seq-len 8 --batch 2 --quiet --threads 1"

# the generator's flags
case("synth-ok", SYN, OK, quick=True, check=lambda c, o, e: None if os.path.getsize(c.p("s.tok")) == 128 + 136 * 2 + 64 + 17
     else "size %d" % os.path.getsize(c.p("s.tok")))
for n, flags, rx in (
        ("pairs0", "--pairs 0", r"--pairs must be an integer"),
        ("pairs-neg", "--pairs -3", r"--pairs must be an integer"),
        ("pairs-text", "--pairs two", r"--pairs must be an integer"),
        ("seq-odd", "--seq-len 17", r"even"),
        ("seq-short", "--pairs 5 --seq-len 16", r"needs --seq-len >= 4 x 5"),
        ("vocab-small", "--pairs 5 --seq-len 40 --vocab 11", r"too few for --pairs 5"),
        ("vocab-huge", "--vocab 99999999999", r"--vocab must be an integer"),
        ("examples0", "--examples 0", r"--examples must be an integer"),
        ("tokens-huge", "--examples 1000000000", r"one file holds at most"),
        ("product-overflow", "--seq-len 1099511627776 --examples 1099511627776", r"one file holds at most"),
        ("power0", "--power-a 0", r"--power-a must be a finite number > 0"),
        ("power-inf", "--power-a inf", r"--power-a must be a finite number"),
        ("seed-neg", "--seed -1", r"--seed must be an integer"),
        ("unknown-flag", "--keys 3", r"unknown flag"),
):
    # the later flag wins: the bad value replaces the good one
    case("synth-" + n, SYN + " " + flags, rx, quick=n in ("seq-short", "product-overflow"))
case("synth-task", "synth lookup --pairs 2", r"unknown task 'lookup'")
case("synth-no-task", "synth", r"give a task: ttt synth mqar")
case("synth-missing-out", "synth mqar --pairs 2 --seq-len 16 --vocab 11 --examples 8", r"missing required flag --out")
case("synth-out-dir", "synth mqar --pairs 2 --seq-len 16 --vocab 11 --examples 8 --out {d}", r"is a directory")
case("synth-out-missing-dir", "synth mqar --pairs 2 --seq-len 16 --vocab 11 --examples 8 --out {d}/no/s.tok",
     r"No such file")
case("synth-out-full", "synth mqar --pairs 2 --seq-len 16 --vocab 11 --examples 8 --out /dev/full",
     r"/dev/full|regular file|cannot")
case("synth-then-eval", "eval --model {m} --data {d}/s.tok --context 16 --threads 1 --accuracy --json -", OK,
     both(model(), lambda c: __import__("subprocess").run([c.ttt, "synth", "mqar", "--pairs", "2", "--seq-len", "16",
                                                          "--vocab", "11", "--examples", "8", "--out", c.p("s.tok")],
                                                         capture_output=True, check=True)),
     quick=True, check=has('"accuracy": '))

# token files with a loss mask
case("mask-ok", EVALA, OK, both(model(), masked()), quick=True, check=has("accuracy "))
case("mask-train-ok", TRAINM, OK, both(model(), masked()))
case("mask-truncated", EVALA, r"loss mask of 50 bytes \(token-file version 2\)",
     both(model(), lambda c: c.write("d.tok", tokfile(pattern_ids(400), version=2, trailing=b"\0" * 49))), quick=True)
case("mask-long", EVALA, r"truncated or corrupt", both(model(), masked(extra=b"\0")))
case("mask-padding", EVALA, r"bits set past token 400",
     both(model(), lambda c: c.write("d.tok", tokfile(pattern_ids(401), version=2, trailing=b"\0" * 50 + b"\x02"))))
case("mask-none-counted", EVALA, r"counts no target", both(model(), masked(mask=[0] * 400)), quick=True)
case("mask-none-counted-train", TRAINM, r"counts no target", both(model(), masked(mask=[0] * 400)))
case("mask-v1-header", EVALA, r"truncated or corrupt", both(model(), masked(version=1)))
case("mask-v3", EVALA, r"version 3", both(model(), masked(version=3)))
case("mask-checksum", EVALA, r"checksum", both(model(), masked(checksum=5)))
case("mask-vocab-model", EVALA, r"vocab_size", both(model(), masked(vocab=50)))
case("mask-json-dir", EVALA + " --json {d}", r"is a directory", both(model(), masked()))
case("mask-json-empty", EVALA + " --json ''", r"--json needs a file name", both(model(), masked()))
