//! Members of the tenant: change roles, remove (confirmed; the member's API keys in the tenant are revoked
//! with the membership). Inviting, and the list of invitations, are in `invitations.rs`.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::json;
use switchyard_types::roles::{Action, Role};

use super::invitations::{Invitations, InviteForm};
use crate::api::{self, Method};
use crate::auth::use_auth;
use crate::components::{Page, Pager, PagerControls, loaded, short_time, use_confirm};
use crate::model::{Member, RemovedMember};

/// The roles a caller may give: only an owner may make (or unmake) an owner.
pub fn role_options(caller_is_owner: bool) -> Vec<(String, String)> {
    Role::ALL
        .iter()
        .filter(|r| caller_is_owner || **r != Role::Owner)
        .map(|r| (r.as_str().to_owned(), r.as_str().to_owned()))
        .collect()
}

#[component]
pub fn Members() -> impl IntoView {
    let auth = use_auth();
    let confirm = use_confirm();
    let reload = RwSignal::new(0u32);
    let pager = Pager::new();
    let members = pager.load::<Member>(auth, "/members", move || {
        reload.track();
        Vec::new()
    });
    let manage = auth.can(Action::MembersManage);
    let status = RwSignal::new(String::new());
    let me = auth.session().map(|s| s.user.id).unwrap_or_default();
    let owner = auth.role() == Some(Role::Owner);

    let change_role = move |member: Member, role: String| {
        spawn_local(async move {
            match api::patch::<Member>(
                auth,
                &format!("/members/{}", member.user_id),
                &json!({"role": role}),
            )
            .await
            {
                Ok(m) => status.set(format!("{} is now {}.", m.email, m.role)),
                Err(e) => status.set(e.message),
            }
            reload.update(|n| *n += 1);
        });
    };
    let remove = move |member: Member| {
        confirm.ask(
            format!("Remove {} from the tenant?", member.email),
            "They can no longer sign in to this tenant, and their API keys in this tenant are revoked.",
            "Remove member",
            move || {
                let member = member.clone();
                spawn_local(async move {
                    let path = format!("/members/{}", member.user_id);
                    match api::maybe_json::<RemovedMember>(auth, Method::Delete, &path).await {
                        Ok(removed) => {
                            let keys = removed.map(|r| r.revoked_keys).unwrap_or_default();
                            status.set(removal_notice(&member.email, &keys));
                        }
                        Err(e) => status.set(e.message),
                    }
                    reload.update(|n| *n += 1);
                });
            },
        );
    };
    let invitations_reload = RwSignal::new(0u32);

    view! {
        <h1>"Members"</h1>
        {manage.then(|| view! { <InviteForm on_invited=Callback::new(move |()| invitations_reload.update(|n| *n += 1))/> })}
        <p role="status" class="status">{move || status.get()}</p>
        {loaded(members, move |page: Page<Member>| {
            let me = me.clone();
            view! {
                <table aria-label="Members">
                    <thead><tr><th scope="col">"Email"</th><th scope="col">"Name"</th><th scope="col">"Role"</th><th scope="col">"Joined"</th><th scope="col"><span class="sr-only">"Actions"</span></th></tr></thead>
                    <tbody>
                        {page.data.into_iter().map(|m| {
                            // Only an owner may change or remove an owner (the API refuses anyone else).
                            let editable = manage && m.user_id != me && (owner || m.role != "owner");
                            let for_role = m.clone();
                            let picked = RwSignal::new(m.role.clone());
                            let remove_label = format!("Remove {}", m.email);
                            let change_label = format!("Change the role of {}", m.email);
                            let current = m.role.clone();
                            let for_remove = m.clone();
                            let select_id = format!("role-{}", m.user_id);
                            let role_label = format!("Role of {}", m.email);
                            view! {
                                <tr>
                                    <td>{m.email.clone()}</td>
                                    <td>{m.name.clone()}</td>
                                    <td>
                                        {if editable {
                                            view! {
                                                <label class="sr-only" for=select_id.clone()>{role_label}</label>
                                                <select id=select_id on:change=move |ev| picked.set(event_target_value(&ev))>
                                                    {role_options(owner).into_iter().map(|(v, t)| {
                                                        let selected = v == m.role;
                                                        view! { <option value=v selected=selected>{t}</option> }
                                                    }).collect_view()}
                                                </select>
                                                // A separate button: arrowing through a select fires a change per step.
                                                <button
                                                    type="button"
                                                    aria-label=change_label.clone()
                                                    disabled=move || picked.with(|p| *p == current)
                                                    on:click=move |_| change_role(for_role.clone(), picked.get_untracked())
                                                >
                                                    "Change role"
                                                </button>
                                            }.into_any()
                                        } else {
                                            view! { <span class="role">{m.role.clone()}</span> }.into_any()
                                        }}
                                    </td>
                                    <td>{short_time(&m.joined_at)}</td>
                                    <td class="actions">
                                        {editable.then(|| view! { <button type="button" class="danger" aria-label=remove_label.clone() on:click=move |_| remove(for_remove.clone())>"Remove"</button> })}
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            }
        })}
        <PagerControls pager=pager label="Pages of members"/>
        <Invitations invited=invitations_reload/>
    }
}

/// What the status line says after a removal: the keys revoked with it, by name and prefix.
fn removal_notice(email: &str, keys: &[crate::model::RevokedKey]) -> String {
    let listed = keys
        .iter()
        .map(|k| format!("{} ({}…)", k.name, k.prefix))
        .collect::<Vec<_>>()
        .join(", ");
    match keys.len() {
        0 => format!("Removed {email}."),
        1 => format!("Removed {email}. 1 API key of this member was revoked: {listed}."),
        n => format!("Removed {email}. {n} API keys of this member were revoked: {listed}."),
    }
}
