"""WSGI entry point: `gunicorn mootube.wsgi`."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mootube.settings")
application = get_wsgi_application()
