"""What the server under test is and speaks: its model, tokenizer, API and prompt format.

vLLM takes token-id prompts and reports usage per chunk: lengths are exact and tokens are counted
by the server. Other OpenAI-compatible servers may take only text, only chat, or report no usage;
a one-request probe finds out, and the run adapts (and says how in summary.json).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from engine.exits import EXIT_FAILED
from engine.load.client import stream_request
from engine.load.http import Session
from engine.load.prompts import Prompt, PromptFactory, api_path, request_body
from engine.load.record import RequestRecord
from engine.load.tokenizer import load_tokenizer
from engine.profiles import ResolvedProfile
from engine.server.backend import Backend
from engine.server.launcher_base import ServerInfo, model_location


class DiscoveryError(Exception):
    """The server cannot be benchmarked as asked (exit code 1), or the choice is ambiguous."""

    exit_code = EXIT_FAILED


def choose_model(served: list[dict], wanted: list[str]) -> dict:
    """The profile's model if the server lists it, else the server's only model."""
    for entry in served:
        if entry.get("id") in wanted or entry.get("root") in wanted:
            return entry
    if len(served) == 1:
        return served[0]
    names = ", ".join(e.get("id", "?") for e in served) or "none"
    raise DiscoveryError(
        f"the server serves several models ({names}) and none is the profile's ({', '.join(wanted)}): "
        "choose one with --model NAME"
    )


async def _probe(session: Session, base_url: str, api: str, model: str, prompt: Prompt) -> RequestRecord:
    body = request_body(api, model, prompt, 2)
    record = RequestRecord(cell=-1, index=0, concurrency=1, input_len=prompt.expected_len, output_len=2, warmup=True)
    return await stream_request(
        session, base_url + api_path(api), json.dumps(body).encode(), record, api, lambda n: None
    )


def _tokenizer_source(profile: ResolvedProfile, model_arg: str | None, root: str | None) -> str:
    """The profile's tokenizer, else the model as launched, else the path the server reports."""
    if profile.model.tokenizer:
        return profile.model.tokenizer
    if model_arg:
        return model_arg
    if root and Path(root).is_dir():
        return root
    return model_location(profile, build=True, progress=lambda m: None)


async def discover(
    client: httpx.AsyncClient,
    session: Session,
    base_url: str,
    profile: ResolvedProfile,
    model_arg: str | None,
    backend: Backend,
) -> tuple[ServerInfo, PromptFactory]:
    """`model_arg`: what this tool passed to the server as --model (None when attached); `backend`:
    what the profile says the server is (its version route; whether token-id prompts are worth a probe)."""
    try:
        r = await client.get(f"{base_url}/v1/models")
        r.raise_for_status()
        served = r.json().get("data", [])
    except (httpx.HTTPError, ValueError) as exc:
        raise DiscoveryError(f"cannot list models at {base_url}/v1/models: {exc}") from None
    wanted = [x for x in (profile.model.name, profile.model.id, model_arg) if x]
    entry = choose_model(served, wanted)
    version = None
    try:
        v = await client.get(f"{base_url}{backend.version_path}")
        if v.status_code == 200:
            version = v.json().get("version")
    except (httpx.HTTPError, ValueError):
        pass

    source = _tokenizer_source(profile, model_arg, entry.get("root"))
    tokenizer = await asyncio.get_running_loop().run_in_executor(None, load_tokenizer, source)
    factory = PromptFactory(tokenizer, profile.load.seed)

    api = profile.load.api
    apis = ["completions", "chat"] if api == "auto" else [api]
    kinds = {"auto": ["token_ids", "text"], "token_ids": ["token_ids"], "text": ["text"]}[profile.load.prompt]
    if profile.load.prompt == "auto" and not backend.capabilities.token_id_prompts:
        kinds = ["text"]
    failures = []
    for api in apis:
        for kind in kinds:
            if api == "chat" and kind == "token_ids":
                continue  # chat messages are text
            prompt = factory.token_ids(8, -1, 0) if kind == "token_ids" else factory.text(8, -1, 0)
            record = await _probe(session, base_url, api, entry["id"], prompt)
            if record.ok:
                info = ServerInfo(
                    model=entry["id"],
                    root=entry.get("root"),
                    max_model_len=entry.get("max_model_len"),
                    version=version,
                    api=api,
                    prompt_kind=kind,
                    usage_reported=record.usage_reported,
                    tokenizer=source,
                )
                return info, factory
            failures.append(f"{api} with {kind.replace('_', ' ')} prompts: {record.error}")
    raise DiscoveryError(f"the server at {base_url} accepted no request format we tried:\n  " + "\n  ".join(failures))
