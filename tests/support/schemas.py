"""Output schemas for tests: a code review's typed findings."""

from __future__ import annotations

from typing import Any

FINDINGS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "findings": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "severity": {"enum": ["low", "medium", "high"]},
                    "file": {"type": "string"},
                    "line": {"type": "integer", "minimum": 1},
                    "problem": {"type": "string"},
                    "fix": {"type": "string"},
                },
                "required": ["severity", "file", "line", "problem", "fix"],
            },
        }
    },
    "required": ["findings"],
}
