"""Optional parts of the kit, each usable alone: ``drf`` (JSON API), ``rules``, ``messages``."""
