"""Content adapter: the teen-facing texts, kept as data and validated at start-up."""
