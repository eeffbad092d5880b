"""The default user path, end to end: train on a folder-per-genre collection, predict held-out clips.

    python benchmarks/user_path.py                                  # ../shared/data/gtzan_subset, 5 folds
    python benchmarks/user_path.py --root /abs/genres --folds 5 --seed 0 --keep
    python benchmarks/degrade.py --out /tmp/degraded --mode both    # then, on a collection that differs:
    python benchmarks/user_path.py --root /tmp/degraded
    nice -n 10 python benchmarks/user_path.py --jobs 1 --report /tmp/user_path.json
    python benchmarks/user_path.py --params feature_engineering.feature_set=handcrafted+embedding  # pinned

What it measures. The clips of ``--root`` (``<root>/<genre>/*.wav|mp3|ogg|flac|au``; the genre is the folder
name) are split into stratified k folds. For each fold:

1. a FRESH copy of the project in a temp dir: the repository's tracked files as they are in the working tree
   (``git ls-files``), plus new files git does not ignore (a module just written and not yet added, which
   tracked files may import; ``--tracked-only`` leaves them out), plus ``data/06_models/pretrained/`` (the
   converted embedding weights, so it runs offline); no ``mlflow.db``, no ``data/0x`` caches, no model;
2. a training collection folder of symlinks to the other k-1 folds' clips, ``<train>/<genre>/<file>``;
3. exactly what a user runs, in the copy, with this venv's executables (``PYTHONPATH`` = the copy's ``src``,
   so the copy's code is what runs even though the venv's editable install points at the repository):

       kedro run --env=gtzan --params=dataset.root=<abs train folder>
       music-genre predict --env gtzan --json --project <copy> <held-out files>

4. a held-out clip is correct when the JSON's ``genre`` equals its folder name (case-sensitive); a file the
   CLI reports as an error, or does not report, is wrong.

Printed: per fold and in total, k of N correct and the accuracy; what the run chose (feature set and model
type, from the copy's ``data/08_reporting/gtzan/model_metrics.json``, and the best row of ``model_cv.csv``
when the model type was chosen by cross-validation); wall time of training and of prediction; the fraction
of held-out files the JSON marks ``"unfamiliar": true`` ("n/a" when no JSON row carries the key); how the
answers split by ``verdict`` (confident / leaning / uncertain / unfamiliar, each with how many were right),
beside how many the old rule (under 50%, or under 10 points ahead of the second) called uncertain. A fold
whose run fails prints its stderr tail, counts as failed (its clips are not scored) and the next fold runs;
``--retries`` re-runs a failed fold after ``--retry-wait`` seconds on a new copy (the tree is edited by
others meanwhile). ``--report`` writes everything as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = Path("/work/shared/data/gtzan_subset")
ENV = "gtzan"
PRETRAINED = Path("data/06_models/pretrained")
FALLBACK_EXTENSIONS = (".mp3", ".wav", ".ogg", ".flac", ".au")
TAIL_LINES = 40


def audio_extensions() -> tuple[str, ...]:
    try:
        from music_genre.data.audio import AUDIO_EXTENSIONS
    except ImportError:
        return FALLBACK_EXTENSIONS
    return tuple(AUDIO_EXTENSIONS)


def collection(root: Path) -> list[tuple[Path, str]]:
    """(absolute path, genre = folder name) of every audio file one folder below ``root``."""
    extensions = audio_extensions()
    clips = []
    for genre_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(genre_dir.rglob("*")):
            if path.is_file() and path.suffix.lower() in extensions:
                clips.append((path.absolute(), genre_dir.name))
    return clips


def folds(clips: list[tuple[Path, str]], n_folds: int, seed: int) -> list[list[int]]:
    """Held-out indices of each stratified fold: each genre's clips, shuffled, dealt round the folds,
    each genre starting where the last one stopped (sizes differ by one at most; works with fewer clips
    in a genre than folds, where scikit-learn's StratifiedKFold refuses: GTZAN subset, 4 a genre)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    by_genre: dict[str, list[int]] = {}
    for index, (_, genre) in enumerate(clips):
        by_genre.setdefault(genre, []).append(index)
    held_out: list[list[int]] = [[] for _ in range(n_folds)]
    next_fold = int(rng.integers(n_folds))
    for genre in sorted(by_genre):
        for index in rng.permutation(by_genre[genre]).tolist():
            held_out[next_fold].append(index)
            next_fold = (next_fold + 1) % n_folds
    return [sorted(fold) for fold in held_out]


def project_files(tracked_only: bool) -> list[str]:
    """The repository's files: tracked, plus (unless ``tracked_only``) new files git does not ignore yet
    (a module an engineer has written and not added: tracked files may already import it). Nothing
    under data/ but the converted weights, no mlflow.db."""
    command = ["git", "-C", str(REPO_ROOT), "ls-files", "-z", "--cached"]
    if not tracked_only:
        command += ["--others", "--exclude-standard"]
    listed = subprocess.run(command, check=True, capture_output=True).stdout.decode()
    names = dict.fromkeys(filter(None, listed.split("\0")))
    return [
        name
        for name in names
        if name != "mlflow.db" and (not name.startswith("data/") or name.endswith(".gitkeep"))
    ]


def copy_project(dest: Path, tracked_only: bool = False) -> int:
    """The project's files as they are in the working tree, plus the converted embedding weights."""
    copied = 0
    for name in project_files(tracked_only):
        source = REPO_ROOT / name
        if not source.is_file():  # tracked but deleted (or a submodule) in the working tree
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        copied += 1
    if (REPO_ROOT / PRETRAINED).is_dir():
        shutil.copytree(REPO_ROOT / PRETRAINED, dest / PRETRAINED, dirs_exist_ok=True)
    return copied


def training_folder(dest: Path, clips: list[tuple[Path, str]]) -> None:
    for path, genre in clips:
        (dest / genre).mkdir(parents=True, exist_ok=True)
        link = dest / genre / path.name
        if not link.exists():
            link.symlink_to(path)


def tool(name: str, venv: Path) -> str:
    candidate = venv / "bin" / name
    if candidate.is_file():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"error: no `{name}` in {venv}/bin or on PATH")
    return found


