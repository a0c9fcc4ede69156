"""linli as a package and in production: the wheel installs into a venv of its own and its
`linli` command works from any folder (data files, migrations and all); compose.yaml has the
shape the README describes; the Dockerfile builds where a Docker daemon runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BOT_", "DATABASE_URL", "REDIS_URL", "TELEGRAM_", "PYTHON"))
    }
    return {**env, **extra}


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with pip (ensurepip: nothing downloaded) and nothing else."""
    target = tmp_path_factory.mktemp("fresh") / "venv"
    venv.EnvBuilder(with_pip=True).create(target)
    return target


@pytest.fixture(scope="module")
def wheel(fresh_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `pip install .` builds (hatchling, as pyproject's build-system says)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            str(fresh_venv / "bin" / "python"),
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "--disable-pip-version-check",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        timeout=180,
        env=clean_env(),
    )
    (found,) = out.glob("linli-*.whl")
    return found


def test_the_wheel_carries_every_package_and_the_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"][
        "targets"
    ]["wheel"]["packages"]
    on_disk = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert on_disk <= set(listed), f"a package is missing from pyproject's list: {on_disk}"
    for package in listed:
        assert f"{package}/__init__.py" in names
    for needed in (
        "locales/zh/core.po",
        "locales/en/core.po",
        "assets/fonts/LinliSansCJK-Regular.otf",
        "data_files/points_catalogue.json",
        "storage/migrations/env.py",
        "storage/migrations/script.py.mako",
        "sandbox/static/index.html",
        "sandbox/static/app.js",
    ):
        assert needed in names, needed
    assert any(n.startswith("storage/migrations/versions/0001") for n in names)
    assert not any(n.startswith(("tests/", "bench/", "data/")) for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "linli = bot.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_installed_linli_migrates_and_lists_jobs_from_any_folder(
    fresh_venv: Path, wheel: Path, tmp_path: Path
) -> None:
    """A fresh venv gets the wheel (its dependencies are this run's, through a .pth: the
    full `pip install .` with them is the same wheel); `linli` runs from another folder."""
    target = fresh_venv
    python = target / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "deps-of-this-run.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--disable-pip-version-check",
            str(wheel),
        ],
        check=True,
        timeout=120,
        env=clean_env(),
    )
    linli = target / "bin" / "linli"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = clean_env(DATABASE_URL=f"sqlite:///{tmp_path / 'linli.db'}")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(linli), *args],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert Path(site, "bot", "cli.py").is_file() and Path(site, "locales", "zh").is_dir()
    assert linli.read_text().startswith(f"#!{python}")  # the venv's own python, its packages
    migrated = run("migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "database is up to date" in migrated.stdout and (tmp_path / "linli.db").exists()
    listed = run("jobs", "list")
    assert listed.returncode == 0, listed.stderr
    assert "points_weekly" in listed.stdout and "vote_close" in listed.stdout
    assert not list(elsewhere.iterdir()), "linli left files in the folder it ran from"


def test_compose_runs_postgres_redis_workers_and_one_scheduler() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "webhook", "scheduler", "proxy"} <= set(services)
    webhook, scheduler = services["webhook"], services["scheduler"]
    assert webhook["command"] == ["webhook"] and scheduler["command"] == ["scheduler"]
    assert str(webhook["deploy"]["replicas"]).startswith("${LINLI_WEBHOOK_WORKERS:-")
    assert int(str(webhook["deploy"]["replicas"]).split(":-")[1].rstrip("}")) >= 2
    assert scheduler["deploy"]["replicas"] == 1
    for name in ("webhook", "scheduler"):
        service = services[name]
        assert "/healthz" in " ".join(service["healthcheck"]["test"])
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        env = service["environment"]
        assert (
            env["DATABASE_URL"].startswith("postgresql://") and "@postgres:" in env["DATABASE_URL"]
        )
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert env["WEBHOOK_SECRET"].startswith("${WEBHOOK_SECRET:?")  # required, never empty
        assert service["stop_grace_period"] == "15s"
    assert services["migrate"]["command"] == ["migrate"]
    assert services["webhook"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    named = set(compose["volumes"])
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "redis-data:/data" in services["redis"]["volumes"]
    assert {"postgres-data", "redis-data", "linli-files"} <= named
    caddy = (ROOT / "deploy" / "Caddyfile").read_text()
    assert "dynamic a webhook 8080" in caddy and "health_uri /healthz" in caddy
    assert "/telegram" in caddy and env["WEBHOOK_URL"].endswith("/telegram")


def test_the_dockerfile_is_slim_and_not_root() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    stages = [line for line in lines if line.startswith("FROM ")]
    assert stages[-1] == "FROM python:3.11-slim"
    assert "USER linli" in lines and lines.index("USER linli") > lines.index(stages[-1])
    assert any("/healthz" in line for line in lines)
    assert 'ENTRYPOINT ["linli"]' in lines
    assert any("uv sync --frozen --no-dev" in line for line in lines)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".env", "data"} <= set(ignored)
    unit = (ROOT / "deploy" / "linli.service").read_text()
    assert "ExecStart=/opt/linli/bin/linli run" in unit and "User=linli" in unit


def docker_unavailable() -> str | None:
    if shutil.which("docker") is None:
        return "no docker command"
    info = subprocess.run(
        ["docker", "info", "--format", "{{.ServerVersion}}"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    if info.returncode != 0 or not info.stdout.strip():
        return f"the Docker daemon does not answer ({(info.stderr or info.stdout).strip()[:120]})"
    return None


def test_the_image_builds_where_docker_runs() -> None:
    why = docker_unavailable()
    if why:
        print(f"docker build not tried: {why}")  # noqa: T201
        pytest.skip(f"docker build not tried: {why}")
    built = subprocess.run(
        ["docker", "build", "-q", "-t", "linli:test", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if built.returncode != 0 and "docker.io" in built.stderr:
        pytest.skip(f"the base image cannot be pulled here: {built.stderr.strip()[-200:]}")
    assert built.returncode == 0, built.stderr
    listed = subprocess.run(
        ["docker", "run", "--rm", "linli:test", "jobs", "list"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert listed.returncode == 0 and "points_weekly" in listed.stdout, listed.stderr
    user = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "id", "linli:test", "-u"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert user.stdout.strip() != "0"
