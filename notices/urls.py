from django.urls import path

from . import views

urlpatterns = [
    path("email/", views.email_preferences_view, name="email_preferences"),
]
