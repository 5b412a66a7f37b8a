"""The Zalo channel: our own client for the Zalo Bot Platform Bot API, polling and webhook."""
