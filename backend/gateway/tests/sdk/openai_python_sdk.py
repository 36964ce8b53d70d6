"""Drives Switchyard with the official OpenAI Python SDK, changing only base_url and api_key.

Run by the Rust integration test `sdk::the_official_openai_python_sdk_works_unchanged`.
Each check raises on failure; the last line printed is the success marker the test looks for.
"""

import os

import openai
from openai import OpenAI

client = OpenAI(base_url=os.environ["GATEWAY_BASE_URL"], api_key=os.environ["GATEWAY_API_KEY"], max_retries=0)
model = os.environ["GATEWAY_MODEL"]
messages = [{"role": "user", "content": "Hello from the OpenAI SDK"}]

# 1. Plain chat completion.
completion = client.chat.completions.create(model=model, messages=messages)
assert completion.choices[0].message.content.startswith("Mock reply"), completion
assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0, completion.usage
print("chat ok:", completion.choices[0].message.content)

# 2. Streaming with usage.
chunks = list(client.chat.completions.create(model=model, messages=messages, stream=True, stream_options={"include_usage": True}))
text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
assert text == completion.choices[0].message.content, (text, completion.choices[0].message.content)
assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == completion.usage.total_tokens, chunks[-1]
print("stream with usage ok:", len(chunks), "chunks")

# 3. Streaming without usage: no usage chunk reaches the SDK.
chunks = list(client.chat.completions.create(model=model, messages=messages, stream=True))
assert all(c.usage is None for c in chunks), "usage chunk leaked"
assert chunks[-1].choices[0].finish_reason == "stop"
print("stream without usage ok")

# 4. Tool calls.
tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"input": {"type": "string"}}}}}]
tool_reply = client.chat.completions.create(model=model, messages=messages, tools=tools)
call = tool_reply.choices[0].message.tool_calls[0]
assert call.function.name == "get_weather" and tool_reply.choices[0].finish_reason == "tool_calls", tool_reply
print("tools ok:", call.function.arguments)

# 5. Embeddings (the SDK asks for base64 and decodes it); not for models served by Anthropic or Gemini.
if os.environ.get("GATEWAY_EMBEDDINGS", "1") == "1":
    embedding = client.embeddings.create(model=model, input=["one", "two"])
    assert len(embedding.data) == 2 and len(embedding.data[0].embedding) > 0, embedding
    print("embeddings ok:", len(embedding.data[0].embedding), "dimensions")

# 6. Models.
ids = [m.id for m in client.models.list()]
assert model in ids, ids
assert client.models.retrieve(model).id == model
print("models ok:", ids)

# 7. Errors map to the SDK's exception classes (none of these are billed).
try:
    client.chat.completions.create(model="no-such-model", messages=messages)
    raise AssertionError("expected NotFoundError")
except openai.NotFoundError as e:
    assert e.status_code == 404 and "no-such-model" in e.message
try:
    OpenAI(base_url=os.environ["GATEWAY_BASE_URL"], api_key="sk-sy-wrong", max_retries=0).models.list()
    raise AssertionError("expected AuthenticationError")
except openai.AuthenticationError as e:
    assert e.status_code == 401
try:
    client.chat.completions.create(model=model, messages=[])
    raise AssertionError("expected BadRequestError")
except openai.BadRequestError as e:
    assert e.status_code == 400
print("errors ok")

print("ALL SDK CHECKS PASSED")
