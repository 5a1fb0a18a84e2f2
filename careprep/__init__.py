"""careprep's core: the product in plain Python, called by every channel and process."""
