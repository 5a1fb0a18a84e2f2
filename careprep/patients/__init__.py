"""Patients: the identity check, contacts and opt-out."""
