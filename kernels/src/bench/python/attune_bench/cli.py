"""Command line of the GPU benchmark: our shipped PTX against PyTorch on the same GPU, same process.

    python3 -m attune_bench [--quick] [--out results.md] [--dry-run] ...

(``bin/gpu-bench`` runs it with the repository's PTX directory.) ``--dry-run`` reads the PTX
manifest, checks every planned launch against it and prints the plan; it needs neither a GPU nor
torch. Exit status: 0 all measured and agreeing; 1 some result is wrong or failed; 2 the run could
not start; 3 a kernel fault ended the run (the JSON and Markdown keep what was measured).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time

from . import cases as C
from . import launch_shapes as ls
from .ptx import PtxBundle, PtxError, PtxMissing
from .timing import TimingPolicy

DEFAULT_PTX_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                                "main", "resources", "dev", "attune", "kernels", "ptx"))

FULL = {
    "head_dims": "64,128",
    "seqlens": "512,1024,2048,4096,8192,16384",
    "dtypes": "fp16,bf16",
    "causal": "both",
    "paths": ",".join(C.OUR_ATTENTION_PATHS),
    "torch_backends": ",".join(C.TORCH_SDPA_BACKENDS),
    "gemm_shapes": ",".join(f"{n}x{k}" for n, k in C.DEFAULT_GEMM_NK),
    "gemm_dtypes": "fp16,bf16",
    "gemm_variants": ",".join(ls.GEMM_VARIANTS),
    "math_max_n": 16384,
    "target_s": 0.3,
    "max_samples": 30,
    "time_budget_s": 540.0,
}
# About two minutes on an H100: three lengths, math paths only up to 4k, shorter measurements.
QUICK = dict(FULL, seqlens="1024,4096,16384", math_max_n=4096, target_s=0.1, max_samples=10, time_budget_s=150.0)
# The dry run cannot ask a GPU how much memory it has: the math chunking assumes an 80 GiB device.
DRY_RUN_ASSUMED_FREE_BYTES = 80 * 2 ** 30


def _ints(text: str):
    return [int(x) for x in text.split(",") if x.strip()]


def _names(text: str, allowed, what: str):
    names = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in names if x not in allowed]
    if bad:
        raise SystemExit(f"gpu-bench: unknown {what} {', '.join(bad)}; allowed: {', '.join(allowed)}")
    return names


def _shapes(text: str):
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            n, k = item.lower().split("x")
            out.append((int(n), int(k)))
        except ValueError:
            raise SystemExit(f"gpu-bench: GEMM shape {item!r} is not NxK (e.g. 1152x384)")
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gpu-bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ptx-dir", default=DEFAULT_PTX_DIR, help="directory of <module>.ptx and manifest.json "
                   "(default: the repository's kernels/src/main/resources/dev/attune/kernels/ptx)")
    p.add_argument("--no-manifest", action="store_true", help="read the .ptx files without manifest.json")
    p.add_argument("--out", help="Markdown report file (also printed to stdout)")
    p.add_argument("--json", help="raw results (default: --out with .json, else gpu-bench.json)")
    p.add_argument("--dry-run", action="store_true", help="check the PTX and print the planned cases; no GPU needed")
    p.add_argument("--quick", action="store_true",
                   help=f"about 2 minutes: N in {{{QUICK['seqlens']}}}, math paths up to N={QUICK['math_max_n']}, "
                        "shorter measurements")
    p.add_argument("--suite", choices=("all", "attention", "gemm"), default="all")
    p.add_argument("--head-dims", help=f"attention head dims (default {FULL['head_dims']})")
    p.add_argument("--seqlens", help=f"attention N values (default {FULL['seqlens']})")
    p.add_argument("--dtypes", help=f"attention dtypes (default {FULL['dtypes']})")
    p.add_argument("--causal", choices=("both", "no", "yes"), help="attention masks (default both)")
    p.add_argument("--paths", help=f"our attention paths (default {FULL['paths']})")
    p.add_argument("--torch-backends", help=f"SDPA backends (default {FULL['torch_backends']})")
    p.add_argument("--tokens", type=int, default=C.DEFAULT_TOKENS,
                   help="tokens per call: batch = max(1, tokens // N); also the GEMM m (default 16384)")
    p.add_argument("--hidden", type=int, default=C.DEFAULT_HIDDEN, help="heads · head_dim (default 2048)")
    p.add_argument("--gemm-shapes", help=f"GEMM n x k list (default {FULL['gemm_shapes']})")
    p.add_argument("--gemm-dtypes", help=f"GEMM dtypes (default {FULL['gemm_dtypes']})")
    p.add_argument("--gemm-variants", help=f"our GEMM variants (default {FULL['gemm_variants']})")
    p.add_argument("--math-max-n", type=int, help="largest N for the math paths, ours and PyTorch's "
                   f"(default {FULL['math_max_n']}, quick {QUICK['math_max_n']})")
    p.add_argument("--math-score-gib", type=float,
                   help="fp32 score buffer of our math path, GiB (default: a quarter of free memory, as "
                        f"AttentionSelector.mathQueryChunk with SCORE_SHARE {ls.MATH_SCORE_SHARE})")
    p.add_argument("--target-s", type=float, help="GPU seconds of samples per measurement (default 0.3, quick 0.1)")
    p.add_argument("--min-samples", type=int, default=3)
    p.add_argument("--max-samples", type=int, help="default 30, quick 10")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--time-budget-s", type=float, help="start no case after this many seconds (default 540, "
                   "quick 150); what was measured is reported")
    p.add_argument("--loader", choices=("ctypes", "cupy"), default="ctypes",
                   help="how the PTX is loaded and launched: libcuda through ctypes, or cupy.cuda.driver")
    p.add_argument("--seed", type=int, default=0)
    return p


def resolve(args, argv=None) -> dict:
    """The effective configuration: explicit options, else the --quick or full defaults."""
    preset = QUICK if args.quick else FULL

    def pick(name):
        v = getattr(args, name)
        return preset[name] if v is None else v

    causal = pick("causal")
    cfg = {
        "quick": args.quick,
        "suite": args.suite,
        "head_dims": _ints(str(pick("head_dims"))),
        "seqlens": _ints(str(pick("seqlens"))),
        "dtypes": _names(pick("dtypes"), ls.DTYPES, "dtype"),
        "causal_modes": {"both": [False, True], "no": [False], "yes": [True]}[causal],
        "paths": _names(pick("paths"), C.OUR_ATTENTION_PATHS, "attention path"),
        "torch_backends": _names(pick("torch_backends"), C.TORCH_SDPA_BACKENDS, "SDPA backend"),
        "tokens": args.tokens,
        "hidden": args.hidden,
        "gemm_shapes": _shapes(pick("gemm_shapes")),
        "gemm_dtypes": _names(pick("gemm_dtypes"), ls.DTYPES, "dtype"),
        "gemm_variants": _names(pick("gemm_variants"), ls.GEMM_VARIANTS, "GEMM variant"),
        "math_max_n": int(pick("math_max_n")),
        "math_score_gib": args.math_score_gib,
        "target_s": float(pick("target_s")),
        "min_samples": args.min_samples,
        "max_samples": int(pick("max_samples")),
        "warmup": args.warmup,
        "time_budget_s": float(pick("time_budget_s")),
        "loader": args.loader,
        "seed": args.seed,
        "command": " ".join(["bin/gpu-bench"] + [shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)]),
    }
    return cfg


def planned_cases(cfg: dict):
    att = []
    if cfg["suite"] in ("all", "attention"):
        att = C.attention_cases(cfg["head_dims"], cfg["seqlens"], cfg["dtypes"], cfg["causal_modes"], cfg["tokens"],
                                cfg["hidden"])
    gemm = []
    if cfg["suite"] in ("all", "gemm"):
        gemm = C.gemm_cases(cfg["gemm_shapes"], cfg["gemm_dtypes"], cfg["tokens"])
    return att, gemm


def math_score_budget(cfg: dict, free_bytes: int) -> float:
    if cfg["math_score_gib"] is not None:
        return cfg["math_score_gib"] * 2 ** 30
    return free_bytes * ls.MATH_SCORE_SHARE


# ─── dry run ────────────────────────────────────────────────────────────────────────────────────
def _launch_status(bundle, plan, shape) -> str:
    if bundle is None:
        return "not checked (no PTX)"
    return bundle.check_launch(plan.module, shape.kernel, shape.block) or "ok"


def dry_run(cfg: dict, ptx_dir: str, allow_no_manifest: bool, out=sys.stdout) -> int:
    bundle = None
    try:
        bundle = PtxBundle.load(ptx_dir, allow_no_manifest)
    except PtxMissing as e:
        print(f"gpu-bench: {e}", file=sys.stderr)
        print("gpu-bench: printing the plan without checking it against PTX", file=sys.stderr)
    except PtxError as e:
        print(f"gpu-bench: the PTX is unusable: {e}", file=sys.stderr)
        return 1
    problems = 0
    w = out.write
    w(f"PTX directory: {ptx_dir}\n")
    if bundle is not None:
        w(f"  manifest: {'yes' if bundle.manifest_found else 'no (read the .ptx files alone)'}\n")
        for name, m in bundle.modules.items():
            try:
                bundle.ptx_bytes(name)
                integrity = "sha256 ok" if m.sha256 else "no hash"
            except PtxError as e:
                integrity = f"UNUSABLE: {e}"
                problems += 1
            w(f"  {name:15s} .version {m.ptx_version} .target {m.target} min driver {m.min_driver_version} "
              f"{len(m.entries)} entries, {integrity}\n")
    budget = math_score_budget(cfg, DRY_RUN_ASSUMED_FREE_BYTES)
    att, gemm = planned_cases(cfg)
    w(f"\nAttention: {len(att)} cases; math score budget {budget / 2 ** 30:.1f} GiB"
      f"{'' if cfg['math_score_gib'] is not None else ' (assuming 80 GiB free; the run asks the GPU)'}\n")
    for case in att:
        w(f"\n{case.label}  ({case.flops / 1e9:.1f} GFLOP)\n")
        for plan in C.plan_attention(case, cfg["paths"], cfg["torch_backends"], budget, cfg["math_max_n"]):
            problems += _print_plan(w, bundle, plan)
    w(f"\nGEMM: {len(gemm)} cases\n")
    for case in gemm:
        w(f"\n{case.label}  ({case.flops / 1e9:.1f} GFLOP)\n")
        for plan in C.plan_gemm(case, cfg["gemm_variants"]):
            problems += _print_plan(w, bundle, plan)
    if bundle is not None:
        w(f"\n{problems} problem(s) found in the plan\n")
    else:
        w("\nPTX not read (see above): plan not checked\n")
    return 1 if problems else 0


def _print_plan(w, bundle, plan) -> int:
    if plan.skip:
        w(f"  {plan.impl:15s} skipped: {plan.skip}\n")
        return 0
    if not plan.ours:
        w(f"  {plan.impl:15s} PyTorch\n")
        return 0
    needs = f"needs sm_{plan.min_cc[0]}{plan.min_cc[1]}+"
    if plan.impl == "math":
        shapes = plan.launches[:3]
        chunks = len(plan.launches) // 3
        w(f"  {plan.impl:15s} {chunks} chunk(s) of up to {plan.math_chunk} queries, per chunk 3 launches; {needs}\n")
    else:
        shapes = plan.launches
        w(f"  {plan.impl:15s} {needs}\n")
    bad = 0
    for s in shapes:
        status = _launch_status(bundle, plan, s)
        opt_in = " (opt-in > 48 KiB)" if s.shared_bytes > 48 * 1024 else ""
        w(f"      {s.describe()}{opt_in}: {status}\n")
        bad += 0 if status in ("ok", "not checked (no PTX)") else 1
    return bad


# ─── GPU run ────────────────────────────────────────────────────────────────────────────────────
def gpu_run(cfg: dict, ptx_dir: str, allow_no_manifest: bool, out_path, json_path) -> int:
    from .gpu_session import ContextLost, GpuSession
    from .report import Recorder, render_markdown
    from .suites import run_attention_case, run_gemm_case

    try:
        bundle = PtxBundle.load(ptx_dir, allow_no_manifest)
    except (PtxMissing, PtxError) as e:
        print(f"gpu-bench: {e}", file=sys.stderr)
        return 2
    try:
        session = GpuSession(bundle, cfg["loader"])
    except ImportError as e:
        print(f"gpu-bench: {e} (the GPU run needs torch; --loader cupy needs cupy)", file=sys.stderr)
        return 2
    except RuntimeError as e:
        print(f"gpu-bench: cannot start on the GPU: {e}", file=sys.stderr)
        return 2
    torch = session.torch
    env = session.environment()
    recorder = Recorder(json_path, env, cfg)
    budget = math_score_budget(cfg, session.free_bytes_at_start)
    policy = TimingPolicy(warmup=max(1, cfg["warmup"]), target_s=cfg["target_s"], min_samples=cfg["min_samples"],
                          max_samples=cfg["max_samples"])
    att, gemm = planned_cases(cfg)
    print(f"gpu-bench: {env['device']} (sm_{env['compute_capability']}), {len(att)} attention and {len(gemm)} "
          f"GEMM cases, time budget {cfg['time_budget_s']:.0f} s", file=sys.stderr)
    deadline = time.monotonic() + cfg["time_budget_s"]
    work = [("attention", c) for c in att] + [("gemm", c) for c in gemm]
    exit_code = 0
    with torch.cuda.stream(session.stream):
        for i, (suite, case) in enumerate(work):
            if time.monotonic() > deadline:
                recorder.stopped_early = (f"time budget of {cfg['time_budget_s']:.0f} s spent; "
                                          f"{len(work) - i} case(s) not run")
                for s, c in work[i:]:
                    recorder.add(dict(c.key(), suite=s, impl="*", status="not-run", reason="time budget"))
                break
            t0 = time.monotonic()
            try:
                if suite == "attention":
                    plans = C.plan_attention(case, cfg["paths"], cfg["torch_backends"], budget, cfg["math_max_n"])
                    run_attention_case(session, case, plans, policy, recorder, cfg["seed"], cfg["math_max_n"])
                else:
                    run_gemm_case(session, case, C.plan_gemm(case, cfg["gemm_variants"]), policy, recorder,
                                  cfg["seed"])
                session.release_cached()
            except ContextLost as e:
                recorder.fatal = str(e)
                exit_code = 3
                break
            print(f"gpu-bench: [{i + 1}/{len(work)}] {case.label}: {time.monotonic() - t0:.1f} s", file=sys.stderr)
    env["module_jit_load_s"] = dict(session.module_load_s)
    env["kernel_attributes"] = dict(session.kernel_attributes)
    recorder.flush()
    markdown = render_markdown(env, cfg, recorder.results, recorder.fatal, recorder.stopped_early)
    sys.stdout.write(markdown)
    if out_path:
        os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
        with open(out_path, "w", encoding="utf-8") as fh:
            fh.write(markdown)
        print(f"gpu-bench: wrote {out_path} and {json_path}", file=sys.stderr)
    else:
        print(f"gpu-bench: wrote {json_path}", file=sys.stderr)
    if exit_code:
        return exit_code
    ours_failed = [r for r in recorder.results
                   if r.get("impl", "").startswith(("flash", "mem", "math", "gemm"))
                   and (r.get("status") == "error" or r.get("numerics_ok") is False)]
    return 1 if ours_failed else 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    cfg = resolve(args, argv)
    if args.dry_run:
        return dry_run(cfg, args.ptx_dir, args.no_manifest)
    json_path = args.json or (os.path.splitext(args.out)[0] + ".json" if args.out else "gpu-bench.json")
    return gpu_run(cfg, args.ptx_dir, args.no_manifest, args.out, json_path)
