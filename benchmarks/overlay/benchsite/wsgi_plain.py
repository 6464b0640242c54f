"""Django's WSGI application with nothing wrapped around it (static files only via middleware, if any)."""

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()
