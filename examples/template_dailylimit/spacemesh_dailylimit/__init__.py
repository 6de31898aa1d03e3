"""A wallet whose owner can spend at most ``daily_limit`` smidge per day (288 five-minute layers)."""
