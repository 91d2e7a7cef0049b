"""test_install.py: the package installed with pip (--no-build-isolation, offline) into a fresh
virtual environment finds its library from outside the source tree, and the example script
examples/python/train_tiny.py runs and writes its plot."""
import os
import shutil
import subprocess
import sys
import unittest

from helpers import REPO, TMP, ttt


class TestInstall(unittest.TestCase):
    def test_pip_install_into_venv_and_import_elsewhere(self):
        src = os.path.join(TMP, "pkg")
        shutil.rmtree(src, ignore_errors=True)
        shutil.copytree(os.path.join(REPO, "python"), src, ignore=shutil.ignore_patterns("__pycache__", "*.so",
                                                                                          "build", "*.egg-info"))
        shutil.copy(ttt.library_path, os.path.join(src, "ttt", "libttt.so"))  # as `make python` ships it
        venv = os.path.join(TMP, "venv")
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv], check=True)
        py = os.path.join(venv, "bin", "python")
        r = subprocess.run([sys.executable, "-m", "pip", "--python", py, "install", "--quiet", "--no-build-isolation",
                            "--no-deps", "--no-index", src], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0 and b"no such option: --python" in r.stdout:
            self.skipTest("pip older than 22.3 (no --python)")
        self.assertEqual(r.returncode, 0, r.stdout.decode(errors="replace"))
        env = {k: v for k, v in os.environ.items() if k not in ("TTT_LIB", "PYTHONPATH")}
        code = ("import ttt, numpy as np, os; m = ttt.Model.create('ttt-linear-tiny', seed=1); "
                "print(ttt.library_path); print(m.forward(np.arange(5)).shape); print(os.path.dirname(ttt.__file__))")
        elsewhere = os.path.join(TMP, "elsewhere")
        os.makedirs(elsewhere, exist_ok=True)
        r = subprocess.run([py, "-c", code], cwd=elsewhere, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.assertEqual(r.returncode, 0, r.stdout.decode(errors="replace"))
        lib, shape, pkg = r.stdout.decode().split("\n")[:3]
        self.assertTrue(pkg.startswith(venv), pkg)          # imported from the venv, not the checkout
        self.assertEqual(lib, os.path.join(pkg, "libttt.so"))
        self.assertEqual(shape, "(5, 97)")

    def test_example_train_tiny(self):
        png = os.path.join(TMP, "train_tiny.png")
        r = subprocess.run([sys.executable, os.path.join(REPO, "examples", "python", "train_tiny.py"), "--plot", png,
                            "--steps", "30", "--seq-len", "32", "--batch", "4"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=TMP)
        out = r.stdout.decode(errors="replace")
        if r.returncode != 0 and "No module named 'matplotlib'" in out:
            self.skipTest("matplotlib absent")
        self.assertEqual(r.returncode, 0, out)
        with open(png, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        import re
        m = re.search(r"perplexity before ([0-9.]+), after ([0-9.]+)", out)
        self.assertIsNotNone(m, out)
        self.assertLess(float(m.group(2)), 0.5 * float(m.group(1)), out)  # it learned something


if __name__ == "__main__":
    unittest.main()
