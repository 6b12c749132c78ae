"""The Django Channels tutorial chat (channels.readthedocs.io, "Tutorial"), as a baseline."""
