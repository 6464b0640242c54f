"""The WSGI application gunicorn serves (gunicorn.conf.py's `wsgi_app`): the
project's own, from {{ cookiecutter.project_slug }}/wsgi.py, with what server/wsgi_wrapper.py
puts around it.

The two stay apart so that the wrapper can be imported, by its tests among
others, without loading the project's application, which refuses to load
with settings unsafe for production.
"""

from ...wsgi import application as project_application
from .wsgi_wrapper import wrapped

application = wrapped(project_application)
