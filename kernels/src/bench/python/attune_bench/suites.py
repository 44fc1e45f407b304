"""The two measured suites: attention forward and GEMM, ours against PyTorch on the same tensors.

Every case allocates its inputs once with PyTorch, in the packed layout our kernels read; PyTorch
gets views of the same memory. All work runs on the session's one stream (the caller has made it
PyTorch's current stream), so our launches and PyTorch's kernels are ordered by that stream and
share its events. For each implementation: one checked call (output compared with PyTorch's
reference), then timing. A kernel fault that poisons the context ends the run (ContextLost).
"""

from __future__ import annotations

import warnings

from . import cuda_driver as cd
from . import launch_shapes as ls
from .cases import SDPA_BACKEND_ENUM, AttentionCase, GemmCase
from .gpu_session import ContextLost
from .numerics import compare
from .timing import measure

# Peak live memory of PyTorch's math SDPA, in bytes per score element: the (B, H, N, N) scores,
# their softmax and a mask or upcast copy, counted as fp32 to stay on the safe side.
TORCH_MATH_BYTES_PER_SCORE = 12
MEMORY_HEADROOM = 0.85


def _first_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0][:300]


def _timing_fields(t, flops: float) -> dict:
    d = t.as_dict()
    d["tflops"] = flops / (t.median_ms * 1e-3) / 1e12
    return d


def _unique_kernels(launches):
    seen = []
    for s in launches:
        if s.kernel not in seen:
            seen.append(s.kernel)
    return seen


def _our_preflight(session, plan) -> str:
    """Why our planned launch must not run on this device with this PTX, or ""."""
    if plan.skip:
        return plan.skip
    if tuple(session.capability) < tuple(plan.min_cc):
        return (f"needs sm_{plan.min_cc[0]}{plan.min_cc[1]}, device is "
                f"sm_{session.capability[0]}{session.capability[1]}")
    for shape in plan.launches:
        problem = session.bundle.check_launch(plan.module, shape.kernel, shape.block)
        if problem:
            return problem
    return ""


def _run_ours(session, plan, rec, fn, out, ref, dtype, policy, flops):
    """Checked call then timing of one of our implementations; fills ``rec``."""
    torch = session.torch
    try:
        out.fill_(float("nan"))
        fn()
        session.synchronize_or_lost(plan.impl)
        if ref is not None:
            rec.update(compare(torch, out, ref, dtype))
        else:
            rec["numerics_note"] = "no PyTorch reference ran for this case"
        rec.update(_timing_fields(measure(torch, session.stream, fn, policy), flops))
        rec["status"] = "ok"
    except ContextLost:
        raise
    except cd.CudaError as e:  # a launch the driver refuses (not a fault inside the kernel)
        if not session.healthy():
            raise ContextLost(f"the CUDA context failed at {plan.impl}: {e}") from e
        rec.update(status="error", reason=str(e)[:2000])
    except RuntimeError as e:  # a fault inside the kernel surfaces at the next synchronisation
        if not session.healthy():
            raise ContextLost(f"the CUDA context failed at {plan.impl}: {e}") from e
        rec.update(status="error", reason=_first_line(e))


# ─── attention ──────────────────────────────────────────────────────────────────────────────────
def _sdpa_backend(torch, backend: str):
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:
        return None, None, "this torch has no torch.nn.attention.sdpa_kernel (needs 2.3 or newer)"
    enum = getattr(SDPBackend, SDPA_BACKEND_ENUM[backend], None)
    if enum is None:
        return None, None, f"this torch has no SDPBackend.{SDPA_BACKEND_ENUM[backend]}"
    return sdpa_kernel, enum, ""


