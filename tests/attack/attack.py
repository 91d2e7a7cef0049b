#!/usr/bin/env python3
"""attack.py: the project's own attack suite (make attack; its quick part runs in make test).

Every case of cases.py and every scenario below runs under the release binary and under the
AddressSanitizer + UndefinedBehaviorSanitizer binary, each with a timeout, in a fresh
directory, and is classified as one of
  ok                  expected success, and the output passed its check
  clear error         expected failure: exit status 1 or 2 and a message matching the case
  crash               killed by a signal
  sanitizer           an ASan/UBSan report on stderr
  hang                ran past the timeout
  silent wrong        exit 0 where an error was expected, or output that failed its check
  unclear error       a failure without the expected message (or where success was expected)
http_serve.py adds a scenario of hostile HTTP requests against a live `ttt serve` per binary
(status codes, OpenAI error bodies, the server serving on throughout, a clean SIGTERM), its case
ids serve-http-*, classified the same way. The run fails on anything but the expected class. A canary directory next to the work tree
is checksummed before and after: nothing may touch it.
"""
import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cases import CASES, OK  # noqa: E402
from lib import Ctx, Fixtures, pattern_ids, tokfile  # noqa: E402
import http_serve  # noqa: E402

SAN_RX = re.compile(r"ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer|UndefinedBehaviorSanitizer")
ENV_SAN = {"ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0:allocator_may_return_null=1",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
GOOD = ("ok", "clear error")
EITHER = "ok-or:"  # an expectation "ok-or:REGEX": success, or a failure whose message matches REGEX


def as_expected(cls, expect):
    if expect.startswith(EITHER):
        return cls in GOOD
    return cls in GOOD and (cls == "ok") == (expect == OK)
DEVICES = ("/dev/null", "/dev/full", "/dev/zero")  # outputs the cases name: they must stay devices


def device_state():
    out = {}
    for d in DEVICES:
        try:
            st = os.lstat(d)
            out[d] = (st.st_mode, st.st_rdev)
        except OSError:
            out[d] = None
    return out


def classify(rc, out, err, expect, check_msg, timed_out):
    if timed_out:
        return "hang", "no exit within the timeout"
    if SAN_RX.search(err):
        return "sanitizer", SAN_RX.search(err).group(0)
    if rc < 0:
        return "crash", "signal %d" % -rc
    if expect.startswith(EITHER):
        expect = OK if rc == 0 else expect[len(EITHER):]
    if expect == OK:
        if rc != 0:
            return "unclear error", "exit %d where success was expected" % rc
        if check_msg:
            return "silent wrong", check_msg
        if re.search(r"\b(loss|perplexity)\s+-?(nan|inf)", out + err):
            return "silent wrong", "a non-finite loss with exit 0"
        return "ok", ""
    if rc == 0:
        return "silent wrong", "exit 0 where an error was expected"
    if rc not in (1, 2):
        return "unclear error", "exit status %d" % rc
    if not re.search(expect, err, re.S):
        return "unclear error", "message does not match /%s/" % expect
    return "clear error", ""


def run_ttt(ttt, argv, cwd, env, timeout, stdout_path=None):
    cmd = "%s %s" % (ttt, argv)
    if stdout_path:
        cmd += " > %s" % stdout_path
    try:
        p = subprocess.run(["/bin/sh", "-c", "exec " + cmd], cwd=cwd, env=env, capture_output=True, timeout=timeout,
                           start_new_session=True)
        return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"), False
    except subprocess.TimeoutExpired as e:
        return -9, (e.stdout or b"").decode("utf-8", "replace"), (e.stderr or b"").decode("utf-8", "replace"), True


class Runner:
    def __init__(self, args):
        self.args = args
        self.base = tempfile.mkdtemp(prefix="ttt-attack-")
        self.work = os.path.join(self.base, "work")
        self.canary = os.path.join(self.base, "canary")
        os.makedirs(self.work)
        self.make_canary()
        self.canary_sum = self.checksum(self.canary)
        self.devices = device_state()
        try:
            self.fx = Fixtures(os.path.join(self.base, "fx"), args.ttt, args.repo)
        except BaseException:
            shutil.rmtree(self.base, ignore_errors=True)
            raise
        self.bins = [("release", args.ttt, args.timeout, dict(os.environ))]
        if args.ttt_san:
            env = dict(os.environ)
            env.update(ENV_SAN)
            self.bins.append(("sanitizer", args.ttt_san, args.timeout * 4, env))
        self.results = []  # (id, binary, class, expected, detail)
        self.n = 0

    def make_canary(self):
        shutil.rmtree(self.canary, ignore_errors=True)
        os.makedirs(os.path.join(self.canary, "sub"))
        for i in range(3):
            with open(os.path.join(self.canary, "sub" if i else "", "c%d" % i), "w") as f:
                f.write("canary %d\n" % i)

    def check_canary(self, cid, bname):
        """after every case: the canary outside the work tree is untouched (else reported, remade)"""
        if os.path.isdir(self.canary) and self.checksum(self.canary) == self.canary_sum:
            return
        self.record(cid + ":canary", bname, "silent wrong", "untouched", "the canary directory outside the work tree changed")
        self.make_canary()

    @staticmethod
    def checksum(d):
        h = hashlib.sha256()
        for root, dirs, files in sorted(os.walk(d)):
            dirs.sort()
            for f in sorted(files):
                p = os.path.join(root, f)
                h.update(p.encode())
                with open(p, "rb") as fp:
                    h.update(fp.read())
            h.update(str(sorted(dirs)).encode())
        return h.hexdigest()

    def fresh(self):
        self.n += 1
        d = os.path.join(self.work, "c%04d" % self.n)
        os.makedirs(d)
        return d

    def record(self, cid, binary, cls, expected, detail):
        good = as_expected(cls, expected)
        self.results.append((cid, binary, cls, expected, detail, good))
        if not good or self.args.verbose:
            print("  %-34s %-9s %-14s %s" % (cid, binary, cls, detail[:150]), flush=True)

    def run_case(self, c):
        if c["needs"] and not self.fx.tokenizer(c["needs"]):
            self.results.append((c["id"], "-", "skipped", c["expect"], "needs data/tok/" + c["needs"], True))
            return
        for bname, ttt, timeout, env in self.bins:
            d = self.fresh()
            ctx = Ctx(self.fx, d, ttt)
            ctx.vars.update(canary=self.canary, fx=self.fx.root, tokdir=self.fx.tok_dir, run=os.path.join(d, "run"))
            if c["setup"]:
                try:
                    c["setup"](ctx)
                except Exception as e:  # a broken case, not a finding: reported and failed
                    self.record(c["id"], bname, "setup error", c["expect"], repr(e))
                    continue
            argv = c["argv"]
            for k, v in ctx.vars.items():
                argv = argv.replace("{%s}" % k, v)
            rc, out, err, to = run_ttt(ttt, argv, d, env, c["timeout"] or timeout, c["stdout"])
            chk = c["check"](ctx, out, err) if c["check"] and rc == 0 else None
            cls, detail = classify(rc, out, err, c["expect"], chk, to)
            if not as_expected(cls, c["expect"]):
                detail = "%s | %s" % (detail, (err.strip().splitlines() or [""])[-1][:200])
            self.check_devices(c["id"], bname)
            self.check_canary(c["id"], bname)
            self.record(c["id"], bname, cls, c["expect"], detail)
            shutil.rmtree(d, ignore_errors=True)

    def check_devices(self, cid, bname):
        """a device replaced by a file (an atomic rename over /dev/full) is put back and reported"""
        now = device_state()
        for dev, st in self.devices.items():
            if now[dev] != st and st is not None:
                os.remove(dev) if os.path.lexists(dev) else None
                os.mknod(dev, st[0], st[1])
                self.record(cid + ":" + dev, bname, "silent wrong", "untouched", "%s was replaced" % dev)

    # ---- scenarios: several processes, signals, filesystems ---------------------------------
    def train_args(self, ttt, run, steps, extra=""):
        return "%s train --model %s --data %s --run %s --steps %d --seq-len 8 --batch 2 --threads 1 --quiet %s" % (
            ttt, self.fx.model("ttt"), self.fx.path("data.tok"), run, steps, extra)

    def scenario_concurrent(self, bname, ttt, timeout, env):
        """a second trainer on a run directory in use fails at once, naming the holder; the
        first one's run stays intact (it is stopped with kill -9 and then resumed)"""
        d = self.fresh()
        run = os.path.join(d, "run")
        a = subprocess.Popen(["/bin/sh", "-c", "exec " + self.train_args(ttt, run, 10 ** 7, "--ckpt-every 20")],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(500):  # until the first trainer holds the lock and has a checkpoint
            if os.path.exists(os.path.join(run, "latest")):
                break
            time.sleep(0.02)
        rc, out, err, to = run_ttt("", self.train_args(ttt, run, 10 ** 7), d, env, timeout)
        rc2, out2, err2, to2 = run_ttt("", self.train_args(ttt, run, 10 ** 7, "--resume").replace(
            "--model %s " % self.fx.model("ttt"), ""), d, env, timeout)
        alive = a.poll() is None
        a.kill()
        a.wait()
        cls, detail = classify(rc, out, err, r"pid %d" % a.pid, None, to)
        if cls == "clear error":
            cls, detail = classify(rc2, out2, err2, r"pid %d" % a.pid, None, to2)
        if cls == "clear error" and not alive:
            cls, detail = "silent wrong", "the first trainer stopped early: " + a.stderr.read().decode()[-200:]
        if cls == "clear error":
            rc, out, err, to = run_ttt("", self.train_args(ttt, run, 10 ** 7, "--resume --stop-after 1").replace(
                "--model %s " % self.fx.model("ttt"), ""), d, env, timeout * 2)
            if rc != 0:
                cls, detail = "silent wrong", "the first trainer's run does not resume: " + err[-200:]
        self.record("scenario-concurrent-trainers", bname, cls, "error", detail)

    def scenario_kill9(self, bname, ttt, timeout, env, rounds):
        rnd = random.Random(16)
        worst = ("ok", "")
        for r in range(rounds):
            d = self.fresh()
            run = os.path.join(d, "run")
            # first a checkpoint to fall back to, then kill -9 while the next ones are written
            rc, out, err, to = run_ttt(ttt, self.train_args("", run, 100000, "--stop-after 2 --ckpt-every 1 --keep 2")[1:],
                                       d, env, timeout)
            if rc != 0:
                worst = ("unclear error", "the first two steps failed: " + err[-200:])
                break
            p = subprocess.Popen(["/bin/sh", "-c", "exec " + self.train_args(ttt, run, 100000, "--resume --ckpt-every 1 --keep 2")
                                  .replace("--model %s " % self.fx.model("ttt"), "")],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rnd.uniform(0.02, 0.6 if bname == "release" else 2.0))
            p.send_signal(signal.SIGKILL)
            p.wait()
            latest = os.path.join(run, "latest")
            try:
                name = open(latest).read().strip()
            except OSError as e:
                worst = ("silent wrong", "round %d: latest unreadable after kill -9: %s" % (r, e))
                break
            rc, out, err, to = run_ttt(ttt, "info --model %s" % os.path.join(run, name), d, env, timeout)
            cls, detail = classify(rc, out, err, OK, None, to)
            if cls != "ok":
                worst = ("silent wrong" if cls == "unclear error" else cls,
                         "round %d: latest %s does not load: %s" % (r, name, err[-200:]))
                break
            rc, out, err, to = run_ttt(ttt, self.train_args("", run, 100000, "--resume --stop-after 1").replace(
                "--model %s " % self.fx.model("ttt"), "")[1:], d, env, timeout * 4)
            cls, detail = classify(rc, out, err, OK, None, to)
            if cls != "ok":
                worst = (cls, "round %d: resume after kill -9 failed: %s" % (r, err[-200:]))
                break
            shutil.rmtree(d, ignore_errors=True)
        self.record("scenario-kill9-checkpointing(%d)" % rounds, bname, worst[0], OK, worst[1])

    def scenario_filesystems(self, bname, ttt, timeout, env):
        d = self.fresh()
        mnt = os.path.join(d, "mnt")
        os.makedirs(mnt)
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt], capture_output=True).returncode:
            self.results.append(("scenario-full-and-readonly-fs", bname, "skipped", "error",
                                 "mount -t tmpfs is not permitted here", True))
            return
        try:
            subprocess.run(["dd", "if=/dev/zero", "of=%s/fill" % mnt, "bs=4k"], capture_output=True)
            checks = [
                ("full-train", self.train_args(ttt, os.path.join(mnt, "run"), 3, "--ckpt-every 1"), r"No space|cannot"),
                ("full-eval", "%s eval --model %s --data %s --context 16 --by-position %s/bp.csv" % (
                    ttt, self.fx.model("ttt"), self.fx.path("data.tok"), mnt), r"No space"),
                ("full-init", "%s init --preset ttt-linear-tiny --out %s/m" % (ttt, mnt), r"No space|cannot"),
            ]
            for cid, cmd, rx in checks:
                rc, out, err, to = run_ttt("", cmd, d, env, timeout * 2)
                cls, detail = classify(rc, out, err, rx, None, to)
                left = [f for f in os.listdir(mnt) if f not in ("fill", "run", "m")]
                if cls == "clear error" and left:
                    cls, detail = "silent wrong", "left behind: %s" % left
                self.record("scenario-" + cid, bname, cls, rx, detail)
            subprocess.run(["mount", "-o", "remount,ro", mnt], capture_output=True)
            rc, out, err, to = run_ttt("", self.train_args(ttt, os.path.join(mnt, "run2"), 2), d, env, timeout)
            cls, detail = classify(rc, out, err, r"Read-only|cannot", None, to)
            self.record("scenario-readonly-train", bname, cls, "error", detail)
        finally:
            subprocess.run(["umount", "-l", mnt], capture_output=True)

    def scenario_links(self, bname, ttt, timeout, env):
        """links planted in a run directory and as output names point into the canary"""
        d = self.fresh()
        run = os.path.join(d, "run")
        rc, out, err, to = run_ttt("", self.train_args(ttt, run, 2, "--ckpt-every 1 --keep 1"), d, env, timeout)
        for name in ("ckpt-00000099", ".tmp-ckpt-00000003-1-abcdef", "ckpt-00000000"):
            os.symlink(self.canary, os.path.join(run, name))
        os.symlink(os.path.join(self.canary, "c0"), os.path.join(d, "out.csv"))
        rc, out, err, to = run_ttt("", self.train_args(ttt, run, 6, "--resume --ckpt-every 1 --keep 1").replace(
            "--model %s " % self.fx.model("ttt"), ""), d, env, timeout * 2)
        cls, detail = classify(rc, out, err, OK, None, to)
        self.record("scenario-planted-links-train", bname, cls, OK, detail)
        rc, out, err, to = run_ttt(ttt, "eval --model %s --data %s --context 16 --by-position %s/out.csv" % (
            self.fx.model("ttt"), self.fx.path("data.tok"), d), d, env, timeout)
        cls, detail = classify(rc, out, err, OK, None, to)
        self.record("scenario-output-link", bname, cls, OK, detail)

    def run(self):
        quick = self.args.quick
        cases = [c for c in CASES if c["quick"] or not quick]
        if self.args.only:
            cases = [c for c in cases if re.search(self.args.only, c["id"])]
        t0 = time.time()
        for c in cases:
            self.run_case(c)
        for bname, ttt, timeout, env in self.bins:  # a live server per binary (--only selects its cases too)
            http_serve.run(self, bname, ttt, timeout, env)
        if not self.args.only:
            for bname, ttt, timeout, env in self.bins:
                self.scenario_concurrent(bname, ttt, timeout, env)
                self.scenario_kill9(bname, ttt, timeout, env, 3 if quick else 25)
                self.scenario_filesystems(bname, ttt, timeout, env)
                self.scenario_links(bname, ttt, timeout, env)
        if self.checksum(self.canary) != self.canary_sum:
            self.results.append(("canary", "-", "silent wrong", "untouched", "the canary directory changed", False))
            print("  canary directory outside the work tree was modified", flush=True)
        return time.time() - t0

    def report(self, secs):
        tally = {}
        for r in self.results:
            tally[r[2]] = tally.get(r[2], 0) + 1
        bad = [r for r in self.results if not r[5]]
        ncases = len({r[0] for r in self.results})
        line = ", ".join("%d %s" % (tally[k], k) for k in sorted(tally))
        by_bin, rows = {}, {}
        for r in self.results:
            by_bin.setdefault(r[1], {})
            by_bin[r[1]][r[2]] = by_bin[r[1]].get(r[2], 0) + 1
            rows.setdefault(r[0], [str(r[3])[:30], {}])[1][r[1]] = r[2] + ("" if r[5] else " !")
        if self.args.table:  # one line per case: what was expected, what each binary did
            names = [b[0] for b in self.bins]
            print("%-40s %-30s %s" % ("case", "expected", " ".join("%-16s" % n for n in names)))
            for cid, (exp, got) in rows.items():
                print("%-40s %-30s %s" % (cid[:40], exp, " ".join("%-16s" % got.get(n, got.get("-", "")) for n in names)))
        for b, t in sorted(by_bin.items()):
            print("  %-10s %s" % (b, ", ".join("%d %s" % (t[k], k) for k in sorted(t))))
        print("attack%s: %d cases, %d runs (%s) in %.0f s; %d unexpected" % (
            " (quick)" if self.args.quick else "", ncases, len(self.results), line, secs, len(bad)))
        if self.args.json:
            with open(self.args.json, "w") as f:
                json.dump({"cases": ncases, "runs": len(self.results), "tally": tally, "by_binary": by_bin,
                           "seconds": round(secs), "unexpected": len(bad),
                           "failures": [dict(id=r[0], binary=r[1], outcome=r[2], detail=r[4]) for r in bad]}, f, indent=1)
        return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ttt", default="build/ttt")
    ap.add_argument("--ttt-san", default="build-debug/ttt", help="sanitizer binary ('' to skip)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", help="regular expression over case ids")
    ap.add_argument("--timeout", type=float, default=20, help="seconds per run (sanitizer: 4x)")
    ap.add_argument("--json", help="write the tally here")
    ap.add_argument("--verbose", action="store_true", help="print every run as it finishes")
    ap.add_argument("--table", action="store_true", help="print one line per case at the end")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    a = ap.parse_args()
    a.repo = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    a.ttt = os.path.abspath(a.ttt)
    a.ttt_san = os.path.abspath(a.ttt_san) if a.ttt_san else ""
    for b in (a.ttt, a.ttt_san):
        if b and not os.access(b, os.X_OK):
            sys.exit("attack: %s is not built (make all, make DEBUG=1 all)" % b)
    # a SIGTERM (a timeout around make) unwinds like ^C: mounts are unmounted, temp dirs removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    r = Runner(a)
    try:
        secs = r.run()
        rc = r.report(secs)
    finally:
        if not a.keep:
            shutil.rmtree(r.base, ignore_errors=True)
    sys.exit(rc)


if __name__ == "__main__":
    main()
