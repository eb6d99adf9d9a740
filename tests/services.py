"""Start real servers for the test suite on free loopback ports, and always stop them.

    python -m tests.services postgres -- pytest ...

runs the command with ``DATABASE_URL`` pointing at a fresh PostgreSQL cluster
(initdb in a temporary directory) and exits with the command's status. If the
server cannot start, it exits non-zero with the reason: never a silent skip.
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


def _unprivileged() -> tuple[list[str], int | None, int | None]:
    """PostgreSQL refuses to run as root: run it as the 'postgres' user then."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        raise ServiceError("Running as root needs a 'postgres' system user (the postgresql package creates it).") from None
    return ["runuser", "-u", "postgres", "--"], user.pw_uid, user.pw_gid


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
    if len(argv) < 3 or argv[0] != "postgres" or argv[1] != "--":
        print("usage: python -m tests.services postgres -- COMMAND ...", file=sys.stderr)
        return 2
    try:
        with postgres() as url:
            started = time.monotonic()
            print(f"PostgreSQL ready at {url}", flush=True)
            env = {**os.environ, "DATABASE_URL": url}
            code = subprocess.call(argv[2:], env=env)
            print(f"(PostgreSQL pass took {time.monotonic() - started:.0f}s)", flush=True)
            return code
    except ServiceError as error:
        print(f"ERROR: could not start PostgreSQL for the test suite: {error}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
