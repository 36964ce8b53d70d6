//! Unit tests of the translations. Fixtures follow the examples of Anthropic's Messages and streaming
//! documentation, Gemini's generateContent reference and OpenAI's Chat Completions reference.

mod errors;
