"""The example AnimeSphere platform, shipped as package data for `example init`."""
