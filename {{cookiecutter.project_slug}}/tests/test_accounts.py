"""The project's own user model: users are made, log in, and are managed in the admin."""

import pytest
from django.contrib.auth import get_user_model

from accounts.models import User

pytestmark = pytest.mark.django_db


def test_the_user_model_is_the_projects_own():
    assert get_user_model() is User


def test_a_user_made_with_a_password_can_log_in(client):
    User.objects.create_user("ada", "ada@example.com", "a-long-password-for-tests")

    assert client.login(username="ada", password="a-long-password-for-tests")
    assert not client.login(username="ada", password="a-wrong-password")


def test_the_admin_lists_users_to_a_superuser(client):
    User.objects.create_user("grace", "grace@example.com")
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "a-long-password-for-tests"))

    response = client.get("/admin/accounts/user/", secure=True)

    assert response.status_code == 200
    assert b"grace" in response.content and b"admin@example.com" in response.content


def test_the_admin_turns_away_a_user_who_is_not_staff(client):
    client.force_login(User.objects.create_user("visitor"))

    response = client.get("/admin/accounts/user/", secure=True)

    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
