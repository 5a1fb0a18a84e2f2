"""The careprep web app: patient web chat and practitioner portal (placeholder for now)."""
