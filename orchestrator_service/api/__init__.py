"""The HTTP API: the door other services use to enqueue, follow and read jobs."""