def _attention_fn(session, plan, case: AttentionCase, q, k, v, o, cu_seqlens, scale, keep):
    """The enqueue-only closure of one of our attention paths (``keep`` holds what it needs alive)."""
    stride = case.heads * case.head_dim  # elements between consecutive tokens of q, k, v, o
    stream = session.stream_handle
    if plan.impl != "math":
        shape = plan.launches[0]
        kernel = session.kernel(plan.module, shape.kernel)
        args = cd.PackedArgs([cd.ptr(q.data_ptr()), cd.ptr(k.data_ptr()), cd.ptr(v.data_ptr()),
                              cd.ptr(o.data_ptr()), cd.ptr(cu_seqlens.data_ptr()), cd.i32(case.heads),
                              cd.i32(case.head_dim), cd.i32(stride), cd.i32(stride), cd.i32(stride), cd.f32(scale),
                              cd.i32(1 if case.causal else 0)])
        keep.append(args)
        return lambda: kernel.launch(shape, stream, args)

    # math: per chunk of queries, scores → softmax in place → P·V, all ordered by the one stream; the
    # next chunk's scores overwrite the buffer only after this chunk's P·V has read it, for the same reason.
    torch = session.torch
    chunk = plan.math_chunk
    scores = torch.empty(ls.math_score_bytes(case.batch, case.heads, chunk, case.seqlen) // 4,
                         dtype=torch.float32, device="cuda")  # (batch, heads, chunk, N) fp32
    keep.append(scores)
    steps = []
    b, h, d, n = case.batch, case.heads, case.head_dim, case.seqlen
    for begin, count, s_shape, sm_shape, pv_shape in ls.math_launches(case.dtype, d, h, b, n, chunk):
        s_args = cd.PackedArgs([cd.ptr(q.data_ptr()), cd.ptr(k.data_ptr()), cd.ptr(scores.data_ptr()),
                                cd.ptr(cu_seqlens.data_ptr()), cd.i32(b), cd.i32(h), cd.i32(d), cd.i32(stride),
                                cd.i32(stride), cd.i32(n), cd.i32(begin), cd.i32(count), cd.f32(scale),
                                cd.i32(1 if case.causal else 0)])
        sm_args = cd.PackedArgs([cd.ptr(scores.data_ptr()), cd.ptr(cu_seqlens.data_ptr()), cd.i32(b), cd.i32(h),
                                 cd.i32(n), cd.i32(begin), cd.i32(count)])
        pv_args = cd.PackedArgs([cd.ptr(scores.data_ptr()), cd.ptr(v.data_ptr()), cd.ptr(o.data_ptr()),
                                 cd.ptr(cu_seqlens.data_ptr()), cd.i32(b), cd.i32(h), cd.i32(d), cd.i32(stride),
                                 cd.i32(stride), cd.i32(n), cd.i32(begin), cd.i32(count)])
        keep.extend([s_args, sm_args, pv_args])
        steps.append((session.kernel(plan.module, s_shape.kernel), s_shape, s_args))
        steps.append((session.kernel(plan.module, sm_shape.kernel), sm_shape, sm_args))
        steps.append((session.kernel(plan.module, pv_shape.kernel), pv_shape, pv_args))

    def run():
        for kernel, shape, args in steps:
            kernel.launch(shape, stream, args)
    return run


def run_attention_case(session, case: AttentionCase, plans, policy, recorder, seed: int, math_max_n: int) -> None:
    torch = session.torch
    F = torch.nn.functional
    dt = session.dtype(case.dtype)
    t, h, d, b, n = case.tokens, case.heads, case.head_dim, case.batch, case.seqlen
    gen = torch.Generator(device="cuda")
    gen.manual_seed(seed)
    # Packed activations, row b owning tokens [b·N, (b+1)·N): (tokens, heads, head_dim), which is
    # (tokens, heads·head_dim) row-major, the layout our kernels read with stride heads·head_dim.
    q = torch.randn((t, h, d), generator=gen, device="cuda", dtype=dt)
    k = torch.randn((t, h, d), generator=gen, device="cuda", dtype=dt)
    v = torch.randn((t, h, d), generator=gen, device="cuda", dtype=dt)
    o = torch.empty((t, h, d), device="cuda", dtype=dt)
    cu_seqlens = torch.arange(0, t + 1, n, device="cuda", dtype=torch.int32)  # (batch + 1)
    assert cu_seqlens.numel() == b + 1
    scale = d ** -0.5

    def bhnd(x):  # (batch, heads, N, head_dim) view of the same memory, as SDPA takes it
        return x.view(b, n, h, d).transpose(1, 2)

    qb, kb, vb = bhnd(q), bhnd(k), bhnd(v)
    base = dict(case.key(), suite="attention", flops=case.flops)
    ref, ref_name = None, None

    for plan in (p for p in plans if not p.ours):
        rec = dict(base, impl=plan.impl)
        backend = plan.impl.split(":", 1)[1]
        sdpa_kernel, enum, why = _sdpa_backend(torch, backend)
        if plan.skip or why:
            recorder.add(dict(rec, status="skipped", reason=plan.skip or why))
            continue
        if backend == "math":
            if n > math_max_n:
                recorder.add(dict(rec, status="skipped", reason=f"N > --math-max-n {math_max_n}"))
                continue
            need = TORCH_MATH_BYTES_PER_SCORE * b * h * n * n
            free, _ = torch.cuda.mem_get_info()
            if need > MEMORY_HEADROOM * free:
                recorder.add(dict(rec, status="skipped",
                                  reason=f"would need about {need / 2 ** 30:.0f} GiB of scores, "
                                         f"{free / 2 ** 30:.0f} GiB free"))
                continue

        def fn():
            return F.scaled_dot_product_attention(qb, kb, vb, is_causal=case.causal, scale=scale)

        caught = []
        try:
            with warnings.catch_warnings(record=True) as caught, sdpa_kernel(enum):
                warnings.simplefilter("always")
                out = fn()
                session.synchronize_or_lost(plan.impl)
                packed = out.transpose(1, 2).reshape(t, h, d)
                if ref is None:
                    ref, ref_name = packed, plan.impl
                    rec.update(max_abs_diff=0.0, rel_err=0.0, nonfinite=0, numerics_ok=True, reference=True)
                else:
                    rec.update(compare(torch, packed, ref, case.dtype))
                del out, packed
                rec.update(_timing_fields(measure(torch, session.stream, fn, policy), case.flops))
            rec["status"] = "ok"
        except ContextLost:
            raise
        except RuntimeError as e:  # no kernel for these inputs, or out of memory
            if not session.healthy():
                raise ContextLost(f"the CUDA context failed at {plan.impl}: {e}") from e
            reasons = [str(w.message).splitlines()[0][:200] for w in caught if str(w.message).strip()]
            rec.update(status="unavailable", reason="; ".join([_first_line(e)] + reasons[:3]))
            torch.cuda.empty_cache()
        recorder.add(rec)

    for plan in (p for p in plans if p.ours):
        rec = dict(base, impl=plan.impl, module=plan.module, kernels=_unique_kernels(plan.launches),
                   launch=plan.launches[0].describe() if plan.launches else "", reference_impl=ref_name)
        if plan.impl == "math" and plan.launches:
            rec["math_chunk"] = plan.math_chunk
            rec["math_chunks"] = len(plan.launches) // 3
        why = _our_preflight(session, plan)
        if why:
            recorder.add(dict(rec, status="skipped" if (plan.skip or "needs sm_" in why) else "error", reason=why))
            continue
        keep = []
        try:
            fn = _attention_fn(session, plan, case, q, k, v, o, cu_seqlens, scale, keep)
        except cd.CudaError as e:  # the module does not load (JIT error) or lacks the kernel
            if not session.healthy():
                raise ContextLost(f"the CUDA context failed loading {plan.module}: {e}") from e
            recorder.add(dict(rec, status="error", reason=str(e)[:2000]))
            continue
        except RuntimeError as e:  # the math score buffer does not fit
            recorder.add(dict(rec, status="error", reason=_first_line(e)))
            torch.cuda.empty_cache()
            continue
        _run_ours(session, plan, rec, fn, o, ref, case.dtype, policy, case.flops)
        del keep
        recorder.add(rec)


