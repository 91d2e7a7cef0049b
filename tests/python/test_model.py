"""test_model.py: ttt.Model and ttt.Cache against the `ttt` command (bit for bit: forward
logits, loss, gradients, decode logits) and against finite differences (one gradient element,
float64 model); zero-copy parameter views against the model file read here; error handling; the
GIL released during a long forward."""
import os
import threading
import time
import unittest

import numpy as np

from helpers import TMP, run, st_read, st_write, tiny_model, ttt, worst


class TestForwardBackward(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tiny_model()
        cls.ids = np.random.RandomState(3).randint(0, 97, size=(2, 24)).astype(np.int32)
        inp, cls.out = os.path.join(TMP, "in.safetensors"), os.path.join(TMP, "out.safetensors")
        st_write(inp, {"input_ids": cls.ids})
        run("forward", "--model", cls.dir, "--input", inp, "--output", cls.out, "--grad", "--decode",
            "--hidden-states")
        cls.cli = st_read(cls.out)
        cls.m = ttt.Model.load(cls.dir)

    def test_forward_bits_equal_cli(self):
        lg = self.m.forward(self.ids)
        ref = self.cli["logits"]
        self.assertEqual(lg.shape, ref.shape)
        self.assertEqual(lg.dtype, np.float32)
        self.assertTrue(np.array_equal(lg.view(np.uint32), ref.view(np.uint32)), worst(lg, ref))
        # 1-D ids: one sequence, logits [L, V]
        one = self.m.forward(self.ids[1].astype(np.int64))
        self.assertEqual(one.shape, (24, 97))

    def test_hidden_states_bits_equal_cli(self):
        hs = self.m.hidden_states(self.ids)
        self.assertEqual(len(hs), self.m.config["num_hidden_layers"] + 1)
        for i, h in enumerate(hs):
            ref = self.cli["hidden_states.%d" % i]
            self.assertTrue(np.array_equal(h, ref), "hidden_states.%d: %s" % (i, worst(h, ref)))

    def test_loss_equals_cli(self):
        loss = self.m.loss(self.ids)
        self.assertEqual(np.float32(loss), self.cli["loss"][()], (loss, self.cli["loss"]))
        # explicit targets (ids shifted, last left out) give the same mean
        t = np.full(self.ids.shape, -1)
        t[:, :-1] = self.ids[:, 1:]
        self.assertAlmostEqual(self.m.loss(self.ids, t), loss, delta=1e-6 * abs(loss))

    def test_grads_bits_equal_cli(self):
        loss, grads = self.m.forward_backward(self.ids)
        self.assertEqual(np.float32(loss), self.cli["loss"][()])
        keys = [k[5:] for k in self.cli if k.startswith("grad.")]
        self.assertEqual(sorted(keys), sorted(grads))
        for k in keys:
            g, ref = grads[k], self.cli["grad." + k]
            self.assertEqual(g.shape, ref.shape, k)
            self.assertTrue(np.array_equal(g.view(np.uint32), ref.view(np.uint32)), "%s: %s" % (k, worst(g, ref)))

    def test_decode_bits_equal_cli(self):
        # token by token from an empty cache, as `ttt forward --decode`
        c = ttt.Cache(self.m, batch=2)
        ref = self.cli["decode_logits"]
        for t in range(self.ids.shape[1]):
            lg = c.decode_step(self.ids[:, t])
            self.assertTrue(np.array_equal(lg, ref[:, t]), "step %d: %s" % (t, worst(lg, ref[:, t])))
        self.assertEqual(c.position, 24)
        c.reset()
        self.assertEqual(c.position, 0)
        # prefill of the whole sequence: the same logits within float32 rounding (dual form)
        p = c.prefill(self.ids)
        self.assertLess(float(np.max(np.abs(p - self.cli["logits"]))), 1e-4, worst(p, self.cli["logits"]))
        last = ttt.Cache(self.m, 2).prefill(self.ids, last_only=True)
        # only the last position through the LM head (another product order): within 1e-5
        self.assertLess(float(np.max(np.abs(last - p[:, -1]))), 1e-5, worst(last, p[:, -1]))

    def test_parameters_are_views_of_the_model(self):
        ref = st_read(os.path.join(self.dir, "model.safetensors"))
        views = self.m.parameters()
        self.assertEqual(list(views), self.m.parameter_names())
        for k, v in views.items():
            self.assertFalse(v.flags.writeable)
            self.assertTrue(np.array_equal(v, ref[k]), k)
        m2 = ttt.Model.load(self.dir)
        v = m2.parameters()["lm_head.weight"] if "lm_head.weight" in views else m2.parameters()["model.embed_tokens.weight"]
        before = v.copy()
        del m2  # the view keeps the model alive
        ids = np.random.RandomState(9).randint(0, 97, 600)
        self.assertTrue(np.array_equal(v, before))
        # training changes the weights in place: the view follows
        m3 = ttt.Model.load(self.dir)
        w = m3.parameters()["model.embed_tokens.weight"]
        w0 = w.copy()
        ttt.train(m3, ids, steps=1, seq_len=16, batch=2, quiet=True)
        self.assertFalse(np.array_equal(w, w0))
        self.assertTrue(np.array_equal(w, m3.parameters(copy=True)["model.embed_tokens.weight"]))

    def test_finite_difference_one_grad_element(self):
        m = ttt.Model.load(self.dir, precision="f64")
        ids = self.ids[:1, :16]
        _, g = m.forward_backward(ids)
        name = "model.layers.0.seq_modeling_block.ttt_norm_weight"
        if name not in g:
            name = sorted(g)[5]
        w = m.parameters(copy=True)[name]
        i = np.unravel_index(int(np.argmax(np.abs(g[name]))), g[name].shape)
        h = 1e-3
        vals = []
        for s in (+1, -1):
            w2 = w.copy()
            w2[i] = np.float32(w[i] + s * h)
            m.set_parameter(name, w2)
            vals.append((m.loss(ids), float(w2[i])))
        m.set_parameter(name, w)
        fd = (vals[0][0] - vals[1][0]) / (vals[0][1] - vals[1][1])
        self.assertLess(abs(fd - g[name][i]), 1e-4 * max(1.0, abs(fd)) + 1e-6,
                        "%s%s: finite difference %r, gradient %r" % (name, i, fd, g[name][i]))

    def test_save_load_round_trip(self):
        d = os.path.join(TMP, "saved")
        self.m.save(d)
        m2 = ttt.Model.load(d)
        self.assertEqual(m2.config, self.m.config)
        self.assertTrue(np.array_equal(m2.forward(self.ids), self.m.forward(self.ids)))
        self.assertEqual(self.m.config["arch"], "ttt")
        self.assertEqual(self.m.config["vocab_size"], 97)


class TestErrors(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = ttt.Model.load(tiny_model())

    def test_bad_path(self):
        with self.assertRaises(ttt.Error) as cm:
            ttt.Model.load(os.path.join(TMP, "no-such-model"))
        self.assertIn("no-such-model/config.json", str(cm.exception))
        self.assertEqual(cm.exception.status_name, "TTT_ERR_IO")
        with self.assertRaises(ttt.TTTError):
            ttt.Tokenizer.load(os.path.join(TMP, "nothing.tiktoken"))
        with self.assertRaises(ttt.TTTError):
            ttt.tokfile.read(os.path.join(TMP, "nothing.tok"))

    def test_ids_out_of_range_carry_the_library_message(self):
        for bad, what in (([[1, 2, 97]], "token id 97 at batch 0, position 2 is outside [0, 97)"),
                          ([[1, -5, 3]], "token id -5 at batch 0, position 1 is outside [0, 97)")):
            with self.assertRaises(ttt.TTTError) as cm:
                self.m.forward(np.array(bad))
            self.assertIn(what, str(cm.exception))
            self.assertEqual(cm.exception.status_name, "TTT_ERR_ARG")
            with self.assertRaises(ttt.TTTError):
                self.m.forward_backward(np.array(bad))
            with self.assertRaises(ttt.TTTError):
                ttt.Cache(self.m).prefill(np.array(bad)[0])

    def test_wrong_dtype_and_shape_refused(self):
        ids = np.arange(8)
        for bad in (ids.astype(np.float32), ids.astype(bool), np.array(["a", "b"])):
            with self.assertRaises(ttt.DTypeError):
                self.m.forward(bad)
        with self.assertRaises(TypeError):
            self.m.forward(ids.astype(np.float64))
        for bad in (ids.reshape(1, 2, 4), np.zeros((2, 0), np.int32), np.int32(5), np.array([2 ** 33])):
            with self.assertRaises(ttt.ArgumentError):
                self.m.forward(bad)
        with self.assertRaises(ttt.ArgumentError):
            self.m.forward_backward(ids.reshape(2, 4), targets=np.zeros((4, 2), np.int32))
        with self.assertRaises(ttt.ArgumentError):
            ttt.Cache(self.m, batch=2).decode_step(3)

    def test_struct_layout_check(self):
        import ctypes as C
        from ttt import _structs as S
        self.assertEqual(S.check_layout("ttt_sampling", S.Sampling), C.sizeof(S.Sampling))

        class Swapped(C.Structure):  # top_k and temperature exchanged
            _fields_ = [("top_k", C.c_int64), ("temperature", C.c_double), ("top_p", C.c_double)]

        class Longer(C.Structure):
            _fields_ = S.Sampling._fields_ + [("extra", C.c_double)]

        for bad in (Swapped, Longer):
            with self.assertRaises(ImportError):
                S.check_layout("ttt_sampling", bad)

    def test_threads_share_a_model(self):
        # calls from several threads take turns (the model's lock): every result is the serial one
        ids = [np.random.RandomState(s).randint(0, 97, size=(2, 64 + 16 * s)) for s in range(3)]
        ref = [self.m.forward(x) for x in ids]
        bad = []

        def work(k):
            for _ in range(5):
                if not np.array_equal(self.m.forward(ids[k]), ref[k]):
                    bad.append(k)

        ths = [threading.Thread(target=work, args=(k,)) for k in range(3)]
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        self.assertEqual(bad, [])

    def test_gil_released_during_forward(self):
        ids = np.random.RandomState(0).randint(0, 97, size=(8, 512))
        self.m.forward(ids)  # warm the workspace
        t0 = time.perf_counter()
        self.m.forward(ids)
        dt = time.perf_counter() - t0
        reps = max(1, int(0.4 / max(dt, 1e-3)))
        count = [0]
        stop = threading.Event()

        def spin():
            while not stop.is_set():
                count[0] += 1

        th = threading.Thread(target=spin)
        th.start()
        time.sleep(0.02)
        c0 = count[0]
        t0 = time.perf_counter()
        for _ in range(reps):
            self.m.forward(ids)  # one C call each: the spinner runs only if the GIL is released
        dt = time.perf_counter() - t0
        c1 = count[0]
        stop.set()
        th.join()
        # the spinning thread counts about 10^6 per second alone; holding the GIL it would only
        # get the 5 ms switch intervals between calls
        self.assertGreater(c1 - c0, 1000, "the other thread made %d steps in %.2f s of forward" % (c1 - c0, dt))


if __name__ == "__main__":
    unittest.main()
