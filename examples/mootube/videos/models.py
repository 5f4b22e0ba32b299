from django.db import models


class Video(models.Model):
    """A video: a title and where to watch it. `views` is updated by the worker."""

    title = models.CharField(max_length=200)
    url = models.URLField()
    views = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.title
