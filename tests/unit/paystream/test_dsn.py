"""Database URLs: the password they carry or are given, and whether they stay on loopback."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from paystream.dsn import is_loopback, url_host, url_password, with_password

URL = "mysql+pymysql://paystream@127.0.0.1:3306/paystream?charset=utf8mb4"


@given(st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40))
def test_any_password_reaches_the_driver_unchanged(password):
    url = with_password(URL, password)
    parsed = make_url(url)
    assert parsed.password == password
    assert (parsed.username, parsed.host, parsed.port, parsed.database) == (
        "paystream",
        "127.0.0.1",
        3306,
        "paystream",
    )
    assert parsed.query == {"charset": "utf8mb4"}
    assert url_password(url) == password


def test_a_password_replaces_the_one_in_the_url():
    url = with_password("mysql+pymysql://app:old@db:3306/x", "new")
    assert url == "mysql+pymysql://app:new@db:3306/x"


def test_a_url_without_a_user_cannot_take_a_password():
    with pytest.raises(ValueError, match="no user"):
        with_password("mysql+pymysql://db:3306/x", "pw")


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        (URL, True),
        ("mysql+pymysql://u:p@localhost/x", True),
        ("mysql+pymysql://u:p@127.8.9.10/x", True),
        ("mysql+pymysql://u:p@[::1]:3306/x", True),
        ("mysql+pymysql://u:p@/x?unix_socket=/run/mysqld.sock", True),
        ("mysql+pymysql://u:p@mysql-primary:3306/x", False),
        ("mysql+pymysql://u:p@10.0.0.5/x", False),
        ("mysql+pymysql://u:p@localhost.example.com/x", False),
    ],
)
def test_only_this_machine_counts_as_loopback(url, loopback):
    assert is_loopback(url_host(url)) is loopback
