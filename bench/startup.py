"""Start-up costs: loading the service catalog, and ``manage.py check`` (what gunicorn's
master runs before any worker starts, the encryption-key check included).

    .venv/bin/python bench/startup.py [--repeat 5]

Run against the bench database as the other benchmarks leave it.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import common

CATALOG = """
import time, django
django.setup()
from services_catalog import registry
times = []
for _ in range({repeat}):
    started = time.perf_counter()
    catalog = registry.load()
    times.append(time.perf_counter() - started)
print(len(catalog), min(times), sorted(times)[len(times) // 2])
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    common.header("start-up")
    out = subprocess.run([sys.executable, "-c", CATALOG.format(repeat=args.repeat)], cwd=common.ROOT, env=common.env(),
                         capture_output=True, text=True, check=True).stdout.split()
    print(f"catalog: {out[0]} services loaded by registry.load(): min {common.ms(float(out[1]))}, median {common.ms(float(out[2]))}")
    walls = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "manage.py", "check"], cwd=common.ROOT, env=common.env(), check=True, capture_output=True)
        walls.append(time.perf_counter() - started)
    print(f"manage.py check (whole process, settings.prod, PostgreSQL): min {min(walls):.2f} s, median {statistics.median(walls):.2f} s")
    print(f"load average after: {common.load_average()}")


if __name__ == "__main__":
    main()
