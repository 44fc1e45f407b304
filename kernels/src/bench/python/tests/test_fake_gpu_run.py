"""A whole GPU run, end to end, on the numpy stand-in of tests/fake_gpu.py: session, suites, timing,
JSON and Markdown. It checks the harness's own plumbing (argument order, pointers, math chunking,
shared-memory opt-in, flags, exit status), not any GPU."""

import hashlib
import io
import json
import os
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout

import fake_gpu
from attune_bench import cli, gpu_session
from attune_bench import launch_shapes as ls

THREADS = {"flash_sm80": 128, "flash_sm75": 128, "mem_efficient": 128, "math_attention": 128, "gemm_sm80": 256,
           "gemm_sm75": 256, "gemm_simt": 256}


def write_ptx_dir(directory):
    """A PTX directory whose modules declare every entry the plan names, with its .maxntid."""
    entries = {
        "flash_sm80": [f"flash_sm80_fwd_{dt}_d{d}" for dt in ("f16", "bf16") for d in range(32, 257, 32)],
        "flash_sm75": [f"flash_sm75_fwd_f16_d{d}" for d in range(32, 257, 32)],
        "mem_efficient": [f"mem_efficient_fwd_{dt}" for dt in ("f32", "f16", "bf16")],
        "math_attention": [f"math_{op}_{dt}" for op in ("scores", "pv") for dt in ("f32", "f16", "bf16")]
                          + ["math_softmax"],
        "gemm_sm80": ["gemm_sm80_f16", "gemm_sm80_bf16"],
        "gemm_sm75": ["gemm_sm75_f16"],
        "gemm_simt": ["gemm_simt_f32", "gemm_simt_f16", "gemm_simt_bf16"],
    }
    modules = []
    for module, names in entries.items():
        text = ".version 7.0\n.target sm_80\n.address_size 64\n" + "".join(
            f".visible .entry {n}(\n\t.param .u64 {n}_param_0\n)\n.maxntid {THREADS[module]}, 1, 1\n{{\n\tret;\n}}\n"
            for n in names)
        with open(os.path.join(directory, module + ".ptx"), "w") as fh:
            fh.write(text)
        modules.append({"module": module, "file": module + ".ptx",
                        "ptxSha256": hashlib.sha256(text.encode()).hexdigest(), "sourceSha256": "0" * 64,
                        "inputs": [], "nvcc": "fake", "nvccArch": "compute_80", "ptxVersion": "7.0",
                        "target": "sm_80", "checkedFor": ["sm_80"], "minDriverVersion": 11000,
                        "entries": [{"name": n, "maxntid": [THREADS[module], 1, 1]} for n in names]})
    with open(os.path.join(directory, "manifest.json"), "w") as fh:
        json.dump({"format": 1, "modules": modules}, fh)


class FakeGpuRun(unittest.TestCase):
    def setUp(self):
        self.saved = fake_gpu.install()
        self.loader = fake_gpu.FakeLoader(wrong={"flash_sm75_fwd_f16_d64"})
        self.make_loader = gpu_session.make_loader
        gpu_session.make_loader = lambda kind: self.loader
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        gpu_session.make_loader = self.make_loader
        fake_gpu.uninstall(self.saved)
        self.tmp.cleanup()

    def test_run(self):
        d = self.tmp.name
        write_ptx_dir(d)
        out = os.path.join(d, "report", "r.md")
        # N = 96 does not divide the tokens: 2 rows. The math score budget holds 40 queries of N = 96
        # (fp32 scores of 2 rows × 2 heads × 96 keys each), 30 of N = 64: several chunks per call.
        per_query = 4 * 2 * 2 * 96
        argv = ["--ptx-dir", d, "--out", out, "--head-dims", "64", "--hidden", "128", "--tokens", "256",
                "--seqlens", "64,96", "--math-score-gib", str(40 * per_query / 2 ** 30 + 1e-12),
                "--gemm-shapes", "64x32,24x40", "--target-s", "0.001", "--min-samples", "1", "--max-samples", "2",
                "--warmup", "1"]
        stdout, stderr = io.StringIO(), io.StringIO()
        with redirect_stdout(stdout), redirect_stderr(stderr):
            rc = cli.main(argv)
        self.assertEqual(1, rc, stderr.getvalue())  # the deliberately wrong flash-sm75 fails the run
        with open(os.path.join(d, "report", "r.json")) as fh:
            doc = json.load(fh)
        with open(out) as fh:
            self.assertEqual(stdout.getvalue(), fh.read())
        res = doc["results"]
        att = [r for r in res if r["suite"] == "attention"]
        self.assertEqual(2 * 2 * 2 * 8, len(att))  # N × dtype × causal × (4 ours + 4 torch)

        def find(impl, **key):
            return [r for r in res if r["impl"] == impl and all(r.get(k) == v for k, v in key.items())]

        for r in find("flash-sm80") + find("mem-efficient") + find("math"):
            self.assertEqual("ok", r["status"], r)
            self.assertTrue(r["numerics_ok"], r)
            self.assertLess(r["rel_err"], 1e-5, r)
            self.assertEqual("torch:flash", r["reference_impl"])
            self.assertGreater(r["tflops"], 0)
        for r in find("flash-sm75", dtype="fp16"):
            self.assertEqual("ok", r["status"])
            self.assertFalse(r["numerics_ok"])
            self.assertAlmostEqual(0.1, r["rel_err"], places=3)
        for r in find("flash-sm75", dtype="bf16"):
            self.assertEqual("skipped", r["status"])
        for r in find("torch:efficient"):
            self.assertEqual("unavailable", r["status"])
            self.assertIn("No available kernel", r["reason"])
            self.assertIn("fake torch has none", r["reason"])
        for r in find("torch:cudnn"):
            self.assertEqual("skipped", r["status"])
            self.assertIn("CUDNN_ATTENTION", r["reason"])
        for r in find("torch:math"):
            self.assertEqual("ok", r["status"])
            self.assertLess(r["rel_err"], 1e-9)

        math96 = find("math", seqlen=96, dtype="fp16", causal=True)[0]
        self.assertEqual((40, 3, 2), (math96["math_chunk"], math96["math_chunks"], math96["batch"]))
        math64 = find("math", seqlen=64, dtype="bf16", causal=False)[0]
        self.assertEqual((30, 3, 4), (math64["math_chunk"], math64["math_chunks"], math64["batch"]))
        launched = {name for name, *_ in self.loader.launches}
        self.assertTrue({"math_scores_f16", "math_softmax", "math_pv_bf16", "flash_sm80_fwd_bf16_d64",
                         "gemm_sm75_f16", "gemm_simt_bf16"} <= launched)
        # flash-sm80 at d64 needs 72 KiB: opted in before its first launch (the fake asserts it)
        self.assertEqual(ls.flash_sm80("fp16", 64, 1, 1, 1).shared_bytes,
                         self.loader.opt_ins["flash_sm80_fwd_f16_d64"])

        gemm = [r for r in res if r["suite"] == "gemm"]
        for r in gemm:
            if r["impl"] == "gemm_sm75" and r["dtype"] == "bf16":
                self.assertEqual("skipped", r["status"])
            else:
                self.assertEqual("ok", r["status"], r)
                self.assertTrue(r["numerics_ok"], r)
        md = stdout.getvalue()
        self.assertIn("Fake GPU (numpy)", md)
        self.assertIn("#### GEMM", md)
        self.assertIn("disagree with PyTorch", md)
        self.assertEqual(13000, self.loader.driver_version())
        self.assertIsNone(doc["fatal"])


if __name__ == "__main__":
    unittest.main()
