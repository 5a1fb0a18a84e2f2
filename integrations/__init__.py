"""The edges of careprep: SMS (Twilio), the web chat bridge and FHIR."""
