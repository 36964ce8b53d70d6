use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mock_provider::MockConfig;
use serde_json::json;

use crate::helpers::{send_json, spawn};

#[tokio::test]
async fn base64_embeddings_decode_to_the_float_vectors() {
    let mock = spawn(MockConfig::default()).await;
    let input = json!(["alpha", "beta"]);
    let (status, _, b64) = send_json(mock.post(
        "/embeddings",
        &json!({"model": "e", "input": input, "encoding_format": "base64"}),
    ))
    .await;
    let (_, _, floats) =
        send_json(mock.post("/embeddings", &json!({"model": "e", "input": input}))).await;
    assert_eq!(status, 200, "{b64}");
    assert_eq!(b64["object"], "list");
    assert_eq!(b64["data"].as_array().map(Vec::len), Some(2));
    for i in 0..2 {
        let encoded = b64["data"][i]["embedding"].as_str().unwrap_or_default();
        let bytes = STANDARD.decode(encoded).unwrap_or_default();
        let decoded: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let expected: Vec<f32> = floats["data"][i]["embedding"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(|x| x.as_f64())
                    .map(|x| x as f32)
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(decoded.len(), 8);
        assert_eq!(decoded, expected);
        let norm: f32 = decoded.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
    }
    assert_ne!(
        floats["data"][0]["embedding"],
        floats["data"][1]["embedding"]
    );
    assert_eq!(b64["usage"]["prompt_tokens"], b64["usage"]["total_tokens"]);
    assert!(
        b64["usage"]["prompt_tokens"]
            .as_u64()
            .is_some_and(|t| t >= 2)
    );
}

#[tokio::test]
async fn embeddings_honour_dimensions_and_count_token_arrays_as_given() {
    let mock = spawn(MockConfig::default()).await;
    let (status, _, body) = send_json(mock.post(
        "/embeddings",
        &json!({"model": "e", "input": [[1, 2, 3, 4]], "dimensions": 3}),
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"][0]["embedding"].as_array().map(Vec::len),
        Some(3)
    );
    assert_eq!(body["usage"]["prompt_tokens"], 4);
}
