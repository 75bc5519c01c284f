"""Read a SAM (or plain CloudFormation) template, its parameters, and translate it offline.

The SAM translator runs in-process with the managed-policy map bundled in
aws-sam-translator, so translation needs no IAM call and no network: the same
CloudFormation `sam deploy` would submit, minus what only the AWS-hosted transform adds.

Given a cache directory, a translation is kept as JSON under a key of everything it is
made from (the template as rewritten for its S3 code locations, the parameter values,
the region, the translator's version): a warm start reads it back and never imports the
translator (its import took 0.5-0.8 s of a start on a loaded 2-core machine).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml
from samtranslator.yaml_helper import intrinsics_multi_constructor

from local_cloud.stack.errors import TemplateError
from local_cloud.stack.parameters import parameter_values

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
_LIST_PARAMETER_TYPES = ("CommaDelimitedList", "List<")
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_TRANSLATION_FORMAT = "1"  # part of the cache key: bump when what is stored changes


class TemplateLoader(yaml.SafeLoader):
    """YAML as CloudFormation reads a template: short-form intrinsics (!Ref, !Sub, ...) become
    their long form, and a date or timestamp stays the text as written (`Version: 2012-10-17`
    is the string "2012-10-17": CloudFormation has no date type). Strings, numbers, booleans
    and nulls resolve as in any YAML 1.1 safe load. A subclass, so yaml.SafeLoader is
    untouched for everyone else."""


# A date or timestamp, implicit or tagged `!!timestamp`, is constructed as the string it was
# written as. (add_constructor copies the table first: yaml.safe_load still reads dates.)
TemplateLoader.add_constructor(_TIMESTAMP_TAG, yaml.SafeLoader.construct_yaml_str)
TemplateLoader.add_multi_constructor("!", intrinsics_multi_constructor)


class FastTemplateLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """TemplateLoader's constructors and resolver on libyaml's scanner and parser, where
    PyYAML was built with it: the same template in about a tenth of the time (this
    repository's template.yaml: 0.01-0.02 s against 0.1-0.2 s on a loaded 2-core machine),
    which matters since LocalCloud parses it before starting the endpoint."""


FastTemplateLoader.add_constructor(_TIMESTAMP_TAG, yaml.SafeLoader.construct_yaml_str)
FastTemplateLoader.add_multi_constructor("!", intrinsics_multi_constructor)


def parse_template(text: str) -> Any:
    """A template's YAML or JSON text as CloudFormation reads it (see TemplateLoader).

    Parsed by FastTemplateLoader; what it refuses is parsed again by TemplateLoader, whose
    error (the one raised) quotes the line it points at, as it always did."""
    try:
        return yaml.load(text, Loader=FastTemplateLoader)  # noqa: S506 - a SafeLoader's  # nosec B506
    except Exception:  # TemplateLoader decides, and its error says why
        return yaml.load(text, Loader=TemplateLoader)  # noqa: S506 - a SafeLoader subclass  # nosec B506


def load_template(path: Path) -> dict[str, Any]:
    """Parse a YAML or JSON template, short-form intrinsics (!Ref, !Sub, ...) included."""
    if not path.is_file():
        raise TemplateError(f"template {path} does not exist")
    try:
        template = parse_template(path.read_text())
    except Exception as error:  # yaml's errors carry the line and column
        raise TemplateError(f"template {path} is not valid YAML/JSON: {error}") from error
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise TemplateError(f"template {path} has no Resources section")
    return template


def transforms(template: Mapping[str, Any]) -> list[str]:
    declared = template.get("Transform") or []
    return [declared] if isinstance(declared, str) else list(declared)


def is_sam(template: Mapping[str, Any]) -> bool:
    return SAM_TRANSFORM in transforms(template)


def effective_parameters(
    template: Mapping[str, Any], overrides: Mapping[str, str]
) -> dict[str, str]:
    """Defaults with overrides applied, checked as CloudFormation checks them at CreateStack
    (local_cloud/stack/parameters.py); a ParameterError names the first rule broken."""
    return parameter_values(template.get("Parameters") or {}, overrides)


def typed_parameters(template: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    """Parameter values as Ref returns them: list types split on commas."""
    declared: Mapping[str, Any] = template.get("Parameters") or {}
    typed: dict[str, Any] = {}
    for name, value in values.items():
        kind = str(declared.get(name, {}).get("Type", "String"))
        typed[name] = value.split(",") if kind.startswith(_LIST_PARAMETER_TYPES) else value
    return typed


def translate(
    template: Mapping[str, Any],
    parameters: Mapping[str, str],
    region: str,
    *,
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """The CloudFormation template for a SAM template (a copy; the input is not touched).

    With cache_dir, a translation made before from the same inputs is read back from
    there (see the module's docstring) and a new one is stored there."""
    other = [name for name in transforms(template) if name != SAM_TRANSFORM]
    if other:
        raise TemplateError(f"transform(s) {', '.join(other)} are not supported locally")
    if not is_sam(template):
        return copy.deepcopy(dict(template))
    key = None if cache_dir is None else translation_key(template, parameters, region)
    if cache_dir is not None and key is not None:
        cached = cache_dir / f"{key}.json"
        if cached.is_file():
            stored: dict[str, Any] = json.loads(cached.read_text())
            return stored
    translated = _translate(template, parameters, region)
    if cache_dir is not None and key is not None:
        _store(cache_dir / f"{key}.json", translated)
    return translated


def translation_key(
    template: Mapping[str, Any], parameters: Mapping[str, str], region: str
) -> str | None:
    """The cache key of a translation; None if the template holds something JSON cannot
    write (then it is not cached: a key must say exactly what was translated)."""
    try:
        inputs = json.dumps(
            [
                _TRANSLATION_FORMAT,
                metadata.version("aws-sam-translator"),
                region,
                dict(parameters),
                template,
            ],
            sort_keys=True,
        )
    except (TypeError, ValueError):
        return None
    return hashlib.sha256(inputs.encode()).hexdigest()[:32]


def _store(path: Path, translated: Mapping[str, Any]) -> None:
    """Written beside and renamed into place: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_suffix(f".json.staging-{os.getpid()}")
    staging.write_text(json.dumps(translated))
    staging.replace(path)


def _translate(
    template: Mapping[str, Any], parameters: Mapping[str, str], region: str
) -> dict[str, Any]:
    # Imported here, not at the top: a cached translation needs none of it.
    import boto3
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    translator = Translator(
        managed_policy_map=None,  # the bundled map covers AWS managed policies, offline
        sam_parser=Parser(),
        boto_session=boto3.Session(region_name=region),
    )
    try:
        translated: dict[str, Any] = translator.translate(
            copy.deepcopy(dict(template)), parameter_values=dict(parameters)
        )
    except InvalidDocumentException as error:
        causes = "; ".join(cause.message for cause in error.causes)
        raise TemplateError(f"SAM translation failed: {causes}") from error
    # What a cached translation is read back as: plain JSON types, the same either way.
    plain: dict[str, Any] = json.loads(json.dumps(translated))
    return plain


def without_resources(template: Mapping[str, Any], logical_ids: Iterable[str]) -> dict[str, Any]:
    """A copy of template without these resources, and without DependsOn naming them (what
    the endpoint is given when the local cloud runs or skips a resource itself)."""
    removed = set(logical_ids)
    kept_template = copy.deepcopy(dict(template))
    resources = kept_template["Resources"]
    for logical_id in removed:
        resources.pop(logical_id, None)
    for resource in resources.values():
        depends_on = resource.get("DependsOn")
        if isinstance(depends_on, str):
            depends_on = [depends_on]
        if depends_on:
            kept = [name for name in depends_on if name not in removed]
            if kept:
                resource["DependsOn"] = kept
            else:
                del resource["DependsOn"]
    return kept_template
