"""Work that must not hold up a request: it runs in the worker (`python manage.py db_worker`).

Enqueue from a view once its transaction commits, so a request that rolls back
leaves nothing to run:

    transaction.on_commit(partial(send_note.enqueue, "someone@example.com", "Hello", "..."))
"""

from django.core.mail import send_mail
{%- if cookiecutter.django_version == "5.2" %}
from django_tasks import task
{%- else %}
from django.tasks import task
{%- endif %}


@task
def send_note(recipient, subject, body):
    """Mail one message; the number of messages sent is the task's result."""
    return send_mail(subject, body, None, [recipient])
