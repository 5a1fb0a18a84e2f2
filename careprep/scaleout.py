"""The scale-out set-up on one machine: several of each process behind nginx, one Redis.

``careprep up --instances 2`` (``make scale-up``) and the tests and the bench
(``Cluster``) start, on loopback:

- ``redis-server`` on a free port, for Rasa's lock store: a conversation's turns run one at a
  time, in the order they arrived, whichever Rasa server each message reached
  (``bot.lock_store.AtomicRedisLockStore``: Rasa's own ``type: redis`` store is not
  safe between servers, see that module);
- N Rasa servers, N action servers, N web apps and N workers (``careprep worker``), each Rasa
  server with the SQL tracker store and every process with the careprep store on the same
  PostgreSQL database (``DATABASE_URL``; SQLite is refused);
- nginx, needing no privilege (its configuration, pid file, logs and temporary folders under
  the work folder, ports above 1024; ``daemon off`` so that it is supervised like the others;
  started by root, its workers run as ``nobody`` and write no file), with three
  listeners: the **public** one, which serves Twilio's webhooks (``/webhooks/sms/``) from the
  Rasa servers and everything else from the web apps (Rasa's REST channel and HTTP API are not
  public: the REST channel trusts the sender id it is given); the **Rasa** one, the cluster's
  internal entry to the Rasa servers, which the web apps use for the web chat; and the
  **actions** one, through which every Rasa server reaches every action server (as a
  Kubernetes Service would: a turn still runs when one action server is down, and the load
  spreads whichever Rasa server took the message).

Each upstream is balanced by ``least_conn``, with no stickiness: two messages of one patient
often reach two Rasa servers, which is what the lock store is for. The three listeners' ports
are a ``Ports`` (public = ``web``, internal Rasa = ``rasa``, actions = ``actions``): for
``careprep up --instances 2`` the ports ``careprep up`` uses (8000, 5005 and 5055, or
CAREPREP_WEB_PORT, CAREPREP_RASA_PORT and CAREPREP_ACTIONS_PORT), so links and the Rasa REST
URL stay where they were; free ports for ``Cluster`` by default. The servers behind nginx and
Redis listen on free ports of their own, on loopback only.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import sys
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from sqlalchemy.engine import make_url

from careprep.settings import Settings
from careprep.store import normalise_url
from careprep.store.migrate import upgrade
from careprep.supervisor import (
    QUIET,
    Child,
    Ports,
    action_server,
    endpoints_file,
    free_ports,
    rasa_server,
    ready_or_stop,
    stop_all,
    supervise,
    train_if_needed,
    web_command,
)

LOOPBACK = "127.0.0.1"
LOCK_STORE_TYPE = "bot.lock_store.AtomicRedisLockStore"
REDIS_KEY_PREFIX = "careprep"
KINDS = ("rasa", "actions", "web")
"""The servers behind nginx, N of each (``worker-N`` runs beside them)."""
MAX_BODY = "64k"
"""The largest request nginx passes on from outside: a Twilio webhook is at most a few
kilobytes, a chat reply at most 2,000 characters. Bodies up to this size are kept in memory,
never in files."""
MAX_ACTION_CALL = "16m"
"""The largest call from a Rasa server to an action server: Rasa sends the whole tracker with
every call, about 85 KB after one preparation and about 0.5 MB at 1,000 events."""


class ScaleOutError(Exception):
    """The scale-out set-up cannot start here; the message says what to do."""


def require_postgres(database_url: str) -> None:
    """Refuse a store that several servers cannot share (anything but PostgreSQL)."""
    backend = make_url(normalise_url(database_url)).get_backend_name()
    if backend != "postgresql":
        raise ScaleOutError(
            f"several instances need a PostgreSQL store, but DATABASE_URL names a {backend} "
            "database: set DATABASE_URL=postgresql://USER@HOST:5432/DATABASE (servers "
            "cannot share a SQLite file)"
        )


def executable(name: str, *places: str) -> str:
    """Return the path of a program on PATH or in one of ``places``; raise if there is none."""
    found = shutil.which(name) or next((p for p in places if os.access(p, os.X_OK)), None)
    if found is None:
        raise ScaleOutError(f"{name} is not installed: run `make nginx` (it installs it)")
    return found


@dataclass
class ListeningChild(Child):
    """A supervised process that is ready once it accepts TCP connections on a port."""

    port: int = 0

    def ready(self) -> bool:
        """Whether something accepts connections on the port."""
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=2):
                return True
        except OSError:
            return False


def nginx_config(
    folder: Path, ports: Ports, *, rasa: list[int], actions: list[int], web: list[int]
) -> str:
    """Return nginx's configuration: three listeners, three upstreams, files under ``folder``."""

    def upstream(name: str, servers: list[int]) -> str:
        lines = "".join(f"        server {LOOPBACK}:{port};\n" for port in servers)
        return f"    upstream {name} {{\n        least_conn;\n{lines}    }}\n"

    temp = folder / "temp"
    return f"""# Written by careprep.scaleout for this run; every path is under {folder}.
daemon off;
worker_processes 1;
pid {folder / "nginx.pid"};
# Not "error": those messages quote the request line, with a chat link's token in it. A server
# that failed shows in the access log (its status and upstream address).
error_log {folder / "error.log"} crit;

events {{
    worker_connections 1024;
}}

http {{
    client_body_temp_path {temp / "client_body"};
    proxy_temp_path {temp / "proxy"};
    fastcgi_temp_path {temp / "fastcgi"};
    uwsgi_temp_path {temp / "uwsgi"};
    scgi_temp_path {temp / "scgi"};
    # Bodies and responses stay in memory, so nginx's workers (nobody, when started by root)
    # never need to write a file.
    client_max_body_size {MAX_BODY};
    client_body_buffer_size {MAX_BODY};
    proxy_max_temp_file_size 0;

    # No request line: the web chat's link token is in the path, and it opens a record.
    log_format careprep '$time_iso8601 $request_id $server_port $request_method $status '
                        '$upstream_addr $upstream_response_time $request_time';
    access_log {folder / "access.log"} careprep;
    server_tokens off;

    # A new connection to a server for each request (nginx's "Connection: close"), no pool of
    # idle ones: Sanic (Rasa, the action servers) and uvicorn close an idle connection after
    # 5 s, and one closed as nginx sends a request on it reset that request (a 502, and the
    # turn failed) when a server's event loop had been busy. On loopback a connection costs
    # far less than a millisecond.
    proxy_http_version 1.1;
    proxy_set_header Host $http_host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header X-Request-ID $request_id;
    proxy_read_timeout 60s;
    # A POST that reached a server is never sent to another (nginx's default): a turn runs once.
    # One that could not connect goes to the next server.
    add_header X-Request-ID $request_id always;

{upstream("rasa_servers", rasa)}
{upstream("action_servers", actions)}
{upstream("web_apps", web)}
    # Public: Twilio's webhooks from the Rasa servers, everything else from the web apps.
    server {{
        listen {LOOPBACK}:{ports.web};
        location /webhooks/sms/ {{
            proxy_pass http://rasa_servers;
        }}
        location / {{
            proxy_pass http://web_apps;
        }}
    }}

    # Internal: the Rasa servers (REST channel for the web chat), as the web apps reach them.
    server {{
        listen {LOOPBACK}:{ports.rasa};
        location / {{
            proxy_pass http://rasa_servers;
        }}
    }}

    # Internal: the action servers, as every Rasa server reaches them.
    server {{
        listen {LOOPBACK}:{ports.actions};
        client_max_body_size {MAX_ACTION_CALL};
        client_body_buffer_size {MAX_ACTION_CALL};
        location / {{
            proxy_pass http://action_servers;
        }}
    }}
}}
"""


