//! Walks the whole role matrix: every role against one endpoint of every action, compared with
//! `roles::permits` (which a unit test compares with docs/roles.md).

use crate::helpers::spawn_app;
use reqwest::Method;
use serde_json::json;
use switchyard::admin::roles::{Action, Role, Scope, permits};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_gets_exactly_the_actions_of_the_matrix() {
    let app = spawn_app().await;
    let team_id = app.services.default_team.id;
    for (n, role) in Role::ALL.into_iter().enumerate() {
        let (user_id, token) = app
            .token_for(&format!("{}@example.com", role.as_str()), role.as_str())
            .await;
        // Developers act on their own keys in their own teams.
        let (_, owner) = if n == 0 {
            (user_id, token.clone())
        } else {
            app.token_for(&format!("owner{n}@example.com"), "owner")
                .await
        };
        app.admin(
            &owner,
            Method::PUT,
            &format!("/teams/{team_id}/members/{user_id}"),
            None,
        )
        .await;
        for action in Action::ALL {
            let (method, path, body) = match action {
                Action::TenantRead => (Method::GET, "/tenant".to_owned(), None),
                Action::TenantUpdate => (Method::PATCH, "/tenant".to_owned(), Some(json!({}))),
                Action::MembersRead => (Method::GET, "/members".to_owned(), None),
                Action::MembersManage => (
                    Method::POST,
                    "/members".to_owned(),
                    Some(json!({"email": format!("new-{n}@example.com"), "role": "viewer"})),
                ),
                Action::TeamsRead => (Method::GET, "/teams".to_owned(), None),
                Action::TeamsManage => (
                    Method::POST,
                    "/teams".to_owned(),
                    Some(json!({"slug": format!("team-{n}"), "name": "t"})),
                ),
                Action::KeysRead => (Method::GET, "/keys".to_owned(), None),
                Action::KeysManage => (
                    Method::POST,
                    "/keys".to_owned(),
                    Some(json!({"name": "k", "team_id": team_id})),
                ),
                Action::ProvidersRead => (Method::GET, "/providers".to_owned(), None),
                Action::ProvidersManage => (
                    Method::POST,
                    "/providers".to_owned(),
                    Some(
                        json!({"name": format!("p{n}"), "kind": "openai", "base_url": "http://127.0.0.1:9/v1"}),
                    ),
                ),
                Action::BudgetsRead => (Method::GET, "/budgets".to_owned(), None),
                Action::BudgetsManage => (
                    Method::POST,
                    "/budgets".to_owned(),
                    Some(
                        json!({"name": "b", "scope_type": "tenant", "period": "monthly", "limit": "100"}),
                    ),
                ),
                Action::PricesRead => (Method::GET, "/prices".to_owned(), None),
                Action::RequestsRead => (Method::GET, "/requests".to_owned(), None),
                Action::PricesManage => (
                    Method::POST,
                    "/prices".to_owned(),
                    Some(
                        json!({"provider_kind": "openai", "upstream_model": format!("m-{n}"), "input_price": "1", "output_price": "2"}),
                    ),
                ),
                Action::RegionsRead => (Method::GET, "/regions".to_owned(), None),
                Action::AuditRead => (Method::GET, "/audit".to_owned(), None),
                Action::ReportsRead => (Method::GET, "/reports/chargeback".to_owned(), None),
            };
            let status = app
                .admin(&token, method, &path, body)
                .await
                .status()
                .as_u16();
            match permits(role, action) {
                Scope::None => assert_eq!(
                    status,
                    403,
                    "{} must not {}",
                    role.as_str(),
                    action.as_str()
                ),
                Scope::All | Scope::Own => assert!(
                    (200..300).contains(&status),
                    "{} may {} but got {status}",
                    role.as_str(),
                    action.as_str()
                ),
            }
        }
    }
    app.shutdown().await;
}
