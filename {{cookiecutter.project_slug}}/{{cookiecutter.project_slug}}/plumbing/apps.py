from django.apps import AppConfig
from django.core.signals import request_finished
from django.db.backends.signals import connection_created


class PlumbingConfig(AppConfig):
    name = "{{ cookiecutter.project_slug }}.plumbing"

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks)
        from .database import pool_health
        from .request_id import forget

        # Each connection a request takes from the pool is news that the database answers.
        connection_created.connect(pool_health.connection_taken)
        # Lines logged after a request has ended belong to no request.
        request_finished.connect(forget)
