"""Where gunicorn listens and which peers it believes about HTTPS, from the environment."""

import pytest

from {{ cookiecutter.project_slug }}.server.network import NetworkSettingError, bind_addresses, trusted_proxies


def test_with_port_set_gunicorn_listens_on_every_interface_on_that_port():
    assert bind_addresses({"PORT": "5123"}) == ["0.0.0.0:5123"]


def test_a_port_with_blanks_around_it_is_read():
    assert bind_addresses({"PORT": " 8080 "}) == ["0.0.0.0:8080"]


@pytest.mark.parametrize("environ", [{}, {"PORT": ""}, {"PORT": "  "}], ids=["unset", "empty", "blank"])
def test_without_port_gunicorn_listens_on_this_machine_only(environ):
    assert bind_addresses(environ) == ["127.0.0.1:8000"]


@pytest.mark.parametrize("port", ["1", "65535"])
def test_the_lowest_and_the_highest_port_are_accepted(port):
    assert bind_addresses({"PORT": port}) == [f"0.0.0.0:{port}"]


@pytest.mark.parametrize("port", ["abc", "0", "65536", "99999", "-1", "80.5", "8³"])
def test_a_port_that_is_no_port_number_is_refused_naming_the_variable(port):
    with pytest.raises(NetworkSettingError) as refused:
        bind_addresses({"PORT": port})

    assert str(refused.value) == f"PORT must be a port number from 1 to 65535, got {port!r}."


def test_off_heroku_and_render_only_this_machine_may_say_a_request_came_over_https():
    assert trusted_proxies({}) == "127.0.0.1,::1"


@pytest.mark.parametrize("environ", [{"DYNO": "web.1"}, {"RENDER": "true"}], ids=["heroku", "render"])
def test_on_heroku_and_render_the_platforms_router_is_believed_from_any_address(environ):
    assert trusted_proxies(environ) == "*"


@pytest.mark.parametrize("value", ["10.0.0.5", "10.0.0.5, 10.1.0.0/16", "*", "::1,fd00::/8", ""])
def test_forwarded_allow_ips_is_taken_as_given_even_on_a_platform(value):
    assert trusted_proxies({"FORWARDED_ALLOW_IPS": value, "DYNO": "web.1"}) == value


@pytest.mark.parametrize("value", ["proxy.internal", "10.0.0.5,not an address", "10.0.0.1/24", "10.0.0.5;10.0.0.6"])
def test_a_proxy_that_is_no_address_or_network_is_refused_naming_the_variable(value):
    with pytest.raises(NetworkSettingError) as refused:
        trusted_proxies({"FORWARDED_ALLOW_IPS": value})

    assert str(refused.value) == (
        "FORWARDED_ALLOW_IPS must be * or IP addresses or networks, comma-separated "
        f"(e.g. 10.0.0.5,10.1.0.0/16), got {value!r}."
    )
