"""Brokers side by side: publish → received through Redis and through PostgreSQL, in one run.

    python -m bench.brokers [--write BENCHMARKS.md]

Starts a throwaway redis-server and PostgreSQL cluster (tests.services) on loopback ports. For
each broker, one instance subscribes (as a server process's streams do) and another publishes
(as a worker does), each on its own connections, in this process:

* delivery: one event to one subscriber, ``SAMPLES`` times one after another: p50 and p99 from
  just before ``publish()`` to the subscriber holding the event;
* broadcast: one publish of an event to each of ``BROADCAST_USERS`` recipients, each with a
  subscription of its own, all awaited on one asyncio loop (as the ASGI mount's streams are):
  from just before ``publish()`` to the last subscriber holding its event; median of ``RUNS``.

The in-process broker is the floor: the same subscriptions with no server in between. About 20 s.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone

SAMPLES = 200
WARMUP = 20
BROADCAST_USERS = 1000
RUNS = 5

#: A broker pair: (the one streams subscribe on, the one that publishes), and how to close them.
Pair = tuple[object, object, Callable[[], None]]


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest rank, in milliseconds."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(len(ordered) * fraction) - 1)] * 1000


def delivery(listening, speaking) -> list[float]:
    from inbox.events.base import Event

    samples = []
    with listening.subscribe(["auth.user:1"]) as subscription:
        assert subscription.ready.wait(10), "the subscription was never confirmed"
        for index in range(WARMUP + SAMPLES):
            event = Event(recipient="auth.user:1", new=(str(uuid.uuid4()),))
            started = time.perf_counter()
            speaking.publish([event])
            received: list = []
            deadline = started + 10
            while event not in received and time.perf_counter() < deadline:
                received += subscription.wait(1)
            if event not in received:
                raise RuntimeError("an event never arrived")
            if index >= WARMUP:
                samples.append(time.perf_counter() - started)
    return samples


async def _broadcast_once(subscriptions, speaking) -> float:
    from inbox.events.base import Event

    loop = asyncio.get_running_loop()
    events = [Event(recipient=f"auth.user:{n}", new=(str(uuid.uuid4()),)) for n in range(len(subscriptions))]
    arrivals = [asyncio.ensure_future(subscription.get()) for subscription in subscriptions]
    await asyncio.sleep(0)  # every reader is waiting before the publish
    started = time.perf_counter()
    await asyncio.gather(loop.run_in_executor(None, speaking.publish, events), *arrivals)
    return time.perf_counter() - started


def broadcast(listening, speaking) -> list[float]:
    subscriptions = [listening.subscribe([f"auth.user:{n}"]) for n in range(BROADCAST_USERS)]
    try:
        for subscription in subscriptions:
            assert subscription.ready.wait(10), "a subscription was never confirmed"
        asyncio.run(_broadcast_once(subscriptions, speaking))  # warm-up
        return [asyncio.run(_broadcast_once(subscriptions, speaking)) for _ in range(RUNS)]
    finally:
        for subscription in subscriptions:
            subscription.close()


@contextmanager
def in_process() -> Iterator[Pair]:
    from inbox.events.inprocess import InProcessBroker

    broker = InProcessBroker()
    yield broker, broker, lambda: None


@contextmanager
def redis() -> Iterator[Pair]:
    from inbox.events.redis import RedisBroker
    from tests.services import redis as redis_server

    with redis_server() as server:
        prefix = f"bench-{uuid.uuid4().hex[:8]}:"
        yield RedisBroker(url=server.url, prefix=prefix), RedisBroker(url=server.url, prefix=prefix), lambda: None


@contextmanager
def postgres() -> Iterator[Pair]:
    from inbox.events.postgres import PostgresBroker
    from tests.services import postgres as postgres_server

    with postgres_server() as url:
        listening = PostgresBroker(conninfo=url, channel="bench_brokers")
        speaking = PostgresBroker(conninfo=url, channel="bench_brokers")

        def close() -> None:
            listening.close()
            speaking.close()

        yield listening, speaking, close


BROKERS = {"in-process (floor)": in_process, "Redis": redis, "PostgreSQL LISTEN/NOTIFY": postgres}


def run() -> dict[str, dict[str, float]]:
    results = {}
    for name, make in BROKERS.items():
        with ExitStack() as stack:
            listening, speaking, close = stack.enter_context(make())
            stack.callback(close)
            latencies = delivery(listening, speaking)
            fanout = broadcast(listening, speaking)
        results[name] = {"p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99),
                         "broadcast": statistics.median(fanout) * 1000,
                         "broadcast_max": max(fanout) * 1000}
        print(f"{name}: {results[name]}", file=sys.stderr, flush=True)
    return results


def report(results: dict[str, dict[str, float]]) -> str:
    lines = [
        "### Brokers: publish → received",
        "",
        f"`python -m bench.brokers`, {datetime.now(timezone.utc):%Y-%m-%d}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs. Servers on loopback; publisher and subscriber are separate broker instances "
        f"(separate connections) in one process. Delivery: one event, {SAMPLES} samples after {WARMUP} warm-up. "
        f"Broadcast: one publish of {BROADCAST_USERS:,} events, one per recipient, each recipient with its own "
        f"subscription awaited on one asyncio loop, until the last has its event: median (max) of {RUNS} runs.",
        "",
        "| broker | delivery p50 | delivery p99 | broadcast to 1,000 subscribers |",
        "|---|---:|---:|---:|",
    ]
    for name, row in results.items():
        lines.append(f"| {name} | {row['p50']:.3f} ms | {row['p99']:.3f} ms | "
                     f"{row['broadcast']:.1f} ms ({row['broadcast_max']:.1f}) |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", metavar="BENCHMARKS.md", help="replace the <!-- brokers --> section of this file")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    text = report(run())
    print(text)
    if args.write:
        from bench.report import replace_section

        replace_section(args.write, "brokers", text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
