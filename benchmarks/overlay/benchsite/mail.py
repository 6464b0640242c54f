"""A mail backend for benchmarks/tasks.py: builds each message as Django would for a mail server, then appends
its subject to the file BENCH_MAIL_LOG names instead of sending it, so that every mail sent by any process counts.
BENCH_MAIL_MS makes each send wait that long first, as a mail provider's SMTP round trips would."""

import os
import time

from django.core.mail.backends.base import BaseEmailBackend


class SubjectLog(BaseEmailBackend):
    def send_messages(self, messages):
        time.sleep(int(os.environ.get("BENCH_MAIL_MS", "0")) / 1000)
        lines = "".join(f"{message.subject} {len(message.message().as_bytes())}\n" for message in messages)
        # One write to a file opened for appending: lines from several processes do not interleave.
        with open(os.environ["BENCH_MAIL_LOG"], "a") as log:
            log.write(lines)
        return len(messages)
