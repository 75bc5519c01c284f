"""The local cloud's settings (local-cloud.toml, `Settings`) and the defaults of the CLI's
flags, in a module that imports no server, no boto3 and no deployer: `local-cloud` reads
its arguments and settings, and reports their mistakes, before it imports what a command
runs (local_cloud.cloud re-exports what is defined here)."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from local_cloud.errors import SettingsError, TemplateError

DEFAULT_SETTINGS_FILE = Path("local-cloud.toml")
PAYMENT_PROVIDER_PORT = 12111
HTTP_API_PORT = 3000  # sam local start-api's (local_cloud.http_api.server.DEFAULT_PORT)
# The endpoint's port, LocalStack's, so awslocal and localstack_client work unchanged
# (local_cloud.endpoint.DEFAULT_PORT), and the path of its faults (endpoint_faults.py).
ENDPOINT_PORT = 4566
FAULTS_PATH = "/_local_cloud/faults"


@dataclass(frozen=True)
class Settings:
    """What local-cloud.toml holds; CLI flags replace single fields (`with_overrides`)."""

    template: Path = Path("template.yaml")
    stack: str = "delivery-guarantees"
    region: str = "us-east-1"
    parameter_overrides: Mapping[str, str] = field(default_factory=dict)
    ssm_parameters: Mapping[str, str] = field(default_factory=dict)  # seeded as SecureString
    ses_verified_identities: tuple[str, ...] = ()
    payment_provider: bool = False
    # The template parameter that receives the simulated provider's URL, if it declares it.
    payment_provider_parameter: str = "PaymentProviderApiBase"
    state_dir: Path = Path(".local-cloud")
    # The most batches one SQS mapping runs at once; None: max(5, 4 x CPUs) (scaling.py)
    max_concurrent_batches: int | None = None

    def with_overrides(
        self,
        *,
        template: Path | None = None,
        stack: str | None = None,
        parameter_overrides: Mapping[str, str] | None = None,
    ) -> Settings:
        other_template = template is not None and template.resolve() != self.template.resolve()
        # What the settings file sets up for its own template (parameter values, SSM
        # parameters, SES identities, the payment simulator) does not carry over to another
        # template: that one gets only what is given with it. The machine's settings
        # (region, state_dir, max_concurrent_batches) and the stack name still apply.
        own = self if not other_template else replace(self, **_TEMPLATE_BOUND_DEFAULTS)
        return replace(
            own,
            template=template or self.template,
            stack=stack or self.stack,
            parameter_overrides={**own.parameter_overrides, **(parameter_overrides or {})},
        )


# The settings that belong to the settings file's template, at their defaults.
_TEMPLATE_BOUND_DEFAULTS: dict[str, Any] = {
    "parameter_overrides": {},
    "ssm_parameters": {},
    "ses_verified_identities": (),
    "payment_provider": False,
}


def load_settings(path: Path) -> Settings:
    """Read a local-cloud.toml; relative paths in it are relative to the file."""
    if not path.is_file():
        raise SettingsError(f"settings file {path} does not exist")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"settings file {path} is not valid TOML: {error}") from error
    known = set(Settings.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SettingsError(
            f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    base = path.resolve().parent
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name in ("template", "state_dir"):
            values[name] = base / _expect(path, name, value, str)
        elif name in ("parameter_overrides", "ssm_parameters"):
            table = _expect(path, name, value, dict)
            values[name] = {
                str(key): _scalar_text(path, f"{name}.{key}", v) for key, v in table.items()
            }
        elif name == "ses_verified_identities":
            values[name] = tuple(str(item) for item in _expect(path, name, value, list))
        elif name == "payment_provider":
            values[name] = _expect(path, name, value, bool)
        elif name == "max_concurrent_batches":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SettingsError(f"{path}: {name} must be a whole number >= 1, got {value!r}")
            values[name] = value
        else:
            values[name] = _expect(path, name, value, str)
    return Settings(**values)


def _expect(path: Path, name: str, value: Any, kind: type) -> Any:
    if not isinstance(value, kind):
        raise SettingsError(f"{path}: {name} must be a {kind.__name__}, got {value!r}")
    return value


def _scalar_text(path: Path, name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise SettingsError(f"{path}: {name} must be a string or number, got {value!r}")


def parse_parameter_overrides(items: Iterable[str]) -> dict[str, str]:
    """`Key=Value` pairs, as `sam deploy --parameter-overrides` takes them.

    SAM's long form `ParameterKey=Key,ParameterValue=Value` is accepted too.
    """
    overrides: dict[str, str] = {}
    for item in items:
        if item.startswith("ParameterKey="):
            key_part, separator, value_part = item.partition(",ParameterValue=")
            key, value = key_part.removeprefix("ParameterKey="), value_part
        else:
            key, separator, value = item.partition("=")
        if not separator or not key:
            raise TemplateError(f"parameter override {item!r} is not of the form Key=Value")
        overrides[key] = value
    return overrides
