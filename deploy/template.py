"""The CloudFormation template as data, for the tests and the scaling simulator.

``load()`` reads ``deploy/cloudformation/ecsAudioProcessing-cloudformation-template.json``;
``Template.value`` resolves a property that is a literal, a ``Ref`` to a parameter (its
default) or an ``Fn::If`` (the branch the defaults choose), so callers read the deployed
numbers without repeating them.
``Template.with_defaults`` is the same template with other defaults, e.g.
``EVERY_OPTION_ON``: static checkers only see the resources whose conditions hold with
the defaults, so the scans and tests look at both variants. ``condition``, ``exists``
and ``chosen`` evaluate conditions, resources' conditions and ``Fn::If`` by the defaults.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

PATH = Path(__file__).resolve().parent / "cloudformation" / "ecsAudioProcessing-cloudformation-template.json"

# Every optional part of the stack on: Flower behind its load balancer, buckets and table
# created by the stack, S3 -> SQS ingestion, a KMS key, an operator role, an alarm e-mail.
EVERY_OPTION_ON = {
    "FlowerEnabled": "true", "FlowerCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d",
    "FlowerAllowedCidr": "10.20.0.0/16", "CreateStorage": "true", "ProcessedExpirationDays": 30,
    "IngestMode": "s3-to-sqs",
    "KmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789",
    "OperatorRoleArn": "arn:aws:iam::123456789012:role/audio-operators", "AlarmEmail": "oncall@example.com",
}


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
        """A literal as is; ``{"Ref": PARAMETER}`` as that parameter's default; an ``Fn::If`` as
        the branch the defaults choose."""
        node = self.chosen(node)
        if isinstance(node, dict) and set(node) == {"Ref"}:
            parameter = self.body["Parameters"].get(node["Ref"])
            if parameter is None or "Default" not in parameter:
                raise ValueError(f"{node['Ref']} is not a parameter with a default")
            return parameter["Default"]
        return node

    def with_defaults(self, defaults: dict) -> "Template":
        """This template with the given parameters' defaults replaced."""
        body = copy.deepcopy(self.body)
        for name, value in defaults.items():
            body["Parameters"][name]["Default"] = value
        return Template(body)

    def exists(self, logical_id: str) -> bool:
        """Whether a resource is created with the defaults (its condition, if any, holds)."""
        condition = self.resources[logical_id].get("Condition")
        return condition is None or self.condition(condition)

    def chosen(self, node):
        """``{"Fn::If": [condition, a, b]}`` as a or b (by the defaults); any other node as is."""
        if isinstance(node, dict) and set(node) == {"Fn::If"}:
            condition, then, otherwise = node["Fn::If"]
            return self.chosen(then if self.condition(condition) else otherwise)
        return node

    def condition(self, name: str) -> bool:
        """A condition evaluated with the parameters' defaults."""
        return self._evaluate(self.body["Conditions"][name])

    def _evaluate(self, node) -> bool:
        [(function, args)] = node.items()
        if function == "Condition":
            return self.condition(args)
        if function == "Fn::Equals":
            left, right = (str(self.value(a)) for a in args)
            return left == right
        if function == "Fn::Not":
            return not self._evaluate(args[0])
        if function == "Fn::And":
            return all(self._evaluate(a) for a in args)
        if function == "Fn::Or":
            return any(self._evaluate(a) for a in args)
        raise ValueError(f"unsupported condition function {function}")


def load(path: Path = PATH) -> Template:
    return Template(json.loads(path.read_text()))
