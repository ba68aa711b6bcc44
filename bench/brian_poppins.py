#!/usr/bin/python3
"""The POPPINS IQIF population network in Brian2, for bench/bench_poppins.sh.

  brian_poppins.py make NET.ini --n1 N --n2 N --seed S     write a random two-level network
  brian_poppins.py run NET.ini --steps N --out SPIKES.csv  simulate it in Brian2

`run` reads bitcell's processor file (the subset bench networks use: per-neuron lists,
`weights` rows, no noise) and builds the same integer arithmetic as METHODS.md §5.2/§5.3 in
Brian2 (integer state variables, `//` floor division), in Brian2's fastest mode (C++
standalone, one thread). Brian2's schedule per time step is groups -> thresholds -> synapses ->
resets: the run_regularly operation in `groups` decays the accumulator and integrates, the
threshold `x > 255` spikes, `on_pre` adds the weights (reaching the neuron in the next step:
the one-step delay), the reset sets x = reset. Prints one JSON line with the timings.
"""
import argparse
import json
import os
import random
import sys
import tempfile
import time


def make(args):
    rng = random.Random(args.seed)
    n1, n2 = args.n1, args.n2
    lines = [
        "; random two-level IQIF network for bench/bench_poppins.sh (seed %d)" % args.seed,
        "[chip]", "name = bench", "weight_bits = 8", "max_neurons = 4096", "accumulator_bits = 32",
    ]

    def pop(name, n, bias_lo, bias_hi):
        out = ["[population]", "name = %s" % name, "neurons = %d" % n]
        # a mix of the repo's parameter sets: (62,130,50,2,2) and (128,200,128,1,1) and class-1
        sets = [(62, 130, 50, 2, 2), (128, 200, 128, 1, 1), (62, 75, 68, 4, 1)]
        ps = [sets[rng.randrange(3)] for _ in range(n)]
        for k, key in enumerate(["rest", "threshold", "reset", "a", "b"]):
            out.append("%s = %s" % (key, " ".join(str(p[k]) for p in ps)))
        out.append("tau = %s" % " ".join(str(rng.choice([0, 2, 4, 8, 16])) for _ in range(n)))
        out.append("bias = %s" % " ".join(str(rng.randint(bias_lo, bias_hi)) for _ in range(n)))
        for i in range(n):
            row = [rng.randint(-12, 10) if rng.random() < 0.5 else 0 for _ in range(n)]
            out.append("weights = %s" % " ".join(map(str, row)))
        return out

    lines += pop("p1", n1, 0, 14)
    lines += pop("p2", n2, -2, 8)
    lines += ["[projection]", "from = p1", "to = p2"]
    for i in range(n1):
        row = [rng.randint(-10, 20) if rng.random() < 0.5 else 0 for _ in range(n2)]
        lines.append("weights = %s" % " ".join(map(str, row)))
    text = "\n".join(lines) + "\n"
    if any(len(l) > 190 for l in lines):
        sys.exit("make: rows too long for one INI line (use --n1/--n2 <= 48)")
    with open(args.net, "w") as f:
        f.write(text)


