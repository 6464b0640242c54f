"""The servers compared, as the issue lists them.

Each entry says what it is and which views it is loaded with. Gunicorn picks
up ./gunicorn.conf.py on its own, so every command that is *not* "our
defaults" passes an empty config file, or it would silently inherit ours.
"""

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from project import BakedProject
from servers import HOST, ServerSpec, free_port
from setup_env import NGINX_BROTLI_MODULE, nginx_binary

DATABASE_VIEW = "db"
DYNAMIC_VIEWS = ("json", "cpu", "io", DATABASE_VIEW)
VIEW_PATHS = {"json": "/bench/json", "cpu": "/bench/cpu", "io": "/bench/io", DATABASE_VIEW: "/bench/db"}
STATIC_VIEW = "static"

# What the peers' own projects do with database connections (overlay/benchsite).
PEER_DATABASE_SETTINGS = {"DJANGO_SETTINGS_MODULE": "benchsite.settings_persistent"}
COOKIECUTTER_DJANGO_DATABASE_SETTINGS = {"DJANGO_SETTINGS_MODULE": "benchsite.settings_cookiecutter_django"}

# Roles the report compares by.
OURS = "ours"
HAND_TUNED = "hand-tuned gunicorn"
GRANIAN = "granian"
CEILING = "ceiling"
STATIC_MIDDLEWARE = "whitenoise middleware"
STATIC_CEILING = "static ceiling"

OURS_NAME = "ours: gunicorn.conf.py"


@dataclass
class Entry:
    spec: ServerSpec
    role: str
    views: tuple[str, ...]
    note: str = ""
    database: object = None  # postgres.Cluster of its own, for the database view
    proxy: ServerSpec | None = None  # the router in front of it (proxy_for), or None to be loaded directly


def attach_databases(entries: list[Entry], stack: ExitStack) -> None:
    """A PostgreSQL server of its own for each entry loaded with the database view, in DATABASE_URL."""
    from postgres import Cluster  # needs the server binaries only when a database view runs

    for entry in entries:
        if DATABASE_VIEW in entry.views:
            entry.database = Cluster()
            stack.callback(entry.database.remove)
            entry.database.watcher()
            entry.spec.env = {**entry.spec.env, "DATABASE_URL": entry.database.app_url}


def gunicorn_ours(project: BakedProject, name: str, overrides: list[str] = (), app: list[str] = (), env: dict | None = None) -> ServerSpec:
    """A bare `gunicorn` in the project root: everything from gunicorn.conf.py, except the bind address.

    The conf binds 0.0.0.0 when $PORT is set (right for a platform, wrong
    here); a --bind flag wins over the file and keeps it on loopback.
    """
    port = free_port()
    argv = [project.bin("gunicorn"), "--bind", f"{HOST}:{port}", *overrides, *app]
    return ServerSpec(name=name, argv=argv, env={**project.env, **(env or {})}, cwd=project.root, port=port)


