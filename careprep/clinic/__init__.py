"""The clinic: practices, practitioners, appointments, invitations and CSV import."""
