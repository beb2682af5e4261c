"""The CloudFormation template as data, for the tests and the scaling simulator.

``load()`` reads ``deploy/cloudformation/ecsAudioProcessing-cloudformation-template.json``;
``Template.value`` resolves a property that is a literal or a ``Ref`` to a parameter
(its default), so callers read the deployed numbers without repeating them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

PATH = Path(__file__).resolve().parent / "cloudformation" / "ecsAudioProcessing-cloudformation-template.json"


@dataclass(frozen=True)
class Template:
    body: dict

    @property
    def resources(self) -> dict:
        return self.body["Resources"]

    def properties(self, logical_id: str) -> dict:
        return self.resources[logical_id]["Properties"]

    def of_type(self, resource_type: str) -> dict[str, dict]:
        return {name: r for name, r in self.resources.items() if r["Type"] == resource_type}

    def value(self, node):
        """A literal as is; ``{"Ref": PARAMETER}`` as that parameter's default."""
        if isinstance(node, dict) and set(node) == {"Ref"}:
            parameter = self.body["Parameters"].get(node["Ref"])
            if parameter is None or "Default" not in parameter:
                raise ValueError(f"{node['Ref']} is not a parameter with a default")
            return parameter["Default"]
        return node


def load(path: Path = PATH) -> Template:
    return Template(json.loads(path.read_text()))
