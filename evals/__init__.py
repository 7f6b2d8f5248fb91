"""Eval scenarios and their fixtures."""
