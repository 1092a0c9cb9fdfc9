"""Run the embedded Label Studio server: start, wait for health, status, stop by process id."""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from labelloop.annotate.errors import ServerError

__all__ = [
    "write_private",
    "Credentials",
    "ServerState",
    "StopReport",
    "find_label_studio",
    "free_port",
    "free_port_from",
    "load_credentials",
    "not_ours",
    "port_is_free",
    "server_status",
    "ssrf_settings",
    "start_server",
    "stop_server",
    "wait_healthy",
]

_REPO = Path(__file__).resolve().parents[2]
# Servers started by this process: keep their handles so they are reaped on stop.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class Credentials:
    """Login for the embedded server; stored in a file of mode 0600, never logged."""

    url: str
    username: str
    password: str
    api_key: str

    def __repr__(self) -> str:
        return (
            f"Credentials(url={self.url!r}, username={self.username!r}, password=***, api_key=***)"
        )


@dataclass(frozen=True)
class ServerState:
    """What ``server start`` left behind: the process and where it listens."""

    pid: int
    port: int
    url: str
    data_dir: str
    log_file: str
    started: int | None = None  # the process's start time (clock ticks since boot), Linux
    loopback_webhook: bool = False  # whether it may send webhooks to 127.0.0.1


@dataclass(frozen=True)
class StopReport:
    """What ``stop_server`` did: whether it stopped a server, in one line for people."""

    stopped: bool
    message: str


def _folder(workdir: Path) -> Path:
    return workdir / "label-studio"


def find_label_studio() -> Path:
    """Locate the ``label-studio`` executable of its own virtual environment.

    Order: ``$LABELLOOP_LABEL_STUDIO_BIN``, the project's ``.venv-ls`` (made by
    ``make setup``), then ``label-studio`` on the PATH.
    """
    candidates = [
        os.environ.get("LABELLOOP_LABEL_STUDIO_BIN"),
        str(_REPO / ".venv-ls" / "bin" / "label-studio"),
        shutil.which("label-studio"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise ServerError("label-studio is not installed; run `make setup` (it creates .venv-ls)")


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Return True when nothing listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """Return a port on 127.0.0.1 that nothing listens on (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_port_from(start: int) -> int:
    """Return the first free port on 127.0.0.1 at or above ``start``."""
    port = start
    while not port_is_free(port):
        port += 1
    return port


def _healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as response:
            return bool(json.loads(response.read()).get("status") == "UP")
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_healthy(url: str, pid: int | None, timeout_s: float) -> None:
    """Wait until ``url/health`` answers UP; fail early if the process dies."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _healthy(url):
            return
        if pid is not None and not _alive(pid):
            raise ServerError(f"Label Studio exited before answering at {url}")
        time.sleep(0.5)
    raise ServerError(f"Label Studio did not answer at {url}/health within {timeout_s:.0f} s")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    child = _CHILDREN.get(pid)
    if child is not None:  # our own child: poll() reaps it once it has exited
        return child.poll() is None
    return True


def load_credentials(workdir: Path) -> Credentials | None:
    """Read the embedded server's credentials, or None before the first start."""
    path = _folder(workdir) / "credentials.json"
    if not path.is_file():
        return None
    return Credentials(**json.loads(path.read_text()))


def _read_state(workdir: Path) -> ServerState | None:
    path = _folder(workdir) / "server.json"
    if not path.is_file():
        return None
    return ServerState(**json.loads(path.read_text()))


def server_status(workdir: Path) -> tuple[ServerState | None, bool]:
    """Return the recorded server and whether it is running and healthy."""
    state = _read_state(workdir)
    if state is None:
        return None, False
    return state, _alive(state.pid) and _healthy(state.url)


# Label Studio 1.23.2's own list of addresses its SSRF protection blocks
# (core/utils/io.py, validate_ip); the loopback webhook takes only 127.0.0.1 out of it.
_BANNED_SUBNETS = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "233.252.0.0/24",
    "240.0.0.0/4",
    "255.255.255.255/32",
    "::/128",
    "::1/128",
    "::ffff:0:0/96",
    "::ffff:0:0:0/96",
    "64:ff9b::/96",
    "64:ff9b:1::/48",
    "100::/64",
    "2001:0000::/32",
    "2001:20::/28",
    "2001:db8::/32",
    "2002::/16",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
)


def ssrf_settings(loopback_webhook: bool) -> dict[str, str]:
    """Return the environment that sets Label Studio's SSRF protection.

    The protection is always on: Label Studio refuses to fetch from or post to private,
    loopback and reserved addresses (URL imports, cloud storage, webhooks). With
    ``loopback_webhook`` the one address 127.0.0.1 is allowed, so that webhooks reach
    ``labelloop listen``; every other blocked address stays blocked.

    Examples
    --------
    >>> ssrf_settings(False)
    {'SSRF_PROTECTION_ENABLED': 'true', 'USE_DEFAULT_BANNED_SUBNETS': 'true'}
    >>> banned = ssrf_settings(True)["USER_ADDITIONAL_BANNED_SUBNETS"].split(",")
    >>> [any(ipaddress.ip_address(ip) in ipaddress.ip_network(n) for n in banned)
    ...  for ip in ("127.0.0.1", "127.0.0.2", "10.0.0.1", "169.254.169.254", "::1")]
    [False, True, True, True, True]
    """
    if not loopback_webhook:
        return {"SSRF_PROTECTION_ENABLED": "true", "USE_DEFAULT_BANNED_SUBNETS": "true"}
    loopback = ipaddress.IPv4Network("127.0.0.0/8")
    rest = loopback.address_exclude(ipaddress.IPv4Network("127.0.0.1/32"))
    banned = [s for s in _BANNED_SUBNETS if s != str(loopback)]
    banned += sorted(str(n) for n in rest)
    return {
        "SSRF_PROTECTION_ENABLED": "true",
        "USE_DEFAULT_BANNED_SUBNETS": "false",
        "USER_ADDITIONAL_BANNED_SUBNETS": ",".join(banned),
    }


def _label_studio_environment(
    credentials: Credentials, data_dir: Path, loopback_webhook: bool
) -> dict[str, str]:
    # Label Studio reads NAME, LABEL_STUDIO_NAME and HEARTEX_NAME, the prefixed first:
    # drop inherited settings that would override ours.
    ours = ssrf_settings(loopback_webhook)
    if loopback_webhook:
        # Connecting `labelloop serve` on 127.0.0.1 as the project's model needs the
        # loopback webhook (Label Studio adds one for it) and ML_BLOCK_LOCAL_IP off
        # (README, "Connected model": what that opens).
        ours["ML_BLOCK_LOCAL_IP"] = "false"
    names = {*ours, "USER_ADDITIONAL_BANNED_SUBNETS"} if loopback_webhook else set(ours)
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not any(k in (n, f"LABEL_STUDIO_{n}", f"HEARTEX_{n}") for n in names)
    }
    return {
        **inherited,
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "LABEL_STUDIO_USERNAME": credentials.username,
        "LABEL_STUDIO_PASSWORD": credentials.password,
        "LABEL_STUDIO_USER_TOKEN": credentials.api_key,
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "LATEST_VERSION_CHECK": "false",
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
        **ours,
    }


