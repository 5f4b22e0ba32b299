from django.urls import path

from videos import views

urlpatterns = [
    path("", views.index, name="index"),
    path("videos/<int:pk>/", views.detail, name="detail"),
]