# ─── GEMM ───────────────────────────────────────────────────────────────────────────────────────
def run_gemm_case(session, case: GemmCase, plans, policy, recorder, seed: int) -> None:
    torch = session.torch
    dt = session.dtype(case.dtype)
    m, n, k = case.m, case.n, case.k
    gen = torch.Generator(device="cuda")
    gen.manual_seed(seed)
    a = torch.randn((m, k), generator=gen, device="cuda", dtype=torch.float32).to(dt)  # (m, k) activations
    # (n, k) weights as a Linear stores them, scaled so that c has unit variance at every k
    w = (torch.randn((n, k), generator=gen, device="cuda", dtype=torch.float32) * k ** -0.5).to(dt)
    c = torch.empty((m, n), device="cuda", dtype=dt)  # (m, n)
    base = dict(case.key(), suite="gemm", flops=case.flops)
    ref = None

    for plan in (p for p in plans if not p.ours):
        rec = dict(base, impl=plan.impl)

        def fn():
            return torch.matmul(a, w.t())

        try:
            ref = fn()
            session.synchronize_or_lost(plan.impl)
            rec.update(max_abs_diff=0.0, rel_err=0.0, nonfinite=0, numerics_ok=True, reference=True)
            rec.update(_timing_fields(measure(torch, session.stream, fn, policy), case.flops))
            rec["status"] = "ok"
        except ContextLost:
            raise
        except RuntimeError as e:
            if not session.healthy():
                raise ContextLost(f"the CUDA context failed at {plan.impl}: {e}") from e
            rec.update(status="unavailable", reason=_first_line(e))
        recorder.add(rec)

    for plan in (p for p in plans if p.ours):
        rec = dict(base, impl=plan.impl, module=plan.module, kernels=_unique_kernels(plan.launches),
                   launch=plan.launches[0].describe() if plan.launches else "")
        why = _our_preflight(session, plan)
        if why:
            recorder.add(dict(rec, status="skipped" if (plan.skip or "needs sm_" in why) else "error", reason=why))
            continue
        shape = plan.launches[0]
        try:
            kernel = session.kernel(plan.module, shape.kernel)
        except cd.CudaError as e:
            if not session.healthy():
                raise ContextLost(f"the CUDA context failed loading {plan.module}: {e}") from e
            recorder.add(dict(rec, status="error", reason=str(e)[:2000]))
            continue
        args = cd.PackedArgs([cd.ptr(a.data_ptr()), cd.ptr(w.data_ptr()), cd.ptr(0), cd.ptr(c.data_ptr()),
                              cd.i32(m), cd.i32(n), cd.i32(k), cd.i32(0)])  # no bias, no epilogue
        stream = session.stream_handle

        def fn(kernel=kernel, shape=shape, args=args):
            kernel.launch(shape, stream, args)

        _run_ours(session, plan, rec, fn, c, ref, case.dtype, policy, case.flops)
        recorder.add(rec)
