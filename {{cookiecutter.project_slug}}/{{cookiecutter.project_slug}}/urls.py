"""URL configuration. /healthz and /readyz are answered by plumbing/health.py."""

from django.contrib import admin
from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("admin/", admin.site.urls),
]
