"""Which approximate nearest-neighbour library the similarity index uses above its exact-search threshold.

    python benchmarks/similarity_ann.py [--tracks 106574] [--queries 500] [--libraries exact,usearch,...]

An fma_large-size collection (106,574 tracks x 200 values, musicnn's embedding size) drawn as a mixture of
clusters: 161 centres (FMA's genres) in a 24-dimensional latent space mapped linearly into 200 dimensions,
each track a centre plus latent and per-dimension noise, so the vectors are correlated and clustered as
real embeddings are, not uniform noise (on which no ANN index works). Standardised and scaled to unit length
as the index does; queries are fresh draws from the same mixture. For each library, on ONE core: build
time, memory of the index (its serialised size, raw embedding = tracks x 200 x 4 bytes), mean and 99th
percentile query time for 10 neighbours, recall@10 against the exact (numpy) answer.

Candidates are those installed (``pip install hnswlib faiss-cpu usearch pynndescent`` into a scratch
folder and put it on PYTHONPATH to compare them all); absent ones are skipped with a line saying so.
"""

from __future__ import annotations

import argparse
import os
import pickle
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, before numpy / faiss load
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np

DIM = 200
K = 10
RAW: dict = {}  # the vectors before standardisation, for the project's own index


def collection(n: int, seed: int = 0) -> np.ndarray:
    """(n, 200) float32 unit vectors of standardised clustered data (see the module's docstring)."""
    rng = np.random.default_rng(seed)
    latent = 24
    centres = rng.normal(size=(161, latent)) * 1.5
    mixing = rng.normal(size=(latent, DIM)) / np.sqrt(latent)
    sizes = rng.dirichlet(np.full(161, 2.0))
    labels = rng.choice(161, size=n, p=sizes)
    points = (centres[labels] + rng.normal(size=(n, latent))) @ mixing
    points += 0.5 * rng.normal(size=(n, DIM))
    return points.astype(np.float32)


def unit(x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    z = (x - mean) / scale
    return (z / np.linalg.norm(z, axis=1, keepdims=True)).astype(np.float32)


def exact_top(data: np.ndarray, queries: np.ndarray) -> np.ndarray:
    sims = queries @ data.T
    top = np.argpartition(-sims, K, axis=1)[:, :K]
    order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1)
    return np.take_along_axis(top, order, axis=1)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth, strict=True)]))


def run_exact(data, queries):
    started = time.perf_counter()
    index = np.ascontiguousarray(data)
    build = time.perf_counter() - started

    def query(q):
        sims = index @ q
        top = np.argpartition(-sims, K)[:K]
        return top[np.argsort(-sims[top])]

    return build, index.nbytes, query


def run_usearch(data, queries):
    from usearch.index import Index

    started = time.perf_counter()
    index = Index(ndim=DIM, metric="cos", dtype="f16", connectivity=16, expansion_add=128,
                  expansion_search=64)  # fmt: skip
    index.add(np.arange(len(data)), data, threads=1)
    build = time.perf_counter() - started
    size = len(index.save())

    def query(q):
        return index.search(q, K, threads=1).keys

    return build, size, query


def run_hnswlib(data, queries):
    import hnswlib

    started = time.perf_counter()
    index = hnswlib.Index(space="cosine", dim=DIM)
    index.init_index(max_elements=len(data), ef_construction=128, M=16)
    index.set_num_threads(1)
    index.add_items(data, np.arange(len(data)))
    index.set_ef(64)
    build = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        index.save_index(f"{folder}/i.bin")
        size = os.path.getsize(f"{folder}/i.bin")

    def query(q):
        return index.knn_query(q, k=K)[0][0]

    return build, size, query


def run_faiss(data, queries):
    import faiss

    faiss.omp_set_num_threads(1)
    started = time.perf_counter()
    index = faiss.IndexHNSWFlat(DIM, 16, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 128
    index.add(data)
    index.hnsw.efSearch = 64
    build = time.perf_counter() - started
    size = len(faiss.serialize_index(index))

    def query(q):
        return index.search(q[None, :], K)[1][0]

    return build, size, query


def run_pynndescent(data, queries):
    import pynndescent

    started = time.perf_counter()
    index = pynndescent.NNDescent(data, metric="cosine", n_neighbors=30, n_jobs=1, random_state=0)
    index.prepare()
    build = time.perf_counter() - started
    size = len(pickle.dumps(index))
    index.query(queries[:2], k=K)  # numba compiles the query on first use

    def query(q):
        return index.query(q[None, :], k=K)[0][0]

    return build, size, query


def run_project(data, queries):
    """The project's own SimilarityIndex (music_genre.similarity.index) as the similarity pipeline builds
    it at this size: its default parameters (approximate from exact_below), queries through search()."""
    import sys
    from pathlib import Path

    import pandas as pd

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from music_genre.similarity.index import build_index

    columns = [f"msd_musicnn_mean_{i:03d}" for i in range(1, DIM + 1)]
    # the raw vectors: the index standardises them itself, as the harness's exact answer did
    features = pd.DataFrame(RAW["data"], columns=columns)
    features.insert(0, "track_id", [f"{i:06d}" for i in range(len(data))])
    started = time.perf_counter()
    index, report = build_index(features, None, {"feature_set": "embedding", "embedding": "msd_musicnn"},
                                {"exact_below": 50_000})  # fmt: skip
    build = time.perf_counter() - started
    print(f"  (project index: {report['kind']}, {report['description']})")

    def query(q):  # q back in raw units (the harness's standardisation is the index's): a raw query
        return index.search(index.query_vector(q * RAW["scale"] + RAW["mean"]), K)[0]

    return build, index.nbytes(), query


RUNNERS = {
    "project": run_project,
    "exact": run_exact,
    "usearch": run_usearch,
    "hnswlib": run_hnswlib,
    "faiss": run_faiss,
    "pynndescent": run_pynndescent,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tracks", type=int, default=106_574)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument(
        "--libraries",
        default=",".join(n for n in RUNNERS if n != "project"),
        help="any of " + ", ".join(RUNNERS) + " (project: the project's own index)",
    )
    args = parser.parse_args()
    raw = collection(args.tracks + args.queries)
    mean, scale = raw[: args.tracks].mean(axis=0), raw[: args.tracks].std(axis=0)
    data = unit(raw[: args.tracks], mean, scale)
    queries = unit(raw[args.tracks :], mean, scale)
    truth = exact_top(data, queries)
    RAW.update(data=raw[: args.tracks], mean=mean, scale=scale)
    raw_bytes = args.tracks * DIM * 4
    print(f"{args.tracks:,} tracks x {DIM}, {args.queries} queries, k={K}, one core")
    print(
        f"{'library':<12} {'build s':>8} {'memory':>14} {'query ms':>9} {'p99 ms':>7} {'recall@10':>9}"
    )
    for name in args.libraries.split(","):
        try:
            build, size, query = RUNNERS[name](data, queries)
        except ImportError as err:
            print(f"{name:<12} not installed ({err.name})")
            continue
        query(queries[0])
        times, found = [], []
        for q in queries:
            started = time.perf_counter()
            found.append(np.asarray(query(q))[:K])
            times.append(time.perf_counter() - started)
        ms = 1000 * np.asarray(times)
        print(
            f"{name:<12} {build:8.1f} {size / 2**20:7.1f} MiB {size / raw_bytes:4.2f}x "
            f"{ms.mean():9.2f} {np.percentile(ms, 99):7.2f} {recall(np.asarray(found), truth):9.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
