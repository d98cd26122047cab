#!/usr/bin/env python3
"""Time another engine's CPU forward of Inception v3 from an ONNX file the
way `clinception bench` times ours (whole forwards after warm-up, a seeded
input in [-1, 1)); print one JSON line with engine, batch, iters and
median_ms (and p10/p90). For tools/bench_vs_peers.sh: run it with the Python
of the benchmark's virtual environment, which has onnxruntime and openvino.
  --engine onnxruntime: the CPU execution provider, all graph optimizations
  --engine openvino:    the CPU plugin, f32 inference precision, latency hint"""

import argparse
import json

import numpy as np

from forward_timing import add_timing_options, time_forwards


def onnxruntime_session(model, threads):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    return lambda x: s.run(None, {name: x}), ort.__version__


def openvino_session(model, threads, shape):
    import openvino as ov

    core = ov.Core()
    m = core.read_model(model)
    m.reshape({m.inputs[0].any_name: shape})
    config = {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads,
              "PERFORMANCE_HINT": "LATENCY"}
    compiled = core.compile_model(m, "CPU", config)
    request = compiled.create_infer_request()
    return lambda x: request.infer({0: x}), ov.__version__


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--engine", choices=["onnxruntime", "openvino"], required=True)
    p.add_argument("--model", required=True, help="Inception v3 as ONNX (tools/export_onnx.py)")
    add_timing_options(p)
    args = p.parse_args()
    shape = [args.batch, 3, args.size, args.size]
    x = (np.random.default_rng(0).random(shape, dtype=np.float32) * 2 - 1).astype(np.float32)
    if args.engine == "onnxruntime":
        run, version = onnxruntime_session(args.model, args.threads)
    else:
        run, version = openvino_session(args.model, args.threads, shape)
    figures = time_forwards(lambda: run(x), args.warmup, args.iters)
    print(json.dumps({"engine": args.engine, "version": version, "batch": args.batch, **figures,
                      "threads": args.threads}))

if __name__ == "__main__":
    main()
