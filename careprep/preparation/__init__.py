"""The preparation: the questionnaire, reading replies, commands and the assistant's words.

- ``questionnaire``: each questionnaire as a frozen value (``PREPARE``), found by (id, version);
- ``conversation``: the rules of the conversation, for any channel (start, reply, skip, ...);
- ``answers``: reading a reply to one question; ``commands``: WHY, SKIP, BACK, PAUSE, HELP;
- ``progress``: the preparation in the store; ``messages``: what the assistant says.
"""
