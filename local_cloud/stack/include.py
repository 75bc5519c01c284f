"""`Fn::Transform` `AWS::Include` with a local `Location`, expanded as deploying does.

`sam deploy` uploads a local file a template includes (`Location: api.yaml`, relative to
the template) to S3 and points `Location` at it; CloudFormation then replaces the
`Fn::Transform` with the file's content before the template's own `Transform`
(AWS::Serverless) runs. The local cloud does both at once: it reads the file and puts its
content where the `Fn::Transform` was, before translating. As CloudFormation documents for
AWS::Include, the snippet is YAML or JSON, intrinsic functions are written in full
(`Ref:`, `Fn::GetAtt:`): YAML's short forms (`!Ref`) are not supported in a snippet.

Where the `Fn::Transform` is the only key of its mapping the snippet replaces the mapping
(a DefinitionBody); next to other keys (at the top of Resources, say) a mapping snippet
is merged into it, and a key both define is an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from local_cloud.stack.errors import TemplateError

TRANSFORM = "Fn::Transform"
INCLUDE = "AWS::Include"


def expand_includes(template: Any, template_dir: Path) -> Any:
    """`template` with every AWS::Include of a local file replaced by the file's content."""
    return _expand(template, template_dir, where="")


def _expand(value: Any, template_dir: Path, where: str) -> Any:
    if isinstance(value, list):
        return [_expand(item, template_dir, f"{where}/{index}") for index, item in enumerate(value)]
    if not isinstance(value, dict):
        return value
    transform = value.get(TRANSFORM)
    if not (isinstance(transform, dict) and transform.get("Name") == INCLUDE):
        return {key: _expand(item, template_dir, f"{where}/{key}") for key, item in value.items()}
    snippet = _expand(_read(transform, template_dir, where), template_dir, where)
    others = {key: item for key, item in value.items() if key != TRANSFORM}
    if not others:
        return snippet
    if not isinstance(snippet, dict):
        raise TemplateError(
            f"{where or '/'}: AWS::Include next to other keys must include a mapping, "
            f"got {type(snippet).__name__}"
        )
    clashes = sorted(set(snippet) & set(others))
    if clashes:
        raise TemplateError(
            f"{where or '/'}: AWS::Include defines {', '.join(clashes)}, which the template "
            "defines there too"
        )
    merged = {key: _expand(item, template_dir, f"{where}/{key}") for key, item in others.items()}
    merged.update(snippet)
    return merged


def _read(transform: dict[str, Any], template_dir: Path, where: str) -> Any:
    location = (transform.get("Parameters") or {}).get("Location")
    if not isinstance(location, str) or not location:
        raise TemplateError(f"{where or '/'}: AWS::Include needs Parameters.Location, a string")
    if location.startswith("s3://") or "://" in location:
        raise TemplateError(
            f"{where or '/'}: AWS::Include Location {location!r}: the local cloud includes "
            "local files (a path relative to the template), as `sam deploy` packages them"
        )
    path = template_dir / location
    if not path.is_file():
        raise TemplateError(f"{where or '/'}: AWS::Include Location {location!r}: no file {path}")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.constructor.ConstructorError as error:
        raise TemplateError(
            f"AWS::Include {location}: {error.problem}; a snippet writes intrinsic functions "
            "in full (Ref:, Fn::GetAtt:), CloudFormation does not take YAML's short forms there"
        ) from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise TemplateError(f"AWS::Include {location}: not YAML or JSON: {error}") from None
