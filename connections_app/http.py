"""The single outbound HTTP client: every request to an external service goes through here.

What it guarantees, and why:

- the URL's host must be in the service's ``allowed_hosts`` before any byte is sent;
- the address actually connected to is checked (private, loopback, link-local, metadata,
  CGNAT, multicast, IPv4-mapped and NAT64 forms) inside the connection itself, so there is
  no window between the check and the connect for DNS rebinding;
- a total deadline as well as connect/read timeouts, so a slow-drip upstream is cut off;
- a cap on the decoded body size, so a gzip bomb is cut off;
- redirects are followed by hand: credentials are re-applied only on the same origin, a
  307/308 body is never re-sent to another host, and every hop is checked again;
- proxies from the environment and ``.netrc`` are ignored, and no cookie is kept between
  calls (requests go straight to the adapter, never through a ``requests.Session``);
- one pooled adapter per process, so repeated calls to a host reuse the TCP connection.
"""

from __future__ import annotations

import functools
import heapq
import ipaddress
import itertools
import os
import re
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

from services_catalog.fields import DEFAULT_PORTS, HOST_ENTRY_RE, host_matches

from .errors import HostNotAllowed, UpstreamError, UpstreamTimeout, ValidationFailed

MAX_REDIRECTS = 5
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_BACKOFF_SECONDS = 30.0
_UNSAFE_URL_CHARS = re.compile(r"[\x00-\x20\\]")  # controls, space and backslash
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
# Ranges of IANA's special-purpose registries that Python's ``is_global`` still calls
# global (or that were deprecated after the table it follows was written).
_NOT_GLOBAL = tuple(ipaddress.ip_network(n) for n in (
    "fec0::/10",        # site-local (deprecated by RFC 3879, still routed inside sites)
    "3fff::/20",        # documentation (RFC 9637)
    "5f00::/16",        # SRv6 SIDs (RFC 9602)
    "2001::/23",        # IETF protocol assignments
    "2001:db8::/32",    # documentation
    "100::/64",         # discard-only
    "ff00::/8",         # multicast
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
))


class BlockedAddress(OSError):
    """Raised inside a connection attempt to an address that is not allowed."""


def is_blocked_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Return True for any address that is not a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return is_blocked_address(ip.ipv4_mapped)
        if ip in _NAT64:
            return is_blocked_address(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip in _NAT64_LOCAL:
            return True
        if ip.sixtofour is not None:
            return is_blocked_address(ip.sixtofour)
        if ip.teredo is not None:
            return True
    if any(ip.version == net.version and ip in net for net in _NOT_GLOBAL):
        return True
    return not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified


def _private_networks_allowed() -> bool:
    return bool(settings.CONNECTIONS_ALLOW_PRIVATE_NETWORKS)


class _GuardedConnectionMixin:
    """Resolve, check and connect to the checked address, all in one step."""

    def _new_conn(self) -> socket.socket:  # noqa: D401 - urllib3 hook
        host, port = self._dns_host, self.port
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise urllib3.exceptions.NameResolutionError(host, self, exc) from None
        allow_private = _private_networks_allowed()
        last_error: OSError | None = None
        for family, socktype, proto, _canon, sockaddr in infos:
            ip = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
            if not allow_private and is_blocked_address(ip):
                last_error = BlockedAddress(f"{host} resolves to a private or reserved address")
                continue
            sock = socket.socket(family, socktype, proto)
            watch = current_watchdog()
            try:
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                timeout = self.timeout if isinstance(self.timeout, (int, float)) else None
                if watch is not None:  # connect and the TLS handshake count against the deadline too
                    watch.sock = sock
                    timeout = max(0.001, min(timeout or watch.remaining(), watch.remaining()))
                sock.settimeout(timeout)
                sock.connect(sockaddr)
                return sock
            except OSError as exc:
                sock.close()
                last_error = exc
        if isinstance(last_error, BlockedAddress):
            raise last_error
        if isinstance(last_error, socket.timeout):
            raise urllib3.exceptions.ConnectTimeoutError(self, f"Connection to {host} timed out")
        raise urllib3.exceptions.NewConnectionError(self, f"Failed to connect to {host}: {last_error}")

    def request(self, *args, **kwargs):
        # Let the deadline watchdog of the current call find the socket in use.
        watch = current_watchdog()
        if watch is not None:
            watch.connection = self
        return super().request(*args, **kwargs)


class GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}
        self.poolmanager.key_fn_by_scheme = dict(self.poolmanager.key_fn_by_scheme)


_local = threading.local()


def current_watchdog() -> "_Watchdog | None":
    stack = getattr(_local, "watchdogs", None)
    return stack[-1] if stack else None