def parse(path):
    """Sections of a processor file as (name, {key: [values...]}) with repeated weights rows."""
    secs = []
    for raw in open(path):
        line = raw.split(";")[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            secs.append((line.strip("[]"), {}))
            continue
        k, v = [s.strip() for s in line.split("=", 1)]
        if k == "weights":
            secs[-1][1].setdefault(k, []).append([int(t) for t in v.replace(",", " ").split()])
        else:
            secs[-1][1][k] = v
    return secs


def run(args):
    from brian2 import (NeuronGroup, Synapses, SpikeMonitor, Network, defaultclock, ms, set_device,
                        device, prefs)
    import numpy as np

    secs = parse(args.net)
    pops = [s for n, s in secs if n == "population"]
    proj = [s for n, s in secs if n == "projection"]
    n_of = [int(p["neurons"]) for p in pops]
    n = sum(n_of)
    off = [0, n_of[0]]

    def per(p, key, default, cnt):
        if key not in p:
            return [default] * cnt
        v = [int(t) for t in p[key].replace(",", " ").split()]
        return v * cnt if len(v) == 1 else v

    cols = {k: [] for k in ["rest", "threshold", "reset", "a", "b", "tau", "bias", "noise"]}
    defaults = {"rest": 62, "threshold": 130, "reset": 145, "a": 1, "b": 1, "tau": 0, "bias": 0, "noise": 0}
    for p, cnt in zip(pops, n_of):
        for k in cols:
            cols[k] += per(p, k, defaults[k], cnt)
    if any(v > 1 for v in cols["noise"]):
        sys.exit("run: the Brian2 comparison needs noise off")
    pre, post, w = [], [], []
    for k, p in enumerate(pops):
        for i, row in enumerate(p.get("weights", [])):
            for j, v in enumerate(row):
                if v:
                    pre.append(off[k] + i); post.append(off[k] + j); w.append(v)
    for p in proj:
        for i, row in enumerate(p.get("weights", [])):
            for j, v in enumerate(row):
                if v:
                    pre.append(i); post.append(off[1] + j); w.append(v)

    standalone = args.mode == "cpp_standalone"
    build_dir = args.build_dir or tempfile.mkdtemp(prefix="brian_poppins_")
    if standalone:
        set_device("cpp_standalone", directory=build_dir, build_on_run=False)
        prefs.devices.cpp_standalone.openmp_threads = 0
    else:  # runtime mode: Python drives the loop, code objects generated for this target
        prefs.codegen.target = args.mode
    defaultclock.dt = 1 * ms
    G = NeuronGroup(n, """
        x : integer
        I : integer
        stim : integer (constant)
        rest : integer (constant)
        thr : integer (constant)
        reset_v : integer (constant)
        a : integer (constant)
        b : integer (constant)
        fmin : integer (constant)
        div : integer (constant)
        decays : integer (constant)
        """, threshold="x > 255", reset="x = reset_v")
    tau = np.array(cols["tau"])
    shift = np.where(tau > 0, np.floor(np.log2(np.maximum(tau, 1))).astype(int), 0)
    G.rest = cols["rest"]; G.thr = cols["threshold"]; G.reset_v = cols["reset"]
    G.a = cols["a"]; G.b = cols["b"]; G.stim = cols["bias"]
    a, b = np.array(cols["a"]), np.array(cols["b"])
    r, t = np.array(cols["rest"]), np.array(cols["threshold"])
    G.fmin = (a * r + b * t) // (a + b)  # all non-negative: floor == C truncation
    G.div = 2 ** shift
    G.decays = (tau > 0).astype(int)
    G.x = cols["rest"]
    G.I = 0
    G.run_regularly("""
        dec = I // div
        I = I - decays * (dec + int(dec == 0) * (int(I > 0) - int(I < 0)))
        f = int(x < fmin) * a * (rest - x) + int(x >= fmin) * b * (x - thr)
        x = x + f // 8 + I + stim
        x = x * int(x >= 0)
        I = I * decays
        """, when="groups")
    S = Synapses(G, G, "w : integer (constant)", on_pre="I_post += w")
    if pre:
        S.connect(i=np.array(pre), j=np.array(post))
        S.w = w
    M = SpikeMonitor(G)
    net = Network(G, S, M)
    if standalone:
        # device._last_run_time is std::clock() around the loop: CPU time. The wall time of
        # the same loop, for the wall-clock comparison:
        device.insert_code("before_network_run", "struct timespec bc_w0; clock_gettime(CLOCK_MONOTONIC, &bc_w0);")
        device.insert_code("after_network_run", "struct timespec bc_w1; clock_gettime(CLOCK_MONOTONIC, &bc_w1); "
                           "std::ofstream(\"loop_wall_seconds.txt\") << (bc_w1.tv_sec - bc_w0.tv_sec) + "
                           "1e-9 * (bc_w1.tv_nsec - bc_w0.tv_nsec) << std::endl;")
        net.run(args.steps * ms)
        t0 = time.time()
        device.build(directory=build_dir, compile=True, run=True, debug=False)
        total = time.time() - t0
        run_cpu = float(device._last_run_time)
        run_wall = float(open(os.path.join(build_dir, "loop_wall_seconds.txt")).read())
    else:
        # the first step generates and compiles the code objects; the other steps are timed
        t0 = time.time()
        net.run(1 * ms)
        w0, c0 = time.perf_counter(), time.process_time()
        net.run((args.steps - 1) * ms)
        run_wall, run_cpu = time.perf_counter() - w0, time.process_time() - c0
        total = time.time() - t0
    steps = np.round(np.asarray(M.t / ms)).astype(np.int64)
    idx = np.asarray(M.i)
    order = np.lexsort((idx, steps))
    with open(args.out, "w") as f:
        f.write("step,neuron\n")
        for s_, i_ in zip(steps[order], idx[order]):
            f.write("%d,%d\n" % (s_, i_))
    import brian2
    print(json.dumps({"brian2": brian2.__version__, "mode": args.mode, "threads": 1,
                      "neurons": n, "synapses": len(w), "steps": args.steps,
                      "spikes": int(len(idx)), "run_seconds": run_cpu, "run_wall_seconds": run_wall,
                      "build_and_run_seconds": total}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("net")
    m.add_argument("--n1", type=int, default=32)
    m.add_argument("--n2", type=int, default=32)
    m.add_argument("--seed", type=int, default=1)
    r = sub.add_parser("run")
    r.add_argument("net")
    r.add_argument("--steps", type=int, default=100000)
    r.add_argument("--out", required=True)
    r.add_argument("--build-dir")
    r.add_argument("--mode", default="cpp_standalone", choices=["cpp_standalone", "cython", "numpy"],
                   help="Brian2's C++ standalone device (default, its fastest here), or runtime mode "
                        "with cython or numpy code objects")
    args = ap.parse_args()
    make(args) if args.cmd == "make" else run(args)


if __name__ == "__main__":
    main()
