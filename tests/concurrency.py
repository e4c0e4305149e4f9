"""Run calls at the same moment from several threads (PostgreSQL concurrency tests)."""

import threading

from django.db import connection


def run_concurrently(fn, calls: list[tuple]) -> list:
    """Call `fn(*args)` for each args tuple on its own thread, all released together by a barrier.

    Returns one outcome per call, in order: the return value, or the exception it raised. Each thread
    closes its own database connection. Use with `@pytest.mark.django_db(transaction=True)`.
    """
    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def run(index: int, args: tuple) -> None:
        try:
            barrier.wait(timeout=30)
            outcomes[index] = fn(*args)
        except Exception as exc:  # returned to the test, which asserts on it
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, args)) for i, args in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes
