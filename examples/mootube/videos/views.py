from django.shortcuts import get_object_or_404, redirect, render

from .forms import VideoForm
from .models import Video
from .queue import enqueue_view

RECENT_LIMIT = 5


def index(request):
    """Lists videos; POST adds one."""
    if request.method == "POST":
        form = VideoForm(request.POST)
        if form.is_valid():
            video = form.save()
            return redirect("detail", pk=video.pk)
    else:
        form = VideoForm()
    recent_ids = request.session.get("recent", [])
    recent = sorted(Video.objects.filter(pk__in=recent_ids), key=lambda v: recent_ids.index(v.pk))
    return render(
        request,
        "videos/index.html",
        {"videos": Video.objects.all()[:50], "form": form, "recent": recent},
    )


def detail(request, pk):
    """Shows a video and queues a view for the worker to count."""
    video = get_object_or_404(Video, pk=pk)
    enqueue_view(video.pk)
    recent = [video.pk] + [v for v in request.session.get("recent", []) if v != video.pk]
    request.session["recent"] = recent[:RECENT_LIMIT]
    return render(request, "videos/detail.html", {"video": video})
