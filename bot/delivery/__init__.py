"""Getting queued items to readers: rate limits, the dispatcher, outcome rules."""
