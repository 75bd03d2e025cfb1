"""An OpenAI-compatible chat completions server for tests: scripted replies and faults, on a loopback port."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.support.servers import serve_app


@dataclass
class ScriptedReply:
    """One answer: values shaped to the requested schema, raw content (e.g. broken JSON), or an HTTP error."""

    values: dict[str, str | None] | None = None
    content: str | None = None
    status: int = 200


@dataclass
class OpenAIStub:
    """The server's state: replies still to give and every request received."""

    replies: deque[ScriptedReply] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def script(self, *replies: ScriptedReply) -> None:
        """Queue replies; when they run out the server answers every field with null."""
        self.replies.extend(replies)

    def requested_fields(self, index: int = 0) -> list[str]:
        """The fields the client asked for in one request's JSON schema."""
        schema = self.requests[index]["response_format"]["json_schema"]["schema"]
        return list(schema["required"])


def _schema_error(body: dict[str, Any]) -> str | None:
    response_format = body.get("response_format") or {}
    if response_format.get("type") != "json_schema":
        return "response_format.type must be json_schema"
    spec = response_format.get("json_schema") or {}
    schema = spec.get("schema") or {}
    if spec.get("strict") is not True or not spec.get("name"):
        return "json_schema needs a name and strict: true"
    if schema.get("additionalProperties") is not False or set(schema.get("required", [])) != set(
        schema.get("properties", {})
    ):
        return "strict schemas list every property as required and forbid additional properties"
    return None


def create_openai_app(stub: OpenAIStub) -> FastAPI:
    """The app: POST /v1/chat/completions honouring response_format json_schema like the real API."""
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> JSONResponse:
        body = await request.json()
        stub.requests.append(body)
        if error := _schema_error(body):
            return JSONResponse({"error": {"message": error, "type": "invalid_request_error"}}, status_code=400)
        reply = stub.replies.popleft() if stub.replies else ScriptedReply(values={})
        if reply.status != 200:
            return JSONResponse(
                {"error": {"message": "scripted failure", "type": "server_error"}}, status_code=reply.status
            )
        if reply.content is not None:
            content = reply.content
        else:
            required = body["response_format"]["json_schema"]["schema"]["required"]
            content = json.dumps({name: (reply.values or {}).get(name) for name in required})
        return JSONResponse(
            {
                "id": f"chatcmpl-{len(stub.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "test-model"),
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )

    return app


@contextmanager
def serve_openai() -> Iterator[tuple[OpenAIStub, str]]:
    """Run the stub on 127.0.0.1; yields it and the base URL the openai client takes (ending in /v1)."""
    stub = OpenAIStub()
    with serve_app(create_openai_app(stub)) as url:
        yield stub, f"{url}/v1"
