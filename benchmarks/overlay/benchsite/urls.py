"""The generated project's URLs, plus the benchmark views under /bench/."""

from django.conf import settings
from django.urls import include, path

from . import views

urlpatterns = [
    path("bench/json", views.tiny_json),
    path("bench/cpu", views.cpu_bound),
    path("bench/cpu-long", views.cpu_bound_long),
    path("bench/io", views.io_bound),
    path("bench/db", views.database_bound),
    path("", include(settings.BENCH_PROJECT_URLCONF)),
]
