"""A newcomer's install, for real: the README's demo command in a fresh clone with only the system Python on
PATH (Debian's, which refuses pip: PEP 668), the console on the demo data with the printed credentials, and the
wheel installed into a venv of its own and `pipx install .`, each run from another folder, `intake init` +
`check-config` included.

The three installs take their dependencies from one wheelhouse the module fills first: pip resolves and fetches
them from the index once (that run is the proof that the index's packages resolve), then each install resolves
them again from that folder only (PIP_NO_INDEX) into a venv of its own. Each test still starts from nothing
installed; what it no longer repeats is the download (this machine's pip keeps no cache: three downloads of the
same ~140 MB, each 7-20 s by the network).

The full stock-Debian run (a debootstrapped root, demo and test commands) is bench/fresh_debian.sh: it takes
about ten minutes, too long for every test run.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from servers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_PYTHON = Path("/usr/bin/python3")
INSTALL_TIMEOUT = 1500  # seconds: pip downloads on a cold cache, then the demo, on a loaded machine


def stock_env(**extra: str) -> dict[str, str]:
    """The environment of a login on a stock box: system PATH only, no venv, no PYTHONPATH, no pyenv; proxy and
    pip settings of the machine kept (they are how it reaches the package index)."""
    keep = {k: v for k, v in os.environ.items()
            if k.startswith("PIP_") or k.lower() in {"http_proxy", "https_proxy", "no_proxy"}}
    return {**keep, "HOME": os.environ.get("HOME", "/root"), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **extra}


def run(cmd: list[str], cwd: Path, timeout: float = INSTALL_TIMEOUT, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=stock_env(**env), capture_output=True, text=True, timeout=timeout)


def from_wheelhouse(house: Path) -> dict[str, str]:
    """pip settings for an install that takes every package from ``house`` and asks no index (they override the
    machine's pip.conf and PIP_FIND_LINKS): a package the house lacks fails the install."""
    return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(house)}


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean clone of the commit under test, with nothing of this checkout's environment."""
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout")
    if not SYSTEM_PYTHON.exists():
        pytest.skip("no /usr/bin/python3 (not a Debian-like system)")
    dest = tmp_path_factory.mktemp("fresh") / "case-intake"
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    subprocess.run(["git", "clone", "-q", str(ROOT), str(dest)], check=True, timeout=120)
    subprocess.run(["git", "-C", str(dest), "checkout", "-q", head], check=True)
    return dest


