"""The server's plumbing: what gunicorn.conf.py uses to run this Django project.

Nothing here is needed to write views, models or settings; it is the
machinery between gunicorn and the app:

    __main__.py            the start command, `python -m {{ cookiecutter.project_slug }}.plumbing.server`
    sizing.py              workers, threads and database connections per worker
    connection_budget.py   the start-up line with the database connection arithmetic
    network.py             where gunicorn listens, which proxies it believes, who the
                           client is, how long it keeps a router's connection
    wsgi.py                the app gunicorn serves: the project's, wrapped
    wsgi_wrapper.py        the wrapper: the watchdog told when a request waits on
                           its client, and a warning about a proxy not trusted
    watchdog.py            cuts off a request whose app runs past gunicorn's timeout
    access_log.py          the access log, naming the client behind the proxies,
                           less health checks and static files
    gunicorn_internals.py  the only code that uses gunicorn beyond its documented
                           settings and hooks, checked at start-up
"""
