"""Errors, and traces if asked for, to Sentry, once SENTRY_DSN is set.

Unset, nothing is sent and the SDK is not even loaded. Set, each unhandled
exception of a view (and each line logged at ERROR) becomes an event in
Sentry, tagged with the request's id (request_id.py), so that the report
leads to the request's log lines and back. The release is the commit being
run: SENTRY_RELEASE, Heroku's HEROKU_BUILD_COMMIT or SOURCE_VERSION, or
Render's RENDER_GIT_COMMIT; the environment is SENTRY_ENVIRONMENT
("production" unless set). No personal data is sent: no cookies, no
users, no client addresses (send_default_pii off).

Traces cost Sentry quota, so none are sent unless SENTRY_TRACES_SAMPLE_RATE
(0 to 1) asks for a share of requests; health checks and static files are
never traced, as a platform asks every few seconds and a page pulls several.
"""

import functools

from django.core.exceptions import ImproperlyConfigured

from .environment import env_str
from .health import LIVENESS_PATH, READINESS_PATH
from .request_id import current

SKIPPED_PATHS = (LIVENESS_PATH, READINESS_PATH)


def start_sentry(static_url):
    """Set up sentry-sdk from the environment, if SENTRY_DSN is set; a malformed value stops start-up in one line."""
    dsn = env_str("SENTRY_DSN").strip()
    if not dsn:
        return
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.utils import BadDsn, Dsn

    try:
        Dsn(dsn)
    except BadDsn as error:
        # The DSN itself is not echoed: it is a credential of sorts.
        raise ImproperlyConfigured(
            f"SENTRY_DSN is not a Sentry DSN ({error}); expected e.g. https://key@o0.ingest.sentry.io/0."
        ) from None
    traces_sampler = functools.partial(
        traced_share, rate=traces_sample_rate(), static_path="/" + static_url.removeprefix("/")
    )
    sentry_sdk.init(
        dsn=dsn,
        integrations=[DjangoIntegration()],
        release=release(),
        send_default_pii=False,
        traces_sampler=traces_sampler,
        before_send=with_request_id,
        before_send_transaction=with_request_id,
    )


def traced_share(sampling_context, rate, static_path):
    """The share of requests like this one to trace (sentry-sdk's traces_sampler): none of the health checks
    and static files, `rate` of the rest."""
    path = sampling_context.get("wsgi_environ", {}).get("PATH_INFO", "")
    return 0 if path in SKIPPED_PATHS or path.startswith(static_path) else rate


def release():
    """Sentry's own guess (SENTRY_RELEASE, the git checkout's commit, Heroku's HEROKU_BUILD_COMMIT or
    SOURCE_VERSION), else Render's RENDER_GIT_COMMIT, which Sentry does not know of; else None."""
    from sentry_sdk.utils import get_default_release

    return get_default_release() or env_str("RENDER_GIT_COMMIT") or None


def traces_sample_rate():
    raw = env_str("SENTRY_TRACES_SAMPLE_RATE").strip()
    try:
        rate = float(raw) if raw else 0.0
    except ValueError:
        rate = None
    if rate is None or not 0 <= rate <= 1:
        raise ImproperlyConfigured(
            f"SENTRY_TRACES_SAMPLE_RATE must be a number from 0 to 1 (the share of requests traced), got {raw!r}."
        )
    return rate


def with_request_id(event, hint):
    """Tag an event with the id of the request it comes from, if any."""
    request_id = current.get()
    if request_id:
        event.setdefault("tags", {})["request_id"] = request_id
    return event
