"""URL configuration. /healthz and /readyz are answered by plumbing/health.py."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

# Django's password reset pages, in the admin's look: its login page then
# offers "Forgotten your password?", and a reset link comes by mail.
admin_look = {"extra_context": {"site_header": admin.site.site_header}}

urlpatterns = [
    path("", views.home, name="home"),
    path("admin/password_reset/", auth_views.PasswordResetView.as_view(**admin_look), name="admin_password_reset"),
    path(
        "admin/password_reset/done/",
        auth_views.PasswordResetDoneView.as_view(**admin_look),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(**admin_look),
        name="password_reset_confirm",
    ),
    path("reset/done/", auth_views.PasswordResetCompleteView.as_view(**admin_look), name="password_reset_complete"),
    path("admin/", admin.site.urls),
]
