//! Which endpoint a request line names, and so which provider's dialect answers it. Paths are matched by
//! hand rather than with actix routes so that unknown paths and wrong methods are recorded too, and get a
//! 404 in the dialect their prefix belongs to.

use actix_web::http::Method;

use crate::dialect::Dialect;

/// A served endpoint, with what its path carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// OpenAI `POST /v1/chat/completions`.
    Chat,
    /// OpenAI `POST /v1/embeddings`.
    Embeddings,
    /// OpenAI `GET /v1/models`.
    Models,
    /// Azure OpenAI `POST /openai/deployments/{deployment}/chat/completions`.
    AzureChat { deployment: String },
    /// Azure OpenAI `POST /openai/deployments/{deployment}/embeddings`.
    AzureEmbeddings { deployment: String },
    /// Anthropic `POST /v1/messages`.
    Messages,
    /// Gemini `POST /v1beta/models/{model}:generateContent` or `:streamGenerateContent`.
    GenerateContent { model: String, stream: bool },
}

impl Endpoint {
    /// The endpoint for a request line; for an unknown one, the dialect whose 404 to answer with.
    pub(crate) fn of(method: &Method, path: &str) -> Result<Self, Dialect> {
        let path = path.trim_end_matches('/');
        if let Some(rest) = path.strip_prefix("/openai/deployments/") {
            return azure(method, rest).ok_or(Dialect::Azure);
        }
        if let Some(rest) = path.strip_prefix("/v1beta/models/") {
            return gemini(method, rest).ok_or(Dialect::Gemini);
        }
        // Gemini's stable `v1` shares its prefix with OpenAI's paths.
        if let Some(found) = path
            .strip_prefix("/v1/models/")
            .and_then(|r| gemini(method, r))
        {
            return Ok(found);
        }
        if path.starts_with("/v1beta/") {
            return Err(Dialect::Gemini);
        }
        // OpenAI base URLs are configured both with and without `/v1`.
        let openai = path.strip_prefix("/v1").unwrap_or(path);
        match (openai, method) {
            ("/chat/completions", &Method::POST) => Ok(Endpoint::Chat),
            ("/embeddings", &Method::POST) => Ok(Endpoint::Embeddings),
            ("/models", &Method::GET) => Ok(Endpoint::Models),
            ("/messages", &Method::POST) => Ok(Endpoint::Messages),
            ("/messages", _) => Err(Dialect::Anthropic),
            _ => Err(Dialect::OpenAi),
        }
    }

    /// The provider whose wire format (errors included) this endpoint speaks.
    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Endpoint::Chat | Endpoint::Embeddings | Endpoint::Models => Dialect::OpenAi,
            Endpoint::AzureChat { .. } | Endpoint::AzureEmbeddings { .. } => Dialect::Azure,
            Endpoint::Messages => Dialect::Anthropic,
            Endpoint::GenerateContent { .. } => Dialect::Gemini,
        }
    }
}

/// `{deployment}/chat/completions` or `{deployment}/embeddings`.
fn azure(method: &Method, rest: &str) -> Option<Endpoint> {
    if method != Method::POST {
        return None;
    }
    let (deployment, operation) = rest.split_once('/')?;
    let deployment = deployment.to_owned();
    match operation {
        _ if deployment.is_empty() => None,
        "chat/completions" => Some(Endpoint::AzureChat { deployment }),
        "embeddings" => Some(Endpoint::AzureEmbeddings { deployment }),
        _ => None,
    }
}

/// `{model}:generateContent` or `{model}:streamGenerateContent`; clients may percent-encode the colon.
fn gemini(method: &Method, rest: &str) -> Option<Endpoint> {
    if method != Method::POST {
        return None;
    }
    let (model, action) = rest
        .split_once(':')
        .or_else(|| rest.split_once("%3A"))
        .or_else(|| rest.split_once("%3a"))?;
    let stream = match action {
        "generateContent" => false,
        "streamGenerateContent" => true,
        _ => return None,
    };
    (!model.is_empty() && !model.contains('/')).then(|| Endpoint::GenerateContent {
        model: model.to_owned(),
        stream,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(path: &str) -> Result<Endpoint, Dialect> {
        Endpoint::of(&Method::POST, path)
    }

    #[test]
    fn openai_paths_are_accepted_with_and_without_v1() {
        assert_eq!(post("/v1/chat/completions"), Ok(Endpoint::Chat));
        assert_eq!(post("/chat/completions"), Ok(Endpoint::Chat));
        assert_eq!(post("/v1/embeddings"), Ok(Endpoint::Embeddings));
        assert_eq!(
            Endpoint::of(&Method::GET, "/v1/models"),
            Ok(Endpoint::Models)
        );
        assert_eq!(
            Endpoint::of(&Method::GET, "/v1/chat/completions"),
            Err(Dialect::OpenAi)
        );
        assert_eq!(post("/v1/completions"), Err(Dialect::OpenAi));
    }

    #[test]
    fn anthropic_azure_and_gemini_paths_name_their_endpoint() {
        assert_eq!(post("/v1/messages"), Ok(Endpoint::Messages));
        assert_eq!(
            Endpoint::of(&Method::GET, "/v1/messages"),
            Err(Dialect::Anthropic)
        );
        assert_eq!(
            post("/openai/deployments/prod-4o/chat/completions"),
            Ok(Endpoint::AzureChat {
                deployment: "prod-4o".into()
            })
        );
        assert_eq!(
            post("/openai/deployments/emb/embeddings"),
            Ok(Endpoint::AzureEmbeddings {
                deployment: "emb".into()
            })
        );
        assert_eq!(
            post("/openai/deployments/x/completions"),
            Err(Dialect::Azure)
        );
        assert_eq!(
            post("/v1beta/models/gemini-2.5-flash:streamGenerateContent"),
            Ok(Endpoint::GenerateContent {
                model: "gemini-2.5-flash".into(),
                stream: true
            })
        );
        assert_eq!(
            post("/v1/models/gemini-2.5-flash%3AgenerateContent"),
            Ok(Endpoint::GenerateContent {
                model: "gemini-2.5-flash".into(),
                stream: false
            })
        );
        assert_eq!(post("/v1beta/models/g:countTokens"), Err(Dialect::Gemini));
        assert_eq!(post("/v1beta/files"), Err(Dialect::Gemini));
    }
}
