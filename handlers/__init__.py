"""The channel-neutral core of notalone: models, ports and use cases.

It imports no other project package; adapters drive it and it drives them through ports.
"""