@pytest.fixture(scope="module")
def wheelhouse(clone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Wheels of everything the clone needs at run time, resolved from the index the machine is set up with
    (pip.conf, PIP_* of the environment), plus pip, setuptools and wheel for build isolation and pipx's shared
    venv. The project's own wheel is left out: each test builds or installs the project from the clone."""
    work = tmp_path_factory.mktemp("wheelhouse")
    builder, house = work / "builder", work / "house"
    made = run([str(SYSTEM_PYTHON), "-m", "venv", str(builder)], work, timeout=300)
    assert made.returncode == 0, made.stderr
    fetched = run([str(builder / "bin/python"), "-m", "pip", "--disable-pip-version-check", "-q", "wheel", "-w",
                   str(house), str(clone), "pip", "setuptools>=68", "wheel"], work)
    assert fetched.returncode == 0, fetched.stderr[-3000:]
    for own in house.glob("case_intake-*.whl"):
        own.unlink()
    return house


@pytest.mark.timeout(INSTALL_TIMEOUT)
def test_demo_command_from_a_fresh_clone_with_the_system_python(clone: Path, wheelhouse: Path) -> None:
    marker = list(Path("/usr/lib").glob("python3*/EXTERNALLY-MANAGED"))
    refused = run([str(SYSTEM_PYTHON), "-m", "pip", "install", "--dry-run", "click"], clone, timeout=120)
    if marker:  # a stock Debian/Ubuntu Python: pip into it is refused (or pip is not even there)
        assert refused.returncode != 0

    # The README's command, one mail; its pip install -e . takes the packages from the wheelhouse.
    done = run(["bash", "scripts/demo.sh", "demo", "--count", "1"], clone, **from_wheelhouse(wheelhouse))
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    cfg = (clone / ".venv" / "pyvenv.cfg").read_text(encoding="utf-8")
    assert "home = /usr/bin" in cfg, cfg  # made from the system Python, not a pyenv one
    assert "系统软件包" in out and "用时" in out  # says what it installs and how long it took
    assert "回执写入 1 封" in out and "【受理回执】" in out
    # The README's next line: after `source .venv/bin/activate`, plain `intake` is the project's.
    activated = run(["bash", "-c", "source .venv/bin/activate && command -v intake && intake subject 浙江省/某校+案例"],
                    clone, timeout=120)
    assert activated.returncode == 0, activated.stderr
    assert activated.stdout.splitlines()[0] == str(clone / ".venv/bin/intake") and "浙江省" in activated.stdout
    # The system interpreter was left alone: none of our dependencies went into it.
    assert run([str(SYSTEM_PYTHON), "-c", "import imapclient"], clone.parent, timeout=60).returncode != 0

    # The staff side, as the demo tells a newcomer to open it, with the password it printed.
    web = re.search(r"intake web --config (\S+?)，", out)
    account = re.search(r"账号 (\S+)，密码 (\S+?)（", out)
    assert web and account, out[-2000:]
    assert web.group(1) == "demo/config.toml"
    secrets_env = clone / "demo" / "secrets.env"
    assert stat.S_IMODE(secrets_env.stat().st_mode) == 0o600
    port = free_port()
    server = subprocess.Popen([str(clone / ".venv/bin/intake"), "web", "--config", web.group(1), "--port", str(port)],
                              cwd=clone, env=stock_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10) as client:
            page = None
            for _ in range(300):
                try:
                    page = client.get("/login")
                    break
                except httpx.TransportError:
                    assert server.poll() is None, server.stderr.read() if server.stderr else ""
                    time.sleep(0.1)
            assert page is not None and page.status_code == 200
            token = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert token
            wrong = client.post("/login", data={"username": account.group(1), "password": "not-it",
                                                "csrf": token.group(1)})
            assert wrong.status_code == 401
            signed_in = client.post("/login", data={"username": account.group(1), "password": account.group(2),
                                                    "csrf": token.group(1)}, follow_redirects=True)
            assert signed_in.status_code == 200 and "退出" in signed_in.text, signed_in.text[:500]
            cases = client.get("/cases")
            assert cases.status_code == 200 and "JCJY2025-000001" in cases.text
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.timeout(INSTALL_TIMEOUT)
def test_wheel_installs_and_runs_outside_the_checkout(clone: Path, wheelhouse: Path, tmp_path: Path) -> None:
    """pip install case-intake-*.whl into a fresh venv gives an intake with its templates, profiles and example;
    run from a folder that is not the checkout, it needs nothing of the source tree."""
    app = tmp_path / "app"
    assert run([str(SYSTEM_PYTHON), "-m", "venv", str(app)], tmp_path, timeout=300).returncode == 0
    pip = [str(app / "bin/python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    built = run([*pip, "wheel", "--no-deps", "-w", str(tmp_path / "dist"), str(clone)], tmp_path,
                **from_wheelhouse(wheelhouse))
    assert built.returncode == 0, built.stderr[-2000:]
    wheels = list((tmp_path / "dist").glob("case_intake-*.whl"))
    assert len(wheels) == 1
    installed = run([*pip, "install", "--no-compile", str(wheels[0])], tmp_path, **from_wheelhouse(wheelhouse))
    assert installed.returncode == 0, installed.stderr[-2000:]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = run([str(app / "bin/python"), "-c", "from ingest import resources; print(resources.templates_dir()); "
                 "print(resources.example_config()); print(resources.campaigns_dir())"], elsewhere, timeout=60)
    assert where.returncode == 0, where.stderr
    for line in where.stdout.split():
        assert line.startswith(str(app)) and Path(line).exists(), line
    installed_intake_works(app / "bin/intake", app / "bin/intake", elsewhere)


@pytest.mark.timeout(INSTALL_TIMEOUT)
def test_pipx_install_gives_a_working_intake(clone: Path, wheelhouse: Path, tmp_path: Path) -> None:
    """`pipx install .` (Debian's pipx, the system Python) puts intake in a venv of its own and on PATH;
    demo, init and check-config work from another folder, and the unit runs pipx's venv copy."""
    pipx = shutil.which("pipx", path="/usr/bin:/bin")
    if pipx is None:
        pytest.skip("pipx not installed (bash scripts/install-system-deps.sh --test installs it)")
    home, bin_dir = tmp_path / "pipx", tmp_path / "bin"
    env = {"PIPX_HOME": str(home), "PIPX_BIN_DIR": str(bin_dir), "PIPX_DEFAULT_PYTHON": str(SYSTEM_PYTHON),
           **from_wheelhouse(wheelhouse)}
    done = run([pipx, "install", str(clone)], tmp_path, **env)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert (bin_dir / "intake").exists(), done.stdout
    venv = home / "venvs" / "case-intake"
    assert "home = /usr/bin" in (venv / "pyvenv.cfg").read_text(encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    installed_intake_works(bin_dir / "intake", venv / "bin/intake", elsewhere)


def installed_intake_works(intake_path: Path, unit_intake: Path, elsewhere: Path) -> None:
    """An installed intake, run from ``elsewhere`` (not the checkout): the demo files and answers one mail,
    init writes a deployment whose unit runs ``unit_intake``, check-config names both 授权码 in one run and
    passes once they are filled in."""
    intake = str(intake_path)
    demo = run([intake, "demo", "--dir", "d", "--count", "1"], elsewhere)
    assert demo.returncode == 0, (demo.stdout + demo.stderr)[-3000:]
    assert "回执写入 1 封" in demo.stdout and "失败 0" in demo.stdout, demo.stdout[-3000:]
    assert "intake web --config d/config.toml" in demo.stdout

    init = run([intake, "init", "deploy", "--mailbox", "cases2025@126.com"], elsewhere, timeout=120)
    assert init.returncode == 0, init.stderr
    unit = (elsewhere / "deploy/case-intake.service").read_text(encoding="utf-8")
    assert f"ExecStart={unit_intake} run --config {elsewhere / 'deploy/config.toml'}" in unit, unit
    check = run([intake, "check-config", "--config", "deploy/config.toml"], elsewhere, timeout=120)
    assert check.returncode == 2
    assert "缺少 2 项密钥" in check.stderr  # both 授权码 in one run; the generated console key is not missing
    assert "INTAKE_IMAP_PASSWORD" in check.stderr and "INTAKE_SMTP_PASSWORD" in check.stderr, check.stderr
    secrets_env = elsewhere / "deploy/secrets.env"
    text = secrets_env.read_text(encoding="utf-8")
    secrets_env.write_text(text.replace("INTAKE_IMAP_PASSWORD=\n", "INTAKE_IMAP_PASSWORD=abcdEFGH1234\n")
                           .replace("INTAKE_SMTP_PASSWORD=\n", "INTAKE_SMTP_PASSWORD=abcdEFGH1234\n"), encoding="utf-8")
    check = run([intake, "check-config", "--config", "deploy/config.toml"], elsewhere, timeout=120)
    assert check.returncode == 0 and "配置有效" in check.stdout, check.stderr


def test_every_package_folder_is_in_the_wheel_list() -> None:
    """pyproject.toml lists its packages (the top-level data folders are mapped into them): a new subpackage
    missing from the list would be missing from the wheel. Fast, so it runs even where the wheel test cannot."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    found = set()
    for top in ("ingest", "checks", "store", "notify", "console"):
        for folder in [ROOT / top, *(p for p in (ROOT / top).rglob("*") if p.is_dir())]:
            if folder.name == "__pycache__" or not any(folder.iterdir()):
                continue
            found.add(".".join(folder.relative_to(ROOT).parts))
    assert found <= listed, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(found - listed)}"


def test_long_scripts_are_parsed_whole_before_they_run() -> None:
    """Bash reads a plain script as it runs it: when a checkout or merge rewrites the file during a long apt,
    pip or pytest step, bash goes on at the old byte offset in the new text (seen: install-system-deps.sh
    printed "line 87: /null: No such file or directory" and exited 127). Each script's work is one function
    called on its last lines, so the whole file is parsed before anything runs."""
    for script in ("scripts/install-system-deps.sh", "scripts/demo.sh", "scripts/test.sh", "bench/fresh_debian.sh"):
        text = (ROOT / script).read_text(encoding="utf-8")
        lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        assert "\nmain() {\n" in text and lines[-2:] == ['main "$@"', "exit"], \
            f"{script}: put the work in main() and end with main \"$@\" then exit"
