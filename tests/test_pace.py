"""Stripe's pace (membership/pace.py): one schedule shared by every process, readers ahead of background work."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
from flask import Flask

from membership.pace import Pace, PaceTimeout, Priority, background, current_priority
from tests.support.helpers import FakeClock

ROOT = Path(__file__).resolve().parents[1]


def test_background_work_runs_strictly_on_schedule() -> None:
    clock = FakeClock()
    pace = Pace(10, clock=clock, sleep=clock.sleep)
    assert pace.try_take(Priority.BACKGROUND) == 0
    assert pace.try_take(Priority.BACKGROUND) == pytest.approx(0.1)
    clock.sleep(0.1)
    assert pace.try_take(Priority.BACKGROUND) == 0
    # Taking turns back to back, a second holds 10 of them (plus the one at its start).
    start = clock.now
    taken = 0
    while clock.now < start + 1:
        pace.take(Priority.BACKGROUND)
        taken += 1
    assert taken in (10, 11)


def test_a_reader_goes_first_while_background_work_waits() -> None:
    clock = FakeClock()
    pace = Pace(10, reserve=2, clock=clock, sleep=clock.sleep)
    pace.try_take(Priority.BACKGROUND)
    assert pace.try_take(Priority.BACKGROUND) > 0  # the workers' budget is used up for now...
    # ...but a reader's call goes at once, up to the reserve, and pushes the workers further back.
    assert pace.try_take(Priority.INTERACTIVE) == 0
    assert pace.try_take(Priority.INTERACTIVE) == 0
    assert pace.try_take(Priority.INTERACTIVE) > 0
    assert pace.try_take(Priority.BACKGROUND) == pytest.approx(0.3)
    # Readers still waiting get each freed turn before background work does.
    clock.sleep(pace.try_take(Priority.INTERACTIVE))
    assert pace.try_take(Priority.BACKGROUND) > 0
    assert pace.try_take(Priority.INTERACTIVE) == 0


def test_no_turn_within_the_wait_is_a_timeout() -> None:
    clock = FakeClock()
    pace = Pace(0.001, reserve=0, clock=clock, sleep=clock.sleep)  # one turn in 1000 s
    pace.take(Priority.BACKGROUND)
    with pytest.raises(PaceTimeout):
        pace.take(Priority.INTERACTIVE)


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="above 0"):
        Pace(0)


def test_calls_serving_a_request_are_interactive_unless_marked_background(app: Flask) -> None:
    # A worker or a command: a thread of its own, with no request (a fresh thread starts with an empty context,
    # whatever an earlier test in this process left in the test runner's).
    outside: list[Priority] = []
    thread = threading.Thread(target=lambda: outside.append(current_priority()))
    thread.start()
    thread.join()
    assert outside == [Priority.BACKGROUND]
    with app.test_request_context("/give"):
        assert current_priority() is Priority.INTERACTIVE
        with background():
            assert current_priority() is Priority.BACKGROUND
        assert current_priority() is Priority.INTERACTIVE


# Real separate processes sharing one schedule in Redis ----------------------------------------------------

HAMMER = """
import json, sys, time
import redis
from membership.pace import Pace, Priority
url, key, rate, priority, seconds = sys.argv[1:6]
client = redis.Redis.from_url(url)
pace = Pace(float(rate), redis_client=lambda: client, key=lambda: key)
client.ping()
print("ready", flush=True)
sys.stdin.readline()  # the go, given to every process at once
stop = time.time() + float(seconds)
times = []
while time.time() < stop:
    pace.take(Priority(priority))
    times.append(time.time())
print(json.dumps(times), flush=True)
"""


def _hammer_together(url: str, key: str, rate: int, priorities: list[Priority], seconds: float) -> list[list[float]]:
    """Each process takes turns as fast as it is given them, for `seconds` from the same moment (once all are
    started: on a loaded machine an interpreter can take seconds to start)."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", HAMMER, url, key, str(rate), priority.value, str(seconds)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for priority in priorities
    ]
    try:
        for process in processes:
            assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        outputs = [process.communicate(timeout=120)[0] for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert all(process.returncode == 0 for process in processes)
    return [json.loads(output) for output in outputs]


def _busiest_second(times: list[float]) -> int:
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t < start + 1) for i, start in enumerate(times))


def test_two_processes_together_never_exceed_the_rate(queue: redis.Redis, app: Flask) -> None:
    rate, seconds = 20, 3.0
    key = f"{app.config['STRIPE_PACE_KEY']}-{time.time_ns()}"
    first, second = _hammer_together(app.config["REDIS_URL"], key, rate, [Priority.BACKGROUND] * 2, seconds)
    both = first + second
    # Both took turns: the schedule is shared, not split or held by one.
    assert len(first) >= 5 and len(second) >= 5
    # Unpaced they would take thousands; paced, about rate * seconds (+1 at the start). Generous slack for a
    # loaded machine: the times are read after each turn, so a late read can only bunch them up.
    assert len(both) <= rate * seconds + 3
    assert _busiest_second(both) <= rate + 5
    queue.delete(key)


def test_across_processes_a_readers_calls_go_before_background_work(queue: redis.Redis, app: Flask) -> None:
    rate, seconds = 20, 3.0
    key = f"{app.config['STRIPE_PACE_KEY']}-{time.time_ns()}"
    worker, reader = _hammer_together(app.config["REDIS_URL"], key, rate,
                                      [Priority.BACKGROUND, Priority.INTERACTIVE], seconds)
    # While the reader asks for turns non-stop, background work gets almost none (only when the reader's process
    # is between calls), and the two together still keep to the rate plus the readers' reserve.
    worker_meanwhile = [t for t in worker if reader[0] <= t <= reader[-1]]
    assert len(reader) >= 10 and len(worker_meanwhile) <= len(reader) / 5
    assert len(worker + reader) <= rate * seconds + 4 + 3
    queue.delete(key)