class _Watchdog:
    """Cut the connection in use when the total deadline passes: connect, TLS handshake,
    headers and the whole body alike (stops slow-drip answers at any stage).

    Watchdogs nest: a call made while another runs (a token refresh inside an invoke) is
    watched by its own deadline, and the outer one never cuts the inner call's socket.
    """

    def __init__(self, seconds: float):
        self.connection = None
        self.sock = None
        self.fired = False
        self.done = False
        self.deadline = time.monotonic() + max(0.0, seconds)

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def fire(self) -> None:
        if self.done:  # finished while the watcher was getting to it
            return
        self.fired = True
        for sock in (getattr(self.connection, "sock", None), self.sock):
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def __enter__(self) -> "_Watchdog":
        if getattr(_local, "watchdogs", None) is None:
            _local.watchdogs = []
        _local.watchdogs.append(self)
        _deadlines.watch(self)
        return self

    def __exit__(self, *exc) -> None:
        self.done = True
        self.connection = self.sock = None
        if self in _local.watchdogs:
            _local.watchdogs.remove(self)


def deadline(seconds: float) -> _Watchdog:
    """One overall deadline for the outbound calls made inside the ``with`` block."""
    return _Watchdog(seconds)


class _DeadlineWatcher:
    """One thread per process fires the watchdogs whose deadline has passed.

    (A ``threading.Timer`` per call would start and stop a thread per invoke.) Finished
    watchdogs are skipped when they reach the top of the heap, and swept out in bulk once
    the heap holds more than 10,000.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Watchdog]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, watchdog: _Watchdog) -> None:
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="invoke-deadlines", daemon=True)
                self._thread.start()
            if len(self._heap) > 10_000:
                self._heap = [entry for entry in self._heap if not entry[2].done]
                heapq.heapify(self._heap)
            heapq.heappush(self._heap, (watchdog.deadline, next(self._order), watchdog))
            if self._heap[0][2] is watchdog:  # earlier than what the thread waits for
                self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)[2].fire()

    def after_fork(self) -> None:  # the child has the heap but not the thread
        self.__init__()


_deadlines = _DeadlineWatcher()
os.register_at_fork(after_in_child=_deadlines.after_fork)


USER_AGENT = "Connections/1.0"
_adapter: tuple[int, GuardedAdapter] | None = None
_adapter_lock = threading.Lock()


def shared_adapter() -> GuardedAdapter:
    """This process's guarded adapter: its urllib3 pools are thread-safe and keep TCP
    connections to each host alive across calls (a forked child makes its own).

    Requests go straight to the adapter, not through a ``requests.Session``: a session
    keeps a cookie jar, and an upstream's cookie set for one connection would ride along on
    the next call to that host from any connection or organisation.
    """
    global _adapter  # noqa: PLW0603 - one per process
    if _adapter is None or _adapter[0] != os.getpid():
        with _adapter_lock:
            if _adapter is None or _adapter[0] != os.getpid():
                _adapter = (os.getpid(), GuardedAdapter(pool_connections=64, pool_maxsize=32, max_retries=0))
    return _adapter[1]


def _default_headers() -> requests.structures.CaseInsensitiveDict:
    headers = requests.utils.default_headers()  # Accept, Accept-Encoding, Connection
    headers["User-Agent"] = USER_AGENT
    return headers


@dataclass
class OutboundRequest:
    method: str
    url: str
    params: dict | list | None = None
    headers: dict | None = None
    json: object = None
    form: dict | None = None
    body: bytes | None = None


@dataclass
class UpstreamResponse:
    status_code: int
    headers: dict[str, str]
    content: bytes
    elapsed_ms: int
    url: str  # the URL as sent, without injected credentials

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


@dataclass(frozen=True)
class Destination:
    """Where a service's credentials may go: a host pattern reached with one scheme and port."""

    scheme: str
    pattern: str
    port: int

    @classmethod
    @functools.lru_cache(maxsize=4096)  # every invoke reads its service's entries three times
    def parse(cls, entry: str) -> "Destination":
        """``host`` (https on 443) or ``scheme://host[:port]`` (see services_catalog.schema)."""
        match = HOST_ENTRY_RE.match(entry.strip().lower())
        if match is None:
            return cls("https", entry.strip().lower(), 443)
        scheme = match.group("scheme") or "https"
        return cls(scheme, match.group("host"), int(match.group("port") or DEFAULT_PORTS[scheme]))

    def __str__(self) -> str:
        return f"{self.scheme}://{self.pattern}" + ("" if DEFAULT_PORTS[self.scheme] == self.port else f":{self.port}")


def origin_entry(url: str) -> str:
    """The allowed-host entry naming exactly ``url``'s scheme, host and port."""
    scheme, host, port = _origin(url)
    return f"{scheme}://{host}:{port}"


