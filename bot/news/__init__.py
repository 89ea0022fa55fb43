"""Reading news from the web: safe fetching, feed and page parsing, ingestion."""
