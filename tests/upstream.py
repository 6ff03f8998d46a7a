"""A small upstream API for invoke tests, beside httpbin: it checks credentials without
echoing them, counts what it receives, fails on demand and serves a gzip bomb.

Served by waitress (a production WSGI server with HTTP/1.1 keep-alive) on loopback.
"""

from __future__ import annotations

import gzip
import threading
from collections import Counter, defaultdict

from flask import Flask, Response, jsonify, request


class Upstream:
    def __init__(self, secret: str = "upstream-secret-0001"):
        self.secret = secret
        self.counts: Counter = Counter()
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._flaky = defaultdict(int)
        self.app = self._build()

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()
            self.requests.clear()
            self._flaky.clear()

    def _record(self) -> None:
        with self._lock:
            self.counts[request.path] += 1
            self.requests.append({
                "path": request.path, "host": request.host, "headers": dict(request.headers),
                "args": request.args.to_dict(), "form": request.form.to_dict(), "method": request.method,
            })

    def _build(self) -> Flask:
        app = Flask("upstream")

        @app.before_request
        def record():
            self._record()

        @app.route("/protected/header/<name>", methods=["GET", "POST"])
        def protected_header(name):
            return self._verdict(request.headers.get(name))

        @app.route("/protected/query/<name>", methods=["GET", "POST"])
        def protected_query(name):
            return self._verdict(request.args.get(name))

        @app.route("/protected/form/<name>", methods=["POST", "PUT"])
        def protected_form(name):
            return self._verdict(request.form.get(name))

        @app.route("/flaky/<key>")
        def flaky(key):
            # Fail `fail` times with `status` (and Retry-After when asked), then succeed.
            fail = int(request.args.get("fail", "2"))
            status = int(request.args.get("status", "503"))
            with self._lock:
                self._flaky[key] += 1
                attempt = self._flaky[key]
            if attempt <= fail:
                headers = {"Retry-After": request.args["retry_after"]} if "retry_after" in request.args else {}
                return Response("try again", status=status, headers=headers)
            return jsonify({"attempt": attempt})

        @app.route("/gzip-bomb")
        def gzip_bomb():
            size = int(request.args.get("mib", "20")) * 1024 * 1024
            body = gzip.compress(b"\0" * size)
            return Response(body, headers={"Content-Encoding": "gzip", "Content-Type": "application/octet-stream"})

        @app.route("/echo-secret")
        def echo_secret():
            # A careless API that reflects the caller's credential back in its body and headers.
            value = request.headers.get("X-Api-Key", "")
            return Response(f'{{"you_sent": "{value}"}}', headers={"Content-Type": "application/json", "X-Echo": value})

        @app.route("/binary")
        def binary():
            return Response(bytes(range(256)), headers={"Content-Type": "application/octet-stream"})

        @app.route("/anything", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
        def anything():
            return jsonify({"ok": True})

        return app

    def _verdict(self, value):
        if value == self.secret:
            return jsonify({"ok": True})
        return jsonify({"ok": False}), 401
