"""The JSON API, a face of Trackly beside the dashboard's views.

Its endpoints add no rules of their own: they call the same validators and services as the
dashboard. `urls` assembles the API; each resource has its module (`lists`, `contacts`,
`imports`, `audiences`, `labels`, `jobs`), and what they share lives beside them: `errors`,
`auth`, `ratelimit`, `paging`, `conditions`, `fields` and `openapi`.
"""
