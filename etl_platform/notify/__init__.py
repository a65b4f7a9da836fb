"""Contextual notifications: a view's rules sent once per row version (docs/notifications.md).

`render` fills a rule's template from a row, `channels` makes one attempt to send it (webhook,
SMTP), `ledger` records what was claimed, sent or dead-lettered in PostgreSQL, and `deliver`
runs a rule over a view day's rows with the window, retries, rate limit and dead letters.
"""
