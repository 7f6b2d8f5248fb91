"""Charters and prompt templates shipped as package data."""
