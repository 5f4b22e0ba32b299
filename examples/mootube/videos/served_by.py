"""Which release and which instance served a request."""
import os
import socket

from django.conf import settings


def current_release():
    """HERD_RELEASE from the environment, else from herd's release file, else 'unknown'."""
    release = os.environ.get("HERD_RELEASE")
    if release:
        return release
    try:
        with open(settings.HERD_RELEASE_FILE, encoding="utf-8") as release_file:
            for line in release_file:
                if line.startswith("HERD_RELEASE="):
                    return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def current_instance():
    """HERD_INSTANCE_ID from the environment, else the host name."""
    return os.environ.get("HERD_INSTANCE_ID") or socket.gethostname()
