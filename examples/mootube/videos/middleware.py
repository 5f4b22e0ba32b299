from .health import health_response
from .served_by import current_instance, current_release


class HealthCheckMiddleware:
    """Answers GET /health itself, before host validation and sessions."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path in ("/health", "/health/"):
            response = health_response()
            response["Cache-Control"] = "no-store"
            return response
        return self.get_response(request)


class ServedByMiddleware:
    """Adds X-Herd-Release and X-Herd-Instance headers to every response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response["X-Herd-Release"] = current_release()
        response["X-Herd-Instance"] = current_instance()
        return response
