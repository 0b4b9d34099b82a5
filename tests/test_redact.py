"""Redaction before anything leaves the machine: detect-secrets plugins, explicit patterns, configured ones.

The seeded secrets are generated at run time (no credential-shaped literal sits in the repository) and
shaped exactly like the real ones, so the real detectors fire on them.
"""

from __future__ import annotations

import base64
import json
import random
import string

import pytest

from impact_miner.errors import ConfigError
from impact_miner.redact import Redactor

ALNUM = string.ascii_letters + string.digits
CUSTOMER = "Globex Corporation"


def _random(rng: random.Random, alphabet: str, length: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


def _b64url(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def seeded_secrets(seed: int = 7) -> dict[str, str]:
    """One realistic secret per kind the issue names, keyed by what the redaction marker should say."""
    rng = random.Random(seed)
    upper = string.ascii_uppercase + string.digits
    key_body = "\n".join(_random(rng, string.ascii_letters + string.digits + "+/", 64) for _ in range(4))
    jwt = ".".join(
        [
            _b64url({"alg": "HS256", "typ": "JWT"}),
            _b64url({"sub": "ada", "scope": "admin", "nonce": _random(rng, ALNUM, 12)}),
            _random(rng, ALNUM + "-_", 43),
        ]
    )
    return {
        "github-token": "ghp_" + _random(rng, ALNUM, 36),
        "github-fine-grained": "github_pat_" + _random(rng, ALNUM, 22) + "_" + _random(rng, ALNUM, 59),
        "gitlab-token": "glpat-" + _random(rng, ALNUM, 20),
        "slack-token": "xoxb-"
        + _random(rng, string.digits, 12)
        + "-"
        + _random(rng, string.digits, 13)
        + "-"
        + _random(rng, string.ascii_lowercase + string.digits, 24),
        "aws-access-key": "AKIA" + _random(rng, upper, 16),
        "openai-key": "sk-proj-" + _random(rng, ALNUM, 48),
        "anthropic-key": "sk-ant-api03-" + _random(rng, ALNUM, 80) + "-" + _random(rng, ALNUM, 6) + "AA",
        "private-key": key_body,
        "jwt": jwt,
        "url-credentials": "deployer:" + _random(rng, ALNUM, 18),
        "high-entropy": _random(rng, ALNUM + "+/", 44),
        "custom": CUSTOMER,
    }


def secret_text(secrets: dict[str, str]) -> str:
    """A commit or PR body that carries every seeded secret the way people paste them."""
    return "\n".join(
        [
            f"Rotated the CI token {secrets['github-token']} after the leak.",
            f"New fine-grained token: {secrets['github-fine-grained']}",
            f"GitLab mirror uses {secrets['gitlab-token']} for pushes",
            f"Slack alerts via {secrets['slack-token']}",
            f"aws key id {secrets['aws-access-key']}",
            f"OPENAI_API_KEY={secrets['openai-key']}",
            f"anthropic: {secrets['anthropic-key']}",
            "-----BEGIN RSA PRIVATE KEY-----",
            secrets["private-key"],
            "-----END RSA PRIVATE KEY-----",
            f"Authorization: Bearer {secrets['jwt']}",
            f"Cloned https://{secrets['url-credentials']}@git.internal.example.com/acme/api.git",
            f"signing salt {secrets['high-entropy']}",
            f"Requested by {CUSTOMER.upper()} for their rollout.",
        ]
    )


def leaked(text: str, secrets: dict[str, str]) -> list[str]:
    """The kinds whose secret (or any part of it longer than 8 characters) appears in ``text``."""
    found = []
    for kind, secret in secrets.items():
        parts = [p for p in secret.replace(":", "\n").splitlines() if len(p) >= 8]
        if any(part.lower() in text.lower() for part in parts):
            found.append(kind)
    return found


def test_every_seeded_secret_is_redacted_with_its_kind() -> None:
    secrets = seeded_secrets()
    redactor = Redactor([r"globex\s+corp(?:oration)?"])
    out = redactor.redact(secret_text(secrets))
    assert leaked(out, secrets) == []
    for marker in (
        "github-token", "gitlab-token", "slack-token", "aws-access-key", "openai-key", "anthropic-key",
        "private-key", "jwt", "url-credentials", "high-entropy", "custom",
    ):  # fmt: skip
        assert f"[REDACTED:{marker}]" in out, marker
    assert "https://[REDACTED:url-credentials]@git.internal.example.com/acme/api.git" in out
    assert redactor.counts["custom"] == 1


@pytest.mark.parametrize("seed", range(5))
def test_other_seeds_are_redacted_too(seed: int) -> None:
    secrets = seeded_secrets(seed)
    assert leaked(Redactor([CUSTOMER]).redact(secret_text(secrets)), secrets) == []


def test_plain_engineering_text_is_left_alone() -> None:
    text = (
        "SEARCH-88: Reduced p95 latency from 320 ms to 218 ms (-32%) by moving index merges off the request "
        "path (#41, acme/search#412) on 2026-11-24.\nTouched src/impact_miner/connectors/github_graphql.py "
        "and bumped requests from 2.31.0 to 2.32.3; see https://github.com/acme/search/pull/412."
    )
    assert Redactor().redact(text) == text


def test_evidence_ids_shas_and_urls_survive_the_entropy_detector() -> None:
    sha = "9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a"
    url = f"https://github.com/acme/api/commit/{sha}"
    text = f"git:acme/api@{sha} {url} and a stray 1b0c9d8e7f6a5b4c3d2e1f0a9f8a7b6c5d4e3f2a"
    out = Redactor().redact(text, keep=[f"git:acme/api@{sha}", url, sha])
    assert f"git:acme/api@{sha}" in out and url in out
    assert "1b0c9d8e7f6a5b4c3d2e1f0a9f8a7b6c5d4e3f2a" not in out


def test_keep_does_not_protect_a_real_token() -> None:
    token = seeded_secrets()["github-token"]
    assert token not in Redactor().redact(f"url https://x/{token}", keep=[f"https://x/{token}"])


def test_configured_patterns_are_case_insensitive_regexes() -> None:
    redactor = Redactor(["globex", r"db\d+\.corp\.example"])
    assert redactor.redact("GLOBEX asked; db12.corp.example is slow") == (
        "[REDACTED:custom] asked; [REDACTED:custom] is slow"
    )


def test_redaction_is_idempotent() -> None:
    once = Redactor([CUSTOMER]).redact(secret_text(seeded_secrets()))
    assert Redactor([CUSTOMER]).redact(once) == once


def test_an_invalid_configured_pattern_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"redact_patterns: '\(unclosed' is not a valid regular expression"):
        Redactor(["(unclosed"])
