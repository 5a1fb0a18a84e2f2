"""Messages to patients: the outbox, the worker and the Sender it is given."""
