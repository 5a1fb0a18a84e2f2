"""Custom actions of the preparation assistant (served by ``rasa run actions``).

Actions only translate: ``slots`` turns the tracker into the core's ``Conversation``
and a ``Turn`` back into messages and slot events; the rules themselves are in
``careprep.preparation.conversation``. ``store`` holds the settings, read once.
"""

from bot.actions import commands, preparation_form, safety, session

__all__ = ["commands", "preparation_form", "safety", "session"]
