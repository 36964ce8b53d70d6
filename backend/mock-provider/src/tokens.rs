//! Realistic token counts with OpenAI's `o200k_base` encoding, so the gateway's billing sees the numbers a
//! real provider would report.

use std::sync::LazyLock;

use tiktoken_rs::CoreBPE;

/// OpenAI's chat formatting overhead per message (`<|start|>role…<|end|>`).
pub(crate) const PER_MESSAGE: u64 = 3;
/// OpenAI's overhead priming the assistant reply.
pub(crate) const PER_REPLY: u64 = 3;

/// Loaded once; `None` if the embedded ranks fail to load, in which case counts fall back to words.
static BPE: LazyLock<Option<CoreBPE>> = LazyLock::new(|| tiktoken_rs::o200k_base().ok());

/// Loads the encoding ahead of the first request (it takes a noticeable fraction of a second) so the
/// first measured request is not slower than the rest.
pub(crate) fn warm_up() {
    LazyLock::force(&BPE);
}

/// Number of tokens in `text`.
pub(crate) fn count(text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    match BPE.as_ref() {
        Some(bpe) => bpe.encode_ordinary(text).len() as u64,
        None => count_words(text),
    }
}

/// Prompt tokens of a conversation given the tokens of each message (system prompt included), with
/// OpenAI's chat overhead. Every dialect counts this way, so one conversation costs the same whichever
/// wire format carries it.
pub(crate) fn prompt(message_tokens: impl IntoIterator<Item = u64>) -> u64 {
    message_tokens
        .into_iter()
        .map(|tokens| PER_MESSAGE + tokens)
        .sum::<u64>()
        + PER_REPLY
}

/// The longest prefix of `text`, cut on a char boundary, that counts at most `max` tokens.
pub(crate) fn truncate(text: &str, max: u64) -> &str {
    if count(text) <= max {
        return text;
    }
    let mut end = 0;
    for (at, ch) in text.char_indices() {
        let next = at + ch.len_utf8();
        if count(&text[..next]) > max {
            break;
        }
        end = next;
    }
    &text[..end]
}

/// Fallback estimate: one token per whitespace-separated word.
fn count_words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_match_o200k_base() {
        assert_eq!(count(""), 0);
        assert_eq!(count("hello world"), 2);
        assert_eq!(count("Hello, world!"), 4);
    }

    #[test]
    fn truncate_keeps_the_longest_prefix_within_the_budget() {
        let text = "Mock reply: hello world";
        assert_eq!(truncate(text, 100), text);
        assert_eq!(truncate(text, 0), "");
        let cut = truncate(text, 3);
        assert!(text.starts_with(cut) && count(cut) <= 3, "{cut:?}");
        assert!(count(&text[..cut.len() + 1]) > 3);
    }

    #[test]
    fn prompt_adds_overhead_per_message_and_reply() {
        assert_eq!(prompt([count("hello world")]), 3 + 2 + 3);
        assert_eq!(prompt(Vec::new()), 3);
    }

    #[test]
    fn word_fallback_counts_words() {
        assert_eq!(count_words("  one two\nthree "), 3);
    }
}
