"""The warning logged when a peer gunicorn does not trust says a request came over HTTPS: the
reason every page behind an untrusted proxy redirects to itself. (The live-server test sees it
logged under gunicorn.)"""

import logging
import threading

import pytest

from {{ cookiecutter.project_slug }}.plumbing.server.wsgi_wrapper import UntrustedProxyWarning

WARNING = (
    "A request from 10.1.2.3 says X-Forwarded-Proto: https, but 10.1.2.3 is not a trusted proxy, so it is "
    "treated as plain HTTP (and redirected to HTTPS if SECURE_SSL_REDIRECT is on). If 10.1.2.3 is your load "
    "balancer, set FORWARDED_ALLOW_IPS=10.1.2.3 (or its network). (Logged once per worker.)"
)


def environ(scheme, forwarded_proto=None, peer="10.1.2.3"):
    """What gunicorn hands the app: the scheme it decided on, and the header as the peer sent it."""
    headers = {} if forwarded_proto is None else {"HTTP_X_FORWARDED_PROTO": forwarded_proto}
    return {"wsgi.url_scheme": scheme, "REMOTE_ADDR": peer, **headers}


@pytest.fixture
def warnings(caplog):
    caplog.set_level(logging.WARNING, logger="{{ cookiecutter.project_slug }}.plumbing.server.wsgi_wrapper")
    return caplog


def test_a_claim_of_https_gunicorn_ignored_is_logged_naming_the_peer_and_forwarded_allow_ips(warnings):
    UntrustedProxyWarning().check(environ("http", "https"))

    assert [(record.levelname, record.getMessage()) for record in warnings.records] == [("WARNING", WARNING)]


def test_it_is_logged_once_however_many_such_requests_follow(warnings):
    warning = UntrustedProxyWarning()

    warning.check(environ("http", "https"))
    warning.check(environ("http", "https", peer="10.9.9.9"))

    assert [record.getMessage() for record in warnings.records] == [WARNING]


def test_requests_arriving_together_log_it_once(warnings):
    warning = UntrustedProxyWarning()
    clients = [threading.Thread(target=warning.check, args=(environ("http", "https"),)) for _ in range(8)]
    for client in clients:
        client.start()
    for client in clients:
        client.join()

    assert len(warnings.records) == 1


def test_no_warning_when_gunicorn_believed_the_header_or_nothing_claimed_https(warnings):
    warning = UntrustedProxyWarning()

    warning.check(environ("https", "https"))  # a trusted proxy
    warning.check(environ("http", "http"))
    warning.check(environ("http"))

    assert warnings.records == []
    warning.check(environ("http", "https"))
    assert len(warnings.records) == 1
