from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "routing"
    verbose_name = "Triage and routing"

    def ready(self) -> None:
        from routing import signals  # noqa: F401  (refreshes the triage cache on edits)
