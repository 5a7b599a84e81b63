"""Database URLs (``mysql+pymysql://user:password@host:port/db?...``): their password and host.

Settings give the MySQL URLs a password of their own (``mysql.password``) when they name none,
and refuse the account's old shipped default anywhere but on loopback; these are the string
operations that takes, with no database driver imported.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import quote, unquote, urlsplit, urlunsplit

#: The application account's password in the URLs that main shipped as defaults. A loopback
#: stack may still carry it until its next ``paystream stack up``; no other host is trusted
#: with it.
DEFAULT_MYSQL_PASSWORD = "paystream"  # noqa: S105 (the known-bad value, to refuse it)


def url_password(url: str) -> str | None:
    """The URL's password, decoded, or None when it names none."""
    password = urlsplit(url).password
    return None if password is None else unquote(password)


def with_password(url: str, password: str) -> str:
    """``url`` with ``password`` (percent-encoded) in place of the one it carries, if any.

    Raises:
        ValueError: the URL names no user to give the password to.
    """
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at or not userinfo:
        raise ValueError("the URL names no user for the password")
    user = userinfo.split(":", 1)[0]
    netloc = f"{user}:{quote(password, safe='')}@{hostport}"
    return urlunsplit(parts._replace(netloc=netloc))


def url_host(url: str) -> str:
    """The host the URL connects to ('' for a local socket)."""
    return urlsplit(url).hostname or ""


def is_loopback(host: str) -> bool:
    """True for this machine only: no host (a local socket), ``localhost`` or a loopback IP."""
    if host in ("", "localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
