"""
An in-memory Distinct that answers the delete-user contract, with no HTTP.

``FakeDistinct.handle`` is the one implementation of the contract in the
project's reference; ``FakeDistinctServer`` serves it over a socket and
``use_responses`` plugs it into the ``responses`` library.  All state sits
behind one lock, so a threaded server and concurrent tests may share a fake.

The reference leaves some things open.  The double decides them so:

- Routing comes first: a path other than the delete path answers 404 and
  another method on it 405, before any key is looked at.  The path must match
  exactly (a trailing slash is a 404); a query string is ignored.
- Checks run in this order: API key missing or unknown (401), key expired
  (403), caller's IP not allowed for the key (403), key without delete scope
  (HTTP 400, body 500), body not a JSON object (400, "Request body must be a
  JSON object."), ``id`` missing, blank or not a string, then neither
  ``email`` nor ``phone`` present, then the email's format, then the phone's.
  A key in the body other than id, email and phone is ignored; the
  Content-Type header is recorded but not checked.
- The double is stricter than Distinct may be, to catch bugs in our client:
  an ``email`` or ``phone`` sent as ``""``, ``null`` or a non-string breaks
  vendor note 3 and answers 400 with that field's format message.  A phone
  must be exactly ``+`` then 2 to 15 ASCII digits, the first not 0.  An email
  must be one ``@`` between a non-blank local part and a dotted domain, with
  no whitespace anywhere.
- Matching ignores ``id``.  Emails are compared case-insensitively, phones
  exactly.  With both identifiers, both must belong to the same live user;
  an erased user never matches.  ``add_user`` refuses a second live user
  with the same email or phone, so a match is never ambiguous.
- Deleting a user sets every PII field to None and marks the record erased;
  the record stays in ``users``.
- Injected faults answer only POSTs to the delete path, in the order they
  were injected; the first whose ``match`` accepts the request is used.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django_distinct import conf

API_KEY_HEADER = "x-distinct-api-key"

MSG_DELETED = "User data deleted successfully."
MSG_NOT_FOUND = "User not found."
MSG_CONTACT_REQUIRED = "Either email or phone is required."
MSG_ID_REQUIRED = "User id is required."
MSG_BAD_EMAIL = "Email must be a valid format (e.g. user@example.com)."
MSG_BAD_PHONE = "Phone number must be a valid E.164 format (e.g. +14155552671)."
MSG_NO_SCOPE = "Insufficient permission scope for this operation."
MSG_UNAUTHORIZED = "Unauthorized."
MSG_IP_NOT_ALLOWED = "Request IP address is not allowed for this API key."
MSG_KEY_EXPIRED = "API key has expired."
MSG_SERVER_ERROR = "Internal server error."
# Not in the reference: the double's own answers where it has none.
MSG_NOT_JSON_OBJECT = "Request body must be a JSON object."
MSG_NOT_FOUND_PATH = "Not found."
MSG_METHOD_NOT_ALLOWED = "Method not allowed."
MSG_TOO_MANY = "Too many requests."
MSG_UNKNOWN = "User deletion has been scheduled."

FAULT_KINDS = (
    "500",
    "502_html",
    "503_html",
    "200_non_json",
    "200_unknown",
    "429",
    "slow",
    "drop",
)

PII_FIELDS = (
    "email",
    "phone",
    "name",
    "date_of_birth",
    "address",
    "selfie",
    "waiver_signature",
)

# fullmatch, not "$": "$" would let a trailing newline through.  [0-9], not
# \d: \d also accepts digits of other scripts.
E164 = re.compile(r"\+[1-9][0-9]{1,14}")
EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")

REDACTED = "[redacted]"


def is_e164(value: object) -> bool:
    """Tell whether ``value`` is a phone number in strict E.164 form."""
    return isinstance(value, str) and E164.fullmatch(value) is not None


def is_email(value: object) -> bool:
    """Tell whether ``value`` has the email format the double accepts."""
    return isinstance(value, str) and EMAIL.fullmatch(value) is not None


class Headers(Mapping[str, str]):
    """Hold request headers; look names up regardless of case."""

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._items: dict[str, tuple[str, str]] = {}
        for name, value in (items or {}).items():
            self._items[name.lower()] = (name, value)

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


@dataclass
class FakeUser:
    """A user as Distinct holds it; ``erase`` keeps the record, not the PII."""

    email: str | None = None
    phone: str | None = None
    name: str | None = None
    date_of_birth: str | None = None
    address: str | None = None
    selfie: str | None = None
    waiver_signature: str | None = None
    erased: bool = False

    def erase(self) -> None:
        """Set every PII field to None and mark the record erased."""
        for name in PII_FIELDS:
            setattr(self, name, None)
        self.erased = True

    def as_dict(self) -> dict[str, Any]:
        """Return the user as a JSON-serialisable dict."""
        return dataclasses.asdict(self)


@dataclass
class FakeResponse:
    """An answer for a transport to send.

    A transport must sleep ``delay`` seconds before answering, and must close
    the connection without answering when ``drop`` is true.
    """

    status: int
    headers: dict[str, str]
    body: bytes
    delay: float = 0.0
    drop: bool = False

    def json(self) -> Any:
        """Return the body decoded as JSON."""
        return json.loads(self.body)


@dataclass
class RecordedRequest:
    """One request the double received, and what it answered.

    ``status`` and ``message`` are None when the connection was dropped;
    ``message`` is also None when the body sent back was not JSON.
    """

    method: str
    path: str
    headers: Headers
    json: Any
    body: bytes
    client_ip: str
    status: int | None
    message: str | None
    time: float
    fault: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the request as a JSON-serialisable dict, key redacted."""
        headers = dict(self.headers.items())
        for name in headers:
            if name.lower() == API_KEY_HEADER:
                headers[name] = REDACTED
        return {
            "method": self.method,
            "path": self.path,
            "headers": headers,
            "json": self.json,
            "body": self.body.decode("utf-8", errors="replace"),
            "client_ip": self.client_ip,
            "status": self.status,
            "message": self.message,
            "time": self.time,
            "fault": self.fault,
        }


