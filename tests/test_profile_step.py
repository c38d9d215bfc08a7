"""docs/experiments/profile_step.py's reading of a CUDA trace, on a small hand-made one whose figures are known:
the training notes quote these tables, so they must count a step once and attribute the host's time rightly."""

import gzip
import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "experiments" / "profile_step.py"


@pytest.fixture(scope="module")
def profile_step():
    spec = importlib.util.spec_from_file_location("profile_step", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def step_events(start: float) -> list[dict]:
    """One 1,000 us step: the profiler writes it twice (host thread 1 and the GPU's annotation); a data loader
    (0-300 us) with no kernel queued, then a compiled region (300-700 us) launching two kernels of 100 us
    separated by a 50 us gap, then the backward thread (2) runs one operator of 200 us (700-900 us)."""
    return [
        {"cat": "user_annotation", "name": "ProfilerStep#1", "ts": start, "dur": 1000.0, "tid": 1},
        {"cat": "gpu_user_annotation", "name": "ProfilerStep#1", "ts": start + 5, "dur": 1000.0, "tid": 7},
        {"cat": "cpu_op", "name": "enumerate(DataLoader)#next", "ts": start, "dur": 300.0, "tid": 1},
        {"cat": "cpu_op", "name": "Torch-Compiled Region: 0/1", "ts": start + 300, "dur": 400.0, "tid": 1},
        {"cat": "cpu_op", "name": "aten::mm", "ts": start + 310, "dur": 20.0, "tid": 1},  # inside the region
        {"cat": "cpu_op", "name": "CompiledFunctionBackward", "ts": start + 700, "dur": 200.0, "tid": 2},
        {"cat": "kernel", "name": "nvjet_sm90_tst_gemm", "ts": start + 350, "dur": 100.0, "tid": 7},
        {"cat": "kernel", "name": "triton_poi_fused_add_mul_0", "ts": start + 500, "dur": 100.0, "tid": 7},
    ]


def test_a_step_counts_once_and_its_idle_time_and_host_threads_add_up(profile_step, tmp_path, capsys):
    events = step_events(0.0) + step_events(1000.0)
    trace = tmp_path / "trace.json.gz"
    with gzip.open(trace, "wt") as handle:
        json.dump({"traceEvents": events}, handle)
    events = profile_step.read_trace(trace)

    profile_step.print_trace(events, rows=5)
    out = capsys.readouterr().out
    # 200 us of kernels in a 1,000 us step: the GPU annotation's copy of the step must not double the wall.
    assert "GPU kernels: 2 a step; busy 0.2 ms of a 1.0 ms step (20.0%)" in out
    assert "50.0% of kernel time       0.1 ms/step  GEMM" in out

    # Idle: 350 us before the first kernel, 50 between the two, 750 from step to step, 50, and 400 at the end.
    assert profile_step.gpu_idle(events, 0.0, 2000.0) == {
        "< 10 us": 0.0, "10-100 us": 100.0, "0.1-1 ms": 1500.0, "1-10 ms": 0.0, ">= 10 ms": 0.0}
    threads = profile_step.host_threads(events, 0.0, 2000.0)
    # aten::mm runs inside the compiled region, so the region holds its time.
    assert threads[1] == ({"enumerate(DataLoader)#next": 600.0, "Torch-Compiled Region: 0/1": 800.0},
                          {"enumerate(DataLoader)#next": 2, "Torch-Compiled Region: 0/1": 2})
    assert threads[2] == ({"CompiledFunctionBackward": 400.0}, {"CompiledFunctionBackward": 2})
    assert "host thread 1: 0.7 ms a step in operators, 0.3 ms in none" in out


def test_kernel_families_match_by_name(profile_step):
    assert profile_step.family("cudnn_generated_fort_native_sdpa_sm90_flash_bprop_wgmma_f16") == "attention"
    assert profile_step.family("nvjet_sm90_tst_320x128_64x3_1x2_h_bz_coopB_TNT") == "GEMM"
    assert profile_step.family("void kDequantizeBlockwise<__nv_bfloat16, 512, 64, 8, 2>") == "NF4 dequantise"
    assert profile_step.family("void at::native::vectorized_elementwise_kernel<8, bfloat16_copy_kernel_cuda>") \
        == "copy / cast"
    assert profile_step.family("_forward_kernel") == "other"
