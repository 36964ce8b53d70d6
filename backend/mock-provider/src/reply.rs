//! The provider-neutral part of an answer: what the mock says (an echo of the user, or a call to a tool),
//! where it stops (a stop sequence, the output-token limit) and how many output tokens that costs. Each
//! dialect only renders a [`Completion`] in its own wire format.

use crate::tokens;

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

/// The request's limits on the answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Output-token budget, reasoning tokens included (Anthropic's `max_tokens`, Gemini's
    /// `maxOutputTokens`).
    pub max_tokens: Option<u64>,
    /// Text that ends the answer where it would first appear; it is not included.
    pub stop_sequences: Vec<String>,
}

/// Why the answer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The reply was complete: end of turn, or a tool call.
    Finished,
    /// The output-token budget ran out.
    MaxTokens,
    /// This stop sequence was reached.
    Sequence(String),
}

/// A reply with its limits applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Completion {
    pub reply: Reply,
    pub stop: Stop,
    /// Tokens of the visible reply (text, or the tool call's arguments).
    pub visible_tokens: u64,
    /// Hidden reasoning tokens, as asked for with `x-mock-reasoning-tokens`.
    pub reasoning_tokens: u64,
}

impl Completion {
    /// Cuts `reply` at the first stop sequence, then to the output budget. A truncated reply reports the
    /// whole budget as used, as providers do; tool calls are never cut, since their input must stay valid
    /// JSON.
    pub(crate) fn new(reply: Reply, limits: &Limits, reasoning_tokens: u64) -> Self {
        let reasoning_tokens = limits
            .max_tokens
            .map_or(reasoning_tokens, |max| reasoning_tokens.min(max));
        let Reply::Text(text) = reply else {
            let visible_tokens = tokens::count(reply.streamed_text());
            return Self {
                reply,
                stop: Stop::Finished,
                visible_tokens,
                reasoning_tokens,
            };
        };
        let (mut text, mut stop) = (text.as_str(), Stop::Finished);
        if let Some((at, sequence)) = first_stop_sequence(text, &limits.stop_sequences) {
            text = &text[..at];
            stop = Stop::Sequence(sequence.to_owned());
        }
        let mut visible_tokens = tokens::count(text);
        if let Some(max) = limits.max_tokens {
            let budget = max - reasoning_tokens;
            if visible_tokens > budget {
                text = tokens::truncate(text, budget);
                visible_tokens = budget;
                stop = Stop::MaxTokens;
            }
        }
        Self {
            reply: Reply::Text(text.to_owned()),
            stop,
            visible_tokens,
            reasoning_tokens,
        }
    }

    /// Every output token billed: visible and reasoning.
    pub(crate) fn output_tokens(&self) -> u64 {
        self.visible_tokens + self.reasoning_tokens
    }
}

/// The earliest occurrence of any non-empty stop sequence: its byte offset and the sequence.
fn first_stop_sequence<'a>(text: &str, sequences: &'a [String]) -> Option<(usize, &'a str)> {
    sequences
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()).map(|at| (at, s.as_str())))
        .min_by_key(|(at, _)| *at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(reply: &Completion) -> &str {
        reply.reply.streamed_text()
    }

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

    #[test]
    fn without_limits_the_reply_is_whole_and_counts_reasoning() {
        let done = Completion::new(Reply::to("hello world", None, ""), &Limits::default(), 4);
        assert_eq!(text(&done), "Mock reply: hello world");
        assert_eq!(done.stop, Stop::Finished);
        assert_eq!(
            done.output_tokens(),
            tokens::count("Mock reply: hello world") + 4
        );
    }

    #[test]
    fn max_tokens_truncates_and_reports_the_whole_budget() {
        let limits = Limits {
            max_tokens: Some(3),
            ..Limits::default()
        };
        let cut = Completion::new(Reply::to("hello world", None, ""), &limits, 0);
        assert_eq!(cut.stop, Stop::MaxTokens);
        assert_eq!(cut.output_tokens(), 3);
        assert!(tokens::count(text(&cut)) <= 3 && "Mock reply: ".starts_with(text(&cut)));
        let thinking = Completion::new(Reply::to("hello world", None, ""), &limits, 10);
        assert_eq!((text(&thinking), thinking.output_tokens()), ("", 3));
    }

    #[test]
    fn the_earliest_stop_sequence_ends_the_text() {
        let limits = Limits {
            stop_sequences: vec!["world".into(), "reply".into(), String::new()],
            ..Limits::default()
        };
        let done = Completion::new(Reply::to("hello world", None, ""), &limits, 0);
        assert_eq!(text(&done), "Mock ");
        assert_eq!(done.stop, Stop::Sequence("reply".into()));
        assert_eq!(done.visible_tokens, tokens::count("Mock "));
    }

    #[test]
    fn tool_calls_are_never_cut() {
        let limits = Limits {
            max_tokens: Some(1),
            stop_sequences: vec!["input".into()],
        };
        let call = Completion::new(Reply::to("x", Some("f".into()), "id"), &limits, 0);
        assert_eq!(call.stop, Stop::Finished);
        assert_eq!(call.reply.streamed_text(), r#"{"input":"x"}"#);
    }
}
