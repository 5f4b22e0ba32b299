"""The worker: drains the view queue in Redis into Video.views in PostgreSQL."""
import logging
import signal
from collections import Counter

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import F

from videos.models import Video
from videos.queue import redis_client

log = logging.getLogger("mootube.worker")
BATCH = 500


class Command(BaseCommand):
    help = "Count queued video views into the database (runs until SIGTERM)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="drain the queue once, then exit")

    def handle(self, *args, once=False, **options):
        self.stopping = False
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        client = redis_client()
        log.info("worker started (queue %s)", settings.VIEW_QUEUE_KEY)
        while not self.stopping:
            # Wait for work, waking up every second to notice SIGTERM.
            first = client.blpop([settings.VIEW_QUEUE_KEY], timeout=1)
            if first is None:
                if once:
                    break
                continue
            self.count([first[1]] + self.take_batch(client))
        log.info("worker stopped")

    def stop(self, signum, frame):
        self.stopping = True

    def take_batch(self, client):
        """Pops up to BATCH more queued views at once."""
        pipe = client.pipeline()
        pipe.lrange(settings.VIEW_QUEUE_KEY, 0, BATCH - 1)
        pipe.ltrim(settings.VIEW_QUEUE_KEY, BATCH, -1)
        items, _ = pipe.execute()
        return items

    def count(self, items):
        """Adds the views to the videos (at most once: a crash here loses them)."""
        counts = Counter()
        for item in items:
            try:
                counts[int(item)] += 1
            except ValueError:
                log.warning("dropping malformed queue item %r", item)
        with transaction.atomic():
            for video_id, count in sorted(counts.items()):
                Video.objects.filter(pk=video_id).update(views=F("views") + count)
        log.info("counted %d views of %d videos", len(items), len(counts))
