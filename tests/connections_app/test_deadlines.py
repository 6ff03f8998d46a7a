"""The invoke deadline watcher (connections_app/http.py): one thread fires every call's watchdog."""

import threading
import time

from connections_app import http


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_a_short_deadline_added_after_a_long_one_still_fires_on_time():
    long, short = http._Watchdog(60), http._Watchdog(0.05)
    with long:
        started = time.monotonic()
        with short:
            wait_until(lambda: short.fired)
        assert time.monotonic() - started < 2 and not long.fired


def test_a_finished_call_is_never_fired_and_calls_do_not_start_threads():
    http._Watchdog(0).__enter__().__exit__()  # the watcher thread exists from here on
    threads = threading.active_count()
    finished = []
    for _ in range(200):
        with http._Watchdog(0.02) as watchdog:
            pass
        finished.append(watchdog)
    assert threading.active_count() == threads
    time.sleep(0.1)
    assert not any(w.fired for w in finished)
