"""What our service is compared with: a bare `websockets` relay (the ceiling) and the
Django Channels tutorial chat (one consumer, a room group, no database, no auth)."""
