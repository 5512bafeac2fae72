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
(``stablesweep.networks.segments.RecomputedSegment``), the peak is 740–817 MiB under all
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
