"""Memory and time of one attack step through a deep network, with and without checkpointing.

FIRENET with n restarts of p inner iterations (default n = 100, p = 5: 500 iterations)
on a 256² Fourier–Haar problem, one image, one thread. Each configuration runs in a
fresh subprocess, which reports:

* peak resident memory of the process (``ru_maxrss``), reached during the attack
  steps (the timed gradient steps and ``momentum_attack(..., steps=1)``: one gradient
  step plus the two no-grad forward passes φ(y) and the final evaluation), and its
  resident memory once the problem and network are set up ("RSS before");
* ``step / fwd``: the time of one attack step (forward pass with autograd + backward
  pass through the network, i.e. what every step of ``momentum_attack`` does) divided
  by the time of one forward pass without gradients, both timed in the same process;
* ``(attack − 2 fwd) / fwd``: the same ratio derived from the whole ``steps=1`` attack,
  as a cross-check.

Targets: peak ≤ 1 GiB and step ≤ 5× forward with checkpointing; step ≤ 4× forward
without (where autograd keeps every iteration: about 4 MiB of live tensors each at 256²,
7–9 MiB of resident memory with the default allocator).

Each configuration runs under several allocator settings (``--malloc``): glibc's
``default``; ``tuned``, the fixed glibc thresholds of :func:`stablesweep._malloc.tune_malloc`
that the ``stablesweep`` command and its Dask workers set; ``mimalloc`` preloaded when
the ``bench`` extra installed it; and on request ``mmap64k`` (a fixed 64 KiB mmap
threshold: resident memory tracks the live tensors, but every image-sized buffer is a
fresh mapping, so the times are not representative) and ``jemalloc`` (``--jemalloc
PATH``, Debian package libjemalloc2).

Measured (500 iterations at 256², this machine): with the checkpointed segments run on
the networks' no-grad fast path and recomputed with autograd in the backward pass
(``stablesweep.networks.core.segments.RecomputedSegment``), the peak is 740–817 MiB under all
three allocators (about 400 MiB of it is the process before the attack: PyTorch,
Numba) and step ÷ forward 3.4–4.6 (the forward pass runs the fused kernels). With
PyTorch's generic non-reentrant checkpoint, whose forward pass runs the out-of-place
autograd code, glibc's heap fragmented to 2.1–2.4 GiB (live tensors never above
450 MiB) and the step cost 4.4–4.7 forward passes.

What-ifs for the network side: ``--segment-length L`` overrides the network's
checkpoint segment length; ``--malloc-trim`` hands freed heap pages back at every
segment boundary (forward and backward).

Run: ``.venv/bin/python benchmarks/attacks.py [--size 256] [--n 100] [--p 5]
[--malloc default tuned mimalloc mmap64k jemalloc] [--configs checkpointing] [--segment-length 25]
[--malloc-trim]``.

``--worst-case`` instead times :func:`stablesweep.attacks.worst_case_noise` at 64²
(one thread, all ratios measured side by side in this run, best of ``--repeat``):

* per network (FIRENET n = 40, p = 5; FISTA depth 200; primal-dual p = 200; U-Net):
  one ascent step (forward with autograd + backward) ÷ one no-grad forward pass, with
  checkpointing (what every attack did before) and without (what ``worst_case_noise``
  does when the graph fits ``graph_memory_mib``) — target ≤ 3; and one step of a batch
  of 8 perturbations ÷ 8 single steps — target ≤ 0.5 for the iterative networks;
* one attack cell (``--cell-networks``, default FISTA): budgets 1e-4, 1e-3, 1e-2, 1e-1,
  ``objective="change"``, ``init="jacobian"`` (one Jacobian shared by the budgets,
  timed separately), warm starts from the next smaller budget as in the sweep: the
  converged attack (stopping rule defaults, cap ``--cap``) next to the previous
  10-step attack (``steps=10, tol=0``, checkpointing on).

Run: ``.venv/bin/python benchmarks/attacks.py --worst-case [--repeat 2]
[--networks firenet fista primal-dual unet] [--cell-networks fista] [--cap 200]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

CONFIGS = {
    "checkpointing": "net.checkpointing switched on by the attack (segments)",
    "no checkpointing": "net wrapped in a plain function: autograd keeps every iteration",
}
TARGETS = {"checkpointing": (1024.0, 5.0), "no checkpointing": (None, 4.0)}
#: allocator settings (environment of the child). With glibc's default (dynamic) mmap
#: threshold, image-sized buffers (1 MiB at 256² complex128) come from the heap; a
#: fixed 64 KiB threshold puts every large buffer in its own mapping, returned on free.
MALLOC = {"default": {}, "tuned": {"STABLESWEEP_BENCH_TUNE_MALLOC": "1"},
          "mmap64k": {"MALLOC_MMAP_THRESHOLD_": "65536"}}


def mimalloc_library() -> str | None:
    """libmimalloc.so from the `cmeel-mimalloc` wheel (the `bench` extra), if installed."""
    lib = Path(sysconfig.get_paths()["purelib"]) / "cmeel.prefix" / "lib" / "libmimalloc.so"
    return str(lib) if lib.exists() else None


if mimalloc_library():
    #: mimalloc: another allocator, to show how much of the peak is the allocator's
    MALLOC["mimalloc"] = {"LD_PRELOAD": mimalloc_library()}


def _rss_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _peak_mib() -> float:
    # ru_maxrss is in KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _trim_at_segment_boundaries(net) -> None:
    """What-if: glibc ``malloc_trim(0)`` after every checkpoint segment, forward and backward.

    Wraps the network's private ``_segment`` (IterativeNetwork): after each call (the
    forward pass and the recomputation) and when the gradient reaches a segment's
    output, freed heap pages are handed back to the system.
    """
    import ctypes

    import torch

    libc = ctypes.CDLL("libc.so.6")
    segment = type(net)._segment

    def trim(grad=None):
        libc.malloc_trim(0)
        return grad

    def trimmed(self, *args, **kwargs):
        state, outs = segment(self, *args, **kwargs)
        trim()
        if torch.is_grad_enabled():
            first = next((t for t in state if isinstance(t, torch.Tensor) and t.requires_grad),
                         None)
            if first is not None:
                first.register_hook(trim)
        return state, outs

    net.__class__ = type(type(net).__name__, (type(net),), {"_segment": trimmed})


def child(
    config: str,
    size: int,
    n: int,
    p: int,
    repeat: int,
    segment_length: int | None = None,
    malloc_trim: bool = False,
) -> dict:
    """Measure one configuration in this (fresh) process; returns a JSON-able dict."""
    import numpy as np
    import torch

    from stablesweep.attacks import attack_mode, attack_objective, momentum_attack
    from stablesweep.networks import build_network
    from stablesweep.operators import SamplingOperator
    from stablesweep.sampling import budgets, multilevel_mask
    from stablesweep.signals import test_image

    torch.set_num_threads(1)
    if os.environ.get("STABLESWEEP_BENCH_TUNE_MALLOC") == "1":
        from stablesweep._malloc import tune_malloc

        tune_malloc()  # what the `stablesweep` command and its Dask workers do
    rng = np.random.default_rng(0)
    shape = (size, size)
    m = int(0.25 * size * size)
    mask = multilevel_mask(shape, "fourier", budgets(shape, "fourier", m, "uniform"), rng)
    A = SamplingOperator("fourier", mask)
    x = test_image("camera", size).unsqueeze(0)  # one image, batch of 1
    y = A.measure(x.to(A.dtype))
    net = build_network("firenet", A, n=n, p=p)
    if segment_length is not None:  # what-if: another checkpoint segment length
        net.__class__ = type(type(net).__name__, (type(net),),
                             {"segment_length": segment_length})
    if malloc_trim:
        _trim_at_segment_boundaries(net)
    if config == "checkpointing":
        attacked = net
    else:  # a callable without the attribute: the attack leaves checkpointing off

        def attacked(v):
            return net(v)

    rss_before = _rss_mib()
    g = torch.Generator().manual_seed(0)
    r = 0.01 * torch.rand((1, *shape), dtype=torch.float64, generator=g).to(A.dtype)
    with torch.no_grad():
        ref = net(y)

    def forward() -> None:  # one forward pass without gradients
        with torch.no_grad():
            net(y)

    def step() -> None:  # one attack step: forward with autograd + backward
        rr = r.clone().requires_grad_(True)
        q = attack_objective(attacked, A, y, rr, ref, lam=0.0).sum()
        torch.autograd.grad(q, rr)

    # interleaved, best of `repeat`: a burst of load on the machine hits both alike
    fwd = step_time = float("inf")
    with attack_mode(attacked):
        for _ in range(repeat):
            t0 = time.perf_counter()
            forward()
            t1 = time.perf_counter()
            step()
            t2 = time.perf_counter()
            fwd, step_time = min(fwd, t1 - t0), min(step_time, t2 - t1)

    t0 = time.perf_counter()
    momentum_attack(attacked, A, x, y, lam=0.0, eta=1.0, tau=0.01, steps=1, generator=g)
    t_attack = time.perf_counter() - t0
    return {
        "config": config,
        "depth": net.depth,
        "segment_length": getattr(net, "segment_length", None),
        "fwd_s": fwd,
        "step_s": step_time,
        "attack_s": t_attack,
        "rss_before_mib": rss_before,
        "peak_mib": _peak_mib(),
    }


#: networks of the --worst-case benchmark at 64² (build parameters)
WC_NETWORKS = {"firenet": {"n": 40, "p": 5}, "fista": {"depth": 200},
               "primal-dual": {"p": 200}, "unet": {}}


def _wc_problem(size: int = 64):
    import numpy as np

    from stablesweep.operators import SamplingOperator
    from stablesweep.sampling import budgets, multilevel_mask
    from stablesweep.signals import test_image

    rng = np.random.default_rng(0)
    shape = (size, size)
    m = int(0.25 * size * size)
    mask = multilevel_mask(shape, "fourier", budgets(shape, "fourier", m, "uniform"), rng)
    A = SamplingOperator("fourier", mask)
    x = test_image("camera", size).unsqueeze(0)
    return A, x, A.measure(x.to(A.dtype))


def worst_case_steps(networks: list[str], repeat: int) -> None:
    """Step ÷ forward (with / without checkpointing) and batch-of-8 ÷ 8 single steps."""
    import torch
    from _timing import side_by_side

    from stablesweep.attacks import attack_mode
    from stablesweep.networks import build_network

    A, _, y = _wc_problem()
    y8 = y.expand(8, -1).clone()
    g = torch.Generator().manual_seed(0)
    e1 = 1e-2 * torch.randn(y.shape, dtype=y.dtype, generator=g)
    e8 = 1e-2 * torch.randn(y8.shape, dtype=y.dtype, generator=g)
    print("64x64 Fourier-Haar, 25% samples, one thread; best of", repeat)
    head = (f"{'network':<12} {'fwd [s]':>8} {'step/fwd ckpt':>14} {'step/fwd':>9} "
            f"{'batch8/8 single':>16} {'(ckpt)':>7}  target step/fwd <= 3, batch <= 0.5")
    print(head)
    print("-" * len(head))
    for name in networks:
        net = build_network(name, A, **WC_NETWORKS[name])

        def fwd(net=net):
            with torch.no_grad():
                net(y)

        def step(e, cp, net=net):
            def run():
                net.checkpointing = cp
                ee = e.clone().requires_grad_(True)
                out = net(y + ee if ee.shape[0] == 1 else y8 + ee)
                q = 0.5 * (out.real.square() + out.imag.square()).sum()
                torch.autograd.grad(q, ee)
            return run

        with attack_mode(net):
            t = side_by_side([fwd, step(e1, True), step(e1, False), step(e8, False),
                              step(e8, True)], repeat=repeat)
        f, s_ck, s_free, b_free, b_ck = t
        iterative = name != "unet"
        ok = s_free / f <= 3 and (not iterative or b_free / (8 * s_free) <= 0.5)
        print(f"{name:<12} {f:8.3f} {s_ck / f:14.2f} {s_free / f:9.2f} "
              f"{b_free / (8 * s_free):16.2f} {b_ck / (8 * s_ck):7.2f}  "
              f"{'OK' if ok else 'MISSED'}")


def worst_case_cell(networks: list[str], cap: int) -> None:
    """One converged attack cell (4 budgets) next to the previous 10-step attack."""
    import numpy as np
    import torch

    from stablesweep.attacks import jacobian_sigma_max, worst_case_noise
    from stablesweep.networks import build_network

    A, x, y = _wc_problem()
    levels = (1e-4, 1e-3, 1e-2, 1e-1)
    for name in networks:
        net = build_network(name, A, **WC_NETWORKS[name])
        t0 = time.perf_counter()
        jac = jacobian_sigma_max(net, y, iters=50, generator=torch.Generator().manual_seed(0))
        t_jac = time.perf_counter() - t0
        print(f"\n{name}: attack cell, 4 budgets, objective change, init jacobian "
              f"(Jacobian once: {t_jac:.1f} s, sigma = {float(np.ravel(jac.sigma)[0]):.4g})")
        settings = {
            "10 steps, ckpt (before)": dict(steps=10, tol=0, graph_memory_mib=0),
            f"converged (cap {cap})": dict(steps=cap),
        }
        rows = {}
        for label, kw in settings.items():
            gen = torch.Generator().manual_seed(1)
            warm, found, steps, capped = None, [], [], []
            t0 = time.perf_counter()
            for level in levels:
                r = worst_case_noise(net, A, x, y, budget=level, generator=gen,
                                     objective="change", init="jacobian", jacobian=jac,
                                     warm_start=warm, **kw)
                warm = r.e
                found.append(float(np.ravel(r.amplification)[0]))
                steps.append(int(np.ravel(r.steps_run)[0]))
                capped.append(bool(np.ravel(r.hit_cap)[0]))
            rows[label] = (time.perf_counter() - t0, found, steps, capped)
        base = rows["10 steps, ckpt (before)"][0]
        for label, (t, found, steps, capped) in rows.items():
            print(f"  {label:<24} {t:7.1f} s ({t / base:4.2f}x)  amplification "
                  + " ".join(f"{a:.4g}" for a in found)
                  + "  steps " + " ".join(map(str, steps))
                  + ("  (hit cap)" if any(capped) and "before" not in label else ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worst-case", action="store_true",
                    help="time worst_case_noise at 64x64 instead (see the docstring)")
    ap.add_argument("--networks", nargs="+", choices=list(WC_NETWORKS),
                    default=list(WC_NETWORKS), help="--worst-case: networks of the step table")
    ap.add_argument("--cell-networks", nargs="*", choices=list(WC_NETWORKS),
                    default=["fista"], help="--worst-case: networks of the cell comparison")
    ap.add_argument("--cap", type=int, default=200, help="--worst-case: cap on the steps")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--n", type=int, default=100, help="FIRENET restarts")
    ap.add_argument("--p", type=int, default=5, help="inner iterations per restart")
    ap.add_argument("--repeat", type=int, default=2, help="timings per quantity (best kept)")
    ap.add_argument("--malloc", nargs="+", choices=[*MALLOC, "jemalloc"],
                    default=[m for m in MALLOC if m != "mmap64k"],
                    help="allocator settings to run each configuration under")
    ap.add_argument("--jemalloc", metavar="PATH", default="libjemalloc.so.2",
                    help="jemalloc shared library preloaded for --malloc jemalloc")
    ap.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS),
                    help="configurations to run")
    ap.add_argument("--segment-length", type=int, default=None,
                    help="what-if: override the network's checkpoint segment length")
    ap.add_argument("--malloc-trim", action="store_true",
                    help="what-if: glibc malloc_trim(0) at checkpoint segment boundaries")
    ap.add_argument("--child", choices=sorted(CONFIGS), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worst_case:
        import torch

        torch.set_num_threads(1)
        if os.environ.get("STABLESWEEP_BENCH_TUNE_MALLOC") == "1":
            from stablesweep._malloc import tune_malloc

            tune_malloc()  # what the `stablesweep` command and its Dask workers do
        sys.path.insert(0, str(Path(__file__).parent))
        worst_case_steps(args.networks, args.repeat)
        worst_case_cell(args.cell_networks, args.cap)
        return
    if args.child:
        print(json.dumps(child(args.child, args.size, args.n, args.p, args.repeat,
                               args.segment_length, args.malloc_trim)))
        return

    print(f"FIRENET n={args.n}, p={args.p} ({args.n * args.p} iterations), "
          f"{args.size}x{args.size} Fourier-Haar, 25% samples, one image, one thread")
    header = (f"{'configuration':<17} {'malloc':<8} {'fwd [s]':>8} {'step [s]':>9} "
              f"{'step/fwd':>9} {'(att-2fwd)/fwd':>15} {'RSS before':>11} {'peak RSS':>10}"
              f"  target")
    print(header)
    print("-" * (len(header) + 20))
    results = {}
    for malloc in args.malloc:
        for config in args.configs:
            settings = MALLOC.get(malloc, {"LD_PRELOAD": args.jemalloc})
            env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **settings}
            cmd = [sys.executable, __file__, "--child", config, "--size", str(args.size),
                   "--n", str(args.n), "--p", str(args.p), "--repeat", str(args.repeat)]
            if args.segment_length is not None:
                cmd += ["--segment-length", str(args.segment_length)]
            if args.malloc_trim:
                cmd += ["--malloc-trim"]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                print(f"{config:<17} {malloc:<8} failed:\n{out.stderr}")
                continue
            res = json.loads(out.stdout.strip().splitlines()[-1])
            results[config, malloc] = res
            ratio = res["step_s"] / res["fwd_s"]
            cross = (res["attack_s"] - 2 * res["fwd_s"]) / res["fwd_s"]
            mem_target, time_target = TARGETS[config]
            ok = ratio <= time_target and (mem_target is None or res["peak_mib"] <= mem_target)
            mem = f"≤ {mem_target:.0f} MiB, " if mem_target else ""
            print(f"{config:<17} {malloc:<8} {res['fwd_s']:8.2f} {res['step_s']:9.2f} "
                  f"{ratio:9.2f} {cross:15.2f} {res['rss_before_mib']:7.0f} MiB "
                  f"{res['peak_mib']:6.0f} MiB  {mem}≤ {time_target:g}x: "
                  f"{'OK' if ok else 'MISSED'}")
    for (config, malloc), res in results.items():
        per_it = (res["peak_mib"] - res["rss_before_mib"]) / res["depth"]
        seg = (f"segments of {res['segment_length']} iterations"
               if config == "checkpointing" else "no segments")
        print(f"{config}, {malloc} malloc ({seg}): peak − before = {per_it:.2f} MiB "
              f"per iteration")


if __name__ == "__main__":
    main()
