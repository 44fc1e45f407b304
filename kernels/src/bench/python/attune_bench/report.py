"""Results: the raw JSON (written after every case, so a run cut short keeps what it measured) and
the Markdown tables for docs/benchmarks.md. Pure Python; unit-tested without a GPU.
"""

from __future__ import annotations

import json
import math
import os
import tempfile

from .cases import ATTENTION_RATIOS, OUR_ATTENTION_PATHS, TORCH_SDPA_BACKENDS
from .launch_shapes import GEMM_MODULE, GEMM_VARIANTS
from .numerics import REL_TOLERANCE

DTYPE_ORDER = {"fp16": 0, "bf16": 1, "fp32": 2}
GEMM_IMPLS = tuple(GEMM_MODULE[v] for v in GEMM_VARIANTS)
TORCH_MATMUL = "torch.matmul"


class Recorder:
    """Collects result records and keeps the JSON file up to date."""

    def __init__(self, json_path, environment: dict, config: dict):
        self.json_path = json_path
        self.environment = environment
        self.config = config
        self.results = []
        self.fatal = None
        self.stopped_early = None

    def add(self, record: dict) -> None:
        self.results.append(_json_safe(record))
        self.flush()

    def flush(self) -> None:
        if not self.json_path:
            return
        doc = {"environment": self.environment, "config": self.config, "fatal": self.fatal,
               "stopped_early": self.stopped_early, "results": self.results}
        directory = os.path.dirname(os.path.abspath(self.json_path))
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".gpu-bench-", suffix=".json", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1, allow_nan=False)
            fh.write("\n")
        os.replace(tmp, self.json_path)


