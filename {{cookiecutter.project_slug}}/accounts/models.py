from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """The project's user, in place from the first migration.

    Django's own User cannot later be swapped for a model of the project's
    without rewriting every table that points at it; this one takes new
    fields (a display name, a time zone) with an ordinary migration.
    """
