"""Fresh secret values for a user's ``.env`` (``env.init`` and ``env.sync``).

Every value comes from :mod:`secrets` (the OS CSPRNG).  The strength and alphabet
depend on what the variable is:

* ``SECRET_KEY``: ``sk-`` + ``token_urlsafe(42)`` (42 random bytes, 59 characters).
* API keys and tokens (``*_KEY``, ``*_KEY_*``, ``*_TOKEN``, ``*_KEYS``,
  ``*_CREDENTIALS``): ``token_urlsafe(42)``, like ``openssl rand -base64 42`` but
  URL-safe.  MinIO's secret key is a password (MinIO takes at most 40 characters).
* Passwords (everything else): 32 letters and digits, starting with a letter and
  holding upper case, lower case and digits, so they are safe inside URLs such as
  ``CELERY_BROKER_URL`` and in shells, and pass the usual complexity rules.
  OpenSearch 2.12+ also wants a special character: its password gets ``-`` and ``_``.
  Oracle limits passwords to 30 bytes: Oracle passwords have 24 characters.

Some secrets are tied together:

* ``must equal X`` / ``must contain X`` in a variable's comment (for example
  ``CODE_EXECUTION_API_KEY`` and ``SANDBOX_API_KEY``) makes both share one value.
* A URL default that embeds another secret's shipped default as its password
  (``CELERY_BROKER_URL=redis://:difyai123456@redis:6379/1`` and ``REDIS_PASSWORD``)
  is derived: the URL gets the generated (or existing) password of that variable.

Secrets whose shipped default is empty and that are not required (S3, SMTP,
Resend, sentinel, cloud credentials...) are issued by someone else: a random
value would be wrong (``MILVUS_TOKEN`` would even override the user and password),
so they stay empty for the user to fill in.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Iterable, Mapping
from urllib.parse import quote, urlsplit, urlunsplit

from stack.env.model import Definitions, Variable

ALNUM = string.ascii_letters + string.digits

#: A URL variable whose default embeds a password: the variable holding that password.
DERIVED_URL_PASSWORDS: dict[str, str] = {"CELERY_BROKER_URL": "REDIS_PASSWORD"}

LINK_RE = re.compile(r"must (?:equal|contain) ([A-Z_][A-Z0-9_]*)")


def password(length: int = 32, *, special: str = "") -> str:
    """Letters and digits (plus ``special`` characters), starting with a letter, with at
    least one upper-case letter, one lower-case letter and one digit."""
    if length < 8:
        raise ValueError("a password needs at least 8 characters")
    alphabet = ALNUM + special
    while True:
        value = secrets.choice(string.ascii_letters) + "".join(
            secrets.choice(alphabet) for _ in range(length - 1)
        )
        if (
            any(c.islower() for c in value)
            and any(c.isupper() for c in value)
            and any(c.isdigit() for c in value)
            and (not special or any(c in special for c in value))
        ):
            return value


def token(nbytes: int = 42) -> str:
    """A URL-safe token of ``nbytes`` random bytes."""
    return secrets.token_urlsafe(nbytes)


def kind_of(name: str) -> str:
    """``"secret_key"``, ``"token"`` or ``"password"``: how ``name`` is generated."""
    if name == "SECRET_KEY":
        return "secret_key"
    if name.startswith("MINIO_"):
        return "password"  # MinIO accepts secret keys of 8 to 40 characters
    if re.search(r"_(KEY|KEYS|TOKEN|CREDENTIALS)(_|\Z)", name) and "PASSWORD" not in name:
        return "token"
    return "password"


def fresh_value(var: Variable) -> str:
    """A fresh random value for one secret variable (see the module docstring)."""
    kind = kind_of(var.name)
    if kind == "secret_key":
        return "sk-" + token(42)
    if kind == "token":
        return token(42)
    if "OPENSEARCH" in var.name:
        return password(32, special="-_")
    if "ORACLE" in var.name or var.name == "INIT_PASSWORD":
        return password(24)
    return password(32)


def generated(var: Variable) -> bool:
    """Whether ``env.init``/``env.sync`` generate a value for ``var``.

    Secrets with a non-empty shipped default or marked required; the others are
    credentials of external services that only their user can supply.
    """
    return var.secret and (bool(var.default) or var.required)


def links(defs: Definitions) -> dict[str, str]:
    """Pairs of secrets that must hold the same value (both directions)."""
    out: dict[str, str] = {}
    known = defs.by_name
    for var in defs:
        for other in LINK_RE.findall(var.comment):
            if other in known and other != var.name:
                out[var.name] = other
                out.setdefault(other, var.name)
    return out


def with_password(url: str, new_password: str) -> str | None:
    """``url`` with the password of its userinfo replaced (``None``: no password in it)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return None
    except ValueError:
        return None
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    if new_password:
        netloc = f"{user}:{quote(new_password, safe='')}@{host}"
    else:
        netloc = f"{user}@{host}" if user else host
    return urlunsplit(parts._replace(netloc=netloc))


def url_password(url: str) -> str | None:
    """The password inside ``url``'s userinfo, or ``None``."""
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def generate(
    defs: Definitions,
    names: Iterable[str] | None = None,
    existing: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Fresh values for the generated secrets among ``names`` (default: all).

    ``existing`` holds values already in the user's file: a linked secret reuses
    its partner's value, a derived URL embeds the existing password.
    """
    existing = dict(existing or {})
    by_name = defs.by_name
    wanted = [by_name[n] for n in (names if names is not None else by_name) if n in by_name]
    pairs = links(defs)
    out: dict[str, str] = {}

    def value_of(name: str) -> str | None:
        return out.get(name, existing.get(name))

    for var in wanted:
        if not generated(var) or var.name in DERIVED_URL_PASSWORDS:
            continue
        partner = pairs.get(var.name)
        shared = value_of(partner) if partner else None
        # A partner already in the file wins even when it is a default: the two must
        # agree for the services to talk; `env.check --production` flags the default.
        out[var.name] = shared if shared else fresh_value(var)
    for var in wanted:
        source = DERIVED_URL_PASSWORDS.get(var.name)
        if source is None or not generated(var):
            continue
        pw = value_of(source)
        if pw is None:
            continue  # the password is not generated either: keep the default URL
        derived = with_password(var.default, pw)
        if derived is not None:
            out[var.name] = derived
    return out
