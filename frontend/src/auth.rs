//! The signed-in session: who the user is, in which tenant, with which role, and the access token.
//!
//! The access token lives only in memory (never in local storage, where any script could read it). The
//! refresh token is the gateway's HttpOnly refresh cookie (`__Host-sy_refresh`, or `sy_refresh` without secure
//! cookies), so a reload or an expired access token is answered by `POST /api/v1/auth/refresh` without the page
//! ever seeing it. Accepting an invitation opens a session in the same way as a sign-in.

use leptos::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_types::roles::{Action, Role, Scope, permits};

use crate::api::{ApiError, ApiResult, session};

/// One refresh at a time: a refresh token works once, and the gateway revokes the whole session when it sees
/// one used twice, so calls that find the access token expired together must share a single refresh.
static REFRESH: futures_util::lock::Mutex<()> = futures_util::lock::Mutex::new(());

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
    /// A message for the sign-in page (e.g. a sign-out the gateway could not confirm).
    pub notice: RwSignal<Option<String>>,
}

impl Auth {
    pub fn new() -> Self {
        Self {
            session: RwSignal::new(None),
            expired: RwSignal::new(false),
            ready: RwSignal::new(false),
            notice: RwSignal::new(None),
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

    /// The slug of the tenant the session acts in.
    pub fn tenant_slug(&self) -> Option<String> {
        self.session
            .with_untracked(|s| s.as_ref().map(|s| s.tenant.slug.clone()))
    }

    /// The user and tenant ids: who the open page was loaded for.
    fn identity(&self) -> Option<(String, String)> {
        self.session
            .with_untracked(|s| s.as_ref().map(|s| (s.user.id.clone(), s.tenant.id.clone())))
    }

    pub fn mark_expired(&self) {
        if self.session.with_untracked(Option::is_some) {
            self.expired.set(true);
        }
    }

    fn accept(&self, session: Session) {
        // Signing in again over an open page as someone else, or in another tenant, must not leave the page
        // showing (and acting on) what the previous session loaded: start the console afresh.
        if let Some(before) = self.identity()
            && before != (session.user.id.clone(), session.tenant.id.clone())
        {
            self.session.set(Some(session));
            if let Some(window) = web_sys::window() {
                let _ = window.location().assign("/");
            }
            return;
        }
        self.session.set(Some(session));
        self.expired.set(false);
        self.notice.set(None);
    }

    /// Signs in; the session replaces any other (also the one whose token expired).
    pub async fn sign_in(&self, email: &str, password: &str, tenant: &str) -> ApiResult<()> {
        let mut body = json!({"email": email, "password": password});
        if !tenant.trim().is_empty() {
            body["tenant"] = Value::String(tenant.trim().to_owned());
        }
        let response = session::post_json("/auth/login", Some(&body), None).await?;
        self.take(response).await
    }

    /// Accepts an invitation (the token from the link, the password of the new or the existing account, a new
    /// account's name) and takes the session the gateway answers with, as a sign-in does.
    pub async fn accept_invitation(
        &self,
        token: &str,
        password: &str,
        name: &str,
    ) -> ApiResult<()> {
        let mut body = json!({"token": token, "password": password});
        if !name.trim().is_empty() {
            body["name"] = Value::String(name.trim().to_owned());
        }
        let response = session::post_json("/invitations/accept", Some(&body), None).await?;
        self.take(response).await
    }

    /// Reads a session answer (sign-in, invitation) and makes it the current one.
    async fn take(&self, response: gloo_net::http::Response) -> ApiResult<()> {
        let session: Session = response
            .json()
            .await
            .map_err(|e| ApiError::local(format!("unexpected answer from the gateway: {e}")))?;
        self.accept(session);
        Ok(())
    }

    /// Replaces an access token the gateway refused: waits for a refresh already under way, and uses its result
    /// when it gave a token other than `refused`; otherwise refreshes. `false` when the session cannot go on.
    pub async fn renew(&self, refused: Option<String>) -> bool {
        let _one_at_a_time = REFRESH.lock().await;
        let current = self.token();
        if current.is_some() && current != refused {
            return true;
        }
        self.refresh().await
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

    /// Signs out on the gateway (revoking the refresh token and clearing the cookies; an expired access token
    /// is renewed first, since the gateway needs a valid one to sign out) and forgets the session here.
    pub async fn sign_out(&self) {
        let result = crate::api::no_content(*self, crate::api::Method::Post, "/auth/logout").await;
        if let Err(e) = result
            && e.code != "session_expired"
        {
            // The session may still be alive on the gateway: say so instead of pretending.
            self.notice.set(Some(format!(
                "The gateway could not confirm the sign-out ({}). Close the browser to end the session, \
                 or sign in and out again.",
                e.message
            )));
        }
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

/// Where a role starts: the overview if it may read reports (owners, admins, finance), else the keys (a
/// developer's own; a viewer's, read-only).
pub fn home_path(auth: &Auth) -> &'static str {
    if auth.can(Action::ReportsRead) {
        "/"
    } else {
        "/keys"
    }
}
