"""Validates OCSF events (one JSON object per line on stdin) against the OCSF schema.

The JSON Schema of each event's class comes from ocsf-json-schema (PyPI), generated from the
OCSF schema version the event names in metadata.version, which the package ships; jsonschema
(Draft 2020-12) checks the event. Prints one JSON line per event: {"uid": ..., "errors": [...]}.
"""
import json
import sys

from jsonschema import Draft202012Validator
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

validators = {}


def validator_for(version, class_uid):
    key = (version, class_uid)
    if key not in validators:
        schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=version))
        class_schema = schema.get_class_schema(schema.lookup_class_name_from_uid(class_uid=class_uid), profiles=[])
        validators[key] = Draft202012Validator(class_schema)
    return validators[key]


for line in sys.stdin:
    if not line.strip():
        continue
    event = json.loads(line)
    version = event.get("metadata", {}).get("version", "")
    errors = [
        f"{'/'.join(str(part) for part in error.absolute_path) or '(event)'}: {error.message}"
        for error in validator_for(version, event.get("class_uid")).iter_errors(event)
    ]
    print(json.dumps({"uid": event.get("metadata", {}).get("uid"), "errors": errors}))
