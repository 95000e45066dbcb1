"""Which serialiser for requests.jsonl and for the load workers' messages: stdlib json, orjson, msgspec.

requests.jsonl: one line per request, dominated by its per-chunk gaps (rounded to 0.1 us) and
token counts; timed for answers of 128 and 8,192 tokens. Worker messages: a batch of 64 finished
records (what a worker flushes), encoded and decoded whole; the baseline is pickle, what a
multiprocessing Connection sends today. Prints microseconds per operation and bytes. A library
that is not installed is reported as such (orjson is no dependency: `pip install --target DIR
orjson` and put DIR on PYTHONPATH to measure it).

    python benchmarks/json_libs.py
"""

from __future__ import annotations

import json
import pickle
import random
import timeit
from array import array

from engine.load.record import RequestRecord

BATCH = 64


def record(tokens: int, seed: int = 0) -> RequestRecord:
    rng = random.Random(seed)
    r = RequestRecord(0, seed, 128, 1024, tokens, ok=True, start_time=1.7e9 + seed, ttft=0.2, e2el=9.5)
    r.prompt_tokens, r.output_tokens, r.expected_prompt_tokens = 1024, tokens, 1024
    r.response_id, r.send_delay = f"cmpl-{seed:032x}", 1.2e-5
    r.chunk_gaps = array("d", (rng.uniform(0.005, 0.05) for _ in range(tokens - 1)))
    r.chunk_tokens = array("I", [1] * (tokens - 1))
    return r


def line_dict(r: RequestRecord) -> dict:
    """What a requests.jsonl line holds (the fields of RequestRecord.to_json)."""
    d = {k: v for k, v in vars(r).items() if k != "output_ids" and v is not None}
    d["chunk_gaps"] = [round(g, 7) for g in r.chunk_gaps]
    d["chunk_tokens"] = list(r.chunk_tokens)
    return d


def encoders() -> dict:
    out = {"json": lambda d: json.dumps(d, separators=(",", ":")).encode()}
    try:
        import orjson

        out["orjson"] = orjson.dumps
    except ImportError:
        out["orjson"] = None
    try:
        import msgspec

        out["msgspec"] = msgspec.json.Encoder().encode
    except ImportError:
        out["msgspec"] = None
    return out


def per_op_us(fn, number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def lines() -> None:
    for tokens in (128, 8192):
        d = line_dict(record(tokens))
        rounding = per_op_us(lambda d=d, r=record(tokens): line_dict(r), 20)
        print(f"requests.jsonl line, {tokens} tokens (building the dict with rounded gaps: {rounding:.0f} us)")
        for name, enc in encoders().items():
            if enc is None:
                print(f"  {name:8s} not installed")
                continue
            size = len(enc(d))
            print(f"  {name:8s} {per_op_us(lambda enc=enc, d=d: enc(d), 50):8.0f} us  {size:8d} bytes")


def messages() -> None:
    import msgspec

    batch = [record(8192, seed=i) for i in range(BATCH)]
    print(f"worker message: a batch of {BATCH} records of 8192 tokens (encode + decode)")
    msg = ("records", 1, batch, 3, 10**6)
    blob = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
    t = per_op_us(lambda: pickle.loads(pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)), 3)
    print(f"  {'pickle':16s} {t:10.0f} us  {len(blob):10d} bytes  (today: dataclasses, arrays as bytes)")
    shape = tuple[str, int, list[RequestRecord], int, int]
    for name, codec in (("msgspec msgpack", msgspec.msgpack), ("msgspec json", msgspec.json)):
        enc = codec.Encoder(enc_hook=lambda obj: obj.tolist())  # arrays: msgspec has no array type
        dec = codec.Decoder(shape)
        blob = enc.encode(msg)
        t = per_op_us(lambda enc=enc, dec=dec: dec.decode(enc.encode(msg)), 3)
        print(f"  {name:16s} {t:10.0f} us  {len(blob):10d} bytes  (dataclasses, arrays as lists)")
    plain = [line_dict(r) for r in batch]
    blob = json.dumps(plain).encode()
    t = per_op_us(lambda: json.loads(json.dumps(plain)), 3)
    print(f"  {'json (dicts)':16s} {t:10.0f} us  {len(blob):10d} bytes")


if __name__ == "__main__":
    lines()
    messages()
