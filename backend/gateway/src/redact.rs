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
            // AWS access key ids (and the secret beside them when labelled), Google API keys, GitHub and Slack
            // tokens, and bare JWTs (three base64url parts, the first a JSON header).
            r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA)[A-Z0-9]{16}\b",
            r"(?i)aws_?secret_?access_?key\W{0,4}[A-Za-z0-9/+=]{40}",
            r"\bAIza[0-9A-Za-z_-]{35}",
            r"\bya29\.[0-9A-Za-z_-]{20,}",
            r"\b(?:ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{20,}",
            r"\bxox[abprs]-[A-Za-z0-9-]{10,}",
            r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
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

    #[test]
    fn cloud_keys_and_bare_jwts_are_redacted() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        for secret in [
            "AKIAIOSFODNN7EXAMPLE",
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI",
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
            jwt,
        ] {
            let redacted = redact(&format!("here: {secret} end"), 1000);
            assert!(redacted.contains("[REDACTED]"), "{redacted}");
            assert!(!redacted.contains(&secret[4..16]), "{redacted}");
        }
        assert_eq!(
            redact("plain words, version 1.2.3", 1000),
            "plain words, version 1.2.3"
        );
    }
}
