//! Redaction of captured content (trace attributes, request-log bodies): what looks like personal data or a
//! secret is replaced before anything is stored or exported.

/// Replaces what looks like personal data or a secret in captured content: e-mail addresses, API keys and bearer
/// tokens, and runs of 9 or more digits (phone, card and account numbers), then cuts it to `limit` characters.
pub fn redact(text: &str, limit: usize) -> String {
    static PATTERNS: std::sync::OnceLock<Vec<regex::Regex>> = std::sync::OnceLock::new();
    let patterns = PATTERNS.get_or_init(|| {
        [
            r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
            r"\b(?:sk|pk|rk|ak)-[A-Za-z0-9_-]{8,}",
            r"(?i)bearer\s+[A-Za-z0-9._~+/=-]{8,}",
            r"\+?\d[\d \-()]{7,}\d",
        ]
        .iter()
        .filter_map(|p| regex::Regex::new(p).ok())
        .collect()
    });
    // Cut first (with a margin, so a secret across the limit is still recognised), so a large body costs no
    // more than its kept part.
    let margin = limit.saturating_add(256);
    let mut out: String = if text.len() > margin {
        text.chars().take(margin).collect()
    } else {
        text.to_owned()
    };
    for pattern in patterns {
        out = pattern.replace_all(&out, "[REDACTED]").into_owned();
    }
    if out.chars().count() > limit {
        out = out.chars().take(limit).collect::<String>() + "…";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn content_is_redacted_and_cut() {
        let text = "mail jane.doe@example.com, key sk-abcdefghijklmnop, call +44 20 7946 0958, Bearer abc.def.ghi123";
        let redacted = redact(text, 1000);
        assert!(!redacted.contains("jane.doe"), "{redacted}");
        assert!(!redacted.contains("sk-abcdefghijklmnop"), "{redacted}");
        assert!(!redacted.contains("7946"), "{redacted}");
        assert!(!redacted.contains("abc.def.ghi123"), "{redacted}");
        assert_eq!(redact("hello world", 5), "hello…");
    }
}
