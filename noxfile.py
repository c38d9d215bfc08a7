"""Sessions: `nox` runs the tests; `nox -s run` runs the benchmark on the embedded defaults."""

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (pass pytest options after --)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and common bugs with ruff."""
    session.install("ruff")
    session.run("ruff", "check", "harness", "tests", "noxfile.py", *session.posargs)


@nox.session
def run(session: nox.Session) -> None:
    """Run the benchmark (`harness run`) on the embedded defaults, or with the options given after --."""
    session.install("-e", ".")
    session.run("harness", "run", *session.posargs)
