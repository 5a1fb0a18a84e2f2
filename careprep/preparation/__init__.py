"""The preparation: the questionnaire, reading replies, commands and the assistant's words."""
