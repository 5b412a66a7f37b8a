"""Driving adapters (terminal, Telegram, Zalo), the CLI and the composition root."""
