"""Loaders: repository files and submodules, rules sections, Notion, provenance."""
