"""Translations of Traza's texts, one module per language: ``MESSAGES`` maps the English text (the
message id used with ``bridge.i18n.t``) to its translation, with the same ``{placeholders}``."""
