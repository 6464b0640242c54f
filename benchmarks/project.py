"""Bake a project from the template and prepare it for the benchmark.

The generated files are not edited: the benchmark views, URLconf and
settings live in a separate `benchsite` package copied next to them (see
overlay/benchsite), selected with DJANGO_SETTINGS_MODULE.
"""

import json
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from string import Template

from setup_env import pip_install

OVERLAY_DIR = Path(__file__).resolve().parent / "overlay" / "benchsite"
BENCH_SETTINGS = "benchsite.settings"

# A hashed CSS file of about this size is what a real site's main stylesheet weighs.
BIG_CSS_NAME = "bench/big.css"
BIG_CSS_BYTES = 100_000

CPU_VIEW_SECONDS = 0.005


@dataclass
class BakedProject:
    root: Path  # the directory holding manage.py and gunicorn.conf.py
    slug: str  # the Python package with settings.py and wsgi.py
    python: Path  # the venv's interpreter, with the project's requirements installed
    env: dict  # environment every server of this project runs with
    big_css_url: str  # URL path of the hashed ~100 KB CSS file
    big_css_bytes: dict  # its size as collected, and of WhiteNoise's .gz and .br copies
    static_root: Path
    static_url: str  # URL path prefix of STATIC_ROOT, e.g. "/static/"

    def bin(self, name: str) -> str:
        return str(self.python.parent / name)


def bake(template_dir: Path, output_dir: Path, venv_dir: Path, answers: tuple[str, ...] = ()) -> Path:
    subprocess.run(
        [str(venv_dir / "bin" / "cookiecutter"), str(template_dir), "--no-input", "-o", str(output_dir), "boot_check=no", *answers],
        check=True,
    )
    (project_root,) = [path for path in output_dir.iterdir() if (path / "manage.py").exists()]
    return project_root


def package_slug(project_root: Path) -> str:
    (settings_file,) = project_root.glob("*/settings.py")
    return settings_file.parent.name


def add_benchmark_package(project_root: Path, slug: str) -> None:
    target = project_root / "benchsite"
    shutil.copytree(OVERLAY_DIR, target, ignore=shutil.ignore_patterns("__pycache__"))
    for module in target.glob("*.py"):
        module.write_text(Template(module.read_text()).safe_substitute(project_slug=slug))


def server_environment(project_root: Path, cpu_loops: int) -> dict:
    """Production settings (DEBUG off), SQLite, and nothing inherited that would retune a server."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "GUNICORN", "GRANIAN_", "BENCH_", "RENDER"))
        and name not in {"PORT", "WEB_CONCURRENCY", "DATABASE_URL", "PYTHONPATH", "VIRTUAL_ENV", "DYNO", "FORWARDED_ALLOW_IPS"}
    }
    return {
        **inherited,
        "PYTHONPATH": str(project_root),
        "DJANGO_SETTINGS_MODULE": BENCH_SETTINGS,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "BENCH_CPU_LOOPS": str(cpu_loops),
    }


def calibrate_cpu_loops(python: Path, project_root: Path) -> int:
    output = subprocess.run(
        [str(python), "-c", f"from benchsite.cpu import loops_for; print(loops_for({CPU_VIEW_SECONDS}))"],
        cwd=project_root, check=True, capture_output=True, text=True,
    ).stdout
    return int(output)


def django_static_settings(python: Path, project_root: Path, env: dict) -> dict:
    script = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({'dirs': [str(d) for d in s.STATICFILES_DIRS], 'root': str(s.STATIC_ROOT), 'url': s.STATIC_URL}))"
    )
    output = subprocess.run([str(python), "-c", script], cwd=project_root, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(output)


def write_big_css(static_dir: Path) -> None:
    """About 100 KB of varied but realistic CSS: compresses like a real stylesheet, not like zeros."""
    path = static_dir / BIG_CSS_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    rules = []
    index = 0
    while sum(map(len, rules)) < BIG_CSS_BYTES:
        rules.append(
            f".component-{index} .item-{index % 97} {{ margin: {index % 13}px {index % 7}px; "
            f"color: #{(index * 2654435761) % 0xFFFFFF:06x}; padding: {index % 11}rem; }}\n"
        )
        index += 1
    path.write_text("".join(rules))


def collectstatic(python: Path, project_root: Path, env: dict) -> None:
    subprocess.run([str(python), "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=project_root, env=env, check=True)


def file_sizes(collected: Path) -> dict:
    return {suffix or "plain": Path(f"{collected}{suffix}").stat().st_size for suffix in ("", ".gz", ".br")}


def hashed_name(static_root: Path, name: str) -> str:
    """The content-hashed name collectstatic gave `name`, from its manifest."""
    return json.loads((static_root / "staticfiles.json").read_text())["paths"][name]


def prepare_project(template_dir: Path, work_dir: Path, venv_dir: Path, extra_requirements: tuple[str, ...] = (),
                    answers: tuple[str, ...] = ()) -> BakedProject:
    """`answers` are cookiecutter's, as `name=value`, after boot_check=no."""
    project_root = bake(template_dir, work_dir / "baked", venv_dir, answers)
    # A generated .env turns DEBUG on for local development; production has none.
    (project_root / ".env").unlink(missing_ok=True)
    slug = package_slug(project_root)
    # The project's locked dependencies (no dev group), as its Dockerfile installs them.
    locked = work_dir / "locked-requirements.txt"
    subprocess.run([str(venv_dir / "bin" / "uv"), "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes", "-o", str(locked)],
                   cwd=project_root, check=True, capture_output=True)
    pip_install(venv_dir, "-r", str(locked))
    if extra_requirements:
        # After the project's pins, so an experiment can replace one (say, another gunicorn).
        pip_install(venv_dir, *extra_requirements)
    add_benchmark_package(project_root, slug)
    python = venv_dir / "bin" / "python"
    env = server_environment(project_root, calibrate_cpu_loops(python, project_root))
    static = django_static_settings(python, project_root, env)
    if not static["dirs"]:
        raise SystemExit("The baked project has no STATICFILES_DIRS to put the benchmark's CSS file in.")
    write_big_css(Path(static["dirs"][0]))
    collectstatic(python, project_root, env)
    static_root = Path(static["root"])
    static_url = "/" + static["url"].strip("/") + "/"
    big_css = hashed_name(static_root, BIG_CSS_NAME)
    return BakedProject(
        root=project_root, slug=slug, python=python, env=env, big_css_url=static_url + big_css,
        big_css_bytes=file_sizes(static_root / big_css), static_root=static_root, static_url=static_url,
    )
