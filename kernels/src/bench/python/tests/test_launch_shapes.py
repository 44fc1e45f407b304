"""The Python mirror of the Java launch classes gives the numbers the Java tests expect
(AttentionLaunchShapesTest, GemmAndOpsLaunchTest)."""

import unittest

from attune_bench import launch_shapes as ls


class AttentionShapes(unittest.TestCase):
    def test_fused_grids_put_query_tiles_heads_and_rows_on_x_y_z(self):
        for fn, block_m in ((ls.flash_sm80, 64), (ls.flash_sm75, 64), (ls.mem_efficient, 16)):
            for n in (1, 63, 64, 65, 1000):
                s = fn("fp16", 64, 12, 7, n)
                self.assertEqual(((n + block_m - 1) // block_m, 12, 7), s.grid, s.kernel)
                self.assertEqual(128, s.block)

    def test_flash_sm80_names_the_padded_head_dim(self):
        self.assertEqual("flash_sm80_fwd_f16_d64", ls.flash_sm80("fp16", 64, 1, 1, 1).kernel)
        self.assertEqual("flash_sm80_fwd_bf16_d128", ls.flash_sm80("bf16", 128, 1, 1, 1).kernel)
        self.assertEqual("flash_sm80_fwd_f16_d64", ls.flash_sm80("fp16", 40, 1, 1, 1).kernel)
        self.assertEqual("flash_sm80_fwd_bf16_d32", ls.flash_sm80("bf16", 8, 1, 1, 1).kernel)
        self.assertEqual("flash_sm80_fwd_f16_d256", ls.flash_sm80("fp16", 248, 1, 1, 1).kernel)

    def test_flash_sm80_shared_memory(self):
        # Q (64 × D) + 2 stages × (K + V) of BLOCK_N × D, 2 bytes each.
        self.assertEqual(2 * (64 * 64 + 2 * 2 * 128 * 64), ls.flash_sm80("fp16", 64, 1, 1, 1).shared_bytes)
        self.assertEqual(2 * (64 * 128 + 2 * 2 * 64 * 128), ls.flash_sm80("bf16", 128, 1, 1, 1).shared_bytes)
        self.assertEqual(96 * 1024, ls.flash_sm80("fp16", 256, 1, 1, 1).shared_bytes)
        for hd in range(8, 257, 8):
            self.assertLessEqual(ls.flash_sm80("fp16", hd, 1, 1, 1).shared_bytes, 99 * 1024)

    def test_flash_refusals(self):
        self.assertFalse(ls.flash_sm80_supports("fp32", 64))
        self.assertFalse(ls.flash_sm80_supports("fp16", 60))
        self.assertFalse(ls.flash_sm80_supports("fp16", 264))
        self.assertFalse(ls.flash_sm75_supports("bf16", 64))
        with self.assertRaises(ls.Unsupported):
            ls.flash_sm75("bf16", 64, 1, 1, 1)
        with self.assertRaises(ls.Unsupported):
            ls.flash_sm80("fp32", 64, 1, 1, 1)

    def test_flash_sm75_fits_64_kib_and_names_the_padded_head_dim(self):
        self.assertEqual("flash_sm75_fwd_f16_d96", ls.flash_sm75("fp16", 80, 1, 1, 1).kernel)
        self.assertEqual(2 * (64 * 64 + 2 * 64 * 64), ls.flash_sm75("fp16", 64, 1, 1, 1).shared_bytes)
        self.assertEqual(48 * 1024, ls.flash_sm75("fp16", 128, 1, 1, 1).shared_bytes)
        for hd in range(8, 257, 8):
            self.assertLessEqual(ls.flash_sm75("fp16", hd, 1, 1, 1).shared_bytes, 64 * 1024)

    def test_mem_efficient_shared_bytes(self):
        self.assertEqual(4 * (48 * 65 + 48 * 64 + 512 + 32), ls.mem_efficient_shared_bytes(64))
        self.assertEqual(4 * (48 * 33 + 48 * 32 + 512 + 32), ls.mem_efficient_shared_bytes(32))
        self.assertEqual(4 * (32 * 65 + 32 * 65 + 256 + 32), ls.mem_efficient_shared_bytes(65))
        self.assertEqual(4 * (32 * 129 + 32 * 128 + 256 + 32), ls.mem_efficient_shared_bytes(128))
        self.assertEqual(4 * (24 * 257 + 24 * 256 + 128 + 32), ls.mem_efficient_shared_bytes(256))
        self.assertEqual(["mem_efficient_fwd_f32", "mem_efficient_fwd_f16", "mem_efficient_fwd_bf16"],
                         [ls.mem_efficient(dt, 64, 1, 1, 1).kernel for dt in ("fp32", "fp16", "bf16")])

    def test_math_grids(self):
        self.assertEqual(ls.LaunchShape("math_scores_bf16", (36, 40, 3), 128, 0), ls.math_scores("bf16", 12, 3, 300, 40))
        self.assertEqual(ls.LaunchShape("math_softmax", (36, 40, 1), 128, 0), ls.math_softmax(12, 3, 40))
        self.assertEqual(ls.LaunchShape("math_pv_f32", (36, 40, 1), 128, 0), ls.math_pv("fp32", 64, 12, 3, 40))
        self.assertEqual(2, ls.math_pv("bf16", 129, 1, 1, 1).grid[2])
        self.assertEqual(65535, ls.math_softmax(1, 1, ls.MATH_MAX_QUERY_CHUNK).grid[1])
        with self.assertRaises(ls.Unsupported):
            ls.math_softmax(1, 1, ls.MATH_MAX_QUERY_CHUNK + 1)
        self.assertEqual(4 * 64 * 16 * 4096 * 4096, ls.math_score_bytes(64, 16, 4096, 4096))

    def test_math_chunking_follows_the_selector_and_the_grid_limit(self):
        per_query = 4 * 1 * 32 * 16384
        self.assertEqual(10240, ls.math_query_chunk(1, 32, 16384, 20 * 2 ** 30))
        self.assertEqual(16384, ls.math_query_chunk(1, 32, 16384, 10 ** 15))  # all at once
        self.assertEqual(1, ls.math_query_chunk(1, 32, 16384, per_query - 1))  # at least one
        self.assertEqual(65535, ls.math_query_chunk(1, 1, 100000, 10 ** 15))  # grid y
        chunks = ls.math_chunks(16384, 10240)
        self.assertEqual([(0, 10240), (10240, 6144)], chunks)
        launches = ls.math_launches("fp16", 64, 32, 1, 16384, 10240)
        self.assertEqual([(0, 10240), (10240, 6144)], [(b, c) for b, c, *_ in launches])
        self.assertEqual((32, 6144, 128), launches[1][2].grid)


class GemmShapes(unittest.TestCase):
    def test_sm80(self):
        s = ls.gemm("sm80", "bf16", 1000, 1536, 384)
        self.assertEqual(("gemm_sm80_bf16", (12, 8, 1), 256, 3 * (128 + 128) * 32 * 2),
                         (s.kernel, s.grid, s.block, s.shared_bytes))

    def test_sm75_output_tile_reuses_both_stages(self):
        s = ls.gemm("sm75", "fp16", 129, 200, 64)
        self.assertEqual(("gemm_sm75_f16", (2, 2, 1), 256), (s.kernel, s.grid, s.block))
        self.assertEqual(2 * (128 + 128) * 32 * 2, s.shared_bytes)
        self.assertEqual(128 * 128 * 2, s.shared_bytes)

    def test_simt_any_shape(self):
        s = ls.gemm("simt", "fp32", 65, 3, 7)
        self.assertEqual(("gemm_simt_f32", (1, 2, 1), 256, 2 * (64 + 4 + 64 + 4) * 16 * 4),
                         (s.kernel, s.grid, s.block, s.shared_bytes))

    def test_refusals(self):
        self.assertFalse(ls.gemm_supports("sm80", "fp16", 12, 8))
        self.assertFalse(ls.gemm_supports("sm75", "bf16", 8, 8))
        self.assertTrue(ls.gemm_supports("simt", "bf16", 3, 7))
        with self.assertRaises(ls.Unsupported):
            ls.gemm("sm80", "fp16", 0, 8, 8)
        with self.assertRaises(ls.Unsupported):
            ls.gemm("sm80", "fp16", 65536 * 128, 8, 8)
        self.assertEqual(65535, ls.gemm("sm80", "fp16", 65535 * 128, 8, 8).grid[1])

    def test_bert_shapes_at_16k_tokens_need_no_opt_in(self):
        for n, k in ((1152, 384), (384, 384), (1536, 384), (384, 1536), (3072, 1024), (4096, 4096)):
            for variant, dtype in (("sm80", "fp16"), ("sm80", "bf16"), ("sm75", "fp16"), ("simt", "bf16")):
                self.assertLessEqual(ls.gemm(variant, dtype, 16384, n, k).shared_bytes, 48 * 1024)


class LaunchShapeChecks(unittest.TestCase):
    def test_grid_limits(self):
        with self.assertRaises(ValueError):
            ls.LaunchShape("k", (1, 65536, 1), 128, 0)
        with self.assertRaises(ValueError):
            ls.LaunchShape("k", (0, 1, 1), 128, 0)
        with self.assertRaises(ValueError):
            ls.LaunchShape("", (1, 1, 1), 128, 0)


if __name__ == "__main__":
    unittest.main()
