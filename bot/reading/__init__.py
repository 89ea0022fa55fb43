"""Reading: summaries, sentence splitting, language detection, related reads and search queries."""
