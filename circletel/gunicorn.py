"""gunicorn's access log without secret URL segments (loaded by `gunicorn.conf.py`).

The Pay Now Notify URL carries NETCASH_NOTIFY_TOKEN as its last segment (ADR 0010); gunicorn logs
the request line and path itself, outside Django's logging filters, so they are redacted here too.
"""

from gunicorn.glogging import Logger

from circletel.logging import redact_path


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "q", "f"):  # request line, path, query string, referer
            if isinstance(atoms.get(key), str):
                atoms[key] = redact_path(atoms[key])
        return atoms
