from django.apps import AppConfig


class TracklyConfig(AppConfig):
    name = "trackly"
    verbose_name = "Accounts"

    def ready(self) -> None:
        # Connects the log-in signal that marks a required password change.
        from trackly import passwords  # noqa: F401
