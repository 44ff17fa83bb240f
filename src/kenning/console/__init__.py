"""The web console: server-rendered pages for the people who run Kenning (``/console``).

Pages are HTML rendered by Jinja2 (autoescaped) with one stylesheet served from the package:
no script, nothing from a CDN, so the API's strict Content-Security-Policy holds for them too.
A visitor signs in with an API token; the console asks of it exactly what the API would
(``session.py``), masks what the API masks and records what the API records.
"""
