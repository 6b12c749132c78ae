"""The tutorial project's settings: Channels and daphne, a Redis channel layer, nothing else.

TUTORIAL_LAYER picks the layer: `core` (channels_redis.core.RedisChannelLayer, the
tutorial's) or `pubsub` (channels_redis.pubsub.RedisPubSubChannelLayer). The layer
config is the tutorial's: hosts only, every other option at its default (so the core
layer's capacity is 100 and over-capacity group messages are dropped, as shipped).
"""

import os

SECRET_KEY = "tutorial-baseline-not-secret"  # noqa: S105 (a loopback benchmark target)
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["daphne", "channels"]
ASGI_APPLICATION = "bench.baselines.tutorial.asgi.application"
DATABASES: dict = {}
USE_TZ = True

_BACKENDS = {
    "core": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": _BACKENDS[os.environ.get("TUTORIAL_LAYER", "core")],
        "CONFIG": {
            "hosts": [os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")],
            # Not in the tutorial: keeps a shared Redis's other users' keys apart.
            "prefix": os.environ.get("TUTORIAL_PREFIX", "asgi"),
        },
    }
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
