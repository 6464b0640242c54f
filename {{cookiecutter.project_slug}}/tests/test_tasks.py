from functools import partial

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import transaction
{%- if cookiecutter.django_version == "5.2" %}
from django_tasks import TaskResultStatus
{%- else %}
from django.tasks import TaskResultStatus
{%- endif %}

from {{ cookiecutter.project_slug }}.tasks import send_note

DATABASE_BACKEND = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def test_the_example_task_mails_the_message_and_returns_how_many_went():
    result = send_note.enqueue("someone@example.com", "Hello", "A note.")

    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 1
    assert [(message.to, message.subject, message.body) for message in mail.outbox] == [
        (["someone@example.com"], "Hello", "A note.")
    ]


@pytest.mark.django_db(transaction=True)
def test_a_task_enqueued_on_commit_runs_once_the_transaction_commits():
    with transaction.atomic():
        transaction.on_commit(partial(send_note.enqueue, "someone@example.com", "Hello", "A note."))
        assert mail.outbox == []

    assert len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_a_task_enqueued_on_commit_in_a_transaction_that_rolls_back_never_runs():
    with pytest.raises(RuntimeError), transaction.atomic():
        transaction.on_commit(partial(send_note.enqueue, "someone@example.com", "Hello", "A note."))
        raise RuntimeError("the request failed")

    assert mail.outbox == []


@pytest.mark.django_db(transaction=True)
def test_the_worker_runs_a_task_from_the_database_and_stores_its_result(settings):
    settings.TASKS = DATABASE_BACKEND
    enqueued = send_note.enqueue("someone@example.com", "Hello", "A note.")
    assert enqueued.status == TaskResultStatus.READY
    assert mail.outbox == []

    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)

    finished = send_note.get_result(enqueued.id)
    assert finished.status == TaskResultStatus.SUCCESSFUL
    assert finished.return_value == 1
    assert [message.subject for message in mail.outbox] == ["Hello"]