def service_destinations(service) -> tuple[str, ...]:
    """The allowed-host entries of ``service``, plus its ``base_url``'s own scheme and port
    (the admin wrote them there) when an entry allows that host."""
    entries = tuple(service.allowed_hosts)
    base_url = getattr(service, "base_url", None)
    if base_url:
        try:
            base = origin_entry(base_url)
        except ValueError:
            return entries
        if host_matches(host_of(base_url), tuple(Destination.parse(e).pattern for e in entries)):
            entries += (base,)
    return entries


def check_url(url: str, allowed_hosts: Iterable[str]) -> str:
    """Return the host of ``url`` after checking scheme, shape, port and the allow-list.

    Each allowed entry names a scheme and a port (a bare host: https on 443), so a call is
    never downgraded to plain http nor sent to another port than the service names.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValidationFailed.field("url", "Not a valid URL.") from None
    if parts.scheme not in ("http", "https"):
        raise ValidationFailed.field("url", "Only http and https URLs can be invoked.")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise HostNotAllowed("URLs with a user name or password are not allowed.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValidationFailed.field("url", "The URL has no host.")
    if _UNSAFE_URL_CHARS.search(url):
        raise ValidationFailed.field("url", "The URL contains characters that are not allowed.")
    destinations = [Destination.parse(entry) for entry in allowed_hosts]
    matching = [d for d in destinations if host_matches(host, (d.pattern,))]
    if not matching:
        raise HostNotAllowed(f"The host {host} is not in this service's allowed hosts.")
    port = port or DEFAULT_PORTS[parts.scheme]
    if not any((d.scheme, d.port) == (parts.scheme, port) for d in matching):
        named = ", ".join(sorted({str(d) for d in matching}))
        if parts.scheme == "http" and any(d.scheme == "https" for d in matching):
            raise HostNotAllowed(f"Refused to send over plain http: this service reaches {host} only as {named}.")
        raise HostNotAllowed(f"Refused {parts.scheme}://{host}:{port}: this service reaches {host} only as {named}.")
    if port not in (80, 443) and not _private_networks_allowed():
        raise HostNotAllowed(f"Port {port} is not allowed.")  # only web ports on public networks
    if not _private_networks_allowed():
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None and is_blocked_address(literal):
            raise HostNotAllowed("Private, loopback and link-local addresses are not allowed.")
    return host.lower()


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


def same_origin(a: str, b: str) -> bool:
    return _origin(a) == _origin(b)


_RETRY_AFTER = Retry(0)


def _retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` in seconds (delta or HTTP date, parsed by urllib3), or None."""
    if not value:
        return None
    try:
        return _RETRY_AFTER.parse_retry_after(value)
    except InvalidHeader:
        return None


def send(
    request: OutboundRequest,
    *,
    allowed_hosts: Iterable[str],
    auth: requests.auth.AuthBase | None,
    timeout: float,
    retries: int = 0,
    max_bytes: int | None = None,
    on_response: Callable[[requests.Response], bool] | None = None,
) -> UpstreamResponse:
    """Send ``request`` with ``auth`` applied; return the upstream answer.

    ``on_response`` may inspect a final response and return True to ask for one more try
    (OAuth2 uses it to refresh after a 401); it is called at most once.
    """
    allowed_hosts = tuple(allowed_hosts)
    check_url(request.url, allowed_hosts)
    max_bytes = max_bytes or settings.CONNECTIONS_INVOKE_MAX_BODY_BYTES
    deadline = time.monotonic() + timeout
    with _Watchdog(timeout) as watchdog:
        try:
            answer = _send_with_retries(request, allowed_hosts, auth, deadline, timeout, retries, max_bytes, on_response)
            if watchdog.fired:  # cut mid-answer (headers end at EOF): what was read is not the answer
                raise UpstreamTimeout()
            return answer
        except (UpstreamError, HostNotAllowed) as exc:
            if watchdog.fired and not isinstance(exc, HostNotAllowed):
                raise UpstreamTimeout() from None
            raise


def _send_with_retries(request, allowed_hosts, auth, deadline, timeout, retries, max_bytes, on_response):
    attempt = 0
    retried_for_auth = False
    while True:
        response, sent_url = _send_following_redirects(request, allowed_hosts, auth, deadline)
        try:
            if on_response is not None and not retried_for_auth and on_response(response):
                retried_for_auth = True
                response.close()
                continue
            if response.status_code in RETRY_STATUSES and attempt < retries:
                wait = _retry_after_seconds(response.headers.get("Retry-After"))
                if wait is None:
                    wait = min(MAX_BACKOFF_SECONDS, 0.2 * (2**attempt))
                if time.monotonic() + wait < deadline:
                    attempt += 1
                    response.close()
                    time.sleep(wait)
                    continue
            content = read_capped(response, max_bytes, deadline)
            elapsed_ms = int((time.monotonic() - (deadline - timeout)) * 1000)
            return UpstreamResponse(
                status_code=response.status_code,
                headers={k.lower(): v for k, v in response.headers.items()},
                content=content,
                elapsed_ms=elapsed_ms,
                url=sent_url,
            )
        finally:
            response.close()


