"""The core: errors, the config model, the charter model and parser. Imports nothing else of ours."""
