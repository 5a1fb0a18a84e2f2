"""Custom actions of the preparation assistant (served by ``rasa run actions``).

Actions are thin: they read the turn, call one domain function and return events.
"""

from bot.actions import commands, preparation_form, safety, session

__all__ = ["commands", "preparation_form", "safety", "session"]
