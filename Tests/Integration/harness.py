"""Process and HTTP helpers for the gateway's integration tests (loopback only).

Every server is started on 127.0.0.1 with a free port, its output captured to a log file in
the run's work directory, and stopped (SIGTERM, then SIGKILL) when the run ends.
"""
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """A server process whose output goes to `log`; `wait_for(text)` polls the log."""

    running = []

    def __init__(self, name, argv, workdir, env=None):
        self.name = name
        self.log_path = os.path.join(workdir, name + ".log")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env={**os.environ, **(env or {})}, start_new_session=True)
        Process.running.append(self)

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_for(self, text, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in self.output():
                return
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited (%s) before printing %r:\n%s" % (self.name, self.proc.returncode, text, self.output()[-3000:]))
            time.sleep(0.05)
        raise RuntimeError("%s did not print %r within %d s:\n%s" % (self.name, text, timeout, self.output()[-3000:]))

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout)
        self.log.close()
        if self in Process.running:
            Process.running.remove(self)

    @classmethod
    def stop_all(cls):
        for p in list(cls.running):
            p.stop()


def wait_http(url, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError("%s not answering after %d s" % (url, timeout))


def request(url, body=None, key=None, method=None, raw=None, timeout=60):
    """(status, parsed JSON or None, headers) of one HTTP call."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method or ("POST" if data is not None else "GET"))
    req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Authorization", "Bearer " + key)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            payload = r.read()
            status, headers = r.status, dict(r.headers)
    except urllib.error.HTTPError as e:
        payload = e.read()
        status, headers = e.code, dict(e.headers)
    try:
        parsed = json.loads(payload)
    except Exception:
        parsed = None
    return status, parsed, headers


class Results:
    """Counts checks and prints one line per check."""

    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print("PASS: %s%s" % (name, (" (" + detail + ")") if detail else ""), flush=True)
        else:
            self.failed += 1
            print("FAIL: %s%s" % (name, (" (" + detail + ")") if detail else ""), flush=True)
        return ok

    def skip(self, name, why):
        self.skipped += 1
        print("SKIP: %s: %s" % (name, why), flush=True)
