"""Agreement of one output with a reference output, and the tolerances that flag a wrong kernel.

Outputs of our kernels are filled with NaN before the checked call, so elements a kernel fails to
write show up as non-finite, never as a stale correct value. Both the largest absolute difference
and the relative Frobenius error are reported: for long rows the attention output is small
(about 1/sqrt(N) of V's scale), and a kernel that drops a key tile moves it by a large fraction
of itself while the absolute difference still looks tiny.
"""

from __future__ import annotations

# Relative Frobenius error above which a result is flagged. Two correct implementations with fp32
# accumulation differ by a few output roundings: about 5e-4 in fp16, 4e-3 in bf16.
REL_TOLERANCE = {"fp16": 5e-3, "bf16": 2e-2, "fp32": 1e-4}


def compare(torch, out, ref, dtype: str) -> dict:
    """max |out − ref|, ||out − ref|| / ||ref||, and the count of non-finite outputs."""
    o = out.float()
    r = ref.float()
    nonfinite = int((~torch.isfinite(o)).sum().item())
    if nonfinite:
        return {"max_abs_diff": None, "rel_err": None, "nonfinite": nonfinite, "numerics_ok": False}
    diff = o - r
    max_abs = float(diff.abs().max().item())
    ref_norm = float(r.norm().item())
    rel = float(diff.norm().item()) / ref_norm if ref_norm > 0 else (0.0 if max_abs == 0 else float("inf"))
    return {"max_abs_diff": max_abs, "rel_err": rel, "nonfinite": 0,
            "numerics_ok": rel <= REL_TOLERANCE[dtype]}
