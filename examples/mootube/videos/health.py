"""Health: 200 only when PostgreSQL answers SELECT 1 and Redis answers PING."""
from django.db import connection
from django.http import JsonResponse

from .queue import redis_client
from .served_by import current_instance, current_release


def check_database():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return "ok"
    except Exception as error:  # any failure means unhealthy; report its kind
        connection.close()
        return f"error: {error.__class__.__name__}"


def check_redis():
    try:
        redis_client().ping()
        return "ok"
    except Exception as error:
        return f"error: {error.__class__.__name__}"


def health_response():
    checks = {"database": check_database(), "redis": check_redis()}
    healthy = all(result == "ok" for result in checks.values())
    return JsonResponse(
        {
            "status": "ok" if healthy else "unhealthy",
            "checks": checks,
            "release": current_release(),
            "instance": current_instance(),
        },
        status=200 if healthy else 503,
    )
