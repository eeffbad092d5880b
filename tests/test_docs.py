"""Docs that run as written. Every command in a command block of README.md and docs/*.md is listed in
docs/commands.yml, keyed by its exact text: ``run: <check>`` when a test here runs it as written, in a
scratch copy of a project trained on the sample, or ``skip: <reason>`` when it cannot run here (a download,
the network, a server that runs until stopped, a long run, a placeholder path). A new command in the docs
fails ``test_every_documented_command_is_classified`` until it is listed.

What counts as a command: every line of a ```bash, ```sh, ```shell or ```cron block (comments and blank
lines aside; a line ending in a backslash continues on the next), and in a ```console, ```text or plain
block only the lines that start with ``$ `` (the rest is output). The key is the command without its
trailing ``# comment``.

The cron line of "Monitoring and retraining" runs in a fresh clone of this working tree (the files git
would hand over: tracked, and untracked but not ignored), as cron runs it: ``/bin/sh -c``, from the home
folder, with cron's bare environment.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

import music_genre

PROJECT_ROOT = Path(__file__).resolve().parents[1]
COMMANDS_FILE = PROJECT_ROOT / "docs" / "commands.yml"
COMMAND_LANGUAGES = {"bash", "sh", "shell", "zsh", "cron"}
PROMPT_LANGUAGES = {"console", "shell-session", "text", ""}  # commands only after a "$ " prompt
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$")
CRON_FIELDS = 5  # minute hour day month weekday, then the command
VENV_BIN = Path(sys.executable).parent


# ---- reading the docs -------------------------------------------------------------------------------
def documentation_files() -> list[Path]:
    return [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").rglob("*.md"))]


def strip_comment(line: str) -> str:
    """``line`` without a shell comment: a ``#`` at the start or after a blank, outside quotes."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
            elif char == "\\" and quote == '"':
                continue
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip()
    return line.rstrip()


def blocks(path: Path):
    """(language, first line number, lines) of each fenced block of a Markdown file."""
    lines = path.read_text(encoding="utf8").splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence, language = opening["fence"], (opening["info"].split() or [""])[0].lower()
        body, i = [], i + 1
        start = i + 1
        while i < len(lines) and not re.match(
            rf"^[ \t]*{fence[0]}{{{len(fence)},}}[ \t]*$", lines[i]
        ):
            body.append(
                lines[i][len(opening["indent"]) :]
                if lines[i].startswith(opening["indent"])
                else lines[i]
            )
            i += 1
        i += 1
        yield language, start, body


def commands_of_block(language: str, body: list[str]) -> list[tuple[int, str]]:
    """(offset in the block, command) of each command of a block, as docs/commands.yml keys them."""
    found: list[tuple[int, str]] = []
    if language in COMMAND_LANGUAGES:
        pending, first = "", 0
        for offset, raw in enumerate(body):
            if not pending:
                first = offset
            line = raw.strip() if not pending else " " + raw.strip()
            if raw.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1].rstrip()
                continue
            command = strip_comment((pending + line).strip())
            pending = ""
            if command:
                found.append((first, command))
    elif language in PROMPT_LANGUAGES:
        for offset, raw in enumerate(body):
            if raw.startswith("$ "):
                found.append((offset, strip_comment(raw[2:].strip())))
    return found


def documented_commands() -> dict[str, list[str]]:
    """Each command of the docs, with where it is written (``README.md:303``)."""
    found: dict[str, list[str]] = {}
    for path in documentation_files():
        for language, start, body in blocks(path):
            for offset, command in commands_of_block(language, body):
                where = f"{path.relative_to(PROJECT_ROOT)}:{start + offset}"
                found.setdefault(command, []).append(where)
    return found


def classification() -> dict[str, dict]:
    return yaml.safe_load(COMMANDS_FILE.read_text(encoding="utf8")) or {}


def runnable() -> list[tuple[str, str]]:
    """(check, command) of every command docs/commands.yml says a check here runs."""
    return sorted(
        (entry["run"], command)
        for command, entry in classification().items()
        if isinstance(entry, dict) and "run" in entry
    )


# ---- the parser on blocks written here -------------------------------------------------------------
def test_the_parser_finds_commands_not_output(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "```bash\n# a comment line\nkedro run --pipelines=x   # what it does\n"
        'curl -s http://h/i \\\n  -d "{\\"a\\": 1}"   # sent\necho "#not a comment"\n```\n'
        "```text\nmodel: output, not a command\n$ music-genre --version\nmusic-genre 0.1.0\n```\n"
        "  ```cron\n  # daily\n  0 6 * * *  cd /srv/x && ./run >> logs/x.log 2>&1\n  ```\n"
        "```python\nprint('code, not a command')\n```\n"
    )
    found = [
        command
        for language, _, body in blocks(page)
        for _, command in commands_of_block(language, body)
    ]
    assert found == [
        "kedro run --pipelines=x",
        'curl -s http://h/i -d "{\\"a\\": 1}"',
        'echo "#not a comment"',
        "music-genre --version",
        "0 6 * * *  cd /srv/x && ./run >> logs/x.log 2>&1",
    ]


