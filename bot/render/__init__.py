"""Telegram message HTML and keyboards: escape-safe and length-safe by construction."""
