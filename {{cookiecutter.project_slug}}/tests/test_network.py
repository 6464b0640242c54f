"""Where gunicorn listens and which peers it believes about HTTPS, from the environment."""

import socket

import pytest

from {{ cookiecutter.project_slug }}.plumbing.server import network
from {{ cookiecutter.project_slug }}.plumbing.server.network import (
    DUAL_STACK,
    IPV6_ONLY,
    NO_IPV6,
    NetworkSettingError,
    bind_addresses,
    ipv6_listening,
    keepalive_seconds,
    trusted_proxies,
)


def test_with_port_set_gunicorn_listens_on_every_ipv4_and_ipv6_address_on_that_port():
    assert bind_addresses({"PORT": "5123"}, ipv6=DUAL_STACK) == ["[::]:5123"]


def test_where_an_ipv6_socket_takes_ipv6_alone_ipv4_gets_a_socket_of_its_own():
    assert bind_addresses({"PORT": "5123"}, ipv6=IPV6_ONLY) == ["0.0.0.0:5123", "[::]:5123"]


def test_a_host_without_ipv6_is_listened_to_on_ipv4():
    assert bind_addresses({"PORT": "5123"}, ipv6=NO_IPV6) == ["0.0.0.0:5123"]


@pytest.mark.parametrize(
    ("probed", "listening"),
    [(DUAL_STACK, ["[::]:5123"]), (IPV6_ONLY, ["0.0.0.0:5123", "[::]:5123"]), (NO_IPV6, ["0.0.0.0:5123"])],
)
def test_this_hosts_ipv6_is_probed_when_port_is_set(monkeypatch, probed, listening):
    monkeypatch.setattr(network, "ipv6_listening", lambda: probed)
    assert bind_addresses({"PORT": "5123"}) == listening


class ProbeSocket:
    """An IPv6 socket as the probe uses it, taking IPv4 too unless `v6only`; it records what it was asked."""

    made = []

    def __init__(self, v6only):
        self.v6only = v6only

    def __call__(self, *args):
        self.made.append(("socket", *args))
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.made.append(("closed",))

    def bind(self, address):
        self.made.append(("bind", address))

    def getsockopt(self, level, option):
        assert (level, option) == (socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
        return self.v6only


@pytest.mark.parametrize(("v6only", "probed"), [(0, DUAL_STACK), (1, IPV6_ONLY)])
def test_the_probe_binds_a_stream_socket_to_every_ipv6_address_on_any_free_port(monkeypatch, v6only, probed):
    ProbeSocket.made = []
    monkeypatch.setattr(network.socket, "socket", ProbeSocket(v6only))

    assert ipv6_listening() == probed
    assert ProbeSocket.made == [("socket", socket.AF_INET6, socket.SOCK_STREAM), ("bind", ("::", 0)), ("closed",)]


def test_the_probe_reads_whether_an_ipv6_socket_takes_ipv4_too():
    with socket.socket(socket.AF_INET6) as probe:
        v6only = probe.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
    assert ipv6_listening() == (IPV6_ONLY if v6only else DUAL_STACK)


def test_without_an_ipv6_socket_the_probe_says_so(monkeypatch):
    def no_ipv6(*args):
        raise OSError("Address family not supported by protocol")

    monkeypatch.setattr(network.socket, "socket", no_ipv6)
    assert ipv6_listening() == NO_IPV6


def test_a_port_with_blanks_around_it_is_read():
    assert bind_addresses({"PORT": " 8080 "}, ipv6=NO_IPV6) == ["0.0.0.0:8080"]


@pytest.mark.parametrize("environ", [{}, {"PORT": ""}, {"PORT": "  "}], ids=["unset", "empty", "blank"])
def test_without_port_gunicorn_listens_on_this_machine_only(environ):
    assert bind_addresses(environ) == ["127.0.0.1:8000"]


@pytest.mark.parametrize("port", ["1", "65535"])
def test_the_lowest_and_the_highest_port_are_accepted(port):
    assert bind_addresses({"PORT": port}, ipv6=DUAL_STACK) == [f"[::]:{port}"]


@pytest.mark.parametrize("port", ["abc", "0", "65536", "99999", "-1", "80.5", "8³"])
def test_a_port_that_is_no_port_number_is_refused_naming_the_variable(port):
    with pytest.raises(NetworkSettingError) as refused:
        bind_addresses({"PORT": port})

    assert str(refused.value) == f"PORT must be a port number from 1 to 65535, got {port!r}."


def test_off_heroku_and_render_only_this_machine_may_say_a_request_came_over_https():
    assert trusted_proxies({}) == "127.0.0.1,::1,::ffff:127.0.0.1"


@pytest.mark.parametrize("environ", [{"DYNO": "web.1"}, {"RENDER": "true"}], ids=["heroku", "render"])
def test_on_heroku_and_render_the_platforms_router_is_believed_from_any_address(environ):
    assert trusted_proxies(environ) == "*"


@pytest.mark.parametrize("value", ["*", "::1,fd00::/8", ""])
def test_forwarded_allow_ips_is_taken_as_given_even_on_a_platform(value):
    assert trusted_proxies({"FORWARDED_ALLOW_IPS": value, "DYNO": "web.1"}) == value


@pytest.mark.parametrize(
    ("value", "believed"),
    [
        ("10.0.0.5", "10.0.0.5,::ffff:10.0.0.5"),
        ("10.0.0.5, 10.1.0.0/16", "10.0.0.5, 10.1.0.0/16,::ffff:10.0.0.5,::ffff:10.1.0.0/112"),
        ("fd00::/8,10.0.0.0/8,*", "fd00::/8,10.0.0.0/8,*,::ffff:10.0.0.0/104"),
    ],
)
def test_an_ipv4_proxy_is_believed_also_as_an_ipv6_socket_sees_it(value, believed):
    assert trusted_proxies({"FORWARDED_ALLOW_IPS": value}) == believed


def test_the_router_keeps_a_connection_95_s_unless_told_otherwise():
    assert keepalive_seconds({}) == 95
    assert keepalive_seconds({"GUNICORN_KEEPALIVE": " 120 "}) == 120
    assert keepalive_seconds({"GUNICORN_KEEPALIVE": "0"}) == 0


@pytest.mark.parametrize("value", ["soon", "-1", "1.5", "9³"])
def test_a_keepalive_that_is_no_whole_number_of_seconds_is_refused_naming_the_variable(value):
    with pytest.raises(NetworkSettingError) as refused:
        keepalive_seconds({"GUNICORN_KEEPALIVE": value})

    assert str(refused.value) == (
        f"GUNICORN_KEEPALIVE must be a whole number of seconds (0 closes every connection), got {value!r}."
    )


@pytest.mark.parametrize(
    "value", ["proxy.internal", "10.0.0.5,not an address", "10.0.0.1/24", "10.0.0.0/33", "10.0.0.5;10.0.0.6"]
)
def test_a_proxy_that_is_no_address_or_network_is_refused_naming_the_variable(value):
    with pytest.raises(NetworkSettingError) as refused:
        trusted_proxies({"FORWARDED_ALLOW_IPS": value})

    assert str(refused.value) == (
        "FORWARDED_ALLOW_IPS must be * or IP addresses or networks, comma-separated "
        f"(e.g. 10.0.0.5,10.1.0.0/16), got {value!r}."
    )
