"""Launch shapes (kernel name, grid, block, dynamic shared memory) of the kernels the benchmark runs.

THIS MODULE MIRRORS THE JAVA CLASSES in
``kernels/src/main/java/dev/attune/kernels/cuda/launch/``: ``FlashSm80Launch``,
``FlashSm75Launch``, ``MemEfficientLaunch``, ``MathAttentionLaunch``, ``GemmLaunch`` /
``GemmVariant`` and ``LaunchShape``, number for number, and the math-path chunking of
``CudaOps.math`` and ``AttentionSelector.mathQueryChunk``. Those classes are the contract with the
CUDA sources (``kernels/src/main/cuda/README.md``); when one of them changes, change the same
formula here. It is the only place in the harness that knows a tile size.

The integrator may later have the Java side print its shapes as JSON; the harness would then
compare, not replace, these formulas. Nothing here depends on that.

Pure Python, standard library only: the dry run uses it on machines without a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

# ComputeDtype and LaunchShape.suffix
DTYPES = ("fp32", "fp16", "bf16")
SUFFIX = {"fp32": "f32", "fp16": "f16", "bf16": "bf16"}
ELEMENT_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2}

MAX_GRID_YZ = 65535


class Unsupported(ValueError):
    """The kernel family has no kernel for these arguments (Java: IllegalArgumentException)."""


@dataclass(frozen=True)
class LaunchShape:
    """One launch: ``kernel<<<grid, block, shared_bytes>>>`` (Java ``LaunchShape``)."""

    kernel: str
    grid: tuple  # (x, y, z) blocks
    block: int  # threads, one dimension; equals the kernel's __launch_bounds__ (.maxntid)
    shared_bytes: int  # dynamic shared memory per block

    def __post_init__(self):
        x, y, z = self.grid
        if not self.kernel:
            raise ValueError("a launch needs a kernel name")
        if min(x, y, z, self.block) < 1 or self.shared_bytes < 0:
            raise ValueError(f"invalid launch of {self.kernel}: grid {self.grid}, block {self.block}, "
                             f"shared {self.shared_bytes} bytes")
        if y > MAX_GRID_YZ or z > MAX_GRID_YZ:
            raise ValueError(f"launch of {self.kernel}: grid y and z are limited to {MAX_GRID_YZ}, got {self.grid}")

    def describe(self) -> str:
        return (f"{self.kernel} grid({self.grid[0]},{self.grid[1]},{self.grid[2]}) block({self.block}) "
                f"smem {self.shared_bytes} B")


def ceil_div(a: int, b: int) -> int:
    return (a + b - 1) // b


def _check_dtype(dtype: str) -> None:
    if dtype not in SUFFIX:
        raise Unsupported(f"unknown dtype {dtype!r}; one of {', '.join(DTYPES)}")


# ─── flash-sm80 (FlashSm80Launch) ────────────────────────────────────────────────────────────────
FLASH_SM80_THREADS = 128
FLASH_SM80_BLOCK_M = 64
FLASH_SM80_STAGES = 2


def padded_head_dim(head_dim: int) -> int:
    """The head dimension a flash kernel is compiled for: head_dim rounded up to a multiple of 32."""
    return (head_dim + 31) // 32 * 32


def flash_sm80_block_n(padded: int) -> int:
    return 128 if padded <= 64 else 64 if padded <= 128 else 32


def flash_sm80_supports(dtype: str, head_dim: int) -> bool:
    return dtype in ("fp16", "bf16") and 8 <= head_dim <= 256 and head_dim % 8 == 0


def flash_sm80(dtype: str, head_dim: int, heads: int, batch: int, max_seqlen: int) -> LaunchShape:
    if not flash_sm80_supports(dtype, head_dim):
        raise Unsupported(f"flash-sm80 has no kernel for {dtype} with head_dim {head_dim} "
                          "(fp16 or bf16, head_dim a multiple of 8 up to 256)")
    d = padded_head_dim(head_dim)
    # Q tile + STAGES × (K tile + V tile), 2-byte elements, unpadded (the kernel swizzles).
    smem = 2 * (FLASH_SM80_BLOCK_M * d + FLASH_SM80_STAGES * 2 * flash_sm80_block_n(d) * d)
    return LaunchShape(f"flash_sm80_fwd_{SUFFIX[dtype]}_d{d}",
                       (ceil_div(max_seqlen, FLASH_SM80_BLOCK_M), heads, batch), FLASH_SM80_THREADS, smem)


# ─── flash-sm75 (FlashSm75Launch) ────────────────────────────────────────────────────────────────
FLASH_SM75_THREADS = 128
FLASH_SM75_BLOCK_M = 64


def flash_sm75_block_n(padded: int) -> int:
    return 64 if padded <= 128 else 32


def flash_sm75_supports(dtype: str, head_dim: int) -> bool:
    return dtype == "fp16" and 8 <= head_dim <= 256 and head_dim % 8 == 0


def flash_sm75(dtype: str, head_dim: int, heads: int, batch: int, max_seqlen: int) -> LaunchShape:
    if not flash_sm75_supports(dtype, head_dim):
        raise Unsupported(f"flash-sm75 has no kernel for {dtype} with head_dim {head_dim} "
                          "(fp16 only, head_dim a multiple of 8 up to 256)")
    d = padded_head_dim(head_dim)
    # Q tile + one stage of K and V (no cp.async on sm75).
    smem = 2 * (FLASH_SM75_BLOCK_M * d + 2 * flash_sm75_block_n(d) * d)
    return LaunchShape(f"flash_sm75_fwd_f16_d{d}",
                       (ceil_div(max_seqlen, FLASH_SM75_BLOCK_M), heads, batch), FLASH_SM75_THREADS, smem)


# ─── mem-efficient (MemEfficientLaunch) ──────────────────────────────────────────────────────────
MEM_EFFICIENT_THREADS = 128
MEM_EFFICIENT_BLOCK_M = 16


def mem_efficient_block_n(head_dim: int) -> int:
    return 32 if head_dim <= 64 else 16 if head_dim <= 128 else 8


def mem_efficient_qk_stride(head_dim: int) -> int:
    """Row stride, in floats, of the Q and K tiles: head_dim rounded up to an odd number."""
    return head_dim | 1


def mem_efficient_shared_bytes(head_dim: int) -> int:
    if head_dim < 1:
        raise Unsupported(f"mem-efficient needs head_dim >= 1, got {head_dim}")
    m, n = MEM_EFFICIENT_BLOCK_M, mem_efficient_block_n(head_dim)
    floats = ((m + n) * mem_efficient_qk_stride(head_dim)  # q, k
              + (m + n) * head_dim  # o, v
              + m * n  # p
              + 2 * m)  # alpha, inv_l
    return 4 * floats


def mem_efficient_supports(dtype: str, head_dim: int) -> bool:
    return dtype in SUFFIX and head_dim >= 1


def mem_efficient(dtype: str, head_dim: int, heads: int, batch: int, max_seqlen: int) -> LaunchShape:
    _check_dtype(dtype)
    return LaunchShape(f"mem_efficient_fwd_{SUFFIX[dtype]}",
                       (ceil_div(max_seqlen, MEM_EFFICIENT_BLOCK_M), heads, batch), MEM_EFFICIENT_THREADS,
                       mem_efficient_shared_bytes(head_dim))


# ─── math (MathAttentionLaunch, CudaOps.math, AttentionSelector.mathQueryChunk) ──────────────────
MATH_THREADS = 128
MATH_MAX_QUERY_CHUNK = 65535
# AttentionSelector.SCORE_SHARE: the share of the path's memory the score buffer may take.
MATH_SCORE_SHARE = 0.25


def math_score_bytes(batch: int, heads: int, query_chunk: int, max_seqlen: int) -> int:
    """fp32 bytes of the score buffer (batch, heads, query_chunk, max_seqlen)."""
    return 4 * batch * heads * query_chunk * max_seqlen


def math_query_chunk(batch: int, heads: int, max_seqlen: int, score_budget_bytes: float) -> int:
    """Queries per chunk so the score buffer fits the budget (mathQueryChunk), capped at grid y (CudaOps)."""
    per_query = 4 * batch * heads * max_seqlen
    fit = int(score_budget_bytes // per_query)
    return max(1, min(max_seqlen, fit, MATH_MAX_QUERY_CHUNK))


def math_chunks(max_seqlen: int, chunk: int):
    """(q_begin, q_count) of every chunk, in order (CudaOps.math's loop)."""
    return [(begin, min(chunk, max_seqlen - begin)) for begin in range(0, max_seqlen, chunk)]


def _check_chunk(query_count: int) -> None:
    if not 1 <= query_count <= MATH_MAX_QUERY_CHUNK:
        raise Unsupported(f"a math attention chunk holds 1..{MATH_MAX_QUERY_CHUNK} queries, got {query_count}")


def math_scores(dtype: str, heads: int, batch: int, max_seqlen: int, query_count: int) -> LaunchShape:
    _check_dtype(dtype)
    _check_chunk(query_count)
    return LaunchShape(f"math_scores_{SUFFIX[dtype]}", (batch * heads, query_count, ceil_div(max_seqlen, MATH_THREADS)),
                       MATH_THREADS, 0)


def math_softmax(heads: int, batch: int, query_count: int) -> LaunchShape:
    _check_chunk(query_count)
    return LaunchShape("math_softmax", (batch * heads, query_count, 1), MATH_THREADS, 0)


def math_pv(dtype: str, head_dim: int, heads: int, batch: int, query_count: int) -> LaunchShape:
    _check_dtype(dtype)
    _check_chunk(query_count)
    return LaunchShape(f"math_pv_{SUFFIX[dtype]}", (batch * heads, query_count, ceil_div(head_dim, MATH_THREADS)),
                       MATH_THREADS, 0)


# ─── GEMM (GemmLaunch, GemmVariant) ──────────────────────────────────────────────────────────────
@dataclass(frozen=True)
class GemmTile:
    """GemmLaunch.Tile: BLOCK_M × BLOCK_N outputs, BLOCK_K deep per pipeline stage."""

    block_m: int
    block_n: int
    block_k: int
    threads: int
    stages: int
    elem_bytes: int  # bytes of one operand element as held in shared memory
    pad: int  # elements added to each shared line of the a and w tiles (SIMT only)
    staged_output: bool  # the epilogue reuses the pipeline memory as a BLOCK_M × BLOCK_N 2-byte tile

    def pipeline_bytes(self) -> int:
        return self.stages * (self.block_m + self.block_n + 2 * self.pad) * self.block_k * self.elem_bytes

    def shared_bytes(self) -> int:
        return max(self.pipeline_bytes(), self.block_m * self.block_n * 2 if self.staged_output else 0)


GEMM_VARIANTS = ("sm80", "sm75", "simt")
GEMM_MODULE = {"sm80": "gemm_sm80", "sm75": "gemm_sm75", "simt": "gemm_simt"}
GEMM_TILE = {
    "sm80": GemmTile(128, 128, 32, 256, 3, 2, 0, True),
    "sm75": GemmTile(128, 128, 32, 256, 2, 2, 0, True),
    "simt": GemmTile(64, 64, 16, 256, 2, 4, 4, False),
}
# The oldest compute capability each variant runs on (GemmVariant.best).
GEMM_MIN_CC = {"sm80": (8, 0), "sm75": (7, 5), "simt": (6, 0)}


def gemm_variant_supports(variant: str, dtype: str) -> bool:
    if variant == "sm80":
        return dtype in ("fp16", "bf16")
    if variant == "sm75":
        return dtype == "fp16"
    if variant == "simt":
        return dtype in SUFFIX
    raise Unsupported(f"unknown GEMM variant {variant!r}; one of {', '.join(GEMM_VARIANTS)}")


def gemm_supports(variant: str, dtype: str, n: int, k: int) -> bool:
    return gemm_variant_supports(variant, dtype) and (variant == "simt" or (n % 8 == 0 and k % 8 == 0))


def gemm(variant: str, dtype: str, m: int, n: int, k: int) -> LaunchShape:
    """``c(m, n) = a(m, k) · w(n, k)ᵀ``: grid (ceil(n / BLOCK_N), ceil(m / BLOCK_M))."""
    if not gemm_variant_supports(variant, dtype):
        raise Unsupported(f"{GEMM_MODULE[variant]} has no {dtype} kernel")
    if min(m, n, k) < 1:
        raise Unsupported(f"GEMM dimensions must be positive, got m={m} n={n} k={k}")
    if not gemm_supports(variant, dtype, n, k):
        raise Unsupported(f"{GEMM_MODULE[variant]} cannot multiply ({m} x {k}) by ({k} x {n}): "
                          "tensor-core variants need n and k multiples of 8")
    t = GEMM_TILE[variant]
    row_tiles = ceil_div(m, t.block_m)
    if row_tiles > MAX_GRID_YZ:
        raise Unsupported(f"{GEMM_MODULE[variant]} covers at most {MAX_GRID_YZ * t.block_m} rows in one launch, "
                          f"got m={m}")
    return LaunchShape(f"{GEMM_MODULE[variant]}_{SUFFIX[dtype]}", (ceil_div(n, t.block_n), row_tiles, 1),
                       t.threads, t.shared_bytes())


# ─── The attention paths, as the selector names them ─────────────────────────────────────────────
@dataclass(frozen=True)
class AttentionPath:
    id: str  # AttentionPath.id(): flash-sm80, flash-sm75, mem-efficient, math
    module: str  # PTX module
    min_cc: tuple  # oldest compute capability the path runs on
    supports: object  # (dtype, head_dim) -> bool
    fused_shape: object  # (dtype, head_dim, heads, batch, max_seqlen) -> LaunchShape; None for math


ATTENTION_PATHS = {
    "flash-sm80": AttentionPath("flash-sm80", "flash_sm80", (8, 0), flash_sm80_supports, flash_sm80),
    "flash-sm75": AttentionPath("flash-sm75", "flash_sm75", (7, 5), flash_sm75_supports, flash_sm75),
    "mem-efficient": AttentionPath("mem-efficient", "mem_efficient", (6, 0), mem_efficient_supports, mem_efficient),
    "math": AttentionPath("math", "math_attention", (6, 0), lambda dtype, head_dim: dtype in SUFFIX and head_dim >= 1,
                          None),
}


def math_launches(dtype: str, head_dim: int, heads: int, batch: int, max_seqlen: int, chunk: int):
    """Every launch of one math attention call, in stream order: per chunk scores, softmax, P·V.

    Returns a list of (q_begin, q_count, scores_shape, softmax_shape, pv_shape).
    """
    return [(begin, count,
             math_scores(dtype, heads, batch, max_seqlen, count),
             math_softmax(heads, batch, count),
             math_pv(dtype, head_dim, heads, batch, count))
            for begin, count in math_chunks(max_seqlen, chunk)]
