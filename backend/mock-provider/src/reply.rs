//! The provider-neutral part of an answer: what the mock says (an echo of the user, or a call to a tool).

/// Longest slice of the user's text echoed back.
const MAX_ECHO_CHARS: usize = 200;
/// What every text reply starts with.
const ECHO_PREFIX: &str = "Mock reply: ";

/// What the mock will answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    Text(String),
    ToolCall {
        id: String,
        name: String,
        /// The call's input as a JSON object, serialised.
        arguments: String,
    },
}

impl Reply {
    /// The deterministic answer to `user_text`: a call to `tool` when one is chosen (its input is
    /// `{"input": <echo>}`), else "Mock reply: " and the echo. `call_id` is the dialect's id for the call.
    pub(crate) fn to(user_text: &str, tool: Option<String>, call_id: &str) -> Self {
        let echo = truncate_chars(user_text, MAX_ECHO_CHARS);
        match tool {
            Some(name) => Reply::ToolCall {
                id: call_id.to_owned(),
                name,
                arguments: serde_json::json!({ "input": echo }).to_string(),
            },
            None => Reply::Text(format!("{ECHO_PREFIX}{echo}")),
        }
    }

    /// The text that is streamed piece by piece: the content, or the tool call's arguments.
    pub(crate) fn streamed_text(&self) -> &str {
        match self {
            Reply::Text(content) => content,
            Reply::ToolCall { arguments, .. } => arguments,
        }
    }
}

fn truncate_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_echoes_up_to_200_chars_or_calls_the_tool() {
        let long = "é".repeat(300);
        assert_eq!(
            Reply::to(&long, None, "x").streamed_text().chars().count(),
            ECHO_PREFIX.len() + 200
        );
        let call = Reply::to("Paris", Some("get_weather".into()), "toolu_1");
        assert_eq!(
            call,
            Reply::ToolCall {
                id: "toolu_1".into(),
                name: "get_weather".into(),
                arguments: r#"{"input":"Paris"}"#.into(),
            }
        );
    }
}
