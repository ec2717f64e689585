"""The one page of what waits to be sent or has failed, on every channel (under /admin/)."""

from django.urls import path

from .admin import waiting_view

urlpatterns = [path("", waiting_view, name="delivery_waiting")]
