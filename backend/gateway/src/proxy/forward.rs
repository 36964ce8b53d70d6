//! The caller's JSON as written. A request is read once into its top-level fields, each kept as the exact text
//! the caller sent (`RawValue`), and into the map the pipeline reads. When the body goes to a provider that
//! speaks the caller's format, it is written back field by field in the caller's order: every field the gateway
//! did not touch as its original text (key order inside it, number text, unknown fields), and only the few it
//! must set from the map. A `response_format` schema written "reasoning, then answer" reaches the model that
//! way, and `1.0` stays `1.0`.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The top-level fields the gateway may set, replace or remove on the way: written from the map. Every other
/// field is written as the caller sent it.
const TOUCHED: [&str; 4] = [
    "model",
    "stream_options",
    "max_completion_tokens",
    "metadata",
];

/// A request body's top-level fields in the caller's order, each as the text it was sent as.
#[derive(Debug, Default)]
pub struct RawRequest {
    fields: Vec<(String, Box<RawValue>)>,
    /// The body's size, to size the output.
    len: usize,
}

struct Fields(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
                let mut fields: Vec<(String, Box<RawValue>)> = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Box<RawValue>>()? {
                    // A repeated key: the last one counts, as in every JSON parser the providers use.
                    fields.retain(|(known, _)| *known != key);
                    fields.push((key, value));
                }
                Ok(Fields(fields))
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

impl RawRequest {
    /// Reads an object body into its raw fields and the map the pipeline works on; `None` for anything that is
    /// not a JSON object (the caller's error is then worded by `body::parse_object`).
    pub fn parse(body: &[u8]) -> Option<(RawRequest, Map<String, Value>)> {
        let Fields(fields) = serde_json::from_slice(body).ok()?;
        let mut map = Map::new();
        for (key, raw) in &fields {
            map.insert(key.clone(), serde_json::from_str(raw.get()).ok()?);
        }
        Some((
            RawRequest {
                fields,
                len: body.len(),
            },
            map,
        ))
    }

    /// The body for a provider of the caller's format: the caller's fields in the caller's order and text,
    /// except the ones the gateway sets (from `request`); fields removed from `request` are left out, fields
    /// added to it come last.
    pub fn write(&self, request: &Map<String, Value>) -> Result<Vec<u8>, serde_json::Error> {
        let mut out = Vec::with_capacity(self.len + 128);
        out.push(b'{');
        let separator = |out: &mut Vec<u8>| {
            if out.len() > 1 {
                out.push(b',');
            }
        };
        for (key, raw) in &self.fields {
            let Some(value) = request.get(key) else {
                continue;
            };
            separator(&mut out);
            serde_json::to_writer(&mut out, key)?;
            out.push(b':');
            if TOUCHED.contains(&key.as_str()) {
                serde_json::to_writer(&mut out, value)?;
            } else {
                out.extend_from_slice(raw.get().as_bytes());
            }
        }
        for (key, value) in request {
            if self.fields.iter().any(|(known, _)| known == key) {
                continue;
            }
            separator(&mut out);
            serde_json::to_writer(&mut out, key)?;
            out.push(b':');
            serde_json::to_writer(&mut out, value)?;
        }
        out.push(b'}');
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untouched_fields_keep_their_order_and_text_and_touched_ones_are_set() {
        let body = br#"{"messages":[{"role":"user","content":"hi","z":1,"a":2}],"model":"public","temperature":1.0,"response_format":{"type":"json_schema","json_schema":{"schema":{"properties":{"reasoning":{"type":"string"},"answer":{"type":"string"}}}}},"x_vendor":12345678901234567890123,"top_p":1e-7,"metadata":{"team":"a"}}"#;
        let (raw, mut map) = RawRequest::parse(body).unwrap();
        map.insert("model".into(), Value::String("upstream".into()));
        map.remove("metadata");
        map.insert("max_completion_tokens".into(), Value::from(64));
        let written = String::from_utf8(raw.write(&map).unwrap()).unwrap();
        assert_eq!(
            written,
            r#"{"messages":[{"role":"user","content":"hi","z":1,"a":2}],"model":"upstream","temperature":1.0,"response_format":{"type":"json_schema","json_schema":{"schema":{"properties":{"reasoning":{"type":"string"},"answer":{"type":"string"}}}}},"x_vendor":12345678901234567890123,"top_p":1e-7,"max_completion_tokens":64}"#
        );
    }

    #[test]
    fn only_objects_are_read() {
        assert!(RawRequest::parse(b"[1,2]").is_none());
        assert!(RawRequest::parse(b"{\"a\":").is_none());
        assert!(RawRequest::parse(b"").is_none());
    }
}
