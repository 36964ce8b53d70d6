//! The signed-in session: who the user is, in which tenant, with which role, and the access token.
//!
//! The access token lives only in memory (never in local storage, where any script could read it). The
//! refresh token is the gateway's HttpOnly `sy_refresh` cookie, so a reload or an expired access token is
//! answered by `POST /api/v1/auth/refresh` without the page ever seeing it.

use leptos::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_types::roles::{Action, Role, Scope, permits};

use crate::api::{ApiError, ApiResult, session};

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct User {
    pub id: String,
    pub email: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Tenant {
    pub id: String,
    pub slug: String,
    pub name: String,
}

/// What a sign-in or a refresh answers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Session {
    pub access_token: String,
    pub user: User,
    pub tenant: Tenant,
    pub role: Role,
}

/// The session state, shared through the context; `Copy` so that event handlers and async tasks can hold it.
#[derive(Clone, Copy)]
pub struct Auth {
    session: RwSignal<Option<Session>>,
    /// The access token was refused and could not be refreshed: the sign-in dialog is open.
    expired: RwSignal<bool>,
    /// The first refresh at start has finished (until then the page shows nothing but a spinner).
    pub ready: RwSignal<bool>,
}

impl Auth {
    pub fn new() -> Self {
        Self {
            session: RwSignal::new(None),
            expired: RwSignal::new(false),
            ready: RwSignal::new(false),
        }
    }

    pub fn session(&self) -> Option<Session> {
        self.session.get()
    }

    pub fn signed_in(&self) -> bool {
        self.session.with(Option::is_some)
    }

    pub fn is_expired(&self) -> bool {
        self.expired.get()
    }

    pub fn token(&self) -> Option<String> {
        self.session
            .with_untracked(|s| s.as_ref().map(|s| s.access_token.clone()))
    }

    pub fn role(&self) -> Option<Role> {
        self.session.with(|s| s.as_ref().map(|s| s.role))
    }

    /// How far the role reaches for an action (the same matrix the gateway enforces).
    pub fn scope(&self, action: Action) -> Scope {
        self.role()
            .map_or(Scope::None, |role| permits(role, action))
    }

    /// Whether the role may do the action at all (everything, or its own).
    pub fn can(&self, action: Action) -> bool {
        self.scope(action) != Scope::None
    }

    pub fn email(&self) -> Option<String> {
        self.session
            .with(|s| s.as_ref().map(|s| s.user.email.clone()))
    }

    pub fn mark_expired(&self) {
        if self.session.with_untracked(Option::is_some) {
            self.expired.set(true);
        }
    }

    fn accept(&self, session: Session) {
        self.session.set(Some(session));
        self.expired.set(false);
    }

    /// Signs in; the session replaces any other (also the one whose token expired).
    pub async fn sign_in(&self, email: &str, password: &str, tenant: &str) -> ApiResult<()> {
        let mut body = json!({"email": email, "password": password});
        if !tenant.trim().is_empty() {
            body["tenant"] = Value::String(tenant.trim().to_owned());
        }
        let response = session::post_json("/auth/login", Some(&body), None).await?;
        let session: Session = response
            .json()
            .await
            .map_err(|e| ApiError::local(format!("unexpected answer from the gateway: {e}")))?;
        self.accept(session);
        Ok(())
    }

    /// Exchanges the refresh cookie for a new session; `false` when there is none or it was refused.
    pub async fn refresh(&self) -> bool {
        let Ok(response) = session::post_json("/auth/refresh", None, None).await else {
            return false;
        };
        match response.json::<Session>().await {
            Ok(session) => {
                self.accept(session);
                true
            }
            Err(_) => false,
        }
    }

    /// Signs out on the gateway (revoking the refresh token) and forgets the session here.
    pub async fn sign_out(&self) {
        let _ = session::post_json("/auth/logout", None, self.token()).await;
        self.session.set(None);
        self.expired.set(false);
    }
}

impl Default for Auth {
    fn default() -> Self {
        Self::new()
    }
}

/// The session of the current page.
pub fn use_auth() -> Auth {
    expect_context::<Auth>()
}

/// Where a role starts: the overview if it may read reports, else its keys.
pub fn home_path(auth: &Auth) -> &'static str {
    if auth.can(Action::ReportsRead) || auth.can(Action::BudgetsRead) {
        "/"
    } else {
        "/keys"
    }
}
