"""The counselors' side: the JSON API for hotline systems (and, next, the web console)."""
