"""Where gunicorn listens, which peers it believes about HTTPS (and so who a request's client
is), and how long it keeps an idle connection.

All three come from the environment, and a bad value stops start-up with
one line naming the variable: left to gunicorn, PORT=abc gives an error
that never says which setting is wrong, and PORT=99999 a traceback.
"""

import functools
import ipaddress
import socket

HIGHEST_PORT = 65535
LOCAL_ONLY = ["127.0.0.1:8000"]
THIS_MACHINE = "127.0.0.1,::1"
# Heroku's router closes a kept-alive connection after 90 s idle; staying
# open a little longer leaves the closing to the router, so it never sends
# a request down a connection the app is closing at that moment.
DEFAULT_KEEPALIVE_SECONDS = 95
# Set by Heroku on every dyno and by Render on every service.
ROUTED_PLATFORM_VARIABLES = ("DYNO", "RENDER")


class NetworkSettingError(ValueError):
    pass


def bind_addresses(environ, ipv6=None):
    """Platforms (Heroku, Render, containers) say which port to listen on in
    PORT, and then traffic comes from outside, over IPv4 and, where the host
    has it, IPv6. Without it, stay on this machine.

    `ipv6` is what ipv6_listening() reports; tests pass their own.
    """
    raw = environ.get("PORT", "").strip()
    if not raw:
        return list(LOCAL_ONLY)
    # isascii() keeps out digits like "³", which isdigit() accepts and int() refuses.
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= HIGHEST_PORT:
        raise NetworkSettingError(f"PORT must be a port number from 1 to {HIGHEST_PORT}, got {raw!r}.")
    port = int(raw)
    ipv6 = ipv6_listening() if ipv6 is None else ipv6
    if ipv6 == DUAL_STACK:
        return [f"[::]:{port}"]
    if ipv6 == IPV6_ONLY:
        return [f"0.0.0.0:{port}", f"[::]:{port}"]
    return [f"0.0.0.0:{port}"]


# What an IPv6 socket bound to every address takes on this host.
DUAL_STACK = "dual stack"  # IPv6 and IPv4 both (Linux's default)
IPV6_ONLY = "IPv6 only"  # IPv6 alone, so IPv4 needs a socket of its own
NO_IPV6 = "no IPv6"  # no IPv6 socket can listen here (IPv6 switched off in the kernel)


def ipv6_listening():
    """Whether an IPv6 socket can listen on every address here, and whether it then takes IPv4 too."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::", 0))
            return IPV6_ONLY if probe.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) else DUAL_STACK
    except OSError:
        return NO_IPV6


def trusted_proxies(environ):
    """FORWARDED_ALLOW_IPS as gunicorn takes it: '*', or addresses and networks, comma-separated.

    Unset: on Heroku and Render only the platform's router reaches the app,
    so any peer is believed; anywhere else, only this machine.

    An IPv4 peer reaching a socket that listens on IPv6 as well arrives as
    an IPv4-mapped address (10.0.0.5 as ::ffff:10.0.0.5), so each IPv4
    entry is believed in that form too.
    """
    raw = environ.get("FORWARDED_ALLOW_IPS")
    if raw is None:
        return with_ipv4_mapped("*" if any(name in environ for name in ROUTED_PLATFORM_VARIABLES) else THIS_MACHINE)
    for entry in raw.split(","):
        entry = entry.strip()
        if entry and entry != "*" and as_network(entry) is None:
            raise NetworkSettingError(
                f"FORWARDED_ALLOW_IPS must be * or IP addresses or networks, comma-separated "
                f"(e.g. 10.0.0.5,10.1.0.0/16), got {raw!r}."
            )
    return with_ipv4_mapped(raw)


def keepalive_seconds(environ):
    """How long a connection may sit idle between two requests before gunicorn closes it.

    GUNICORN_KEEPALIVE, in whole seconds, for a router whose idle timeout
    is longer than Heroku's (it must stay above the router's); 0 closes
    every connection after its response.
    """
    raw = environ.get("GUNICORN_KEEPALIVE", "").strip()
    if not raw:
        return DEFAULT_KEEPALIVE_SECONDS
    if not (raw.isascii() and raw.isdigit()):
        raise NetworkSettingError(
            f"GUNICORN_KEEPALIVE must be a whole number of seconds (0 closes every connection), got {raw!r}."
        )
    return int(raw)


def with_ipv4_mapped(allowed):
    """The comma-separated list `allowed`, followed by the IPv4-mapped form of each IPv4 entry."""
    entries = [entry.strip() for entry in allowed.split(",")]
    mapped = [ipv4_mapped(network) for network in map(as_network, entries) if network and network.version == 4]
    return ",".join([allowed, *mapped]) if mapped else allowed


def ipv4_mapped(network):
    """10.1.0.0/16 as ::ffff:10.1.0.0/112, 10.0.0.5 as ::ffff:10.0.0.5: as an IPv6 socket sees them."""
    if network.num_addresses == 1:
        return f"::ffff:{network.network_address}"
    return f"::ffff:{network.network_address}/{96 + network.prefixlen}"


def as_network(text):
    """An address or network as ipaddress reads it, or None for anything else ("*" included)."""
    try:
        return ipaddress.ip_network(text)
    except ValueError:
        return None


def client_address(peer, forwarded_for, allowed):
    """The address a request came from, as far as trusted proxies vouch for it.

    `peer` is the address that connected, `forwarded_for` the request's
    X-Forwarded-For, `allowed` gunicorn's forwarded_allow_ips. A peer that
    is no trusted proxy is the client: what it writes in the header could
    be anything. Each trusted proxy appends the address it was reached from,
    so read from the right the first address that is no trusted proxy is
    the client (anything left of it came from the client itself); if every
    one is a proxy, the leftmost. '*' trusts any peer, not every address in
    the header: else a client could name itself whatever it liked.
    Entries that are not addresses are skipped.
    """
    proxies = networks_of(tuple(allowed))
    peer_ip = as_address(peer)
    if "*" not in allowed and not is_proxy(peer_ip, proxies):
        return as_written(peer, peer_ip)
    hops = [(hop, ip) for hop in (entry.strip() for entry in forwarded_for.split(",")) if (ip := as_address(hop))]
    for hop, ip in reversed(hops):
        if not is_proxy(ip, proxies):
            return as_written(hop, ip)
    return as_written(*(hops[0] if hops else (peer, peer_ip)))


def as_written(text, ip):
    """An IPv4 client as people write it: 10.0.0.5, not ::ffff:10.0.0.5 as an IPv6 socket reports it."""
    ipv4 = getattr(ip, "ipv4_mapped", None)
    return str(ipv4) if ipv4 else text


def is_proxy(ip, proxies):
    return ip is not None and any(ip in network for network in proxies)


@functools.lru_cache(maxsize=8)
def networks_of(allowed):
    """The networks in `allowed` ('*' aside), parsed once: the access log asks for every request."""
    return [ipaddress.ip_network(entry) for entry in allowed if entry != "*"]


def as_address(text):
    """The IP address `text` is, or None."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
