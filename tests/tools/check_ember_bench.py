"""Runs ember-bench on small sizes and checks what it writes: the table, a JSON file with every
workload's figures, and an SVG chart."""
import json
import os
import subprocess
import sys

binary, out_dir = sys.argv[1], sys.argv[2]
os.makedirs(out_dir, exist_ok=True)
json_path = os.path.join(out_dir, "bench.json")
svg_path = os.path.join(out_dir, "bench.svg")
run = subprocess.run([binary, "--scale", "0.02", "--reps", "2", "--warmup", "1", "--threads", "2",
                      "--json", json_path], capture_output=True, text=True, timeout=280)
print(run.stdout)
assert run.returncode == 0, run.stderr
assert "memory bandwidth" in run.stdout and "softmax" in run.stdout, run.stdout

data = json.load(open(json_path))
assert data["bandwidth"]["gb_per_s"] > 0
assert data["libtorch"], data
names = [w["name"] for w in data["workloads"]]
assert names == ["elementwise_chain", "bias_gelu", "softmax", "layer_norm", "rms_norm",
                 "mlp_forward", "attention", "conv_block", "mlp_train_step",
                 "transformer_block_train_step", "gpt_forward", "gpt_train_step"], names
for w in data["workloads"]:
    for key in ("eager_ms", "compiled_ms"):
        t = w[key]
        assert 0 < t["min"] <= t["median"] <= t["max"], (w["name"], key, t)
    assert w["speedup"] > 0 and w["bytes"] > 0, w
    assert w["cold_compile_ms"] is not None and w["warm_compile_ms"] is not None, w
    assert w["kernels"] + w["library_calls"] >= 1, w
    assert w["max_abs_diff_vs_eager"] < 1e-2, w
    torch = w["libtorch_eager_ms"]  # null unless built with LibTorch
    assert torch is None or 0 < torch["min"] <= torch["median"] <= torch["max"], w
assert data["skipped"] == [], data["skipped"]
for w in data["workloads"]:
    if w["name"].endswith("_train_step"):
        # Compiled training keeps residuals, fewer bytes than the eager tape, and has a backward.
        assert 0 < w["compiled_saved_bytes"] < w["eager_saved_bytes"], w
        assert w["backward_kernels"] + w["backward_library_calls"] >= 1, w
    else:
        assert w["eager_saved_bytes"] == -1, w

svg = open(svg_path).read()
assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
for name in names:
    assert name in svg, name

bad = subprocess.run([binary, "--device", "tpu"], capture_output=True, text=True)
assert bad.returncode == 2 and "unknown device tpu" in bad.stderr, bad.stderr
# --device cuda says what is missing (the device, or the CUDA tensors) and fails.
cuda = subprocess.run([binary, "--device", "cuda"], capture_output=True, text=True)
assert cuda.returncode == 1 and "--device cuda: " in cuda.stderr, cuda.stderr
print("ember-bench smoke test passed")
