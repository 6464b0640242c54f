"""Ask a baked project's WSGI application, and Django's own application
without the static-files wrapper, the same requests; write both answers.

    python wsgi_calls.py SLUG REQUESTS_JSON OUTPUT_FILE

Run with the project's Python, the project's directory on PYTHONPATH and
production settings in the environment (tests/test_static_files.py does). Each request
is {"method", "path", "scheme", "headers"}; "if_none_match_from_get": true
adds the ETag a plain GET of the same path got. Writes a JSON list of
{"wrapped": answer, "django": answer}, where an answer is its status, its
headers, the SHA-256 of its body and whether it was served before Django ran.
"""

import hashlib
import importlib
import json
import sys
from wsgiref.util import setup_testing_defaults


def call(application, method, path, scheme, headers, served_before_django_key):
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "SERVER_NAME": "127.0.0.1", "HTTP_HOST": "127.0.0.1"}
    setup_testing_defaults(environ)
    environ["wsgi.url_scheme"] = scheme
    environ.update({"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()})
    started = {}

    def start_response(status, response_headers, exc_info=None):
        started.update(status=status, headers=sorted(response_headers))

    body_parts = application(environ, start_response)
    try:
        body = b"".join(body_parts)
    finally:
        if hasattr(body_parts, "close"):
            body_parts.close()
    return {
        "status": started["status"],
        "headers": started["headers"],
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "served_before_django": environ.get(served_before_django_key, False),
    }


def main():
    slug, requests = sys.argv[1], json.loads(sys.argv[2])
    wrapped = importlib.import_module(f"{slug}.wsgi").application
    served_before_django_key = importlib.import_module(f"{slug}.static_files").SERVED_STATIC_FILE
    from django.core.wsgi import get_wsgi_application

    django_only = get_wsgi_application()
    answers = []
    for request in requests:
        headers = dict(request.get("headers", {}))
        if request.get("if_none_match_from_get"):
            etag = dict(call(django_only, "GET", request["path"], request["scheme"], {}, served_before_django_key)["headers"])["ETag"]
            headers["If-None-Match"] = etag
        answers.append({
            name: call(application, request["method"], request["path"], request["scheme"], headers, served_before_django_key)
            for name, application in (("wrapped", wrapped), ("django", django_only))
        })
    with open(sys.argv[3], "w") as output:  # stdout has the project's log
        json.dump(answers, output)


if __name__ == "__main__":
    main()
