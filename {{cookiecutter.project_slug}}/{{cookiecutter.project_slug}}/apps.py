from django.apps import AppConfig


class ProjectConfig(AppConfig):
    name = "{{ cookiecutter.project_slug }}"

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks)
