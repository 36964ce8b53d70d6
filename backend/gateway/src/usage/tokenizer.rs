//! Counting tokens ourselves, for calls whose provider reported no usage (a stream without `include_usage`
//! support, a client that hung up before the usage chunk). Uses the o200k_base BPE, OpenAI's current encoding;
//! for other vendors' models it is an estimate, and the usage event says so (`usage_source = tokenizer`).

use serde_json::Value;
use std::sync::LazyLock;
use tiktoken_rs::CoreBPE;

static BPE: LazyLock<Option<CoreBPE>> = LazyLock::new(|| match tiktoken_rs::o200k_base() {
    Ok(bpe) => Some(bpe),
    Err(e) => {
        tracing::error!(error = %e, "tokenizer failed to load; falling back to a byte estimate");
        None
    }
});

/// Overhead OpenAI adds per chat message and per reply.
const TOKENS_PER_MESSAGE: u64 = 3;
const TOKENS_PER_REPLY: u64 = 3;

/// Loads the vocabulary ahead of the first call that needs it (it takes a moment).
pub fn warm_up() {
    LazyLock::force(&BPE);
}

/// Tokens in a piece of text.
pub fn count_text(text: &str) -> u64 {
    match BPE.as_ref() {
        Some(bpe) => bpe.encode_ordinary(text).len() as u64,
        // About four bytes a token for English text.
        None => (text.len() as u64).div_ceil(4),
    }
}

/// Prompt tokens of a chat request's `messages`, the way OpenAI counts them.
pub fn count_chat_messages(messages: &Value) -> u64 {
    let Some(messages) = messages.as_array() else {
        return 0;
    };
    let mut total = TOKENS_PER_REPLY;
    for message in messages {
        total += TOKENS_PER_MESSAGE;
        let mut text = String::new();
        collect_text(message.get("content"), &mut text);
        if let Some(name) = message.get("name").and_then(Value::as_str) {
            text.push_str(name);
        }
        if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
            for call in calls {
                if let Some(f) = call.get("function") {
                    text.push_str(f.get("name").and_then(Value::as_str).unwrap_or_default());
                    text.push_str(
                        f.get("arguments")
                            .and_then(Value::as_str)
                            .unwrap_or_default(),
                    );
                }
            }
        }
        total += count_text(&text);
    }
    total
}

/// Tokens of an embeddings `input`: a string, an array of strings, or arrays of token ids.
pub fn count_embedding_input(input: &Value) -> u64 {
    match input {
        Value::String(s) => count_text(s),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => count_text(s),
                Value::Array(ids) => ids.len() as u64,
                Value::Number(_) => 1,
                _ => 0,
            })
            .sum(),
        _ => 0,
    }
}

/// Appends the text of a message `content`: a string or an array of parts (only `text` parts carry text).
fn collect_text(content: Option<&Value>, out: &mut String) {
    match content {
        Some(Value::String(s)) => out.push_str(s),
        Some(Value::Array(parts)) => {
            for part in parts {
                if let Some(t) = part.get("text").and_then(Value::as_str) {
                    out.push_str(t);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_text_with_the_real_vocabulary() {
        // "hello world" is two tokens in o200k_base.
        assert_eq!(count_text("hello world"), 2);
        assert_eq!(count_text(""), 0);
    }

    #[test]
    fn chat_prompt_adds_openai_overheads() {
        let messages = serde_json::json!([
            {"role": "system", "content": "hello world"},
            {"role": "user", "content": [{"type": "text", "text": "hello world"}, {"type": "image_url", "image_url": {"url": "x"}}]}
        ]);
        assert_eq!(count_chat_messages(&messages), 3 + (3 + 2) + (3 + 2));
    }

    #[test]
    fn embedding_input_accepts_every_shape() {
        assert_eq!(count_embedding_input(&serde_json::json!("hello world")), 2);
        assert_eq!(
            count_embedding_input(&serde_json::json!(["hello world", "hello"])),
            3
        );
        assert_eq!(count_embedding_input(&serde_json::json!([[1, 2, 3]])), 3);
    }
}
