from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "demo"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The dynamic receivers the demo's notification rule names ("project_members").
        from demo import rules  # noqa: F401
