from django.apps import AppConfig


class TracklyConfig(AppConfig):
    name = "trackly"
    verbose_name = "Accounts"
