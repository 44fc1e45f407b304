"""Drift guard: the constants of launch_shapes.py against the Java launch classes they mirror.

Reads the Java sources as text (no JVM). Where a Java class still has an older form than the one
mirrored (before the GEMM tiles gained padding and staged output, before mem-efficient's odd Q/K
stride), that comparison is skipped with the reason, not failed.
"""

import os
import re
import unittest

from attune_bench import launch_shapes as ls

LAUNCH_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "main", "java",
                                           "dev", "attune", "kernels", "cuda", "launch"))


def java(name):
    path = os.path.join(LAUNCH_DIR, name + ".java")
    if not os.path.isfile(path):
        raise unittest.SkipTest(f"{path} not found")
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def constant(source, name):
    m = re.search(r"static final int " + name + r"\s*=\s*([0-9][0-9 *]*);", source)
    if not m:
        raise AssertionError(f"no int constant {name}")
    value = 1
    for factor in m.group(1).split("*"):
        value *= int(factor)
    return value


class JavaMirror(unittest.TestCase):
    def test_attention_constants(self):
        f80, f75 = java("FlashSm80Launch"), java("FlashSm75Launch")
        me, math = java("MemEfficientLaunch"), java("MathAttentionLaunch")
        self.assertEqual(ls.FLASH_SM80_THREADS, constant(f80, "THREADS"))
        self.assertEqual(ls.FLASH_SM80_BLOCK_M, constant(f80, "BLOCK_M"))
        self.assertEqual(ls.FLASH_SM80_STAGES, constant(f80, "STAGES"))
        self.assertEqual(ls.FLASH_SM75_THREADS, constant(f75, "THREADS"))
        self.assertEqual(ls.FLASH_SM75_BLOCK_M, constant(f75, "BLOCK_M"))
        self.assertEqual(ls.MEM_EFFICIENT_THREADS, constant(me, "THREADS"))
        self.assertEqual(ls.MEM_EFFICIENT_BLOCK_M, constant(me, "BLOCK_M"))
        self.assertEqual(ls.MATH_THREADS, constant(math, "THREADS"))
        self.assertEqual(ls.MATH_MAX_QUERY_CHUNK, constant(math, "MAX_QUERY_CHUNK"))
        self.assertIn("return paddedHeadDim <= 64 ? 128 : paddedHeadDim <= 128 ? 64 : 32;", f80)
        self.assertIn("return paddedHeadDim <= 128 ? 64 : 32;", f75)
        self.assertIn("2 * (BLOCK_M * d + STAGES * 2 * blockN(d) * d)", f80)
        self.assertIn("2 * (BLOCK_M * d + 2 * blockN(d) * d)", f75)

    def test_mem_efficient_formula(self):
        me = java("MemEfficientLaunch")
        if "qkStride" not in me:
            self.skipTest("MemEfficientLaunch predates the odd Q/K stride that launch_shapes.py mirrors")
        self.assertIn("return headDim <= 64 ? 32 : headDim <= 128 ? 16 : 8;", me)
        self.assertIn("return headDim | 1;", me)

    def test_gemm_tiles(self):
        source = java("GemmLaunch")
        tiles = dict(re.findall(r"case (SM80|SM75|SIMT) -> new Tile\(([^)]*)\);", source))
        self.assertEqual({"SM80", "SM75", "SIMT"}, set(tiles))
        for variant, args in tiles.items():
            values = [a.strip() for a in args.split(",")]
            if len(values) != 8:
                self.skipTest("GemmLaunch.Tile predates the padded, staged-output tile that launch_shapes.py mirrors")
            t = ls.GEMM_TILE[variant.lower()]
            self.assertEqual([t.block_m, t.block_n, t.block_k, t.threads, t.stages, t.elem_bytes, t.pad],
                             [int(v) for v in values[:7]], variant)
            self.assertEqual(t.staged_output, values[7] == "true", variant)


if __name__ == "__main__":
    unittest.main()
