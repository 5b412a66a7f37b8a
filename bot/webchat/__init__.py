"""The web chat (`/chat` of `notalone serve`): no account, no app, a link a school can share."""
