"""Start real servers for the test suite on free loopback ports, and always stop them.

    python -m tests.services postgres -- pytest ...
    python -m tests.services mariadb -- pytest ...

runs the command with ``DATABASE_URL`` pointing at a fresh PostgreSQL cluster
(initdb in a temporary directory) or a fresh MariaDB server (mariadb-install-db
in a temporary directory), and exits with the command's status. If the server
cannot start, it exits non-zero with the reason: never a silent skip.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator


class ServiceError(RuntimeError):
    pass


def stop_process(process: subprocess.Popen, *, timeout: float = 15) -> None:
    """Terminate a server we started, and kill it if it will not stop in time."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _find_binary(name: str, patterns: list[str]) -> str:
    found = shutil.which(name)
    if found:
        return found
    for pattern in patterns:
        matches = sorted(glob.glob(pattern))
        if matches:
            return matches[-1]
    raise ServiceError(f"{name} not found: install it (make test does, with apt-get).")


def _unprivileged(name: str = "postgres", package: str = "postgresql") -> tuple[list[str], int | None, int | None]:
    """Database servers refuse to (or should not) run as root: run them as their system user then."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        user = pwd.getpwnam(name)
    except KeyError:
        raise ServiceError(f"Running as root needs a '{name}' system user (the {package} package creates it).") from None
    return ["runuser", "-u", name, "--"], user.pw_uid, user.pw_gid


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL server; yields its DATABASE_URL."""
    bin_patterns = ["/usr/lib/postgresql/*/bin/{}"]
    initdb = _find_binary("initdb", [p.format("initdb") for p in bin_patterns])
    pg_ctl = _find_binary("pg_ctl", [p.format("pg_ctl") for p in bin_patterns])
    prefix, uid, gid = _unprivileged()
    root = tempfile.mkdtemp(prefix="inbox-pg-")
    data, sockets = os.path.join(root, "data"), os.path.join(root, "run")
    os.makedirs(sockets)
    if uid is not None:
        for path in (root, sockets):
            os.chown(path, uid, gid)
    port = free_port()
    log = os.path.join(root, "server.log")

    def run(*args: str) -> None:
        result = subprocess.run([*prefix, *args], capture_output=True, text=True)
        if result.returncode:
            detail = result.stderr or result.stdout
            if os.path.exists(log):
                with open(log) as handle:
                    detail += handle.read()[-2000:]
            raise ServiceError(f"{os.path.basename(args[0])} failed:\n{detail}")

    try:
        run(initdb, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-instructions")
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        run(pg_ctl, "-D", data, "-o", options, "-l", log, "-w", "-t", "60", "start")
        yield f"postgres://postgres@127.0.0.1:{port}/postgres"
    finally:
        if os.path.exists(os.path.join(data, "postmaster.pid")):
            subprocess.run([*prefix, pg_ctl, "-D", data, "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _mariadb_ready(port: int, timeout: float = 0.5) -> bool:
    """True once the server sends its handshake (protocol 10) on the TCP port, not an error packet."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            greeting = sock.recv(5)
    except OSError:
        return False
    return len(greeting) == 5 and greeting[4] == 10


def _mariadb_setup(port: int) -> None:
    """Create the database the URL names and load the time zone tables (Django's date functions need them)."""
    client = _find_binary("mariadb", ["/usr/bin/mariadb", "/usr/bin/mysql"])
    connect = [client, "--no-defaults", "--protocol=tcp", "-h127.0.0.1", f"-P{port}", "-uroot"]
    result = subprocess.run([*connect, "-e", "CREATE DATABASE inbox CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"],
                            capture_output=True, text=True)
    if result.returncode:
        raise ServiceError(f"could not create the database:\n{result.stderr}")
    if os.path.isdir("/usr/share/zoneinfo"):
        tzinfo = _find_binary("mariadb-tzinfo-to-sql", ["/usr/bin/mariadb-tzinfo-to-sql", "/usr/bin/mysql_tzinfo_to_sql"])
        sql = subprocess.run([tzinfo, "/usr/share/zoneinfo"], capture_output=True).stdout
        result = subprocess.run([*connect, "mysql"], input=sql, capture_output=True)
        if result.returncode:
            raise ServiceError(f"could not load the time zone tables:\n{result.stderr.decode(errors='replace')}")


@contextlib.contextmanager
def mariadb() -> Iterator[str]:
    """A throwaway MariaDB server; yields its DATABASE_URL (root, no password, loopback TCP only)."""
    sbin = ["/usr/sbin/{}", "/usr/local/sbin/{}", "/usr/local/mysql/bin/{}"]
    server = _find_binary("mariadbd", [p.format("mariadbd") for p in sbin] + [p.format("mysqld") for p in sbin])
    install_db = _find_binary("mariadb-install-db", ["/usr/bin/mariadb-install-db", "/usr/bin/mysql_install_db"])
    prefix, uid, gid = _unprivileged("mysql", "mariadb-server")
    root = tempfile.mkdtemp(prefix="inbox-maria-")
    data, run_dir = os.path.join(root, "data"), os.path.join(root, "run")
    os.makedirs(data)
    os.makedirs(run_dir)
    if uid is not None:
        for path in (root, data, run_dir):
            os.chown(path, uid, gid)
    port = free_port()
    log = os.path.join(run_dir, "server.log")
    user_args = ["--user=mysql"] if uid is not None else []

    def tail() -> str:
        if not os.path.exists(log):
            return ""
        with open(log, errors="replace") as handle:
            return handle.read()[-3000:]

    process: subprocess.Popen | None = None
    try:
        result = subprocess.run(
            [install_db, "--no-defaults", f"--datadir={data}", *user_args, "--auth-root-authentication-method=normal",
             "--skip-test-db", "--skip-name-resolve"],
            capture_output=True, text=True,
        )
        if result.returncode:
            raise ServiceError(f"mariadb-install-db failed:\n{result.stderr or result.stdout}")
        process = subprocess.Popen(
            [server, "--no-defaults", f"--datadir={data}", *user_args,
             f"--socket={os.path.join(run_dir, 'mysqld.sock')}", f"--pid-file={os.path.join(run_dir, 'mysqld.pid')}",
             f"--log-error={log}", f"--port={port}", "--skip-networking=0", "--bind-address=127.0.0.1",
             "--skip-name-resolve", "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
             "--transaction-isolation=READ-COMMITTED", "--max-connections=200",
             # A throwaway server: durability buys nothing, speed does.
             "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0", "--innodb-buffer-pool-size=256M",
             "--skip-log-bin", "--performance-schema=0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not _mariadb_ready(port):
            if process.poll() is not None:
                raise ServiceError(f"mariadbd exited with status {process.returncode}:\n{tail()}")
            if time.monotonic() > deadline:
                raise ServiceError(f"mariadbd did not accept connections on 127.0.0.1:{port} within 60s:\n{tail()}")
            time.sleep(0.1)
        _mariadb_setup(port)
        yield f"mysql://root@127.0.0.1:{port}/inbox"
    finally:
        if process is not None:
            stop_process(process, timeout=30)
        shutil.rmtree(root, ignore_errors=True)


SERVICES = {"postgres": ("PostgreSQL", postgres), "mariadb": ("MariaDB", mariadb)}


class RedisServer:
    """A throwaway redis-server on a loopback port; stop() and start() again on the same port."""

    def __init__(self, port: int | None = None) -> None:
        self.binary = _find_binary("redis-server", ["/usr/bin/redis-server", "/usr/local/bin/redis-server"])
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--protected-mode", "yes", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServiceError(f"redis-server exited: {self.process.stderr.read().decode() if self.process.stderr else ''}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise ServiceError("redis-server did not answer PING")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


@contextlib.contextmanager
def redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] not in SERVICES or argv[1] != "--":
        print(f"usage: python -m tests.services {{{'|'.join(SERVICES)}}} -- COMMAND ...", file=sys.stderr)
        return 2
    label, service = SERVICES[argv[0]]
    try:
        with service() as url:
            started = time.monotonic()
            print(f"{label} ready at {url}", flush=True)
            env = {**os.environ, "DATABASE_URL": url}
            code = subprocess.call(argv[2:], env=env)
            print(f"({label} pass took {time.monotonic() - started:.0f}s)", flush=True)
            return code
    except ServiceError as error:
        print(f"ERROR: could not start {label} for the test suite: {error}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
