"""The eval runner: scenarios replayed (scripted model), live (a real endpoint) or recorded."""
