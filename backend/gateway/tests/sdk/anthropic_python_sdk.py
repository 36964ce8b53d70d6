"""Drives Switchyard's `POST /v1/messages` with the official Anthropic Python SDK, changing only base_url and
api_key. The model may be served by any provider kind; the SDK must not notice.

Run by the Rust integration test `sdk::the_official_anthropic_python_sdk_works_unchanged`.
Each check raises on failure; the last line printed is the success marker the test looks for.
"""

import json
import os

import anthropic
from anthropic import Anthropic

base_url = os.environ["GATEWAY_ROOT_URL"]
client = Anthropic(base_url=base_url, api_key=os.environ["GATEWAY_API_KEY"], max_retries=0)
model = os.environ["GATEWAY_MODEL"]
prompt = "Hello from the Anthropic SDK"
messages = [{"role": "user", "content": prompt}]

# 1. A whole message, with a system prompt.
message = client.messages.create(model=model, max_tokens=256, system="Be brief.", messages=messages)
assert message.type == "message" and message.role == "assistant", message
assert len(message.content) == 1 and message.content[0].type == "text", message.content
assert message.content[0].text == "Mock reply: " + prompt, message.content[0].text
assert message.stop_reason == "end_turn", message.stop_reason
assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0, message.usage
print("message ok:", message.id, message.content[0].text)

# 2. The same message streamed, through the SDK's stream helper (it rebuilds the message from the events).
with client.messages.stream(model=model, max_tokens=256, system="Be brief.", messages=messages) as stream:
    text = "".join(stream.text_stream)
    final = stream.get_final_message()
assert text == message.content[0].text, (text, message.content[0].text)
assert final.content[0].text == text and final.stop_reason == "end_turn", final
assert final.usage.output_tokens == message.usage.output_tokens, (final.usage, message.usage)
assert final.usage.input_tokens == message.usage.input_tokens, (final.usage, message.usage)
print("stream ok:", final.usage)

# 3. Raw stream events come in Anthropic's order.
events = [event.type for event in client.messages.create(model=model, max_tokens=256, messages=messages, stream=True)]
assert events[0] == "message_start" and events[1] == "content_block_start", events
assert events[-3:] == ["content_block_stop", "message_delta", "message_stop"], events
assert "content_block_delta" in events, events
print("raw events ok:", len(events))

# 4. Tool use, then the tool result sent back, then the final answer.
tools = [{"name": "get_weather", "description": "Weather for a city",
          "input_schema": {"type": "object", "properties": {"input": {"type": "string"}}, "required": ["input"]}}]
asked = client.messages.create(model=model, max_tokens=256, messages=messages, tools=tools)
assert asked.stop_reason == "tool_use", asked
use = next(block for block in asked.content if block.type == "tool_use")
assert use.name == "get_weather" and use.input == {"input": prompt}, use
followup = messages + [
    {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in asked.content]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}]},
]
answered = client.messages.create(model=model, max_tokens=256, messages=followup, tools=tools)
assert answered.stop_reason == "end_turn" and answered.content[0].type == "text", answered
print("tools ok:", use.id, json.dumps(use.input))

# 5. A streamed tool call arrives as a tool_use block with its whole input.
with client.messages.stream(model=model, max_tokens=256, messages=messages, tools=tools,
                            tool_choice={"type": "tool", "name": "get_weather"}) as stream:
    streamed = stream.get_final_message()
streamed_use = next(block for block in streamed.content if block.type == "tool_use")
assert streamed_use.name == "get_weather" and streamed_use.input == {"input": prompt}, streamed
assert streamed.stop_reason == "tool_use", streamed.stop_reason
print("streamed tools ok")

# 6. Token counting.
counted = client.messages.count_tokens(model=model, messages=messages)
assert counted.input_tokens > 0, counted
print("count_tokens ok:", counted.input_tokens)

# 7. Errors map to the SDK's exception classes (none of these are billed).
try:
    Anthropic(base_url=base_url, api_key="sk-sy-wrong", max_retries=0).messages.create(
        model=model, max_tokens=16, messages=messages)
    raise AssertionError("expected AuthenticationError")
except anthropic.AuthenticationError as e:
    assert e.status_code == 401 and e.body["error"]["type"] == "authentication_error", e.body
try:
    client.messages.create(model="no-such-model", max_tokens=16, messages=messages)
    raise AssertionError("expected NotFoundError")
except anthropic.NotFoundError as e:
    assert e.status_code == 404 and "no-such-model" in e.message, e
try:
    client.messages.create(model=model, max_tokens=16, messages=messages, extra_body={"top_k": 5})
    raise AssertionError("expected BadRequestError")
except anthropic.BadRequestError as e:
    assert e.status_code == 400 and "top_k" in e.message, e
try:
    client.messages.create(model=model, max_tokens=16, messages=[])
    raise AssertionError("expected BadRequestError")
except anthropic.BadRequestError as e:
    assert e.status_code == 400 and e.body["type"] == "error", e.body
print("errors ok")

print("ALL SDK CHECKS PASSED")