# ---- every command classified ----------------------------------------------------------------------
def test_every_documented_command_is_classified():
    documented = documented_commands()
    listed = classification()
    assert documented, "no command blocks found in README.md and docs/"
    unlisted = {command: where for command, where in documented.items() if command not in listed}
    assert not unlisted, (
        "commands in the docs that docs/commands.yml does not classify (add each with `run: <check>` of "
        "tests/test_docs.py, or `skip: <why it cannot run in a test>`):\n"
        + "\n".join(f"  {', '.join(where)}: {command}" for command, where in unlisted.items())
    )
    stale = sorted(command for command in listed if command not in documented)
    assert not stale, "docs/commands.yml lists commands no doc holds any more:\n  " + "\n  ".join(
        stale
    )
    for command, entry in listed.items():
        assert isinstance(entry, dict) and len(entry) == 1 and set(entry) <= {"run", "skip"}, (
            f"{command!r}: give exactly one of run: <check> or skip: <reason>, not {entry!r}"
        )
        if "skip" in entry:
            assert len(str(entry["skip"]).split()) >= 3, f"{command!r}: say why it is skipped"
        else:
            assert entry["run"] in CHECKS, (
                f"{command!r}: no check {entry['run']!r} in tests/test_docs.py"
            )


# ---- the cheap commands, run as written ------------------------------------------------------------
@pytest.fixture(scope="module")
def docs_project(trained_project, tmp_path_factory) -> Path:
    """A scratch copy of the project the session trained on the sample (its first model is the registry's
    version 1), with what a clone holds beside it (requirements-lock.txt) and the files the commands name:
    ``song.mp3`` and ``album/`` (test tracks of the sample)."""
    project = tmp_path_factory.mktemp("docs") / "project"
    shutil.copytree(trained_project.path, project, ignore=shutil.ignore_patterns("info.log*"))
    shutil.copy2(PROJECT_ROOT / "requirements-lock.txt", project)
    manifest = trained_project.load("manifest")
    clips = manifest.loc[manifest["split"] == "test", "path"].head(3).tolist()
    shutil.copy(clips[0], project / "song.mp3")
    (project / "album").mkdir()
    for clip in clips[1:]:
        shutil.copy(clip, project / "album" / Path(clip).name)
    return project


def run_as_written(command: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """``command`` through ``bash -c`` in ``cwd``, as a person types it in an activated environment."""
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "KEDRO_DISABLE_TELEMETRY": "1",
        "COLUMNS": "200",
    }
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def _champion(project: Path) -> dict:
    return json.loads((project / "data/06_models/sample/champion/champion.json").read_text())


def check_version(result, project: Path) -> None:
    lines = result.stdout.splitlines()
    assert lines[0] == f"music-genre {music_genre.__version__} (Python {platform.python_version()})"
    # the second line: whether this install is the tested stack, read from the project's lock file
    assert (
        len(lines) == 2
        and "requirements-lock.txt" in lines[1]
        and "no requirements" not in lines[1]
    )


def check_predict_top(result, project: Path) -> None:
    champion = _champion(project)
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"model: {champion['name']} version {champion['version']} (champion), dataset sample, "
        "task single_label"
    )
    answers = [line.split()[0] for line in lines[1:] if not line.startswith(" ")]
    album = sorted(path.name for path in (project / "album").iterdir())
    assert answers == ["song.mp3", *album]  # the file, then the folder's files
    bars = [line for line in lines if "█" in line or "░" in line]
    assert len(bars) == 3 * len(answers)  # --top 3


def check_predict_json(result, project: Path) -> None:
    row = json.loads(result.stdout)
    assert row["path"] == "song.mp3"
    assert row["genre"] == max(row["probabilities"], key=row["probabilities"].get)
    assert row["model"]["version"] == _champion(project)["model_version"]


def check_predict_registry(result, project: Path) -> None:
    lines = result.stdout.splitlines()
    assert lines[0] == "model: music-genre-sample version 1, dataset sample, task single_label"
    assert lines[1].startswith("song.mp3  ")


def check_predict_file(result, project: Path) -> None:
    import pickle

    folder = project / "data/06_models/sample/genre_classifier.pkl"
    newest = sorted(folder.glob("*/genre_classifier.pkl"))[-1]
    version = pickle.loads(newest.read_bytes()).version
    lines = result.stdout.splitlines()
    assert lines[0].startswith(
        f"model: model {version} "
    )  # its own id: a file says no registry version
    assert lines[0].endswith(", dataset sample, task single_label")
    assert lines[1].startswith("song.mp3  ")


