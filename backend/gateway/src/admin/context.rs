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
use std::future::Future;
use std::sync::Arc;
use uuid::Uuid;

/// Name of the cookie holding the access token for browser clients (with `Secure` cookies, the default).
pub const ACCESS_COOKIE: &str = "__Host-sy_access";
/// Name of the cookie holding the refresh token for browser clients (with `Secure` cookies, the default).
pub const REFRESH_COOKIE: &str = "__Host-sy_refresh";

/// The session cookies' names and paths. With `Secure` cookies they carry the `__Host-` prefix, which binds
/// them to this exact origin (no `Domain`, path `/`: a sibling subdomain cannot set or shadow them); plain-http
/// development keeps unprefixed names, which browsers would otherwise refuse.
#[derive(Debug, Clone, Copy)]
pub struct CookieNames {
    pub access: (&'static str, &'static str),
    pub refresh: (&'static str, &'static str),
}

impl CookieNames {
    /// The names and paths for `secure` cookies or not.
    pub fn new(secure: bool) -> Self {
        if secure {
            Self {
                access: (ACCESS_COOKIE, "/"),
                refresh: (REFRESH_COOKIE, "/"),
            }
        } else {
            Self {
                access: ("sy_access", "/api"),
                refresh: ("sy_refresh", "/api/v1/auth"),
            }
        }
    }
}

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
    /// Where tenant-set URLs may point.
    pub egress: Arc<crate::egress::EgressPolicy>,
    /// Who the client is behind the operator's reverse proxies (sign-in throttling).
    pub proxies: crate::client_address::TrustedProxies,
    /// Bounds the Argon2id hashes computed at once (each takes 19 MiB and a core for tens of milliseconds).
    pub hashing: Arc<tokio::sync::Semaphore>,
}

impl AdminState {
    /// Whether tenants are strangers (SaaS mode).
    pub fn saas(&self) -> bool {
        self.settings.mode == crate::config::TenancyMode::Saas
    }

    /// Runs a password hash or verification on the blocking pool, at most `password_hash_concurrency` at once.
    pub async fn hash_work<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self.hashing.acquire().await.map_err(ApiError::internal)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(ApiError::internal)
    }
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
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let verified = token_session(req);
        let admin = req.app_data::<web::Data<AdminState>>().cloned();
        Box::pin(async move {
            let claimed = verified?;
            let admin = admin.ok_or_else(|| ApiError::internal("admin state missing"))?;
            current(&admin, claimed).await
        })
    }
}

/// A token is only as good as what it stands for now: the session must not be signed out (or revoked by a
/// password change or refresh-token reuse), and the membership must still exist, with the role it has now.
/// Read from the database on every admin request, so sign-out, removal and demotion take effect at once on every
/// replica. The admin API is not the proxy's hot path; this costs one indexed query.
async fn current(admin: &AdminState, claimed: Session) -> Result<Session, ApiError> {
    use crate::store::entities::{membership, refresh_token};
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let db = admin.repo.db().clone();
    let (user_id, tenant_id, family) = (claimed.user_id, claimed.tenant_id, claimed.session_id);
    let (revoked, member) = admin
        .run(async move {
            let revoked = refresh_token::Entity::find()
                .filter(refresh_token::Column::FamilyId.eq(family))
                .filter(refresh_token::Column::RevokedAt.is_not_null())
                .count(&db)
                .await?;
            let member = membership::Entity::find()
                .filter(membership::Column::UserId.eq(user_id))
                .filter(membership::Column::TenantId.eq(tenant_id))
                .one(&db)
                .await?;
            Ok((revoked > 0, member))
        })
        .await?;
    if revoked {
        return Err(ApiError::Unauthenticated {
            code: "session_revoked",
            message: "this session has been signed out; sign in again".into(),
        });
    }
    let role =
        member
            .and_then(|m| Role::parse(&m.role))
            .ok_or_else(|| ApiError::Unauthenticated {
                code: "no_membership",
                message: "this user no longer has access to the tenant".into(),
            })?;
    Ok(Session { role, ..claimed })
}

/// Whether a cookie-authenticated request that changes state comes from another site: the browser's
/// `Sec-Fetch-Site`, else its `Origin` compared with the `Host` it sent. Requests without either header come
/// from non-browser clients, which cookies do not ride along with unasked.
pub fn cross_site(req: &HttpRequest) -> bool {
    if req.method().is_safe() {
        return false;
    }
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site") {
        return !matches!(site, "same-origin" | "none");
    }
    match (header("origin"), header("host")) {
        (Some(origin), Some(host)) => {
            let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            origin == "null" || !origin_host.eq_ignore_ascii_case(host)
        }
        (Some(_), None) => true,
        _ => false,
    }
}

fn cross_site_refused() -> ApiError {
    ApiError::Forbidden
}

fn token_session(req: &HttpRequest) -> Result<Session, ApiError> {
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
    let from_cookie = || {
        let name = CookieNames::new(admin.settings.secure_cookies).access.0;
        req.cookie(name).map(|c| c.value().to_owned())
    };
    let token = match bearer {
        Some(token) => Some(token),
        None => {
            let token = from_cookie();
            if token.is_some() && cross_site(req) {
                // A cookie rides along with a form or fetch another site makes the browser send: refused
                // for every state change, on top of `SameSite=Strict`.
                return Err(cross_site_refused());
            }
            token
        }
    }
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
