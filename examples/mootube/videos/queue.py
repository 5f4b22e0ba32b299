"""The Redis list that carries view events from web processes to the worker."""
import redis
from django.conf import settings


def redis_client():
    return redis.Redis.from_url(settings.REDIS_URL, **settings.REDIS_OPTIONS)


def enqueue_view(video_id):
    redis_client().rpush(settings.VIEW_QUEUE_KEY, str(video_id))