def public_url(request: OutboundRequest) -> str:
    """The URL with the caller's own query parameters, before any credential is injected."""
    prepared = requests.PreparedRequest()
    try:
        prepared.prepare_url(request.url, request.params)
    except requests.exceptions.RequestException:
        return request.url
    return prepared.url


def _send_following_redirects(request, allowed_hosts, auth, deadline) -> tuple[requests.Response, str]:
    """The last response, and the first request's URL as sent before any credential was
    applied (what the invoke reports and logs: ``public_url``, without preparing twice)."""
    url, method = request.url, request.method.upper()
    sent_url = None
    headers = dict(request.headers or {})
    json_body, form, body = request.json, request.form, request.body
    params = request.params
    first_origin = _origin(url)
    for _hop in range(MAX_REDIRECTS + 1):
        same_origin = _origin(url) == first_origin
        response, public = _send_once(
            method, url, params=params, headers=headers, json=json_body, form=form, body=body,
            auth=auth if same_origin else None, deadline=deadline,
        )
        sent_url = sent_url or public
        location = response.headers.get("Location")
        if response.status_code not in (301, 302, 303, 307, 308) or not location:
            return response, sent_url
        next_url = urljoin(response.url, location)
        try:
            check_url(next_url, allowed_hosts)
        except (HostNotAllowed, ValidationFailed):
            return response, sent_url  # hand the redirect back rather than follow it off the allow-list
        next_same_origin = _origin(next_url) == first_origin
        if response.status_code in (307, 308):
            if not next_same_origin and (json_body is not None or form or body):
                return response, sent_url  # never re-send a body to another host
        else:
            if method != "HEAD":
                method = "GET"
            json_body = form = body = None
        if not next_same_origin:
            # The caller's own headers may carry secrets too (cookies, tokens): drop them all.
            headers = {k: v for k, v in headers.items() if k.lower() in ("accept", "accept-language", "user-agent")}
        response.close()
        url, params = next_url, None
    return response, sent_url


def _send_once(method, url, *, params, headers, json, form, body, auth, deadline) -> tuple[requests.Response, str]:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise UpstreamTimeout()
    data = form if form is not None else body
    all_headers = _default_headers()
    all_headers.update(headers or {})
    try:
        prepared = requests.Request(method, url, params=params, headers=all_headers, json=json, data=data).prepare()
        public = prepared.url  # before the credentials: they may go into the query
        if auth is not None:
            prepared.prepare_auth(auth)
        sent = shared_adapter().send(prepared, stream=True, timeout=(min(10.0, remaining), remaining), verify=True)
        return sent, public
    except BlockedAddress:
        raise HostNotAllowed("The host resolves to a private, loopback or link-local address.") from None
    except requests.exceptions.ConnectionError as exc:
        if _caused_by(exc, BlockedAddress):
            raise HostNotAllowed("The host resolves to a private, loopback or link-local address.") from None
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            # (urllib3's NewConnectionError subclasses ConnectTimeoutError; requests tells them apart.)
            raise UpstreamTimeout() from None
        if isinstance(exc, requests.exceptions.SSLError):
            raise UpstreamError("TLS handshake with the external service failed.") from None
        raise UpstreamError() from None
    except requests.exceptions.Timeout:
        raise UpstreamTimeout() from None
    except requests.exceptions.RequestException:
        raise UpstreamError() from None


def _caused_by(exc: BaseException, kind: type) -> bool:
    seen = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen or current is None:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return True
        stack.extend([current.__cause__, current.__context__, *[a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]])
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)
    return False


def read_capped(response: requests.Response, max_bytes: int, deadline: float) -> bytes:
    """Read the decoded body, stopping at the size cap or the deadline."""
    chunks = []
    total = 0
    try:
        for chunk in response.iter_content(chunk_size=64 * 1024):
            total += len(chunk)
            if total > max_bytes:
                raise UpstreamError(f"The response is larger than {max_bytes} bytes.")
            if time.monotonic() > deadline:
                raise UpstreamTimeout()
            chunks.append(chunk)
    except requests.exceptions.ConnectionError as exc:
        if _caused_by(exc, urllib3.exceptions.ReadTimeoutError):
            raise UpstreamTimeout() from None
        raise UpstreamError("The connection broke while reading the response.") from None
    except requests.exceptions.Timeout:
        raise UpstreamTimeout() from None
    except requests.exceptions.RequestException:
        raise UpstreamError("The response could not be read.") from None
    return b"".join(chunks)
