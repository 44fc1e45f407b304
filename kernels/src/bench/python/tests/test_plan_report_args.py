"""Case planning, kernel-argument packing and the report, without a GPU."""

import ctypes
import json
import math
import os
import tempfile
import unittest

from attune_bench import cases as C
from attune_bench import cuda_driver as cd
from attune_bench.report import Recorder, render_markdown


class Planning(unittest.TestCase):
    def test_tokens_and_hidden_fix_batch_and_heads(self):
        cases = C.attention_cases([64, 128], [512, 16384, 32768], ["fp16"], [False, True])
        by = {(c.head_dim, c.seqlen): c for c in cases}
        self.assertEqual((32, 32), (by[64, 512].batch, by[64, 512].heads))
        self.assertEqual((1, 16), (by[128, 16384].batch, by[128, 16384].heads))
        self.assertEqual(1, by[64, 32768].batch)  # never zero rows

    def test_flops(self):
        full = C.AttentionCase(64, 1024, "fp16", False, 16, 32)
        causal = C.AttentionCase(64, 1024, "fp16", True, 16, 32)
        self.assertEqual(4 * 16 * 32 * 1024 * 1024 * 64, full.flops)
        self.assertEqual(full.flops / 2, causal.flops)
        self.assertEqual(2 * 16384 * 1152 * 384, C.GemmCase(16384, 1152, 384, "fp16").flops)

    def test_attention_plan(self):
        case = C.AttentionCase(128, 4096, "bf16", False, 4, 16)
        plans = {p.impl: p for p in C.plan_attention(case, C.OUR_ATTENTION_PATHS, C.TORCH_SDPA_BACKENDS,
                                                         2 ** 30, 4096)}
        self.assertEqual("flash_sm80_fwd_bf16_d128", plans["flash-sm80"].launches[0].kernel)
        self.assertIn("no bf16 kernel", plans["flash-sm75"].skip)
        math_plan = plans["math"]
        per_query = 4 * 4 * 16 * 4096
        self.assertEqual(2 ** 30 // per_query, math_plan.math_chunk)
        self.assertEqual(3 * math.ceil(4096 / math_plan.math_chunk), len(math_plan.launches))
        self.assertFalse(plans["torch:flash"].skip)
        over = {p.impl: p for p in C.plan_attention(case, ["math"], [], 2 ** 30, 2048)}
        self.assertIn("--math-max-n", over["math"].skip)

    def test_gemm_plan(self):
        plans = {p.impl: p for p in C.plan_gemm(C.GemmCase(16384, 384, 1536, "bf16"), ("sm80", "sm75", "simt"))}
        self.assertEqual("gemm_sm80_bf16", plans["gemm_sm80"].launches[0].kernel)
        self.assertTrue(plans["gemm_sm75"].skip)
        self.assertEqual((6, 256, 1), plans["gemm_simt"].launches[0].grid)
        self.assertIn("torch.matmul", plans)


class ArgumentPacking(unittest.TestCase):
    def test_kernel_params_point_at_values_of_the_c_types(self):
        packed = cd.PackedArgs([cd.ptr(0x7F0000001000), cd.i32(-3), cd.f32(0.125), cd.ptr(0)])
        slots = (ctypes.c_void_p * 4).from_address(packed.address)
        self.assertEqual(0x7F0000001000, ctypes.c_uint64.from_address(slots[0]).value)
        self.assertEqual(-3, ctypes.c_int32.from_address(slots[1]).value)
        self.assertEqual(0.125, ctypes.c_float.from_address(slots[2]).value)
        self.assertEqual(0, ctypes.c_uint64.from_address(slots[3]).value)

    def test_int_overflow_is_refused(self):
        with self.assertRaises(OverflowError):
            cd.PackedArgs([cd.i32(1 << 31)])


def rec(suite, impl, status="ok", tflops=None, **kw):
    r = {"suite": suite, "impl": impl, "status": status}
    if tflops is not None:
        r["tflops"] = tflops
    r.update(kw)
    return r


ATT = {"head_dim": 64, "seqlen": 1024, "dtype": "fp16", "causal": False, "batch": 16, "heads": 32}
GEMM = {"m": 16384, "n": 1152, "k": 384, "dtype": "fp16"}
ENV = {"device": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0", "sm_count": 132, "memory_gib": 79.1,
       "driver": "580.65.06", "driver_cuda": "13.0", "torch": "2.8.0", "torch_cuda": "12.8", "cudnn": 91002,
       "python": "3.12.3", "loader": "ctypes", "date": "2026-11-22 07:00 UTC"}


class Report(unittest.TestCase):
    def results(self):
        return [
            rec("attention", "torch:flash", tflops=400.0, reference=True, numerics_ok=True, **ATT),
            rec("attention", "torch:efficient", tflops=250.0, max_abs_diff=1e-4, rel_err=2e-4, numerics_ok=True, **ATT),
            rec("attention", "torch:math", "skipped", reason="N > --math-max-n 512", **ATT),
            rec("attention", "flash-sm80", tflops=300.0, max_abs_diff=2e-4, rel_err=3e-4, numerics_ok=True, **ATT),
            rec("attention", "flash-sm75", tflops=100.0, max_abs_diff=0.5, rel_err=0.2, numerics_ok=False, **ATT),
            rec("attention", "mem-efficient", "error", reason="launching mem_efficient_fwd_f16: CUDA_ERROR_INVALID_VALUE",
                **ATT),
            rec("gemm", "torch.matmul", tflops=600.0, reference=True, numerics_ok=True, **GEMM),
            rec("gemm", "gemm_sm80", tflops=450.0, max_abs_diff=1e-3, rel_err=3e-4, numerics_ok=True, **GEMM),
            rec("gemm", "gemm_simt", nonfinite=12, numerics_ok=False, tflops=20.0, **GEMM),
        ]

    def test_tables_ratios_and_flags(self):
        md = render_markdown(ENV, {"command": "bin/gpu-bench --quick", "min_samples": 3, "max_samples": 10},
                             self.results())
        self.assertIn("NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB); NVIDIA driver 580.65.06 (CUDA 13.0)", md)
        self.assertIn("PyTorch 2.8.0 (CUDA 12.8, cuDNN 91002)", md)
        row = next(line for line in md.splitlines() if line.startswith("| 64 | 1024 |") and "300.0" in line)
        cells = [c.strip() for c in row.strip("|").split("|")]
        # head_dim N batch×heads dtype causal | sm80 sm75 mem-eff | torch flash efficient math | 3 ratios
        self.assertEqual(["64", "1024", "16 × 32", "fp16", "no", "300.0", "100.0 ✗", "err", "400.0", "250.0", "—",
                          "0.75×", "✗", ""], cells)
        self.assertIn("0.75×", md)
        self.assertIn("2.0e-04 / 3.0e-04", md)
        self.assertIn("5.0e-01 / 2.0e-01 ✗", md)
        self.assertIn("12 non-finite ✗", md)
        self.assertIn("| 16384 | 1152 | 384 | fp16 | 450.0 | 20.0 ✗ | 600.0 | 0.75× | ✗ |", md)
        self.assertIn("CUDA_ERROR_INVALID_VALUE", md)
        self.assertIn("disagree with PyTorch", md)

    def test_cases_cut_off_by_the_time_budget_read_not_run(self):
        results = self.results() + [rec("attention", "*", "not-run", reason="time budget", **dict(ATT, seqlen=2048)),
                                    rec("gemm", "*", "not-run", reason="time budget", **dict(GEMM, n=384))]
        md = render_markdown(ENV, {}, results, stopped_early="time budget of 150 s spent; 2 case(s) not run")
        self.assertIn("| 64 | 2048 | 16 × 32 | fp16 | no | not run | not run | not run | not run | not run |", md)
        self.assertIn("| 16384 | 384 | 384 | fp16 | not run | not run | not run |", md)
        self.assertIn("**Stopped early:** time budget of 150 s spent", md)

    def test_recorder_writes_strict_json_after_every_record(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "sub", "r.json")
            r = Recorder(path, ENV, {"quick": True})
            r.add(rec("gemm", "gemm_sm80", tflops=float("nan"), **GEMM))
            with open(path) as fh:
                doc = json.load(fh)
            self.assertIsNone(doc["results"][0]["tflops"])
            r.fatal = "the CUDA context failed"
            r.add(rec("gemm", "torch.matmul", tflops=1.0, **GEMM))
            with open(path) as fh:
                doc = json.load(fh)
            self.assertEqual(2, len(doc["results"]))
            self.assertEqual("the CUDA context failed", doc["fatal"])
            self.assertEqual([], [f for f in os.listdir(os.path.dirname(path)) if f.startswith(".gpu-bench-")])


if __name__ == "__main__":
    unittest.main()
