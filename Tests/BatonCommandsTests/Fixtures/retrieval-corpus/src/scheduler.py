"""A tiny cron-like job scheduler used by Quill's maintenance worker.

Jobs are registered with a cron expression and run in a thread pool. A job that is
still running when its next run is due is skipped, not started twice.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from croniter import croniter


class Scheduler:
    def __init__(self, workers=4):
        self._jobs = {}
        self._running = set()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers)

    def every(self, name, cron_expression, function):
        """Registers `function` to run on the cron schedule `cron_expression`."""
        self._jobs[name] = (croniter(cron_expression, datetime.utcnow()), function)

    def tick(self, now=None):
        """Starts every job that is due at `now`, skipping the ones still running."""
        now = now or datetime.utcnow()
        for name, (schedule, function) in self._jobs.items():
            if schedule.get_current(datetime) > now:
                continue
            schedule.get_next(datetime)
            with self._lock:
                if name in self._running:
                    continue  # overlapping run: skip this one
                self._running.add(name)
            self._pool.submit(self._run, name, function)

    def _run(self, name, function):
        try:
            function()
        finally:
            with self._lock:
                self._running.discard(name)
