"""The smaller points: notices fetch nothing from outside, the token can stay out of ``ps``,
HTTPS sends HSTS, and TLS options are checked.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from domain.errors import BadArgumentError
from lookback.api.app import create_app
from lookback.bootstrap import bootstrap
from lookback.cli import app, read_token_file
from lookback.settings import Settings
from report_templates.render import TEMPLATES_DIR, bundled_only, check_resource_url


@pytest.mark.parametrize("url", ["http://evil.example/x.png", "https://169.254.169.254/latest",
                                 "file:///etc/passwd", "ftp://x/y",
                                 (TEMPLATES_DIR / ".." / ".." / "pyproject.toml").as_uri()])
def test_notices_fetch_no_outside_resource(url: str) -> None:
    with pytest.raises(ValueError, match="refused"):
        check_resource_url(url)
    with pytest.raises(ValueError, match="refused"):
        bundled_only().fetch(url)


def test_notices_fetch_their_own_files_and_data_urls() -> None:
    check_resource_url("data:text/plain,ok")
    css = next(TEMPLATES_DIR.glob("*.css"))
    check_resource_url(css.as_uri())
    assert bundled_only().fetch(css.as_uri()) is not None


def test_the_token_can_come_from_a_file(tmp_path: Path) -> None:
    f = tmp_path / "token"
    f.write_text("lbk_secret\n", encoding="utf-8")
    assert read_token_file(f) == "lbk_secret"
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    with pytest.raises(BadArgumentError):
        read_token_file(tmp_path / "empty")
    with pytest.raises(BadArgumentError):
        read_token_file(tmp_path / "missing")


def test_https_sends_hsts_and_plain_http_does_not(tmp_path: Path) -> None:
    """HSTS on every answer over HTTPS (TLS in `serve`, or a trusted proxy's X-Forwarded-Proto,
    which uvicorn turns into the request's scheme), never over plain HTTP."""
    lb = bootstrap(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", data_dir=tmp_path))
    with TestClient(create_app(lb), base_url="https://testserver") as c:
        assert "max-age=" in c.get("/health").headers["strict-transport-security"]
        assert "max-age=" in c.get("/issues").headers["strict-transport-security"]  # a 401 too
    with TestClient(create_app(lb)) as c:
        assert "strict-transport-security" not in c.get("/health").headers


def test_tls_options_are_checked_before_serving(tmp_path: Path) -> None:
    base = ["--db", str(tmp_path / "x.db"), "--data-dir", str(tmp_path), "--lang", "en"]
    assert CliRunner().invoke(app, [*base, "init"]).exit_code == 0
    r = CliRunner().invoke(app, [*base, "serve", "--ssl-certfile", str(tmp_path / "c.pem")])
    assert r.exit_code == 2 and "together" in r.output
