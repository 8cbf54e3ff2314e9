"""`trial-cds serve` options: each limit from the option, else its environment variable,
else the default; invalid values refused before uvicorn starts."""

from __future__ import annotations

import pytest

from cds_hooks.cli import build_parser
from cds_hooks.commands.serve import run, uvicorn_options


def parse(*argv: str) -> object:
    return build_parser().parse_args(["serve", *argv])


def test_help_lists_every_limit_and_its_variable() -> None:
    serve = build_parser()._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr,index]
    text = serve.format_help()
    for option in (
        "--workers",
        "--keep-alive",
        "--limit-concurrency",
        "--graceful-shutdown",
        "--body-timeout",
        "$CDS_WORKERS",
        "$CDS_KEEP_ALIVE_SECONDS",
        "$CDS_LIMIT_CONCURRENCY",
        "$CDS_GRACEFUL_SHUTDOWN_SECONDS",
        "$CDS_BODY_TIMEOUT_SECONDS",
    ):
        assert option in text


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CDS_WORKERS", "CDS_LIMIT_CONCURRENCY", "CDS_BODY_TIMEOUT_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    options = uvicorn_options(parse())  # type: ignore[arg-type]
    assert options == {
        "host": "127.0.0.1",
        "port": 8080,
        "workers": 1,
        "timeout_keep_alive": 5,
        "limit_concurrency": 216,  # the backstop above the app's own limit of 100
        "timeout_graceful_shutdown": 10,
        "env": {"CDS_BODY_TIMEOUT_SECONDS": "10.0", "CDS_LIMIT_CONCURRENCY": "100"},
    }


def test_options_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDS_WORKERS", "3")
    monkeypatch.setenv("CDS_LIMIT_CONCURRENCY", "7")
    monkeypatch.setenv("CDS_KEEP_ALIVE_SECONDS", "9")
    options = uvicorn_options(
        parse("--workers", "2", "--graceful-shutdown", "4", "--body-timeout", "1.5")  # type: ignore[arg-type]
    )
    assert options["workers"] == 2  # option
    assert options["env"]["CDS_LIMIT_CONCURRENCY"] == "7"  # environment
    assert options["limit_concurrency"] == 2 * 7 + 16
    assert options["timeout_keep_alive"] == 9
    assert options["timeout_graceful_shutdown"] == 4
    assert options["env"]["CDS_BODY_TIMEOUT_SECONDS"] == "1.5"


def test_an_invalid_limit_is_refused_before_starting(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(parse("--workers", "0")) == 2  # type: ignore[arg-type]
    assert "workers" in capsys.readouterr().out
