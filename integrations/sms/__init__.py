"""SMS by Twilio: the inbound channel and the outbound sender."""
