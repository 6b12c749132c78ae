from django.apps import AppConfig


class CoachesConfig(AppConfig):
    name = "coaches"
    verbose_name = "Coaches"

    def ready(self) -> None:
        from coaches import signals  # noqa: F401  (routing's specialty cache)
