"""
Turn identifiers as sites store them into what Distinct accepts.

Distinct erases the person its records match, and an erasure cannot be
undone, so a value is only ever cleaned, never guessed: surrounding
whitespace goes, an email's domain is lower-cased (domains are
case-insensitive; local parts are not, and stay as stored), and a phone
number is parsed with ``PHONENUMBER_DEFAULT_REGION`` and sent in E.164.
A national number with no region configured is refused rather than given a
country.  Whatever cannot be made valid is dropped with a reason that never
repeats the value itself.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.utils.encoding import force_bytes
from django.utils.functional import Promise

from . import conf

# RFC 5321 caps a forward path at 256 octets including the angle brackets.
# Checking length first also keeps the validator's regex away from
# pathological input.
EMAIL_MAX_LENGTH = 254
# The tracking model's column; Distinct sets no limit of its own.
ID_MAX_LENGTH = 255
# E.164 allows 15 digits; anything much longer stored in a phone column is
# not a phone number, and the parser need not see it.
PHONE_MAX_INPUT_LENGTH = 64

# No allowlist: Distinct wants a dotted domain (user@example.com), so
# "user@localhost", which Django accepts by default, would only be refused.
_email_validator = EmailValidator(allowlist=[])


@dataclass(frozen=True)
class Identity:
    """The identifiers of one person, as the site holds them."""

    id: Any
    email: Any = None
    phone: Any = None


@dataclass(frozen=True)
class Normalized:
    """Identifiers ready for Distinct, and why any were dropped."""

    id: str
    email: str = ""
    phone: str = ""
    problems: tuple[str, ...] = field(default=())

    @property
    def sendable(self) -> bool:
        """Tell whether Distinct can be asked to erase this person."""
        return bool(self.id) and bool(self.email or self.phone)

    def payload(self) -> dict[str, str]:
        """Return the request body: empty identifiers are left out."""
        body = {"id": self.id}
        if self.email:
            body["email"] = self.email
        if self.phone:
            body["phone"] = self.phone
        return body


def normalize(identity: Identity) -> Normalized:
    """Clean every identifier of ``identity`` and collect the problems."""
    problems: list[str] = []

    user_id = normalize_id(identity.id)
    if not user_id:
        problems.append(
            "id: missing" if identity.id in (None, "") else "id: not usable"
        )
    elif len(user_id) > ID_MAX_LENGTH:
        problems.append(f"id: longer than {ID_MAX_LENGTH} characters")
        user_id = ""

    email, problem = normalize_email(identity.email)
    if problem:
        problems.append(f"email: {problem}")

    phone, problem = normalize_phone(identity.phone)
    if problem:
        problems.append(f"phone: {problem}")

    if user_id and not email and not phone and not problems:
        problems.append("no email or phone to identify the person")
    return Normalized(user_id, email, phone, tuple(problems))


def normalize_id(value: Any) -> str:
    """Return the id as a trimmed string, ``""`` when there is none or it is junk.

    Text, integers and UUIDs are ids; ``str()`` of anything else (bytes, a
    list) would send Distinct an id no site ever had.  Control characters
    are refused too: they forge log lines and PostgreSQL rejects NUL.
    """
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, Promise):
        value = str(value)
    if not isinstance(value, (str, int, uuid.UUID)):
        return ""
    text = str(value).strip()
    if any(not ch.isprintable() for ch in text):
        return ""
    return text


def normalize_email(value: Any) -> tuple[str, str]:
    """Return ``(email, problem)``; both are ``""`` when there is no email."""
    if value is None:
        return "", ""
    if isinstance(value, Promise):
        value = str(value)
    if not isinstance(value, str):
        return "", "not text"
    value = value.strip()
    if not value:
        return "", ""
    if len(value) > EMAIL_MAX_LENGTH:
        return "", f"longer than {EMAIL_MAX_LENGTH} characters"
    local, at, domain = value.rpartition("@")
    if not at:
        return "", "no @ in the address"
    if domain.startswith("["):
        return "", "an address literal, not a domain"
    value = f"{local}@{domain.lower()}"
    try:
        _email_validator(value)
    except ValidationError:
        return "", "not a valid address"
    return value, ""


def normalize_phone(value: Any, region: str | None = None) -> tuple[str, str]:
    """Return ``(e164, problem)``; both are ``""`` when there is no phone.

    ``value`` may be text or a ``phonenumbers.PhoneNumber`` (which includes
    django-phonenumber-field's ``PhoneNumber``).  An extension is dropped:
    E.164 has no place for it.
    """
    if value is None:
        return "", ""
    if isinstance(value, phonenumbers.PhoneNumber):
        number = value
        if not number.country_code and not number.national_number:
            # An empty PhoneNumberField value is a PhoneNumber with nothing in
            # it; it would format to "+NoneNone".
            raw = getattr(number, "raw_input", "") or ""
            return normalize_phone(raw, region) if raw.strip() else ("", "")
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return "", ""
        if len(text) > PHONE_MAX_INPUT_LENGTH:
            return "", "too long to be a phone number"
        if region is None:
            region = getattr(settings, "PHONENUMBER_DEFAULT_REGION", None)
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException as exc:
            if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
                if not text.startswith("+") and not region:
                    return "", (
                        "not in international form and "
                        "PHONENUMBER_DEFAULT_REGION is not set"
                    )
                return "", "unknown country code"
            return "", "not a phone number"
    else:
        return "", "not text"

    if not phonenumbers.is_valid_number(number):
        return "", "not a valid number"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), ""


def mask_email(email: str) -> str:
    """Return ``j***@example.com`` for ``john@example.com``."""
    if not email:
        return ""
    local, at, domain = email.rpartition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_phone(phone: str) -> str:
    """Return ``+1******2671`` for ``+14155552671``."""
    if not phone:
        return ""
    if len(phone) <= 6:
        return "*" * len(phone)
    return phone[:2] + "*" * (len(phone) - 6) + phone[-4:]


def identifier_hash(kind: str, value: str) -> str:
    """Return the keyed hash of a cleaned email or E.164 phone.

    It answers "was erasure requested for this address?" without keeping the
    address: hash the address in question and compare.  Emails are folded to
    one case first.  The key is ``DISTINCT['HASH_KEY']``, else one derived
    from ``SECRET_KEY``; rotating it makes older hashes unfindable.
    """
    if kind == "email":
        value = value.casefold()
    return keyed_hash(f"django_distinct.identifier.{kind}", value)


def keyed_hash(salt: str, value: str) -> str:
    """Return the hex HMAC-SHA256 of ``value`` under this app's key for ``salt``.

    The same digest as Django's ``salted_hmac(salt, value, secret=...)``, so
    hashes stored by earlier versions still match; the key is derived once
    per salt and secret instead of for every value, which counts when a
    deletion of thousands of users hashes each of them.
    """
    secret = conf.get("HASH_KEY") or settings.SECRET_KEY
    base = _keyed.get((salt, secret))
    if base is None:
        derived = hashlib.sha256(force_bytes(salt) + force_bytes(secret)).digest()
        base = hmac.new(derived, digestmod=hashlib.sha256)
        if len(_keyed) >= 64:
            _keyed.clear()  # keys rotated many times, as tests do: start over
        _keyed[(salt, secret)] = base
    digest = base.copy()
    digest.update(value.encode())
    return digest.hexdigest()


_keyed: dict[tuple[str, Any], hmac.HMAC] = {}


def clean_message(text: str, payload: dict[str, str], limit: int = 500) -> str:
    """Return a message from Distinct fit to store, log and show.

    Identifiers that were sent are masked wherever the message repeats them;
    control characters (PostgreSQL refuses NUL in text) become spaces; the
    result fits the message columns.
    """
    for key, mask in (("email", mask_email), ("phone", mask_phone)):
        value = payload.get(key, "")
        # A phone may come back without its "+": look for the digits.
        needle = value[1:] if key == "phone" else value
        if needle and _may_contain(text, needle):
            # Each address makes its own pattern, which Python's regex cache
            # cannot keep for the next answer: compile it only when needed.
            masked = mask(value)
            text = _replace_any_case(text, value, masked)
            if key == "phone":
                text = text.replace(value[1:], masked[1:])
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _may_contain(text: str, value: str) -> bool:
    # Whatever a case-insensitive regex would find, one of these finds too.
    return value.casefold() in text.casefold() or value.lower() in text.lower()


def _replace_any_case(text: str, value: str, replacement: str) -> str:
    # A function, not a template: a replacement is never read for escapes.
    return re.sub(re.escape(value), lambda _: replacement, text, flags=re.IGNORECASE)


def derived(user_id: str, email: str, phone: str) -> dict[str, str]:
    """Return what a request keeps of its identifiers once they are removed.

    The masked forms (for people) and keyed hashes (for lookups) of the
    identifiers given, and the person hash when there is one at all.
    """
    fields = {}
    if email or phone:
        fields["person_hash"] = person_hash(user_id, email, phone)
    if email:
        fields["masked_email"] = mask_email(email)
        fields["email_hash"] = identifier_hash("email", email)
    if phone:
        fields["masked_phone"] = mask_phone(phone)
        fields["phone_hash"] = identifier_hash("phone", phone)
    return fields


def person_hash(user_id: str, email: str, phone: str) -> str:
    """Return the keyed hash that says two requests are for the same person."""
    canonical = "\x1f".join((user_id, email.casefold(), phone))
    return identifier_hash("person", canonical)
