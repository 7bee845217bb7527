from django.apps import AppConfig


class TracklyConfig(AppConfig):
    name = "trackly"
    verbose_name = "Accounts"

    def ready(self) -> None:
        # Connect the log-in signal that marks a required password change, and the PostgreSQL
        # connection setup that groups sharded rows by their columns.
        from trackly import passwords, sharding  # noqa: F401
