//! What every admin handler receives: the shared admin state, and the caller's verified session. The session
//! comes from the access token (bearer header, or the console's HttpOnly cookie) and is checked without a
//! database round trip. Tenant scoping starts here: a handler only ever learns the caller's own tenant id.

use super::error::ApiError;
use super::roles::{Action, Role, Scope};
use crate::config::AdminSettings;
use crate::identity::tokens::{TokenError, TokenSigner};
use crate::state::SharedState;
use crate::store::Repo;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use std::future::{Future, Ready, ready};
use std::sync::Arc;
use uuid::Uuid;

/// Name of the cookie holding the access token for browser clients.
pub const ACCESS_COOKIE: &str = "sy_access";
/// Name of the cookie holding the refresh token for browser clients.
pub const REFRESH_COOKIE: &str = "sy_refresh";

/// State shared by the admin handlers.
pub struct AdminState {
    pub repo: Repo,
    pub state: Arc<dyn SharedState>,
    pub signer: TokenSigner,
    /// Encrypts provider credentials before they are stored.
    pub master_keys: Arc<crate::crypto::MasterKeys>,
    pub settings: AdminSettings,
    /// The main runtime, where database connections live (see `auth::KeyResolver`).
    pub storage_runtime: tokio::runtime::Handle,
}

impl AdminState {
    /// Runs storage work on the main runtime and waits for it.
    pub async fn run<F, T>(&self, work: F) -> Result<T, ApiError>
    where
        F: Future<Output = Result<T, ApiError>> + Send + 'static,
        T: Send + 'static,
    {
        self.storage_runtime
            .spawn(work)
            .await
            .map_err(ApiError::internal)?
    }
}

/// A verified caller.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    pub role: Role,
    /// The login (refresh-token family) this access token belongs to.
    pub session_id: Uuid,
}

impl Session {
    /// Checks the role matrix; `Scope::Own` is returned for callers limited to their own objects.
    pub fn require(&self, action: Action) -> Result<Scope, ApiError> {
        match super::roles::permits(self.role, action) {
            Scope::None => Err(ApiError::Forbidden),
            scope => Ok(scope),
        }
    }
}

impl FromRequest for Session {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(session_of(req))
    }
}

fn session_of(req: &HttpRequest) -> Result<Session, ApiError> {
    let unauthenticated = |code, message: &str| ApiError::Unauthenticated {
        code,
        message: message.to_owned(),
    };
    let admin = req
        .app_data::<web::Data<AdminState>>()
        .ok_or_else(|| ApiError::internal("admin state missing"))?;
    let bearer = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let token = bearer
        .or_else(|| req.cookie(ACCESS_COOKIE).map(|c| c.value().to_owned()))
        .ok_or_else(|| {
            unauthenticated(
                "missing_token",
                "sign in first: send `Authorization: Bearer <access token>`",
            )
        })?;
    let claims = admin.signer.verify(&token).map_err(|e| match e {
        TokenError::Expired => {
            unauthenticated("token_expired", "the access token has expired; refresh it")
        }
        _ => unauthenticated("invalid_token", "the access token is invalid"),
    })?;
    let role = Role::parse(&claims.role)
        .ok_or_else(|| unauthenticated("invalid_token", "the access token is invalid"))?;
    Ok(Session {
        user_id: claims.sub,
        tenant_id: claims.tid,
        role,
        session_id: claims.sid,
    })
}
