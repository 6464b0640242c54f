"""Where gunicorn listens, which peers it believes about HTTPS, and so who a request's client is.

Both come from the environment, and a bad value stops start-up with one
line naming the variable: left to gunicorn, PORT=abc gives an error that
never says which setting is wrong, and PORT=99999 a traceback.
"""

import ipaddress

HIGHEST_PORT = 65535
LOCAL_ONLY = ["127.0.0.1:8000"]
THIS_MACHINE = "127.0.0.1,::1"
# Set by Heroku on every dyno and by Render on every service.
ROUTED_PLATFORM_VARIABLES = ("DYNO", "RENDER")


class NetworkSettingError(ValueError):
    pass


def bind_addresses(environ):
    """Platforms (Heroku, Render, containers) say which port to listen on in
    PORT, and then traffic comes from outside. Without it, stay on this machine."""
    raw = environ.get("PORT", "").strip()
    if not raw:
        return list(LOCAL_ONLY)
    # isascii() keeps out digits like "³", which isdigit() accepts and int() refuses.
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= HIGHEST_PORT:
        raise NetworkSettingError(f"PORT must be a port number from 1 to {HIGHEST_PORT}, got {raw!r}.")
    return [f"0.0.0.0:{int(raw)}"]


def trusted_proxies(environ):
    """FORWARDED_ALLOW_IPS as gunicorn takes it: '*', or addresses and networks, comma-separated.

    Unset: on Heroku and Render only the platform's router reaches the app,
    so any peer is believed; anywhere else, only this machine.
    """
    raw = environ.get("FORWARDED_ALLOW_IPS")
    if raw is None:
        return "*" if any(name in environ for name in ROUTED_PLATFORM_VARIABLES) else THIS_MACHINE
    for entry in raw.split(","):
        entry = entry.strip()
        if entry and entry != "*" and not is_network(entry):
            raise NetworkSettingError(
                f"FORWARDED_ALLOW_IPS must be * or IP addresses or networks, comma-separated "
                f"(e.g. 10.0.0.5,10.1.0.0/16), got {raw!r}."
            )
    return raw


def is_network(text):
    try:
        ipaddress.ip_network(text)
    except ValueError:
        return False
    return True


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
    if "*" not in allowed and not in_networks(peer, allowed):
        return peer
    hops = [entry.strip() for entry in forwarded_for.split(",") if is_address(entry.strip())]
    for hop in reversed(hops):
        if not in_networks(hop, allowed):
            return hop
    return hops[0] if hops else peer


def in_networks(address, allowed):
    """Whether `address` is one of the addresses or networks in `allowed` ('*' aside)."""
    if not is_address(address):
        return False
    return any(ipaddress.ip_address(address) in ipaddress.ip_network(entry) for entry in allowed if entry != "*")


def is_address(text):
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