def _json_safe(value):
    """NaN and infinities are not JSON: they become None (the record's status says why)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


# ─── cells ──────────────────────────────────────────────────────────────────────────────────────
def _speed_cell(rec) -> str:
    if rec is None:
        return ""
    status = rec.get("status")
    if status == "ok":
        mark = " ✗" if rec.get("numerics_ok") is False else ""
        return f"{rec['tflops']:.1f}{mark}"
    return {"skipped": "—", "unavailable": "n/a", "error": "err", "not-run": "not run"}.get(status, status or "")


def _ratio_cell(ours, theirs) -> str:
    if not ours or not theirs or ours.get("status") != "ok" or theirs.get("status") != "ok":
        return ""
    if ours.get("numerics_ok") is False:
        return "✗"
    return f"{ours['tflops'] / theirs['tflops']:.2f}×"


def _numerics_cell(rec) -> str:
    if rec is None or rec.get("status") != "ok":
        return ""
    if rec.get("reference"):
        return "ref"
    if rec.get("nonfinite"):
        return f"{rec['nonfinite']} non-finite ✗"
    if rec.get("rel_err") is None:
        return "?"
    mark = " ✗" if rec.get("numerics_ok") is False else ""
    return f"{rec['max_abs_diff']:.1e} / {rec['rel_err']:.1e}{mark}"


def _fill_not_run(by: dict, impls) -> dict:
    """A case the time budget cut off has one record for all implementations (impl "*")."""
    if "*" not in by:
        return by
    return {i: by.get(i, by["*"]) for i in impls}


def _table(header, rows) -> list:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def _torch_col(impl: str) -> str:
    return "torch " + impl.split(":", 1)[1]


# ─── sections ───────────────────────────────────────────────────────────────────────────────────
def _header(env: dict, config: dict) -> list:
    lines = [f"### GPU kernels vs PyTorch: {env.get('device', '?')}", ""]
    lines.append(f"- **Device.** {env.get('device', '?')} (sm_{env.get('compute_capability', '?').replace('.', '')}, "
                 f"{env.get('sm_count', '?')} SMs, {env.get('memory_gib', '?')} GiB); NVIDIA driver "
                 f"{env.get('driver', '?')} (CUDA {env.get('driver_cuda', '?')}).")
    cudnn = f", cuDNN {env['cudnn']}" if env.get("cudnn") else ""
    lines.append(f"- **Software.** PyTorch {env.get('torch', '?')} (CUDA {env.get('torch_cuda', '?')}{cudnn}); "
                 f"Python {env.get('python', '?')}; our PTX loaded as shipped through the driver API "
                 f"({env.get('loader', '?')}) and JIT-compiled by the driver, in the same process, context and "
                 "stream as PyTorch.")
    lines.append(f"- **Date.** {env.get('date', '?')}. **Command.** `{config.get('command', 'bin/gpu-bench')}`")
    lines.append("- **Method.** Same input tensors for both sides (our packed (tokens, heads·d) layout with "
                 "`cu_seqlens`, equal row lengths; PyTorch gets (batch, heads, N, d) views of the same memory). "
                 "CUDA events on one stream, warm-up, then the median of "
                 f"{config.get('min_samples', '?')}–{config.get('max_samples', '?')} samples. TFLOP/s = "
                 "4·batch·heads·N²·d / time (halved for causal) for attention, 2·m·n·k / time for GEMM. "
                 "Each output is checked once against PyTorch's (✗ = relative error above "
                 + ", ".join(f"{v:g} in {k}" for k, v in REL_TOLERANCE.items()) + ").")
    return lines + [""]


def _attention_section(results) -> list:
    recs = [r for r in results if r.get("suite") == "attention"]
    if not recs:
        return []
    present = {r["impl"] for r in recs}
    ours = [p for p in OUR_ATTENTION_PATHS if p in present]
    theirs = ["torch:" + b for b in TORCH_SDPA_BACKENDS if "torch:" + b in present]
    ratios = [(a, b) for a, b in ATTENTION_RATIOS if a in ours and "torch:" + b in theirs]
    groups = {}
    for r in recs:
        key = (r["head_dim"], DTYPE_ORDER.get(r["dtype"], 9), r["causal"], r["seqlen"])
        groups.setdefault(key, {"case": r, "by": {}})["by"][r["impl"]] = r
    header = (["head_dim", "N", "batch × heads", "dtype", "causal"] + ours + [_torch_col(t) for t in theirs]
              + [f"{a} / torch {b}" for a, b in ratios])
    speed_rows, numerics_rows = [], []
    for key in sorted(groups):
        g = groups[key]
        c, by = g["case"], _fill_not_run(g["by"], ours + theirs)
        lead = [c["head_dim"], c["seqlen"], f"{c['batch']} × {c['heads']}", c["dtype"], "yes" if c["causal"] else "no"]
        speed_rows.append(lead + [_speed_cell(by.get(i)) for i in ours + theirs]
                          + [_ratio_cell(by.get(a), by.get("torch:" + b)) for a, b in ratios])
        ref = next((r["impl"] for r in by.values() if r.get("reference")), "")
        numerics_rows.append(lead + [_torch_col(ref) if ref else "none"]
                             + [_numerics_cell(by.get(i)) for i in ours + theirs])
    lines = ["#### Attention forward (TFLOP/s; higher is better)", ""]
    lines += _table(header, speed_rows)
    lines += ["", "— no kernel for this dtype/head_dim or not run on this device; n/a: PyTorch has no kernel "
                  "for it here; err: see the notes below. Math paths are skipped where N exceeds `--math-max-n` "
                  "or PyTorch's score matrices would not fit; ours chunks its fp32 scores over queries as "
                  "`MathAttentionLaunch` / `CudaOps.math` do.", ""]
    lines += ["#### Attention numerics (max |Δ| / relative error against the PyTorch reference)", ""]
    lines += _table(["head_dim", "N", "batch × heads", "dtype", "causal", "reference"] + ours
                    + [_torch_col(t) for t in theirs], numerics_rows)
    return lines + [""]


def _gemm_section(results) -> list:
    recs = [r for r in results if r.get("suite") == "gemm"]
    if not recs:
        return []
    present = {r["impl"] for r in recs}
    ours = [i for i in GEMM_IMPLS if i in present]
    groups = {}
    order = []
    for r in recs:
        key = (r["m"], r["n"], r["k"], r["dtype"])
        if key not in groups:
            groups[key] = {}
            order.append(key)
        groups[key][r["impl"]] = r
    order.sort(key=lambda k: DTYPE_ORDER.get(k[3], 9))  # stable: planned order within a dtype
    header = (["m", "n", "k", "dtype"] + ours + [TORCH_MATMUL] + [f"{i} / torch" for i in ours]
              + [f"{i} max abs diff / rel" for i in ours])
    rows = []
    for key in order:
        by = _fill_not_run(groups[key], ours + [TORCH_MATMUL])
        rows.append(list(key) + [_speed_cell(by.get(i)) for i in ours + [TORCH_MATMUL]]
                    + [_ratio_cell(by.get(i), by.get(TORCH_MATMUL)) for i in ours]
                    + [_numerics_cell(by.get(i)) for i in ours])
    lines = ["#### GEMM c = a · wᵀ, no bias or epilogue (TFLOP/s; reference torch.matmul)", ""]
    lines += _table(header, rows)
    return lines + [""]


def _notes(results, fatal, stopped_early) -> list:
    notes = []
    if fatal:
        notes.append(f"- **Run ended early:** {fatal}")
    if stopped_early:
        notes.append(f"- **Stopped early:** {stopped_early}")
    seen = set()
    for r in results:
        if r.get("status") in ("error", "unavailable") and r.get("reason"):
            what = r["impl"]
            reason = r["reason"].splitlines()[0][:300]
            if (what, reason) in seen:
                continue
            seen.add((what, reason))
            notes.append(f"- {r['status']} `{what}`: {reason}")
    bad = [r for r in results if r.get("status") == "ok" and r.get("numerics_ok") is False]
    if bad:
        notes.append(f"- **{len(bad)} result(s) disagree with PyTorch** beyond tolerance (✗): a wrong kernel, "
                     "whatever its speed.")
    return (["#### Notes", ""] + notes + [""]) if notes else []


def render_markdown(env: dict, config: dict, results, fatal=None, stopped_early=None) -> str:
    lines = _header(env, config)
    lines += _attention_section(results)
    lines += _gemm_section(results)
    lines += _notes(results, fatal, stopped_early)
    return "\n".join(lines).rstrip() + "\n"