@dataclass
class Fault:
    """A fault waiting for the requests it applies to."""

    kind: str
    remaining: int | None
    match: Callable[[Any], bool] | None = None
    retry_after: int = 1
    delay: float = 1.0
    processed: bool = False


@dataclass
class _ApiKey:
    expired: bool
    allowed_ips: frozenset[ipaddress.IPv4Address | ipaddress.IPv6Address] | None
    can_delete: bool


def json_answer(
    status: int, message: str, *, body_status: int | None = None
) -> FakeResponse:
    """Return a JSON answer in Distinct's shape."""
    payload = {"statusCode": body_status or status, "message": message, "data": None}
    return FakeResponse(
        status=status,
        headers={"Content-Type": "application/json"},
        body=json.dumps(payload).encode(),
    )


def _html_answer(status: int, title: str) -> FakeResponse:
    page = (
        f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
    )
    return FakeResponse(
        status=status,
        headers={"Content-Type": "text/html; charset=utf-8"},
        body=page.encode(),
    )


def parse_json(body: bytes) -> Any:
    """Return ``body`` decoded as UTF-8 JSON, or None if it is not."""
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def _ip_allowed(client_ip: str, allowed: frozenset[Any]) -> bool:
    try:
        return ipaddress.ip_address(client_ip) in allowed
    except ValueError:
        return False


