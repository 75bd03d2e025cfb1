"""The workflow files in n8n/: what a user imports must be wired the way the README and the engine expect."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = {path.name: json.loads(path.read_text()) for path in sorted((ROOT / "n8n" / "workflows").glob("*.json"))}
CREDENTIALS = json.loads((ROOT / "n8n" / "credentials.example.json").read_text())
README = (ROOT / "README.md").read_text()
PLACEHOLDERS = (
    "http://127.0.0.1:8000",
    "whsec_PASTE_LEAD_ENGINE_WEBHOOK_SECRET",
    "https://hooks.slack.com/services/REPLACE",
)


def node(workflow: dict[str, Any], node_type: str) -> dict[str, Any]:
    [found] = [entry for entry in workflow["nodes"] if entry["type"] == f"n8n-nodes-base.{node_type}"]
    return found


def test_the_four_workflows_are_shipped() -> None:
    assert set(WORKFLOWS) == {"intake.json", "intake_signed.json", "events_to_slack.json", "alerts.json"}


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_connections_name_existing_nodes_and_credentials_exist(name: str) -> None:
    workflow = WORKFLOWS[name]
    names = {entry["name"] for entry in workflow["nodes"]}
    targets = {link["node"] for outputs in workflow["connections"].values() for out in outputs["main"] for link in out}
    assert set(workflow["connections"]) <= names and targets <= names
    shipped = {(credential["type"], credential["id"]) for credential in CREDENTIALS}
    for entry in workflow["nodes"]:
        for kind, ref in entry.get("credentials", {}).items():
            assert (kind, ref["id"]) in shipped, f"{entry['name']} uses a credential the example file lacks"
    assert workflow["active"] is False  # published by the user once the placeholders are filled in


@pytest.mark.parametrize("name", ["intake.json", "intake_signed.json"])
def test_intake_reads_the_simple_format_and_retries_as_long_as_n8n_allows(name: str) -> None:
    workflow = WORKFLOWS[name]
    trigger = node(workflow, "emailReadImap")
    assert trigger["parameters"]["format"] == "simple"
    ingest = node(workflow, "httpRequest")
    assert ingest["parameters"]["url"].endswith("/api/ingest")
    # n8n caps Retry On Fail at 5 tries, 5,000 ms apart; a failed item goes on instead of stopping the others.
    assert (ingest["retryOnFail"], ingest["maxTries"], ingest["waitBetweenTries"]) == (True, 5, 5000)
    assert ingest["onError"] == "continueErrorOutput"
    # Items one at a time, so n8n's retry (which looks at the first item) covers every mail.
    assert node(workflow, "splitInBatches")["parameters"]["batchSize"] == 1
    assert workflow["settings"]["errorWorkflow"] == WORKFLOWS["alerts.json"]["id"]
    mapping = json.dumps(workflow)
    for expression in ("textPlain", "textHtml", "metadata?.['message-id']", "DateTime.fromRFC2822"):
        assert expression in mapping, expression
    headers = {header["name"] for header in ingest["parameters"]["headerParameters"]["parameters"]}
    assert "Idempotency-Key" in headers


def test_the_token_workflow_sends_the_token_from_a_credential() -> None:
    ingest = node(WORKFLOWS["intake.json"], "httpRequest")
    assert ingest["parameters"]["genericAuthType"] == "httpHeaderAuth" and "credentials" in ingest


def test_the_signed_workflow_signs_the_exact_body_it_sends() -> None:
    workflow = WORKFLOWS["intake_signed.json"]
    ingest = node(workflow, "httpRequest")
    assert "credentials" not in ingest
    assert ingest["parameters"]["contentType"] == "raw" and ingest["parameters"]["body"] == "={{ $json.body }}"
    code = next(entry for entry in workflow["nodes"] if entry["name"] == "Sign for Lead Engine")["parameters"]["jsCode"]
    assert "require('crypto')" in code and "createHmac('sha256'" in code


def test_events_are_verified_over_the_raw_body_and_deduplicated_by_webhook_id() -> None:
    workflow = WORKFLOWS["events_to_slack.json"]
    hook = node(workflow, "webhook")
    assert hook["parameters"]["options"]["rawBody"] is True and hook["parameters"]["responseMode"] == "responseNode"
    assert node(workflow, "removeDuplicates")["parameters"]["dedupeValue"] == "={{ $json.webhookId }}"
    verify = next(entry for entry in workflow["nodes"] if entry["name"] == "Check signature")
    assert (
        "getBinaryDataBuffer" in verify["parameters"]["jsCode"] and "timingSafeEqual" in verify["parameters"]["jsCode"]
    )


def test_the_readme_explains_import_placeholders_and_the_crypto_setting() -> None:
    section = README[README.index("### Wiring n8n") :]
    for needed in (
        "n8n import:workflow",
        "n8n import:credentials",
        "NODE_FUNCTION_ALLOW_BUILTIN=crypto",
        *PLACEHOLDERS,
    ):
        assert needed in section, needed
    shipped = json.dumps(WORKFLOWS)
    assert all(placeholder in shipped for placeholder in PLACEHOLDERS)