def overriding_conf(project: BakedProject, settings: dict, path: Path) -> Path:
    """A gunicorn config that runs the project's own conf, then reassigns `settings` (which may have no flag to undo them)."""
    project_conf = str(project.root / "gunicorn.conf.py")
    lines = [f"exec(compile(open({project_conf!r}).read(), {project_conf!r}, 'exec'))"]
    lines += [f"{name} = {value!r}" for name, value in settings.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def gunicorn_without_conf(project: BakedProject, name: str, work_dir: Path, args: list[str], env: dict | None = None) -> ServerSpec:
    empty_conf = work_dir / "empty.gunicorn.conf.py"
    empty_conf.touch()
    port = free_port()
    argv = [project.bin("gunicorn"), "--config", str(empty_conf), "--bind", f"{HOST}:{port}", *args]
    return ServerSpec(name=name, argv=argv, env={**project.env, **(env or {})}, cwd=project.root, port=port)


def granian(project: BakedProject, workers: int) -> ServerSpec:
    port = free_port()
    argv = [
        project.bin("granian"), "--interface", "wsgi", "--workers", str(workers),
        "--host", HOST, "--port", str(port), f"{project.slug}.wsgi:application",
    ]
    # The template lets gunicorn turn X-Forwarded-Proto into the request's
    # scheme (secure_scheme_headers); granian does not, so Django would
    # redirect every request to https. Production behind granian would need
    # SECURE_PROXY_SSL_HEADER instead.
    env = {**project.env, "DJANGO_SECURE_SSL_REDIRECT": "false", **PEER_DATABASE_SETTINGS}
    return ServerSpec(name=f"granian --workers {workers}", argv=argv, env=env, cwd=project.root, port=port)


NGINX_CONF = """\
daemon off;
worker_processes auto;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
load_module {brotli_module};
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen {host}:{port};
        location {static_url} {{
            alias {static_root}/;
            # The .br and .gz files WhiteNoise's storage wrote at collectstatic.
            brotli_static on;
            gzip_static on;
            gzip_vary on;
            expires max;
        }}
    }}
}}
"""


def nginx(project: BakedProject, work_dir: Path) -> ServerSpec:
    prefix = work_dir / "nginx"
    prefix.mkdir(exist_ok=True)
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(NGINX_CONF.format(
        prefix=prefix, host=HOST, port=port, static_url=project.static_url,
        static_root=project.static_root, brotli_module=NGINX_BROTLI_MODULE,
    ))
    argv = [nginx_binary(), "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
    return ServerSpec(name="nginx (gzip_static/brotli_static)", argv=argv, env=project.env, cwd=prefix, port=port, ready_path=project.big_css_url)


# The router in front of every dyno or pod, as platforms run it (benchmarks/README.md,
# "The router"): connections to the app kept alive, TLS ended before the app.
PROXY_CONF = """\
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream app {{
        server {host}:{app_port};
        keepalive 320;
        keepalive_timeout 60s;
        keepalive_requests 10000;
    }}
    server {{
        listen {host}:{port} backlog=4096;
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto https;
            proxy_read_timeout 30s;
        }}
    }}
}}
"""


def proxy_for(app: ServerSpec, work_dir: Path) -> ServerSpec:
    """An nginx of its own in front of `app`, answering the same paths on another port."""
    port = free_port()
    prefix = work_dir / f"proxy-{port}"
    prefix.mkdir()
    conf = prefix / "nginx.conf"
    conf.write_text(PROXY_CONF.format(prefix=prefix, host=HOST, port=port, app_port=app.port))
    argv = [nginx_binary(), "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
    return ServerSpec(name=f"nginx in front of {app.name}", argv=argv, env=app.env, cwd=prefix, port=port, ready_path=app.ready_path)


def put_behind_proxies(entries: list[Entry], work_dir: Path) -> None:
    """A router in front of every server under test; the static ceiling is nginx itself and stays direct."""
    for entry in entries:
        if entry.role != STATIC_CEILING:
            entry.proxy = proxy_for(entry.spec, work_dir)


def standard_entries(project: BakedProject, work_dir: Path, machine_workers: int) -> list[Entry]:
    wsgi = f"{project.slug}.wsgi:application"
    middleware_settings = {"DJANGO_SETTINGS_MODULE": "benchsite.settings_whitenoise_middleware"}
    return [
        Entry(gunicorn_ours(project, OURS_NAME), OURS, (*DYNAMIC_VIEWS, STATIC_VIEW)),
        Entry(gunicorn_without_conf(project, "gunicorn -w3 --threads 2", work_dir, [wsgi, "--workers", "3", "--threads", "2"], PEER_DATABASE_SETTINGS),
              HAND_TUNED, DYNAMIC_VIEWS, "the seed's 3 x 2 gthread"),
        Entry(gunicorn_without_conf(project, "cookiecutter-django (4 sync)", work_dir, [wsgi], {"WEB_CONCURRENCY": "4", **COOKIECUTTER_DJANGO_DATABASE_SETTINGS}),
              HAND_TUNED, DYNAMIC_VIEWS, "its production command: sync workers, WEB_CONCURRENCY=4; CONN_MAX_AGE=60"),
        Entry(gunicorn_without_conf(project, f"heroku getting-started ({machine_workers}x5 gthread)", work_dir, [
                  wsgi, "--worker-class", "gthread", "--threads", "5", "--keep-alive", "95", "--preload", "--reuse-port",
                  "--timeout", "20", "--graceful-timeout", "20", "--access-logfile", "-",
              ], {"WEB_CONCURRENCY": str(machine_workers), **PEER_DATABASE_SETTINGS}),
              HAND_TUNED, DYNAMIC_VIEWS,
              f"its gunicorn.conf.py; WEB_CONCURRENCY={machine_workers} (Heroku sets it per dyno size; one per core here)"),
        Entry(granian(project, machine_workers), GRANIAN, DYNAMIC_VIEWS, "what users would otherwise pick; DJANGO_SECURE_SSL_REDIRECT=false"),
        Entry(gunicorn_ours(project, "raw WSGI hello, our gunicorn.conf.py", app=["benchsite.hello:application"]),
              CEILING, ("json",), "no Django: gunicorn's own ceiling with our worker settings"),
        Entry(gunicorn_without_conf(project, "WhiteNoise middleware, 3 sync workers", work_dir,
                                    ["benchsite.wsgi_plain:application", "--workers", "3"], middleware_settings),
              STATIC_MIDDLEWARE, (STATIC_VIEW,), "the common setup"),
        Entry(nginx(project, work_dir), STATIC_CEILING, (STATIC_VIEW,), "the static ceiling"),
    ]
