"""Operator login hashing, connection checks against real loopback servers, and the embedded API thread."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import SecretStr

from lead_engine.core.connection_checks import check_company_explorer, check_imap, check_llm, check_slack
from lead_engine.core.operators import authenticate, hash_password, read_users, verify_password
from lead_engine.core.settings import Settings
from lead_engine.embedded_api import EmbeddedApi, _bind
from tests.support.servers import free_port, serve_app


def make_settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_password_hash_round_trip_and_malformed_hashes() -> None:
    encoded = hash_password("s3cret!", iterations=1000)
    assert encoded.startswith("pbkdf2_sha256$1000$")
    assert verify_password("s3cret!", encoded)
    assert not verify_password("s3cret", encoded)
    # empty, another scheme, too few parts, iterations not a number
    for broken in ("", "md5$1$a$b", "pbkdf2_sha256$x$y", "pbkdf2_sha256$abc$AA$AA"):
        assert not verify_password("s3cret!", broken)


def test_authenticate_shared_password_and_named_users() -> None:
    users = f"anna:{hash_password('a-pass', iterations=1000)}, ben:{hash_password('b-pass', iterations=1000)}"
    settings = make_settings(ui_password=SecretStr("shared"), ui_users=SecretStr(users))
    assert set(read_users(settings)) == {"anna", "ben"}
    assert authenticate(settings, "", "shared") == "operator"
    assert authenticate(settings, "operator", "shared") == "operator"
    assert authenticate(settings, "anna", "a-pass") == "anna"
    assert authenticate(settings, "anna", "shared") is None
    assert authenticate(settings, "carl", "shared") is None
    assert authenticate(make_settings(), "", "") is None


def test_company_explorer_and_slack_checks_against_real_servers() -> None:
    app = FastAPI()

    @app.get("/api/companies")
    def companies() -> dict[str, list[object]]:
        return {"items": []}

    @app.post("/hook")
    def hook() -> str:
        return "ok"

    with serve_app(app) as url:
        assert check_company_explorer(make_settings(company_explorer_url=url)).ok
        assert check_slack(make_settings(slack_webhook_url=f"{url}/hook")).ok
        missing = check_slack(make_settings(slack_webhook_url=f"{url}/nope"))
        assert not missing.ok and "HTTP 404" in missing.message


def test_checks_never_raise_and_say_what_is_wrong() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    assert "not configured" in check_company_explorer(make_settings()).message
    assert "cannot connect" in check_company_explorer(make_settings(company_explorer_url=closed)).message
    assert not check_company_explorer(make_settings(company_explorer_url="not a url")).ok
    imap = check_imap(make_settings(imap_host="127.0.0.1", imap_port=free_port(), imap_user="u", imap_ssl=False))
    assert not imap.ok and "cannot connect" in imap.message
    llm = check_llm(make_settings(openai_base_url=f"{closed}/v1", openai_api_key=SecretStr("k")))
    assert not llm.ok and "cannot connect" in llm.message


def test_llm_check_against_an_openai_compatible_server() -> None:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    def chat(body: dict[str, object]) -> dict[str, object]:
        return {
            "id": "c1", "object": "chat.completion", "created": 0, "model": str(body["model"]),
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "OK"}}],
        }  # fmt: skip

    with serve_app(app) as url:
        result = check_llm(make_settings(openai_base_url=f"{url}/v1", llm_model="tiny"))
    assert result.ok and "tiny" in result.message


def test_embedded_api_reports_a_taken_port_instead_of_crashing() -> None:
    from lead_engine import embedded_api

    taken = _bind("127.0.0.1", 0)
    port = taken.getsockname()[1]
    saved = embedded_api._state
    embedded_api._state = None
    try:
        state = embedded_api.start_embedded_api(make_settings(api_port=port))
        assert state == EmbeddedApi(False, state.message) and f"port {port}" in state.message
        # Later calls (Streamlit reruns) get the first outcome and start nothing.
        assert embedded_api.start_embedded_api(make_settings(api_port=free_port())) is state
    finally:
        embedded_api._state = saved
        taken.close()


def test_embedded_api_off_by_setting() -> None:
    from lead_engine import embedded_api

    saved = embedded_api._state
    embedded_api._state = None
    try:
        state = embedded_api.start_embedded_api(make_settings(embedded_api=False))
        assert not state.running and "own process" in state.message
    finally:
        embedded_api._state = saved
