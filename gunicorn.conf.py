"""gunicorn's settings for serving Trackly: `gunicorn -c gunicorn.conf.py` (`make serve` and
deploy/systemd/trackly-web.service run it).

From the environment:
- WEB_CONCURRENCY: worker processes; by default 2 per CPU this process may use, plus 1 (each
  sync worker spends much of a request waiting for the database).
- BIND: where to listen, `HOST:PORT` or `unix:/path/to.sock`, several separated by commas;
  127.0.0.1:8000 by default (a TLS proxy in front forwards to it).
- GUNICORN_PID_FILE: where the master writes its process id (none by default).

Graceful reload: `kill -HUP <master pid>` starts new workers with the code and settings on disk,
then lets the old ones finish the requests they have and stop; no request is dropped. The app is
not preloaded in the master for this reason: each new worker imports the code afresh.
"""

import os


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity mask, not the machine's total)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def workers_for(environ, cpus: int) -> int:
    """WEB_CONCURRENCY when set (a whole number of at least 1), else 2 * cpus + 1."""
    raw = environ.get("WEB_CONCURRENCY", "").strip()
    if not raw:
        return 2 * cpus + 1
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"WEB_CONCURRENCY must be a whole number of at least 1, not {raw!r}.")
    return int(raw)


wsgi_app = "trackly.wsgi:application"
proc_name = "trackly"
bind = [item.strip() for item in os.environ.get("BIND", "127.0.0.1:8000").split(",")]
bind = [item for item in bind if item]
workers = workers_for(os.environ, cpu_count())
worker_class = "sync"
pidfile = os.environ.get("GUNICORN_PID_FILE") or None
# HUP and TERM are the controls (see above); no control socket shared by every gunicorn of the
# user in ~/.gunicorn.
control_socket_disable = True

# A worker busy with one request for this long is killed and replaced. Long work runs as
# background jobs; the longest request left is an audience's CSV export, streamed by a sync
# worker that cannot report meanwhile (a million contacts take tens of seconds).
timeout = 120
# On HUP or TERM, how long a worker may finish the requests it has before it is killed.
graceful_timeout = 60
# Seconds a kept-alive connection from the proxy in front waits for its next request.
keepalive = 5
# Each worker is replaced after about this many requests, so a slow leak cannot grow for ever.
max_requests = 2000
max_requests_jitter = 200
# Workers' heartbeat files in memory, not on a disk that may stall (gunicorn makes them with
# mkstemp and unlinks them at once: a shared directory is safe).
SHM = "/dev/shm"  # noqa: S108
worker_tmp_dir = SHM if os.path.isdir(SHM) else None

# Requests and errors to stdout/stderr (journald under systemd), with the time each request took
# in milliseconds (%(M)s) and the client address a proxy passed on.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
access_log_format = '%({x-forwarded-for}i)s %(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
