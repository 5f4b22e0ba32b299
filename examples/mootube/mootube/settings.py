"""mootube settings: everything comes from environment variables (herd renders them
into /etc/herd/mootube.env at boot from SSM Parameter Store and Secrets Manager).

Nothing here needs the database or Redis at import time, so `collectstatic` runs at
bake time with no environment at all.
"""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name, default=None):
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def env_bool(name, default=False):
    value = env(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def env_list(name, default=""):
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


# herd's SECRET_KEY (generated per environment into Secrets Manager). Empty at bake time; Django refuses to sign anything (sessions, CSRF) without it.
SECRET_KEY = env("SECRET_KEY", "")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# Behind the load balancer, which terminates TLS.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_X_FORWARDED_HOST = False

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "videos",
]

MIDDLEWARE = [
    # First: answers /health before host validation (load balancer checks use the
    # instance IP as Host) and without touching sessions.
    "videos.middleware.HealthCheckMiddleware",
    "videos.middleware.ServedByMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "mootube.urls"
WSGI_APPLICATION = "mootube.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.messages.context_processors.messages",
                "videos.context_processors.served_by",
            ],
        },
    },
]

# Shared state lives in PostgreSQL and Redis only: any instance can serve any request.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": env("DATABASE_HOST", "localhost"),
        "PORT": env("DATABASE_PORT", "5432"),
        "NAME": env("DATABASE_NAME", "mootube"),
        "USER": env("DATABASE_USER", "mootube"),
        "PASSWORD": env("DATABASE_PASSWORD", ""),
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {"connect_timeout": 2},
    }
}

REDIS_URL = "{scheme}://{host}:{port}/0".format(
    scheme="rediss" if env_bool("REDIS_TLS", False) else "redis",
    host=env("REDIS_HOST", "localhost"),
    port=env("REDIS_PORT", "6379"),
)
REDIS_OPTIONS = {
    "socket_connect_timeout": 2,
    "socket_timeout": 2,
    "health_check_interval": 30,
}
if env("REDIS_PASSWORD"):
    REDIS_OPTIONS["password"] = env("REDIS_PASSWORD")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "mootube",
        "OPTIONS": dict(REDIS_OPTIONS),
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.cache"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# The view-count queue the worker drains (a Redis list).
VIEW_QUEUE_KEY = "mootube:view-queue"

# Where herd records the release baked into the image.
HERD_RELEASE_FILE = env("HERD_RELEASE_FILE", "/etc/herd/release")

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["stdout"], "level": env("LOG_LEVEL", "INFO")},
}
