"""local-cloud.toml: read with tomllib, checked, and overridden by CLI flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_cloud.cloud import Settings, SettingsError, load_settings

REPO = Path(__file__).resolve().parents[3]


def test_the_repositorys_settings_describe_our_stack() -> None:
    settings = load_settings(REPO / "local-cloud.toml")
    assert settings.template == REPO / "template.yaml"
    assert settings.stack == "delivery-guarantees"
    assert settings.payment_provider is True
    assert settings.parameter_overrides["SenderEmailAddress"] == "welcome@example.com"
    secret = settings.ssm_parameters["/delivery-guarantees/payment-provider-secret-key"]
    assert secret.startswith("sk_test_local_")
    assert "welcome@example.com" in settings.ses_verified_identities


def test_flags_override_the_file(tmp_path: Path) -> None:
    settings = Settings(template=tmp_path / "t.yaml", parameter_overrides={"A": "1", "B": "2"})
    changed = settings.with_overrides(
        template=tmp_path / "t.yaml", stack="other", parameter_overrides={"B": "3"}
    )
    assert (changed.template, changed.stack) == (tmp_path / "t.yaml", "other")
    assert changed.parameter_overrides == {"A": "1", "B": "3"}
    assert settings.with_overrides().stack == settings.stack


def test_another_template_does_not_inherit_the_files_parameter_overrides(tmp_path: Path) -> None:
    settings = Settings(template=tmp_path / "ours.yaml", parameter_overrides={"A": "1"})
    other = settings.with_overrides(
        template=tmp_path / "theirs.yaml", parameter_overrides={"C": "3"}
    )
    assert other.parameter_overrides == {"C": "3"}


def test_unknown_keys_wrong_types_and_bad_toml_are_named(tmp_path: Path) -> None:
    config = tmp_path / "local-cloud.toml"
    config.write_text('stak = "typo"\n')
    with pytest.raises(SettingsError, match="stak"):
        load_settings(config)
    config.write_text('payment_provider = "yes"\n')
    with pytest.raises(SettingsError, match="payment_provider must be a bool"):
        load_settings(config)
    config.write_text("template = \n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(config)
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")


def test_numbers_in_tables_become_parameter_strings(tmp_path: Path) -> None:
    config = tmp_path / "local-cloud.toml"
    config.write_text("[parameter_overrides]\nSignupChargeAmount = 500\n")
    assert load_settings(config).parameter_overrides == {"SignupChargeAmount": "500"}


def test_another_template_leaves_behind_what_the_file_sets_up_for_its_own(
    tmp_path: Path,
) -> None:
    settings = Settings(
        template=tmp_path / "ours.yaml",
        stack="ours",
        region="eu-west-1",
        ssm_parameters={"/ours/key": "sk_test_x"},
        ses_verified_identities=("welcome@example.com",),
        payment_provider=True,
        max_concurrent_batches=7,
    )
    other = settings.with_overrides(template=tmp_path / "theirs.yaml")
    assert other.template == tmp_path / "theirs.yaml"
    assert (other.ssm_parameters, other.ses_verified_identities) == ({}, ())
    assert other.payment_provider is False
    # The machine's settings still apply.
    assert (other.region, other.max_concurrent_batches, other.stack) == ("eu-west-1", 7, "ours")
    same = settings.with_overrides(template=tmp_path / "ours.yaml")
    assert same.payment_provider is True
    assert same.ssm_parameters == {"/ours/key": "sk_test_x"}
