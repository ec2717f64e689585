"""Case types declared once, and the one way apps extend each other.

`declaration.py`: a case type (its stages, holders, service levels, documents, texts, portal
panels, webhook events, analytics facts) as data; every consumer reads it instead of naming
stages. `extensions.py`: `ExtensionPoint`, the single shape in which one app offers a place for
others to add behaviour from their `AppConfig.ready()`.

This package imports nothing of ours: every app may build on it.
"""