@dataclass
class Cluster:
    """N of each careprep process behind nginx, with their own Redis, on one PostgreSQL store.

    ``start()`` (or ``with Cluster(...) as cluster:``) returns once every process answers;
    ``stop()`` stops them all. For the tests and the bench, ``instances=1`` and ``instances=2``
    have the same shape (nginx and Redis included), so their throughputs compare::

        with Cluster(database_url=url, workdir=scratch, instances=2,
                     environment={"TWILIO_AUTH_TOKEN": token}) as cluster:
            cluster.warm_up()
            # POST texts to cluster.url + "/webhooks/sms/webhook", signed for
            # cluster.public_url + "/webhooks/sms/webhook"; the web chat is at cluster.url.
            cluster.pids  # {"nginx": ..., "redis": ..., "rasa-1": ..., "worker-2": ...}

    nginx's pid is its master's; its worker is that process's child.
    """

    database_url: str
    workdir: Path
    """Scratch folder: nginx's configuration and files, Redis, endpoints.yml, the logs."""
    instances: int = 2
    root: Path = Path(".")
    environment: dict[str, str] = field(default_factory=dict)
    """More environment for every process (PUBLIC_URL, TWILIO_AUTH_TOKEN, ...)."""
    model: Path | None = None
    """The trained model to serve; by default the current one, trained if it is missing."""
    ports: Ports | None = None
    """nginx's public (``web``), internal Rasa (``rasa``) and actions ports; free by default."""
    secret_key: str | None = None
    """CAREPREP_SECRET_KEY for every process (the web apps must share it); new by default."""
    var_dir: Path | None = None
    """CAREPREP_VAR_DIR; ``workdir / "var"`` by default."""
    logs: Path | None = None
    """Where each process's output goes (``<name>.log``); ``workdir / "logs"`` unless
    ``print_output``, which prints each line after the process's name instead."""
    print_output: bool = False
    processes: list[Child] = field(default_factory=list)
    redis_port: int | None = None
    backends: dict[str, int] = field(default_factory=dict)
    """The port of each server behind nginx, by name (``rasa-1``, ``actions-1``, ``web-1``, ...)."""

    def __post_init__(self) -> None:
        """Refuse what cannot work before anything starts."""
        require_postgres(self.database_url)
        if self.instances < 1:
            raise ScaleOutError("the number of instances must be at least 1")
        if self.secret_key is None:
            self.secret_key = secrets.token_urlsafe(32)
        if self.var_dir is None:
            self.var_dir = self.workdir / "var"
        if self.logs is None and not self.print_output:
            self.logs = self.workdir / "logs"

    @property
    def url(self) -> str:
        """Return nginx's public address: send Twilio's webhooks and the web chat here."""
        assert self.ports is not None, "the cluster is not started"
        return f"http://{LOOPBACK}:{self.ports.web}"

    @property
    def rasa_url(self) -> str:
        """Return nginx's internal entry to the Rasa servers (their REST channel; not public)."""
        assert self.ports is not None, "the cluster is not started"
        return f"http://{LOOPBACK}:{self.ports.rasa}"

    @property
    def public_url(self) -> str:
        """PUBLIC_URL as the Rasa servers have it: Twilio signs its requests for this URL."""
        return self.env["PUBLIC_URL"]

    @property
    def nginx_folder(self) -> Path:
        """Return nginx's prefix: its configuration, pid file, logs and temporary folders."""
        return self.workdir / "nginx"

    @property
    def access_log(self) -> Path:
        """Return nginx's access log: time, request id, port, method, status, upstream, timings."""
        return self.nginx_folder / "access.log"

    @property
    def env(self) -> dict[str, str]:
        """The environment every process gets (also right for ``careprep`` on the store)."""
        assert self.var_dir is not None and self.secret_key is not None
        assert self.ports is not None, "the cluster is not started"
        return {
            **os.environ,
            **QUIET,
            # As `careprep up` has them: the public listener, by name.
            "PUBLIC_URL": f"http://localhost:{self.ports.web}",
            "CAREPREP_WEB_URL": f"http://localhost:{self.ports.web}",
            **self.environment,
            "DATABASE_URL": self.database_url,
            "CAREPREP_VAR_DIR": str(self.var_dir),
            "CAREPREP_SECRET_KEY": self.secret_key,
            "CAREPREP_RASA_URL": self.rasa_url,
        }

    @property
    def pids(self) -> dict[str, int]:
        """The process id of each running process, by name (``rasa-1``, ``nginx``, ...)."""
        return {
            child.name: child.process.pid for child in self.processes if child.process is not None
        }

    def launch(self) -> None:
        """Migrate, train if need be, write the configuration and start every process."""
        nginx = executable("nginx", "/usr/sbin/nginx")
        redis = executable("redis-server", "/usr/bin/redis-server", "/usr/sbin/redis-server")
        upgrade(self.database_url)
        model = self.model or train_if_needed(self.root)
        n = self.instances
        ports = free_ports(3 * n + 1 + (0 if self.ports else 3))
        if self.ports is None:
            self.ports = Ports(rasa=ports.pop(), actions=ports.pop(), web=ports.pop())
        self.redis_port = ports.pop()
        self.backends = {
            f"{kind}-{number}": ports.pop() for kind in KINDS for number in range(1, n + 1)
        }
        backends = {kind: self._ports_of(kind) for kind in KINDS}

        assert self.var_dir is not None
        folders = [self.nginx_folder / "temp", self.workdir / "redis", self.var_dir]
        for folder in [*folders, *([self.logs] if self.logs is not None else [])]:
            folder.mkdir(parents=True, exist_ok=True)
        config = self.nginx_folder / "nginx.conf"
        config.write_text(nginx_config(self.nginx_folder, self.ports, **backends))
        lock_store = {
            "type": LOCK_STORE_TYPE,
            "url": LOOPBACK,
            "port": self.redis_port,
            "db": 0,
            "key_prefix": REDIS_KEY_PREFIX,
        }
        endpoints = endpoints_file(self.ports, self.workdir, self.root, lock_store)

        def log(name: str) -> Path | None:
            return self.logs / f"{name}.log" if self.logs is not None else None

        # Locks only: nothing is saved to disk.
        keep_nothing = ["--save", "", "--appendonly", "no", "--dir", str(self.workdir / "redis")]
        serve = ["--port", str(self.redis_port), "--bind", LOOPBACK]
        self.processes = [
            ListeningChild(
                "redis", [redis, *serve, *keep_nothing], None, log("redis"), port=self.redis_port
            ),
            ListeningChild(
                "nginx",
                [nginx, "-p", str(self.nginx_folder), "-c", str(config)],
                None,
                log("nginx"),
                port=self.ports.web,
            ),
        ]
        for number in range(1, n + 1):
            rasa, actions, web = (f"{kind}-{number}" for kind in KINDS)
            at = self.backends
            self.processes += [
                rasa_server(rasa, model, at[rasa], endpoints, self.root, log(rasa), LOOPBACK),
                action_server(actions, at[actions], log(actions)),
                Child(web, web_command(at[web]), f"http://{LOOPBACK}:{at[web]}/health", log(web)),
                Child(
                    f"worker-{number}",
                    [sys.executable, "-m", "careprep.cli", "worker"],
                    None,
                    log(f"worker-{number}"),
                ),
            ]
        env = self.env
        try:
            for child in self.processes:
                child.start(env, self.root)
        except BaseException:
            self.stop()
            raise

    def _ports_of(self, kind: str) -> list[int]:
        return [port for name, port in self.backends.items() if name.startswith(f"{kind}-")]

    def warm_up(self) -> None:
        """Send each Rasa server one message of its own, so that none loads lazily under load.

        A Rasa server's first turn takes several seconds; this one is a short conversation of
        the sender ``warm-up-<port>`` in the tracker store (for the bench and the tests).
        """

        def greet(port: int) -> None:
            request = urllib.request.Request(
                f"http://{LOOPBACK}:{port}/webhooks/rest/webhook",
                data=json.dumps({"sender": f"warm-up-{port}", "message": "hello"}).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=120) as response:
                response.read()

        servers = self._ports_of("rasa")
        with ThreadPoolExecutor(len(servers)) as pool:
            list(pool.map(greet, servers))

    def start(self) -> Cluster:
        """Start everything and return once every process answers (raise if one does not)."""
        self.launch()
        ready_or_stop(self.processes, "The scale-out set-up", self.stop)
        return self

    def stop(self) -> None:
        """Stop every process: nginx first, Redis last."""
        stop_all(self.processes[1:])
        stop_all(self.processes[:1])

    def __enter__(self) -> Cluster:
        """Start the cluster."""
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the cluster."""
        self.stop()


def passed_on(names: tuple[str, ...]) -> dict[str, str]:
    """Return those of these environment variables that are set."""
    return {name: os.environ[name] for name in names if os.environ.get(name)}


def run_cluster(settings: Settings, instances: int, root: Path = Path(".")) -> int:
    """``careprep up --instances N``: start the scale-out set-up and supervise it until Ctrl-C."""
    cluster = Cluster(
        database_url=settings.database_url,
        workdir=settings.var_dir / "scale-out",
        instances=instances,
        root=root,
        environment=passed_on(("PUBLIC_URL", "CAREPREP_WEB_URL")),
        ports=Ports.from_environment(),
        secret_key=settings.secret_key,
        var_dir=settings.var_dir,
        print_output=True,
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        cluster.launch()
    except BaseException:
        cluster.stop()
        raise
    assert cluster.ports is not None
    print(
        f"careprep is starting {instances} instances behind nginx (the Rasa servers take a "
        "minute or two to load the model):\n"
        f"  web app and SMS webhook  http://localhost:{cluster.ports.web}/  "
        f"(Twilio: {cluster.public_url}/webhooks/sms/webhook)\n"
        f"  Rasa REST (internal)     http://localhost:{cluster.ports.rasa}/webhooks/rest/webhook\n"
        f"  action servers           http://localhost:{cluster.ports.actions}/health\n"
        f"  Redis lock store         {LOOPBACK}:{cluster.redis_port}\n"
        f"  nginx files              {cluster.nginx_folder}\n"
        "Press Ctrl-C to stop.",
        flush=True,
    )
    return supervise(cluster.processes, stopping)
