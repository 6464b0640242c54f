"""A raw WSGI app: what gunicorn alone can do, with no Django in the way (the ceiling)."""

BODY = b'{"status": "ok", "items": [1, 2, 3]}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


def application(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
