"""Cost of the msd_musicnn embedding: per 30 s clip on one core, the first clip in a fresh process, through
Ray, and (``--device``) on a GPU and across many cores.

    python benchmarks/embedding.py                       # one core: decode, mel, network; cold first clip
    python benchmarks/embedding.py --ray 2               # through the project's Ray extraction, 1 and 2 CPUs
    python benchmarks/embedding.py --device --patches P.npy --weights W.npz   # GPU (torch) vs numpy, scaling
    python benchmarks/embedding.py --engines --clips 40  # the network alone: numpy vs ONNX Runtime, one core

The per-clip path is the extractor's (``music_genre.features.extract_files`` with ``feature_set:
embedding``); the weights come from the models layer or $MUSIC_GENRE_WEIGHTS_DIR. ``--device`` needs only
numpy (and torch for the GPU): it runs the network on precomputed log-mel patches, so it works on a machine
without the audio stack.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core per process, as in a Ray worker
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
GTZAN = REPO_ROOT.parent / "shared" / "data" / "gtzan_subset"


def clips(root: Path, n: int) -> list[Path]:
    files = sorted(root.rglob("*.wav"))[:n]
    if not files:
        sys.exit(f"no .wav clips under {root}")
    return files


def one_core(files: list[Path]) -> None:
    from music_genre.data import audio
    from music_genre.features import FeatureSettings, extract_files
    from music_genre.features.embeddings import load_backend
    from music_genre.features.embeddings.musicnn import log_mel_patches

    settings = FeatureSettings(feature_set="embedding")
    extract_files(files[:1], settings)  # warm-up: numerics, filter bank, weights
    backend = load_backend("msd_musicnn")
    decode = mel = network = 0.0
    for path in files:
        t0 = time.perf_counter()
        signal = audio.load(path, 16000)
        t1 = time.perf_counter()
        patches = log_mel_patches(signal)
        t2 = time.perf_counter()
        backend.network.penultimate(patches)
        t3 = time.perf_counter()
        decode, mel, network = decode + t1 - t0, mel + t2 - t1, network + t3 - t2
    started = time.perf_counter()
    extract_files(files, settings)
    whole = (time.perf_counter() - started) / len(files)
    n = len(files)
    print(f"one core, {n} clips of 30 s, after warm-up (device {backend.device}):")
    print(f"  decode + resample to 16 kHz  {decode / n:.3f} s/clip")
    print(f"  log-mel patches              {mel / n:.3f} s/clip")
    print(f"  network (10 patches)         {network / n:.3f} s/clip")
    print(f"  extract_files, end to end    {whole:.3f} s/clip   (target <= 0.5)")
    code = (
        "import time; t=time.perf_counter();"
        "from music_genre.features import FeatureSettings, extract_file;"
        f"extract_file({str(files[0])!r}, FeatureSettings(feature_set='embedding'));"
        "print(time.perf_counter()-t)"
    )
    started = time.perf_counter()
    inner = float(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
    )
    print(
        f"  first clip in a fresh process {inner:.2f} s (imports, weights, kernels; {time.perf_counter() - started:.2f} s with the interpreter start)   (target < 10)"
    )


def through_ray(files: list[Path], max_cpus: int) -> None:
    import tempfile

    import pandas as pd
    import ray

    from music_genre.features import FeatureSettings
    from music_genre.features.extraction import run_extraction
    from music_genre.features.feature_cache import FeatureCache

    settings = FeatureSettings(feature_set="embedding")
    tracks = pd.DataFrame(
        {
            "track_id": [f"{i}" for i in range(len(files))],
            "path": [str(f) for f in files],
            "fingerprint": [f"bench-{i}" for i in range(len(files))],
        }  # fmt: skip
    )
    rates = {}
    for cpus in sorted({1, max_cpus}):
        ray.init(
            num_cpus=cpus, include_dashboard=False, log_to_driver=False, configure_logging=False
        )
        with tempfile.TemporaryDirectory() as cache_dir:
            warm = FeatureCache(cache_dir, "warm")
            run_extraction(
                tracks.head(cpus), settings.to_dict(), warm, progress=False
            )  # start workers
            report = run_extraction(
                tracks, settings.to_dict(), FeatureCache(cache_dir, "x"), progress=False
            )
        ray.shutdown()
        rates[cpus] = report.tracks_per_second
        print(
            f"  Ray, {cpus} CPU(s): {report.tracks_per_second:.2f} clips/s ({len(files)} clips, {report.seconds:.1f} s)"
        )
    if len(rates) > 1:
        print(f"  speed-up {rates[max_cpus] / rates[1]:.2f}x on {max_cpus} CPUs")


def _network_rate(args) -> float:
    weights, patches, repeats = args
    from music_genre.features.embeddings.musicnn import MusicnnNetwork
    from music_genre.features.embeddings.weights import load_weights

    network = MusicnnNetwork(load_weights(weights))
    network.penultimate(patches[:1])
    started = time.perf_counter()
    for _ in range(repeats):
        network.penultimate(patches)
    return repeats * len(patches) / (time.perf_counter() - started)


def on_device(patch_file: Path, weights: Path) -> None:
    import multiprocessing

    from music_genre.features.embeddings.backend import TorchMusicnn
    from music_genre.features.embeddings.musicnn import MusicnnNetwork
    from music_genre.features.embeddings.weights import load_weights

    clips_patches = np.load(patch_file)  # (clips, 10, 187, 96)
    patches = clips_patches.reshape(-1, *clips_patches.shape[2:])
    network = MusicnnNetwork(load_weights(weights))
    started = time.perf_counter()
    cpu = network.penultimate(patches)
    cpu_seconds = (time.perf_counter() - started) / len(clips_patches)
    print(f"numpy, one core: {cpu_seconds:.3f} s/clip (network only, {len(clips_patches)} clips)")
    cores = os.cpu_count() or 1
    one = None
    for n in sorted({1, 4, 8, cores}):
        if n > cores:
            continue
        with multiprocessing.get_context("spawn").Pool(n) as pool:
            rates = pool.map(_network_rate, [(weights, clips_patches[0], 2)] * n)
        clips_per_s = sum(rates) / 10
        one = one or clips_per_s
        print(
            f"numpy, {n:2d} processes: {clips_per_s:6.1f} clips/s  ({clips_per_s / one:.1f}x one process)"
        )
    try:
        import torch
    except ImportError:
        print("torch not installed: no GPU figures")
        return
    if not torch.cuda.is_available():
        print("no CUDA GPU visible: no GPU figures")
        return
    gpu = TorchMusicnn(network)
    torch.backends.cudnn.benchmark = True
    seconds, out = _timed_on_gpu(torch, gpu, patches, len(clips_patches))
    print(f"torch on {torch.cuda.get_device_name(0)}: {seconds * 1000:.2f} ms/clip "
          f"({1 / seconds:.0f} clips/s, batches of {gpu.PATCHES_PER_PASS} patches); "
          f"max |gpu - numpy| = {float(np.max(np.abs(out - cpu))):.2e}")  # fmt: skip
    torch.backends.cudnn.allow_tf32 = True  # what TF32 would change (the backend keeps it off)
    torch.backends.cuda.matmul.allow_tf32 = True
    seconds, out = _timed_on_gpu(torch, gpu, patches, len(clips_patches))
    print(f"  with TF32 (not used): {seconds * 1000:.2f} ms/clip, max |gpu - numpy| = "
          f"{float(np.max(np.abs(out - cpu))):.2e}")  # fmt: skip


def _timed_on_gpu(torch, gpu, patches, clips: int, repeats: int = 5):
    """Seconds per clip after one warm-up pass, and the last output."""
    out = gpu.penultimate(patches)
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(repeats):
        out = gpu.penultimate(patches)
    torch.cuda.synchronize()
    return (time.perf_counter() - started) / (repeats * clips), out


def engines(files: list[Path], repeat: int) -> None:
    """The network alone on one core, on the real log-mel patches of ``files``: the numpy network and ONNX
    Runtime (one intra-op thread, batches of 1, 5 and 10 patches) in one run, passes interleaved, the best
    pass of each counted (the machine is shared); and their largest differences."""
    from music_genre.data import audio
    from music_genre.features.embeddings.backend import MusicnnBackend
    from music_genre.features.embeddings.musicnn import MusicnnNetwork, log_mel_patches

    patches = [log_mel_patches(audio.load(path, 16000)) for path in files]
    onnx_backend = MusicnnBackend(device="cpu")
    if onnx_backend.engine != "onnxruntime":
        sys.exit("ONNX Runtime is not available here (see the warning above)")
    numpy_network, onnx_network = onnx_backend.network, onnx_backend._cpu_network

    def batched(size: int):
        def run(x):
            for start in range(0, len(x), size):
                onnx_network.layers(x[start : start + size])

        return run

    candidates = {
        "numpy (float32, OpenBLAS)": numpy_network.layers,
        "ONNX Runtime, 1 patch a call": batched(1),
        "ONNX Runtime, 5 patches a call": batched(5),
        "ONNX Runtime, a clip (10) a call": batched(10),
    }
    best = dict.fromkeys(candidates, float("inf"))
    best_cpu = dict.fromkeys(candidates, float("inf"))
    for run in candidates.values():
        run(patches[0])  # warm-up
    for _ in range(repeat):
        for name, run in candidates.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            for clip in patches:
                run(clip)
            best[name] = min(best[name], (time.perf_counter() - started) / len(patches))
            best_cpu[name] = min(best_cpu[name], (time.process_time() - started_cpu) / len(patches))
    print(f"the network alone, one core, {len(patches)} real clips (10 patches of 3 s each), "
          f"best of {repeat} interleaved passes; wall and CPU seconds (both engines run on the "
          f"calling thread, so CPU time is the single-core cost even on a busy machine):")  # fmt: skip
    for label, table in (("wall", best), ("CPU", best_cpu)):
        numpy_seconds = table["numpy (float32, OpenBLAS)"]
        for name, seconds in table.items():
            print(
                f"  {label:<4} {name:<34} {seconds:.3f} s/clip   {numpy_seconds / seconds:.2f} x numpy"
            )
        fastest = min(table[name] for name in candidates if name.startswith("ONNX"))
        print(
            f"  {label:<4} ONNX Runtime / numpy speed: {numpy_seconds / fastest:.2f} x   (target >= 2.5)"
        )
    stacked = np.concatenate(patches)
    ours = {
        k: np.concatenate([onnx_network.layers(p)[k] for p in patches])
        for k in ("penultimate", "midend")
    }
    reference = numpy_network.layers(stacked)
    exact = MusicnnNetwork(numpy_network.w, dtype=np.float64).layers(stacked[::10])
    for layer in ("penultimate", "midend"):
        clip_means = np.abs(
            ours[layer].reshape(len(patches), -1, ours[layer].shape[1]).mean(axis=1)
            - reference[layer].reshape(len(patches), -1, ours[layer].shape[1]).mean(axis=1)
        ).max()
        print(f"  {layer}: max |onnx - numpy| per patch {np.abs(ours[layer] - reference[layer]).max():.2e}, "
              f"per clip mean {clip_means:.2e}; vs numpy in float64: onnx "
              f"{np.abs(ours[layer][::10] - exact[layer]).max():.2e}, numpy float32 "
              f"{np.abs(reference[layer][::10] - exact[layer]).max():.2e}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=GTZAN)
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument(
        "--ray", type=int, default=0, help="also through Ray with 1 and this many CPUs"
    )
    parser.add_argument("--device", action="store_true")
    parser.add_argument(
        "--engines", action="store_true", help="the network alone: numpy vs ONNX Runtime"
    )
    parser.add_argument("--repeat", type=int, default=3, help="passes for --engines")
    parser.add_argument("--patches", type=Path)
    parser.add_argument("--weights", type=Path)
    args = parser.parse_args()
    if args.device:
        on_device(args.patches, args.weights)
        return
    files = clips(args.root, args.clips)
    if args.engines:
        engines(files, args.repeat)
        return
    one_core(files)
    if args.ray:
        through_ray(files, args.ray)


if __name__ == "__main__":
    main()
