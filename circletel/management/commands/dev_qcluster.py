"""Development only (Procfile.dev): django-q2's `qcluster`, stopping at once on SIGTERM or SIGINT.

honcho stops a Procfile process by sending SIGTERM to its whole process group: the cluster's parent,
its sentinel, pusher, monitor and workers all get it together. The sentinel and its children die at once
(django-q2 leaves SIGTERM at its default there), while the parent, in django-q2's own signal handler,
waits forever for a lock a dead child held (seen with django-q2 1.11: the parents stayed until SIGKILL).
Here the handler only sets a flag; the main loop then asks a surviving sentinel to stop (django-q2's
graceful stop, bounded to a few seconds) and leaves without waiting on its children.
Production runs plain `manage.py qcluster` (Procfile), stopped by its own supervisor.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

from django.core.management.base import BaseCommand

GRACE_SECONDS = 3.0


class Command(BaseCommand):
    help = ("Development only (Procfile.dev): run a django-q2 cluster (Q_CLUSTER_NAME picks it) that stops "
            "within seconds on SIGTERM/SIGINT. Production uses `manage.py qcluster`.")

    def handle(self, *args, **options):
        from django_q.cluster import Cluster

        stop = threading.Event()
        cluster = Cluster()  # installs django-q2's handlers: replaced just below

        def on_signal(signum, frame):
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        try:
            cluster.start()
        except RuntimeError:
            if not stop.is_set():
                raise
            self._leave(0)  # stopped while starting: the sentinel went with the signal
        while not stop.is_set() and cluster.sentinel.is_alive():
            time.sleep(0.2)
        if cluster.sentinel.is_alive():
            # Only this process was signalled (e.g. `kill <pid>`): django-q2's graceful stop, bounded.
            stopper = threading.Thread(target=cluster.stop, daemon=True)
            stopper.start()
            stopper.join(GRACE_SECONDS)
            if cluster.sentinel.is_alive():
                cluster.sentinel.kill()
        self._leave(0 if stop.is_set() else 1)

    def _leave(self, code: int):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # not the multiprocessing exit hook: it would join children a signal already ended