def check_venv(result, project: Path) -> None:
    """The README's first step: a virtual environment of Python 3.11, which `source` stepped into."""
    python = project / ".venv" / "bin" / "python"
    assert python.is_file(), result.stderr
    version = subprocess.run(
        [str(python), "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
    )
    assert version.stdout.strip() == "(3, 11)"


CHECKS: dict[str, Callable] = {
    "venv": check_venv,
    "version": check_version,
    "predict_top": check_predict_top,
    "predict_json": check_predict_json,
    "predict_registry": check_predict_registry,
    "predict_file": check_predict_file,
    "cron": None,  # test_the_cron_line_works_on_a_fresh_clone, below
    "http": None,  # test_the_http_example_scores_a_long_song, below
}


RUN_HERE = [(check, command) for check, command in runnable() if CHECKS.get(check)]


@pytest.mark.parametrize(("check", "command"), RUN_HERE, ids=[check for check, _ in RUN_HERE])
def test_documented_commands_run_as_written(check, command, docs_project):
    result = run_as_written(command, docs_project)
    assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    assert "Traceback" not in result.stderr
    CHECKS[check](result, docs_project)


# ---- the cron line, on a fresh clone ---------------------------------------------------------------
def fresh_clone(destination: Path) -> Path:
    """The files a clone of this working tree gets (tracked, and untracked but not ignored), copied."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    if listed.returncode != 0:
        pytest.skip(f"not a git checkout: {listed.stderr.strip()}")
    for name in filter(None, listed.stdout.split("\0")):
        source = PROJECT_ROOT / name
        if source.is_file():  # (a tracked file deleted in the working tree is not handed over)
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def cron_line() -> str:
    """The README's cron line; docs/monitoring.md must show the same one."""
    lines = {
        path.name: [c for language, _, body in blocks(path) if language == "cron"
                    for _, c in commands_of_block(language, body)]
        for path in (PROJECT_ROOT / "README.md", PROJECT_ROOT / "docs" / "monitoring.md")
    }  # fmt: skip
    assert len(lines["README.md"]) == 1, lines
    assert lines["monitoring.md"] == lines["README.md"], lines
    return lines["README.md"][0]


def test_the_cron_line_works_on_a_fresh_clone(tmp_path):
    """The line's command part runs as written, with /bin/sh from the home folder and cron's bare
    environment, in a fresh clone at the line's own path. The substitutions: the clone's folder for
    /srv/music-genre, and ``.venv`` a link to this interpreter's environment (a clone has none yet). The
    environment stays fma_small: a fresh clone holds no FMA data, so the day ends in one ``error:`` line
    in the log; what counts here is that the log gets it (no `logs/` used to mean "No such file or
    directory" from the shell, and no log at all)."""
    line = cron_line()
    assert classification()[line] == {"run": "cron"}
    *schedule, command = line.split(None, CRON_FIELDS)
    assert schedule == ["0", "6", "*", "*", "*"], schedule
    assert command.startswith("cd /srv/music-genre && ")
    venv = Path(sys.prefix)
    if not (venv / "bin" / "music-genre").is_file():
        pytest.skip(f"the tests' interpreter has no music-genre command beside it ({venv / 'bin'})")
    clone = fresh_clone(tmp_path / "srv" / "music-genre")
    (clone / ".venv").symlink_to(venv, target_is_directory=True)
    home = tmp_path / "home"
    home.mkdir()
    cron_env = {
        "HOME": str(home),
        "LOGNAME": os.environ.get("LOGNAME", "root"),
        "PATH": "/usr/bin:/bin",
        "SHELL": "/bin/sh",
        # the tests' rule (conftest): no network, so no telemetry
        "KEDRO_DISABLE_TELEMETRY": "1",
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    as_run = command.replace("/srv/music-genre", str(clone), 1)
    result = subprocess.run(
        ["/bin/sh", "-c", as_run],
        cwd=home,
        env=cron_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert not result.stdout and not result.stderr, result.stderr  # everything went to the log
    log_file = clone / "logs" / "daily.log"
    assert log_file.is_file()
    lines = [line for line in log_file.read_text(encoding="utf8").splitlines() if line.strip()]
    assert result.returncode == 1, lines[-20:]
    # the day's last word, once: what is missing (no data, no model) and what to run
    assert lines[-1].startswith("error: ") and len(lines[-1].split()) > 5, lines[-20:]
    assert sum(line.startswith("error:") for line in lines) == 1
    assert "Traceback" not in "\n".join(lines)

    # what the day writes there stays out of git; the folder itself ships
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", "logs/daily.log", "logs/.gitkeep"],
        cwd=PROJECT_ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert ignored.stdout.split() == ["logs/daily.log"]


# ---- the HTTP example, with a song of real size -------------------------------------------------------
TEN_MB = 10 * 1024 * 1024


def long_song(clips: list[str], target: Path, size: int = TEN_MB) -> Path:
    """An MP3 of at least ``size`` bytes: the sample's clips decoded and played one after the other,
    encoded by libsndfile's LAME at a constant 320 kbit/s (a 4.5-minute song; its Xing header gives the
    exact length, as a real encoder's does)."""
    import numpy as np
    import soundfile as sf

    seconds_needed = size * 8 / 320_000 + 5
    parts, seconds, rate = [], 0.0, 44100
    for clip in clips:
        data, clip_rate = sf.read(clip, dtype="float32", always_2d=True)
        if clip_rate != rate or data.shape[1] != 2:
            continue
        parts.append(data)
        seconds += len(data) / rate
        if seconds >= seconds_needed:
            break
    assert seconds >= seconds_needed, f"only {seconds:.0f} s of 44.1 kHz stereo clips"
    sf.write(target, np.concatenate(parts), rate, format="MP3", bitrate_mode="CONSTANT",
             compression_level=0.0)  # fmt: skip
    assert target.stat().st_size >= size
    return target


def http_command() -> str:
    (command,) = [c for c, entry in classification().items() if entry == {"run": "http"}]
    return command


def test_the_http_example_scores_a_long_song(docs_project, trained_project, tmp_path):
    """The documented request, as written (but for the port: a free one), with a 10 MB song against
    `music-genre serve`: the body goes on stdin, so a real song does not hit the shell's argument limit
    (`-d "$(base64 song.mp3)"` did: "Argument list too long"). The answer carries the verdict fields."""
    import signal
    import socket
    import time
    import urllib.request

    from music_genre.serving import wording

    from .conftest import free_port, wait_until_up

    command = http_command()
    assert "--data-binary @-" in command and "$(base64" not in command
    manifest = trained_project.load("manifest")
    song = long_song(manifest["path"].tolist(), tmp_path / "song.mp3")
    port = free_port()
    server = subprocess.Popen(
        [str(VENV_BIN / "music-genre"), "serve", "--port", str(port)],
        cwd=docs_project,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_until_up(server, f"http://127.0.0.1:{port}/ping", "model server", timeout_s=300)
        result = run_as_written(command.replace(":5001/", f":{port}/"), song.parent)
        assert result.returncode == 0, result.stderr
        (row,) = json.loads(result.stdout)["predictions"]
        assert row["error_reason"] is None, row
        assert row["path"] == "song.mp3" and row["windows"] == 8  # a long song: 8 windows
        assert row["duration"] > 260
        probabilities = {k[len("proba_") :]: v for k, v in row.items() if k.startswith("proba_")}
        ranked = sorted(probabilities.items(), key=lambda item: -item[1])
        assert row["genre"] == ranked[0][0] and row["runner_up"] == ranked[1][0]
        expected = wording.judge(ranked, len(ranked), unfamiliar=bool(row["unfamiliar"]))
        assert row["verdict"] == expected.kind
        assert "familiarity_distance" in row and "familiarity" not in row
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5) as reply:
            assert reply.status == 200
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    # SIGTERM stops the server and frees its port (for a new server: SO_REUSEADDR, as servers bind)
    time.sleep(0.2)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))


# ---- the README a newcomer reads -----------------------------------------------------------------------
def test_the_readme_fits_on_a_screen_and_links_into_docs():
    """At most 300 lines: what it is, the quick start with its virtual environment, predicting a song,
    and where to go next; every link into docs/ names a page that exists."""
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf8")
    assert len(text.splitlines()) <= 300
    headings = [line[3:] for line in text.splitlines() if line.startswith("## ")]
    assert headings[:2] == ["Quick start", "Predict a song"] and headings[-1] == "Where to go next"
    commands = [command for _, body in [(lang, b) for lang, _, b in blocks(PROJECT_ROOT / "README.md")
                if lang in COMMAND_LANGUAGES] for _, command in commands_of_block("bash", body)]  # fmt: skip
    venv = commands.index("python3.11 -m venv .venv && source .venv/bin/activate")
    ci = (PROJECT_ROOT / ".ci" / "run").read_text(encoding="utf8").strip().splitlines()[-1]
    assert venv < commands.index(
        ci
    )  # the environment first, then CI's own test command, as written
    links = re.findall(r"\]\((docs/[^)#]+)", text)
    assert links and all((PROJECT_ROOT / link).is_file() for link in links), links
