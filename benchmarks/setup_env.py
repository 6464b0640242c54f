"""Install what the benchmark needs: wrk, nginx and PostgreSQL from apt, Python packages into a venv.

The venv is cached under ~/.cache/django-template-bench, keyed by the exact
requirements, so a second run installs nothing.
"""

import hashlib
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

BENCHMARK_DIR = Path(__file__).resolve().parent
BENCHMARK_REQUIREMENTS = BENCHMARK_DIR / "requirements.txt"
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "django-template-bench"

STARTED_AT_VARIABLE = "BENCH_STARTED_AT"

# WhiteNoise answers "Accept-Encoding: gzip, br" with its .br files; nginx
# needs this module to do the same, or the static ceiling would send
# bigger (gzip) bodies than the servers it is compared with.
NGINX_BROTLI_MODULE = Path("/usr/lib/nginx/modules/ngx_http_brotli_static_module.so")


def missing_apt_packages() -> list[str]:
    missing = [name for name in ("wrk", "nginx") if shutil.which(name, path="/usr/sbin:/usr/bin:" + os.environ.get("PATH", "")) is None]
    if not NGINX_BROTLI_MODULE.exists():
        missing.append("libnginx-mod-http-brotli-static")
    # The database view's throwaway servers (initdb, pg_ctl) and psql.
    if not list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")):
        missing.append("postgresql")
    return missing


def ensure_apt_packages() -> None:
    missing = missing_apt_packages()
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit(f"The benchmark needs {', '.join(missing)}. Run it as root so it can apt-get install them, or install them first.")
    print(f"Installing {', '.join(missing)} with apt-get ...", flush=True)
    apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=apt_env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=apt_env, stdout=subprocess.DEVNULL)


def nginx_binary() -> str:
    return shutil.which("nginx", path="/usr/sbin:/usr/bin")


def ensure_venv(extra_requirements: tuple[str, ...] = ()) -> Path:
    """A venv with benchmarks/requirements.txt installed; created once, then reused.

    Each set of extra requirements (installed later, over the project's own,
    by project.prepare_project) gets a venv of its own, so an experiment
    never changes the packages a plain run measures.
    """
    python = project_python()
    version = subprocess.run([python, "-c", "import sys; print(sys.version)"], check=True, capture_output=True, text=True).stdout
    key_source = BENCHMARK_REQUIREMENTS.read_bytes() + repr((version, extra_requirements)).encode()
    venv_dir = CACHE_DIR / f"venv-{hashlib.sha256(key_source).hexdigest()[:12]}"
    if not (venv_dir / "bin" / "python").exists():
        print(f"Creating the benchmark venv {venv_dir} with {python} ...", flush=True)
        subprocess.run([python, "-m", "venv", "--clear", str(venv_dir)], check=True)
        pip_install(venv_dir, "-r", str(BENCHMARK_REQUIREMENTS))
    return venv_dir


def project_python() -> str:
    """The newest CPython here that the default project runs on (Django 6.1 needs 3.12):
    python3.N on the PATH, or a pyenv build. BENCH_PYTHON names another."""
    if os.environ.get("BENCH_PYTHON"):
        return os.environ["BENCH_PYTHON"]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for minor in range(20, 11, -1):
        found = shutil.which(f"python3.{minor}") if Path(sys.executable).name != f"python3.{minor}" else sys.executable
        builds = sorted(pyenv.glob(f"3.{minor}.*/bin/python3.{minor}"))
        for candidate in [*map(str, builds[::-1]), found]:
            if candidate and subprocess.run([candidate, "-c", ""], capture_output=True).returncode == 0:
                return candidate
    raise SystemExit("The benchmark needs CPython 3.12 or newer (the default project runs Django 6.1); set BENCH_PYTHON.")


def pip_install(venv_dir: Path, *args: str) -> None:
    subprocess.run(
        [str(venv_dir / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args],
        check=True,
    )


def bootstrap(extra_requirements: tuple[str, ...] = ()) -> Path:
    """Install everything, then make sure this script runs under the venv's Python (re-running it there if not)."""
    # Set once, before any re-exec, so the reported runtime includes installing.
    os.environ.setdefault(STARTED_AT_VARIABLE, str(time.time()))
    ensure_apt_packages()
    raise_open_files_limit()
    venv_dir = ensure_venv(extra_requirements)
    if Path(sys.prefix).resolve() != venv_dir.resolve():
        python = str(venv_dir / "bin" / "python")
        os.execv(python, [python, *sys.argv])
    return venv_dir


def raise_open_files_limit(needed: int = 8192) -> None:
    """Enough file descriptors for 1,024 clients and a proxy's connections to its server; wrk, nginx and the servers inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed if hard == resource.RLIM_INFINITY else min(needed, hard), hard))


def seconds_since_start() -> float:
    return round(time.time() - float(os.environ[STARTED_AT_VARIABLE]), 1)