def write_private(path: Path, text: str) -> None:
    """Write a file of mode 0600 atomically: a temporary file beside it, then a rename.

    A reader sees the old file or the whole new one, never a part; a symbolic link at
    ``path`` is replaced, not written through.
    """
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:  # mkstemp makes it 0600
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def start_server(
    workdir: Path, port: int = 8080, timeout_s: float = 180.0, *, loopback_webhook: bool = False
) -> tuple[ServerState, Credentials, bool]:
    """Start Label Studio on 127.0.0.1:``port`` with its data dir in the work dir.

    The first start creates an admin user and an API token without prompts and writes
    them to ``label-studio/credentials.json`` (mode 0600, atomically). A running server
    is reused. Label Studio's SSRF protection stays on; ``loopback_webhook`` lets it
    send webhooks to 127.0.0.1 (``labelloop listen``), see :func:`ssrf_settings`.

    Returns
    -------
    (state, credentials, created)
        ``created`` is True on the first start (so the caller shows the login once).

    Raises
    ------
    ServerError
        If the port is taken, the executable is missing, health never answers, or the
        running server blocks the loopback webhook that was asked for.
    """
    folder = _folder(workdir)
    folder.mkdir(parents=True, exist_ok=True)
    state, running = server_status(workdir)
    credentials = load_credentials(workdir)
    if running and state is not None and credentials is not None:
        if loopback_webhook and not state.loopback_webhook:
            raise ServerError(
                f"Label Studio already runs at {state.url} and blocks webhooks to 127.0.0.1; "
                "stop it (`labelloop server stop`) and start it with --allow-loopback-webhook"
            )
        return state, credentials, False
    if not port_is_free(port):
        raise ServerError(
            f"port {port} on 127.0.0.1 is taken; stop what uses it or pass --port "
            "(Label Studio would silently move to another port)"
        )
    created = credentials is None
    if credentials is None:
        credentials = Credentials(
            url=f"http://127.0.0.1:{port}",
            username="admin@labelloop.local",
            password=secrets.token_urlsafe(12),
            api_key=secrets.token_hex(20),
        )
        write_private(folder / "credentials.json", json.dumps(asdict(credentials)))
    url = f"http://127.0.0.1:{port}"
    credentials = Credentials(url, credentials.username, credentials.password, credentials.api_key)
    data_dir = folder / "data"
    environment = _label_studio_environment(credentials, data_dir, loopback_webhook)
    log_file = folder / "server.log"
    with open(log_file, "ab") as log:
        process = subprocess.Popen(
            [
                str(find_label_studio()),
                "start",
                "--no-browser",
                "--internal-host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    _CHILDREN[process.pid] = process
    state = ServerState(
        process.pid,
        port,
        url,
        str(data_dir),
        str(log_file),
        _start_ticks(process.pid),
        loopback_webhook,
    )
    (folder / "server.json").write_text(json.dumps(asdict(state)))
    try:
        wait_healthy(url, process.pid, timeout_s)
    except ServerError:
        stop_server(workdir)
        raise
    return state, credentials, created


def _start_ticks(pid: int) -> int | None:
    """Return the process's start time in clock ticks since boot, where /proc has it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The name in parentheses may hold spaces; field 22 (starttime) counts from after it.
    return int(stat.rpartition(")")[2].split()[19])


def _command_line(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        if Path("/proc/self").exists():
            return None  # a Linux process that has gone
        found = subprocess.run(
            ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False
        )
        return found.stdout.split() if found.returncode == 0 else None
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def not_ours(state: ServerState) -> str | None:
    """Say why the recorded process is not the Label Studio we started, or None if it is.

    A process id is reused once its process ends, so before signalling it the recorded
    process must still be ours: a ``label-studio`` command on the recorded port, leading
    its own process group, started at the recorded time (where the system tells it).

    Examples
    --------
    >>> import os
    >>> state = ServerState(os.getpid(), 8080, "http://127.0.0.1:8080", "data", "log")
    >>> not_ours(state).startswith(f"pid {os.getpid()} is ")
    True
    """
    args = _command_line(state.pid)
    if not args:
        return f"pid {state.pid} has no readable command line"
    command = " ".join(args)
    if len(command) > 80:
        command = command[:77] + "..."
    is_label_studio = any(
        name in Path(a).name for a in args for name in ("label-studio", "label_studio")
    )
    on_port = any(a == "--port" and b == str(state.port) for a, b in itertools.pairwise(args))
    if not (is_label_studio and on_port):
        return f"pid {state.pid} is {command!r}, not Label Studio on port {state.port}"
    if state.started is not None and _start_ticks(state.pid) != state.started:
        return f"pid {state.pid} is a Label Studio started after the recorded one"
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(state.pid) != state.pid:
            return f"pid {state.pid} does not lead its own process group"
    return None


def stop_server(workdir: Path, timeout_s: float = 20.0) -> StopReport:
    """Stop the recorded server by process group id, if the process is still ours.

    A recorded process that has gone, or whose id now belongs to another program, is
    not signalled; the stale record is removed.

    Returns
    -------
    StopReport
        Whether a server was stopped, and a one-line account of what was done.
    """
    record = _folder(workdir) / "server.json"
    state = _read_state(workdir)
    if state is None:
        return StopReport(False, "no Label Studio was running")
    if not _alive(state.pid):
        _forget(state.pid, record, timeout_s)
        return StopReport(False, "no Label Studio was running")
    reason = not_ours(state)
    if reason is not None:
        _forget(state.pid, record, timeout_s)
        return StopReport(
            False, f"{reason}; signalled nothing and removed the stale record {record}"
        )
    with contextlib.suppress(ProcessLookupError):
        os.killpg(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _alive(state.pid):
        time.sleep(0.2)
    if _alive(state.pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(state.pid, signal.SIGKILL)
    _forget(state.pid, record, timeout_s)
    return StopReport(True, f"stopped Label Studio (pid {state.pid})")


def _forget(pid: int, record: Path, timeout_s: float) -> None:
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=timeout_s)
    record.unlink(missing_ok=True)
