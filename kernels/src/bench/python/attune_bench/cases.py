"""What the benchmark measures: the attention and GEMM cases, and which implementation runs each.

Pure Python; the dry run prints this plan without a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import launch_shapes as ls

# Our attention paths, in report order, and the pairing used for the ratios.
OUR_ATTENTION_PATHS = ("flash-sm80", "flash-sm75", "mem-efficient", "math")
# torch.nn.attention.SDPBackend member per backend name; cudnn only where this torch has it.
TORCH_SDPA_BACKENDS = ("flash", "efficient", "cudnn", "math")
SDPA_BACKEND_ENUM = {"flash": "FLASH_ATTENTION", "efficient": "EFFICIENT_ATTENTION", "cudnn": "CUDNN_ATTENTION",
                     "math": "MATH"}
ATTENTION_RATIOS = (("flash-sm80", "flash"), ("flash-sm75", "efficient"), ("mem-efficient", "efficient"))

# BERT-base/large-ish linear layers at 16k tokens: QKV, attention output, FFN up and down of a
# hidden-384 model (all-MiniLM, bge-small), a hidden-1024 FFN, and a square 4096 (peak throughput).
DEFAULT_GEMM_NK = ((1152, 384), (384, 384), (1536, 384), (384, 1536), (3072, 1024), (4096, 4096))
DEFAULT_TOKENS = 16384
DEFAULT_HIDDEN = 2048  # heads · head_dim, as in the FlashAttention papers' benchmarks


@dataclass(frozen=True)
class AttentionCase:
    head_dim: int
    seqlen: int  # N: every row has this length
    dtype: str
    causal: bool
    batch: int
    heads: int

    @property
    def tokens(self) -> int:
        return self.batch * self.seqlen

    @property
    def flops(self) -> float:
        """2 GEMMs of 2·N²·d per (row, head); causal does half the work."""
        f = 4.0 * self.batch * self.heads * self.seqlen * self.seqlen * self.head_dim
        return f / 2 if self.causal else f

    @property
    def label(self) -> str:
        return (f"attention d={self.head_dim} N={self.seqlen} B={self.batch} H={self.heads} {self.dtype} "
                f"{'causal' if self.causal else 'full'}")

    def key(self) -> dict:
        return {"head_dim": self.head_dim, "seqlen": self.seqlen, "dtype": self.dtype, "causal": self.causal,
                "batch": self.batch, "heads": self.heads}


@dataclass(frozen=True)
class GemmCase:
    m: int
    n: int
    k: int
    dtype: str

    @property
    def flops(self) -> float:
        return 2.0 * self.m * self.n * self.k

    @property
    def label(self) -> str:
        return f"gemm m={self.m} n={self.n} k={self.k} {self.dtype}"

    def key(self) -> dict:
        return {"m": self.m, "n": self.n, "k": self.k, "dtype": self.dtype}


def attention_cases(head_dims, seqlens, dtypes, causal_modes, tokens=DEFAULT_TOKENS, hidden=DEFAULT_HIDDEN):
    """batch · N ≈ tokens (batch = max(1, tokens // N)), heads · head_dim = hidden."""
    cases = []
    for d in head_dims:
        if hidden % d:
            raise ValueError(f"hidden {hidden} is not a multiple of head_dim {d}")
        for n in seqlens:
            for dtype in dtypes:
                for causal in causal_modes:
                    cases.append(AttentionCase(d, n, dtype, causal, max(1, tokens // n), hidden // d))
    return cases


def gemm_cases(shapes, dtypes, m=DEFAULT_TOKENS):
    return [GemmCase(m, n, k, dtype) for (n, k) in shapes for dtype in dtypes]


@dataclass(frozen=True)
class Planned:
    """One implementation of one case: ours (with its launches) or torch's; or why it is skipped."""

    impl: str  # flash-sm80, ..., gemm_sm80; torch:flash, ..., torch.matmul
    module: str  # our PTX module; "" for torch
    launches: tuple  # our LaunchShapes in stream order (one chunk's three for math, repeated per chunk)
    skip: str  # "" when it runs
    min_cc: tuple = (0, 0)
    math_chunk: int = 0

    @property
    def ours(self) -> bool:
        return not self.impl.startswith("torch")


def plan_attention(case: AttentionCase, paths, torch_backends, math_score_budget: float, math_max_n: int):
    plans = []
    for pid in paths:
        path = ls.ATTENTION_PATHS[pid]
        if not path.supports(case.dtype, case.head_dim):
            plans.append(Planned(pid, path.module, (), f"no {case.dtype} kernel for head_dim {case.head_dim}",
                                 path.min_cc))
            continue
        if pid == "math":
            if case.seqlen > math_max_n:
                plans.append(Planned(pid, path.module, (), f"N > --math-max-n {math_max_n}", path.min_cc))
                continue
            chunk = ls.math_query_chunk(case.batch, case.heads, case.seqlen, math_score_budget)
            launches = []
            for _, _, s, sm, pv in ls.math_launches(case.dtype, case.head_dim, case.heads, case.batch, case.seqlen,
                                                     chunk):
                launches += [s, sm, pv]
            plans.append(Planned(pid, path.module, tuple(launches), "", path.min_cc, chunk))
        else:
            shape = path.fused_shape(case.dtype, case.head_dim, case.heads, case.batch, case.seqlen)
            plans.append(Planned(pid, path.module, (shape,), "", path.min_cc))
    for backend in torch_backends:
        skip = ""
        if backend == "flash" and case.dtype not in ("fp16", "bf16"):
            skip = "torch flash is fp16/bf16 only"
        plans.append(Planned("torch:" + backend, "", (), skip))
    return plans


def plan_gemm(case: GemmCase, variants):
    plans = []
    for variant in variants:
        module = ls.GEMM_MODULE[variant]
        impl = module
        if not ls.gemm_supports(variant, case.dtype, case.n, case.k):
            plans.append(Planned(impl, module, (), f"no {case.dtype} kernel for n={case.n} k={case.k}",
                                 ls.GEMM_MIN_CC[variant]))
            continue
        plans.append(Planned(impl, module, (ls.gemm(variant, case.dtype, case.m, case.n, case.k),), "",
                             ls.GEMM_MIN_CC[variant]))
    plans.append(Planned("torch.matmul", "", (), ""))
    return plans
