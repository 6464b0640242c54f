"""The Content-Security-Policy blocks nothing the project's own pages need:
headless Chromium loads the landing page and the admin (logged in) from the
Procfile's gunicorn, and reports no violation and no console error, while a
page with an inline style shows that a violation would be seen."""

import pytest
from support.browser import Browser, chromium_binary
from support.project import procfile_command, production_env, run, running_server

pytestmark = pytest.mark.slow

ADMIN_PAGES = ["/admin/", "/admin/accounts/user/", "/admin/accounts/user/add/", "/admin/auth/group/add/", "/admin/password_change/"]
USERNAME, PASSWORD = "browser", "a-long-admin-password-for-the-browser"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    binary = chromium_binary()
    if binary is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    directory = tmp_path_factory.mktemp("chromium")
    browser = Browser(binary, directory / "profile", directory / "chromium.log")
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="module", params=["6.1", "5.2"], ids=["django-6.1", "django-5.2"])
def site(request, tmp_path_factory):
    """The project of each django_version answer (Django's own policy on 6.1,
    django-csp's on 5.2), served over plain HTTP to the browser, so without the
    HTTPS redirect; the policy is the same. Chromium keeps Secure cookies for localhost."""
    fault_project, project_python = (
        (request.getfixturevalue("fault_project"), request.getfixturevalue("project_python")) if request.param == "6.1"
        else (request.getfixturevalue("lts_fault_project"), request.getfixturevalue("lts_python"))
    )
    env = production_env(project_python, DJANGO_SECURE_SSL_REDIRECT="false", DJANGO_SUPERUSER_PASSWORD=PASSWORD)
    run([str(project_python), "manage.py", "createsuperuser", "--noinput", "--username", USERNAME, "--email", "b@example.com"], fault_project, env)
    with running_server(procfile_command(fault_project, "web"), fault_project, env, tmp_path_factory.mktemp("gunicorn") / "log") as server:
        yield f"http://localhost:{server.port}"


def test_a_page_breaking_the_policy_is_reported(browser, site):
    page = browser.new_page()
    page.load(f"{site}/faults/inline-style")

    assert page.csp_violations() == ["style-src-attr blocked inline"]


def test_the_landing_page_satisfies_the_policy_and_gets_its_stylesheet(browser, site):
    page = browser.new_page()
    errors = page.load(f"{site}/")

    assert errors == []
    assert page.csp_violations() == []
    assert page.evaluate("getComputedStyle(document.querySelector('main')).maxWidth") == "640px"  # site.css: 40rem


def test_the_admin_login_and_pages_satisfy_the_policy(browser, site):
    page = browser.new_page()
    login_errors = page.load(f"{site}/admin/login/")
    login_violations = page.csp_violations()
    page.load(action=(
        f"document.querySelector('#id_username').value = '{USERNAME}';"
        f"document.querySelector('#id_password').value = '{PASSWORD}';"
        "document.querySelector('#login-form').submit();"
    ))
    assert page.evaluate("location.pathname") == "/admin/"  # logged in

    seen = {"/admin/login/": (login_errors, login_violations)}
    for path in ADMIN_PAGES:
        errors = page.load(f"{site}{path}")
        assert page.evaluate("document.querySelector('#user-tools') !== null"), f"{path} is not an admin page"
        seen[path] = (errors, page.csp_violations())

    assert seen == {path: ([], []) for path in seen}