class FakeDistinct:
    """Answer Distinct's delete-user contract from memory.

    The constructor registers ``api_key`` as a valid key with delete scope.
    """

    def __init__(self, api_key: str = "test-api-key") -> None:
        self._lock = threading.RLock()
        self._keys: dict[str, _ApiKey] = {}
        self._users: list[FakeUser] = []
        self._requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        #: The key given to the constructor: the one to configure the site with.
        self.api_key = api_key
        self.add_api_key(api_key)

    # Configuration.

    def add_api_key(
        self,
        key: str,
        *,
        expired: bool = False,
        allowed_ips: Collection[str] | None = None,
        can_delete: bool = True,
    ) -> None:
        """Register ``key``, replacing any earlier key of the same value.

        ``allowed_ips`` is a collection of IP addresses the key may be used
        from; None allows any address and an empty collection none.
        """
        if isinstance(allowed_ips, str):
            raise TypeError("allowed_ips must be a collection of addresses")
        ips = None
        if allowed_ips is not None:
            ips = frozenset(ipaddress.ip_address(ip) for ip in allowed_ips)
        with self._lock:
            self._keys[key] = _ApiKey(expired, ips, can_delete)

    def add_user(
        self, *, email: str | None = None, phone: str | None = None, **pii: Any
    ) -> FakeUser:
        """Store a user and return it.

        Raise ``ValueError`` when the user has neither email nor phone, when
        either is malformed, or when a live user already has it; raise
        ``TypeError`` for an unknown PII field.
        """
        return self.add_users([{"email": email, "phone": phone, **pii}])[0]

    def add_users(self, users: Iterable[Mapping[str, Any]]) -> list[FakeUser]:
        """Store several users at once: all of them, or none if one is bad.

        Each mapping holds ``FakeUser`` fields other than ``erased``.  The
        errors are those of ``add_user``, naming the user's position.
        """
        with self._lock:
            taken_emails = {u.email.casefold() for u in self._users if u.email}
            taken_phones = {u.phone for u in self._users if u.phone}
            new = []
            for index, fields in enumerate(users):
                user = self._new_user(index, fields, taken_emails, taken_phones)
                if user.email:
                    taken_emails.add(user.email.casefold())
                if user.phone:
                    taken_phones.add(user.phone)
                new.append(user)
            self._users.extend(new)
            return new

    def _new_user(
        self,
        index: int,
        fields: Mapping[str, Any],
        taken_emails: set[str],
        taken_phones: set[str],
    ) -> FakeUser:
        unknown = set(fields) - set(PII_FIELDS)
        if unknown:
            names = ", ".join(sorted(map(str, unknown)))
            raise TypeError(f"user {index}: unknown field(s) {names}")
        user = FakeUser(**fields)
        # The messages carry no value: even fake PII ends up in CI logs.
        if user.email is None and user.phone is None:
            raise ValueError(f"user {index}: give an email or a phone")
        if user.email is not None and not is_email(user.email):
            raise ValueError(f"user {index}: email is not a valid address")
        if user.phone is not None and not is_e164(user.phone):
            raise ValueError(f"user {index}: phone is not E.164 (+14155552671)")
        if user.email and user.email.casefold() in taken_emails:
            raise ValueError(f"user {index}: a live user already has this email")
        if user.phone and user.phone in taken_phones:
            raise ValueError(f"user {index}: a live user already has this phone")
        return user

    def inject(
        self,
        kind: str,
        times: int | None = 1,
        *,
        match: Callable[[Any], bool] | None = None,
        retry_after: int = 1,
        delay: float = 1.0,
        processed: bool = False,
    ) -> Fault:
        """Make the next ``times`` delete requests fail as ``kind``.

        ``times=None`` keeps the fault until ``reset``.  ``match`` receives
        the request's JSON body (None if it had none) and selects the
        requests the fault applies to.  ``retry_after`` is the 429's
        Retry-After in seconds; ``delay`` is how late "slow" answers.  A
        "slow" request is answered by the contract, late; any other fault
        replaces the answer, and with ``processed=True`` the contract still
        runs first, so a user may be erased behind an error or a dropped
        connection.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; choose from {FAULT_KINDS}")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1, or None for always")
        if retry_after < 0 or delay < 0:
            raise ValueError("retry_after and delay cannot be negative")
        fault = Fault(kind, times, match, int(retry_after), float(delay), processed)
        with self._lock:
            self._faults.append(fault)
        return fault

    def reset(self) -> None:
        """Forget users, recorded requests and faults; keep the API keys."""
        with self._lock:
            self._users.clear()
            self._requests.clear()
            self._faults.clear()

    # Inspection.

    @property
    def users(self) -> list[FakeUser]:
        """Return every stored user, erased ones included, oldest first."""
        with self._lock:
            return list(self._users)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Return every request received, oldest first."""
        with self._lock:
            return list(self._requests)

    def posts_for(self, user_id: str) -> list[RecordedRequest]:
        """Return the POSTs to the delete path whose body had ``id=user_id``."""
        return [r for r in self._delete_posts() if _body_id(r) == user_id]

    def count_by_id(self) -> Counter[str]:
        """Count the POSTs to the delete path per string ``id`` in the body."""
        ids = (_body_id(r) for r in self._delete_posts())
        return Counter(i for i in ids if isinstance(i, str))

    def _delete_posts(self) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if r.method == "POST" and _route(r.path) == conf.DELETE_PATH
        ]

    # The contract.

    def handle(
        self,
        *,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        client_ip: str = "127.0.0.1",
    ) -> FakeResponse:
        """Answer one request as Distinct would, and record it."""
        method = method.upper()
        headers = Headers(headers)
        payload = parse_json(body)

        with self._lock:
            fault = None
            if _route(path) != conf.DELETE_PATH:
                response = json_answer(404, MSG_NOT_FOUND_PATH)
            elif method != "POST":
                response = json_answer(405, MSG_METHOD_NOT_ALLOWED)
                response.headers["Allow"] = "POST"
            else:
                fault = self._take_fault(payload)
                if fault is None:
                    response = self._delete(headers, payload, client_ip)
                else:
                    response = self._faulted(fault, headers, payload, client_ip)

            self._requests.append(
                RecordedRequest(
                    method=method,
                    path=path,
                    headers=headers,
                    json=payload,
                    body=body,
                    client_ip=client_ip,
                    status=None if response.drop else response.status,
                    message=_message(response),
                    time=time.time(),
                    fault=fault.kind if fault else None,
                )
            )
            return response

    def _delete(self, headers: Headers, payload: Any, client_ip: str) -> FakeResponse:
        refusal = self._refuse(headers, payload, client_ip)
        if refusal is not None:
            return refusal

        user = self._find(payload.get("email"), payload.get("phone"))
        if user is None:
            return json_answer(200, MSG_NOT_FOUND)
        user.erase()
        return json_answer(200, MSG_DELETED)

    def _refuse(
        self, headers: Headers, payload: Any, client_ip: str
    ) -> FakeResponse | None:
        key = self._keys.get(headers.get(API_KEY_HEADER, ""))
        if key is None:
            return json_answer(401, MSG_UNAUTHORIZED)
        if key.expired:
            return json_answer(403, MSG_KEY_EXPIRED)
        if key.allowed_ips is not None and not _ip_allowed(client_ip, key.allowed_ips):
            return json_answer(403, MSG_IP_NOT_ALLOWED)
        if not key.can_delete:
            return json_answer(400, MSG_NO_SCOPE, body_status=500)

        if not isinstance(payload, dict):
            return json_answer(400, MSG_NOT_JSON_OBJECT)
        user_id = payload.get("id")
        if not isinstance(user_id, str) or not user_id.strip():
            return json_answer(400, MSG_ID_REQUIRED)
        if "email" not in payload and "phone" not in payload:
            return json_answer(400, MSG_CONTACT_REQUIRED)
        if "email" in payload and not is_email(payload["email"]):
            return json_answer(400, MSG_BAD_EMAIL)
        if "phone" in payload and not is_e164(payload["phone"]):
            return json_answer(400, MSG_BAD_PHONE)
        return None

    def _find(self, email: str | None, phone: str | None) -> FakeUser | None:
        wanted = email.casefold() if email is not None else None
        for user in self._users:
            if user.erased:
                continue
            if wanted is not None and (user.email or "").casefold() != wanted:
                continue
            if phone is not None and user.phone != phone:
                continue
            return user
        return None

    def _take_fault(self, payload: Any) -> Fault | None:
        for fault in self._faults:
            if fault.match is not None and not fault.match(payload):
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
            return fault
        return None

    def _faulted(
        self, fault: Fault, headers: Headers, payload: Any, client_ip: str
    ) -> FakeResponse:
        if fault.kind == "slow":
            response = self._delete(headers, payload, client_ip)
            response.delay = fault.delay
            return response

        if fault.processed:
            self._delete(headers, payload, client_ip)
        if fault.kind == "drop":
            return FakeResponse(status=0, headers={}, body=b"", drop=True)
        if fault.kind == "500":
            return json_answer(500, MSG_SERVER_ERROR)
        if fault.kind == "502_html":
            return _html_answer(502, "502 Bad Gateway")
        if fault.kind == "503_html":
            return _html_answer(503, "503 Service Temporarily Unavailable")
        if fault.kind == "200_non_json":
            return _html_answer(200, "Distinct")
        if fault.kind == "200_unknown":
            return json_answer(200, MSG_UNKNOWN)
        response = json_answer(429, MSG_TOO_MANY)
        response.headers["Retry-After"] = str(fault.retry_after)
        return response


def _message(response: FakeResponse) -> str | None:
    answer = None if response.drop else parse_json(response.body)
    return answer.get("message") if isinstance(answer, dict) else None


def _route(path: str) -> str:
    return path.split("?", 1)[0]


def _body_id(request: RecordedRequest) -> Any:
    return request.json.get("id") if isinstance(request.json, dict) else None
