from django.urls import path

from . import views

urlpatterns = [
    path("digest/", views.digest_preferences_view, name="digest_preferences"),
]
