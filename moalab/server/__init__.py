"""moalab-server: the Quart app that serves device objects over REST and WebSocket."""