def child_env(project: Path, venv: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(project / "src"), os.environ.get("PYTHONPATH")])
    )
    env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", "")])
    env["VIRTUAL_ENV"] = str(venv)
    # the copy's own local Ray and its own MLflow store (conf/base/mlflow.yml: sqlite:///mlflow.db)
    for name in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        env.pop(name, None)
    env.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    return env


def run_logged(
    command: list[str], cwd: Path, env: dict, log: Path, timeout: float
) -> tuple[int, str]:
    """Exit status and stdout; stdout and stderr also go to ``log`` (.out / .err)."""
    with open(log.with_suffix(".out"), "w") as out, open(log.with_suffix(".err"), "w") as err:
        try:
            status = subprocess.run(
                command, cwd=cwd, env=env, stdout=out, stderr=err, timeout=timeout
            ).returncode
        except subprocess.TimeoutExpired:
            err.write(f"\n[user_path] timed out after {timeout:.0f} s\n")
            status = 124
    return status, log.with_suffix(".out").read_text(errors="replace")


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last lines of a log, after its exception lines (a chained error's cause is far above)."""
    import re

    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    last = text[-lines:]
    causes = [
        line
        for line in text[:-lines]
        if re.match(r"^\s*[\w.]*(Error|Exception|Exit)\b.*:", line) and line not in last
    ]
    return "\n".join([*dict.fromkeys(causes), "...", *last] if causes else last)


def newest(folder: Path, pattern: str) -> Path | None:
    """A report file, versioned (``name/<timestamp>/name``) or not."""
    found = [p for p in folder.rglob(pattern) if p.is_file()] if folder.is_dir() else []
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def chosen(project: Path) -> dict:
    """Feature set and model type the run chose, from the copy's reports."""
    reporting = project / "data" / "08_reporting"
    choice: dict = {"feature_set": None, "model_type": None, "cv_best": None}
    metrics_file = newest(reporting, "model_metrics.json")
    if metrics_file is not None:
        metrics = json.loads(metrics_file.read_text())
        choice["feature_set"] = metrics.get("feature_set")
        choice["model_type"] = metrics.get("model_type")
        choice["model_selection"] = metrics.get("model_selection")
        test = (metrics.get("splits") or {}).get("test") or {}
        if isinstance(test, dict) and "accuracy" in test:
            choice["internal_test_accuracy"] = test["accuracy"]
    selection = choice.get("model_selection")
    if isinstance(selection, list) and selection and isinstance(selection[0], dict):
        choice["cv_best"] = best_row(selection)
        choice["cv_chosen"] = next(
            (
                row
                for row in selection
                if row.get("model_type") == choice["model_type"]
                and row.get("feature_set", choice["feature_set"]) == choice["feature_set"]
            ),
            None,
        )
    cv_file = newest(reporting, "model_cv.csv")
    if cv_file is not None and choice["cv_best"] is None:
        choice["cv_best"] = best_cv_row(cv_file)
    return choice


def best_row(rows: list[dict]) -> dict:
    """The best of the model-selection rows (by the first accuracy mean found)."""
    key = next((k for k in rows[0] if "accuracy" in k and "std" not in k), None)
    return max(rows, key=lambda row: row.get(key) or 0) if key else rows[0]


def best_cv_row(path: Path) -> dict | None:
    import pandas as pd

    table = pd.read_csv(path)
    return best_row(table.to_dict("records")) if not table.empty else None


def score(stdout: str, held_out: list[tuple[Path, str]]) -> dict:
    """k of N correct, per-file answers, and the unfamiliar fraction, from predict's JSON lines."""
    rows = []
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    by_path: dict[str, dict] = {}
    for row in rows:
        path = str(row.get("path", ""))
        by_path[path] = row
        by_path.setdefault(str(Path(path).resolve()) if path else "", row)
    answers = []
    for index, (path, genre) in enumerate(held_out):
        row = by_path.get(str(path)) or by_path.get(str(path.resolve()))
        if row is None and len(rows) == len(held_out):  # the CLI answers in the order given
            row = rows[index]
        predicted = None if row is None or "error" in row else row.get("genre")
        answers.append(
            {
                "path": str(path),
                "genre": genre,
                "predicted": predicted,
                "confidence": None if row is None else row.get("confidence"),
                "unfamiliar": None if row is None else row.get("unfamiliar"),
                "verdict": None if row is None else row.get("verdict"),
                "runner_up": None if row is None else row.get("runner_up"),
                "probabilities": None if row is None else row.get("probabilities"),
                "error": None if row is None else row.get("error", None),
                "missing": row is None,
            }
        )
    flagged = [a["unfamiliar"] for a in answers if a["unfamiliar"] is not None]
    return {
        "correct": sum(a["predicted"] == a["genre"] for a in answers),
        "n": len(answers),
        "errors": sum(a["error"] is not None or a["missing"] for a in answers),
        "unfamiliar": sum(f is True for f in flagged) / len(answers)
        if flagged and answers
        else None,
        "answers": answers,
    }


# The rule before verdicts knew how many genres there are (uncertain_below 0.5, uncertain_margin 0.10):
# every answer under 50%, or less than 10 points ahead of the second, read "uncertain".
OLD_BELOW, OLD_MARGIN = 0.5, 0.10
VERDICT_ORDER = ("confident", "leaning", "uncertain", "unfamiliar", "tagged")


def old_rule_uncertain(probabilities: dict | None) -> bool | None:
    if not probabilities:
        return None
    top, second, *_ = sorted(map(float, probabilities.values()), reverse=True) + [0.0, 0.0]
    return top < OLD_BELOW or round(top - second, 9) < OLD_MARGIN


def verdict_split(answers: list[dict]) -> dict:
    """How the held-out answers split by verdict (the JSON's ``verdict``), how many of each were right,
    and how many the old 50%-or-10-points rule would have called uncertain."""
    split: dict = {}
    for answer in answers:
        kind = answer.get("verdict") or ("error" if answer["predicted"] is None else "none")
        entry = split.setdefault(kind, {"n": 0, "correct": 0})
        entry["n"] += 1
        entry["correct"] += int(answer["predicted"] == answer["genre"])
    old = [old_rule_uncertain(a.get("probabilities")) for a in answers]
    return {
        "by_verdict": split,
        "old_rule_uncertain": sum(o is True for o in old),
        "old_rule_judged": sum(o is not None for o in old),
    }


def verdict_text(split: dict) -> str:
    order = [k for k in VERDICT_ORDER if k in split["by_verdict"]]
    order += [k for k in split["by_verdict"] if k not in order]
    parts = [
        f"{kind} {split['by_verdict'][kind]['n']} ({split['by_verdict'][kind]['correct']} right)"
        for kind in order
    ]
    return (
        "verdicts: "
        + (", ".join(parts) or "none")
        + f"; the old rule (under {OLD_BELOW:.0%} or under {100 * OLD_MARGIN:.0f} points ahead) "
        f"called {split['old_rule_uncertain']} of {split['old_rule_judged']} uncertain"
    )


def run_fold(
    index: int,
    held_out: list[tuple[Path, str]],
    train: list[tuple[Path, str]],
    args: argparse.Namespace,
) -> dict:
    result: dict = {"fold": index + 1, "n": len(held_out), "status": "failed", "attempts": 0}
    for attempt in range(args.retries + 1):
        if attempt:
            print(
                f"fold {index + 1}: retry {attempt} in {args.retry_wait:.0f} s (a fresh copy)",
                flush=True,
            )
            time.sleep(args.retry_wait)
        result = attempt_fold(index, held_out, train, args) | {"attempts": attempt + 1}
        if result["status"] == "ok":
            break
    return result


def attempt_fold(
    index: int,
    held_out: list[tuple[Path, str]],
    train: list[tuple[Path, str]],
    args: argparse.Namespace,
) -> dict:
    fold = index + 1
    work = Path(tempfile.mkdtemp(prefix=f"user_path_fold{fold}_", dir=args.tmp))
    project, train_dir, logs = work / "project", work / "train", work / "logs"
    logs.mkdir(parents=True)
    result: dict = {"fold": fold, "n": len(held_out), "n_train": len(train), "work": str(work)}
    started = time.perf_counter()
    try:
        result["files_copied"] = copy_project(project, args.tracked_only)
        training_folder(train_dir, train)
        env = child_env(project, args.venv)
        status, _ = run_logged(
            [
                tool("kedro", args.venv),
                "run",
                f"--env={ENV}",
                f"--params=dataset.root={train_dir.resolve()}"
                + (f",{args.params}" if args.params else ""),
            ],
            project,
            env,
            logs / "kedro_run",
            args.timeout,
        )
        result["train_s"] = time.perf_counter() - started
        if status != 0:
            result |= {
                "status": "failed",
                "stage": "kedro run",
                "returncode": status,
                "stderr_tail": tail(logs / "kedro_run.err"),
            }
            return result
        result["choice"] = chosen(project)
        predict_started = time.perf_counter()
        status, stdout = run_logged(
            [
                tool("music-genre", args.venv),
                "predict",
                "--env",
                ENV,
                "--json",
                "--top",
                "1",
                "--project",
                str(project),
                *[str(path) for path, _ in held_out],
            ],
            project,
            env,
            logs / "predict",
            args.timeout,
        )
        result["predict_s"] = time.perf_counter() - predict_started
        result["predict_returncode"] = status
        scored = score(stdout, held_out)
        if not any(not a["missing"] for a in scored["answers"]):  # no JSON at all: the CLI failed
            result |= {
                "status": "failed",
                "stage": "predict",
                "returncode": status,
                "stderr_tail": tail(logs / "predict.err"),
            }
            return result
        if status != 0:  # some files failed: scored as wrong, the stderr tail shown
            result["stderr_tail"] = tail(logs / "predict.err", 10)
        result |= scored | {"status": "ok"}
        return result
    except Exception as error:  # one broken fold never stops the benchmark
        result |= {"status": "failed", "stage": "setup", "stderr_tail": repr(error)}
        return result
    finally:
        result["wall_s"] = time.perf_counter() - started
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def describe_choice(choice: dict | None) -> str:
    """``features=... model=... (cv 0.90 of 3 folds; best 0.92: handcrafted+embedding/svm)``."""
    if not choice:
        return "?"
    text = f"features={choice.get('feature_set')} model={choice.get('model_type')}"
    picked, best = choice.get("cv_chosen"), choice.get("cv_best")
    if picked or best:
        parts = []
        if picked and picked.get("accuracy_mean") is not None:
            parts.append(f"cv {picked['accuracy_mean']:.3f} of {picked.get('folds', '?')} folds")
        if best and best is not picked and best.get("accuracy_mean") is not None:
            label = "/".join(str(best[k]) for k in ("feature_set", "model_type") if k in best)
            parts.append(f"best {best['accuracy_mean']:.3f}: {label}")
        text += f" ({'; '.join(parts)})" if parts else ""
    return text


def print_fold(result: dict) -> None:
    fold = result["fold"]
    if result["status"] != "ok":
        print(
            f"fold {fold}: FAILED at {result.get('stage')} (exit {result.get('returncode')}) after "
            f"{result.get('wall_s', 0):.0f} s, attempts {result.get('attempts', 1)}; stderr tail:",
            flush=True,
        )
        print("    " + str(result.get("stderr_tail", "")).replace("\n", "\n    "), flush=True)
        return
    unfamiliar = "n/a" if result["unfamiliar"] is None else f"{result['unfamiliar']:.0%}"
    print(
        f"fold {fold}: {result['correct']} of {result['n']} correct "
        f"({result['correct'] / result['n']:.1%}), {result['errors']} errors; "
        f"{describe_choice(result.get('choice'))}; "
        f"train {result['train_s']:.0f} s + predict {result['predict_s']:.0f} s = "
        f"{result['wall_s']:.0f} s; unfamiliar {unfamiliar}",
        flush=True,
    )
    print("    " + verdict_text(verdict_split(result["answers"])), flush=True)
    if result.get("stderr_tail"):
        print("    predict stderr: " + result["stderr_tail"].replace("\n", "\n    "), flush=True)
    if result.get("work") and Path(result["work"]).exists():
        print(f"    kept: {result['work']}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root", type=Path, default=DEFAULT_ROOT, help="<root>/<genre>/*.wav|mp3|..."
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep each fold's temp dir")
    parser.add_argument("--jobs", type=int, default=1, help="folds run at once")
    parser.add_argument(
        "--only", type=str, default=None, help="run only these folds, e.g. 1,3 (1-based)"
    )
    parser.add_argument(
        "--tracked-only",
        action="store_true",
        help="copy only git-tracked files (default: also new files git does not ignore)",
    )
    parser.add_argument(
        "--params",
        default=None,
        metavar="KEY=VALUE,...",
        help="more `kedro run --params` (not the user path: e.g. to pin feature_engineering.feature_set)",
    )
    parser.add_argument("--venv", type=Path, default=REPO_ROOT / ".venv")
    parser.add_argument("--tmp", type=Path, default=None, help="parent of the temp dirs")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per command")
    parser.add_argument("--retries", type=int, default=0, help="re-runs of a failed fold")
    parser.add_argument("--retry-wait", type=float, default=180, help="seconds before a re-run")
    parser.add_argument("--report", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args(argv)
    args.root = args.root.absolute()
    args.venv = args.venv.absolute()

    clips = collection(args.root)
    if len(clips) < args.folds:
        print(f"error: {len(clips)} clips under {args.root}, fewer than {args.folds} folds")
        return 2
    genres = sorted({genre for _, genre in clips})
    held_out_indices = folds(clips, args.folds, args.seed)
    selected = [int(x) - 1 for x in args.only.split(",")] if args.only else list(range(args.folds))
    head = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    ).stdout.split("\n")
    print(
        f"{len(clips)} clips, {len(genres)} genres under {args.root}; {args.folds} stratified folds "
        f"(seed {args.seed}); project {REPO_ROOT} at {head} + {sum(bool(x) for x in dirty)} modified "
        f"tracked files"
        + (
            ""
            if args.tracked_only
            else f" + {len(project_files(False)) - len(project_files(True))} new"
        )
        + " (working tree copied as is)"
        + (f"; extra params {args.params}" if args.params else ""),
        flush=True,
    )

    def job(index: int) -> dict:
        held = set(held_out_indices[index])
        held_out = [clips[i] for i in sorted(held)]
        train = [clip for i, clip in enumerate(clips) if i not in held]
        result = run_fold(index, held_out, train, args)
        print_fold(result)
        return result

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(job, selected))
    total_s = time.perf_counter() - started

    ok = [r for r in results if r["status"] == "ok"]
    correct, scored = sum(r["correct"] for r in ok), sum(r["n"] for r in ok)
    failed = [r["fold"] for r in results if r["status"] != "ok"]
    flags = [r["unfamiliar"] * r["n"] for r in ok if r["unfamiliar"] is not None]
    unfamiliar = (
        f"{sum(flags) / sum(r['n'] for r in ok if r['unfamiliar'] is not None):.0%}"
        if flags
        else "n/a"
    )
    print(
        f"total: {correct} of {scored} correct"
        + (f" ({correct / scored:.1%})" if scored else "")
        + f" over {len(ok)} of {len(results)} folds"
        + (f"; failed folds: {failed}" if failed else "")
        + f"; unfamiliar {unfamiliar}; {total_s:.0f} s"
        + (f" (chance {1 / len(genres):.0%})" if genres else ""),
        flush=True,
    )
    split = verdict_split([a for r in ok for a in r["answers"]])
    print("total " + verdict_text(split), flush=True)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        summary = {
            "root": str(args.root),
            "folds": args.folds,
            "seed": args.seed,
            "head": head,
            "correct": correct,
            "n": scored,
            "failed_folds": failed,
            "unfamiliar": unfamiliar,
            "verdicts": split,
            "total_s": total_s,
            "results": results,
        }
        args.report.write_text(json.dumps(summary, indent=2, default=str))
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
