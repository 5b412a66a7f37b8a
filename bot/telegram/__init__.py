"""The Telegram channel: an adapter only (Update -> core message, core replies -> Bot API calls)."""
