"""Slash commands, buttons, shortcuts and modals as one registry: parsing, permissions, answers."""
