"""The documents of a YAML (or JSON) text, read once with the safe loader."""
from __future__ import annotations

import yaml

from agent.core import yaml_safe

# ------------------------------------------------------------------------------------ yaml

def yaml_documents(text: str | None) -> list | None:
    """Every document of a YAML (or JSON) text, block or flow style; None when it does not parse."""
    if not text:
        return []
    try:
        return [d for d in yaml_safe.load_all(text) if d is not None]
    except (yaml.YAMLError, yaml_safe.YamlLimitError):
        return None
    except (ValueError, TypeError, RecursionError):
        return None
