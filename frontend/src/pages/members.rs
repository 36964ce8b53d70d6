//! Members of the tenant: invite by email (a new account gets a one-time password, shown once, to pass on
//! with the sign-in link), change roles, remove (confirmed).

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::json;
use switchyard_types::roles::{Action, Role};

use crate::api::{self, ApiError, Method};
use crate::auth::use_auth;
use crate::components::{
    FormError, Page, Pager, PagerControls, SelectField, TextField, load, loaded, short_time,
    use_confirm,
};
use crate::model::{Member, NewMember, Team};

/// The roles a caller may give: only an owner may make (or unmake) an owner.
fn role_options(caller_is_owner: bool) -> Vec<(String, String)> {
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
            "They can no longer sign in to this tenant. Their API keys keep working until you revoke them.",
            "Remove member",
            move || {
                let member = member.clone();
                spawn_local(async move {
                    match api::no_content(auth, Method::Delete, &format!("/members/{}", member.user_id)).await {
                        Ok(()) => status.set(format!("Removed {}.", member.email)),
                        Err(e) => status.set(e.message),
                    }
                    reload.update(|n| *n += 1);
                });
            },
        );
    };

    view! {
        <h1>"Members"</h1>
        {manage.then(|| view! { <Invite on_invited=Callback::new(move |()| reload.update(|n| *n += 1))/> })}
        <p role="status" class="status">{move || status.get()}</p>
        {loaded(members, move |page: Page<Member>| {
            let me = me.clone();
            view! {
                <table>
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
        <PagerControls pager=pager/>
    }
}

#[component]
fn Invite(on_invited: Callback<()>) -> impl IntoView {
    let auth = use_auth();
    let owner = auth.role() == Some(Role::Owner);
    let tenant_slug = auth.tenant_slug().unwrap_or_default();
    let email = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let role = RwSignal::new("developer".to_owned());
    let team = RwSignal::new(String::new());
    let error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    let invited: RwSignal<Option<NewMember>> = RwSignal::new(None);
    let teams = load::<Page<Team>>(auth, || "/teams?limit=200".into());
    let team_options = Signal::derive(move || {
        let mut options = vec![(String::new(), "No team".to_owned())];
        if let Some(Ok(page)) = teams.get() {
            options.extend(page.data.into_iter().map(|t| (t.id, t.name)));
        }
        options
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        invited.set(None);
        let mut body = json!({"email": email.get_untracked().trim(), "role": role.get_untracked()});
        let name_value = name.get_untracked();
        if !name_value.trim().is_empty() {
            body["name"] = json!(name_value.trim());
        }
        let team_id = team.get_untracked();
        spawn_local(async move {
            match api::post::<NewMember>(auth, "/members", &body).await {
                Ok(member) => {
                    if !team_id.is_empty() {
                        let path = format!("/teams/{team_id}/members/{}", member.member.user_id);
                        if let Err(e) = api::no_content(auth, Method::Put, &path).await {
                            error.set(Some(e));
                        }
                    }
                    invited.set(Some(member));
                    email.set(String::new());
                    name.set(String::new());
                    on_invited.try_run(());
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let origin = web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default();
    view! {
        <form class="panel" on:submit=submit aria-labelledby="invite">
            <h2 id="invite">"Invite a member"</h2>
            <div class="row">
                <TextField label="Email" id="invite-email" value=email kind="email" required=true field="email" error=error/>
                <TextField label="Name" id="invite-name" value=name field="name" error=error hint="For a new account; default: the part of the email before @"/>
                <SelectField label="Role" id="invite-role" value=role options=Signal::derive(move || role_options(owner))/>
                <SelectField label="Team (optional)" id="invite-team" value=team options=team_options/>
            </div>
            <FormError error=error/>
            <button type="submit" class="primary">"Invite"</button>
        </form>
        {move || invited.get().map(|m| {
            let sign_in = format!("{origin}/login?tenant={tenant_slug}");
            view! {
                <section class="panel notice" aria-labelledby="invited">
                    <h2 id="invited">{format!("{} can now sign in as {}", m.member.email, m.member.role)}</h2>
                    {match m.one_time_password {
                        Some(password) => view! {
                            <p>"Send them the sign-in link and this one-time password. It is shown only once; they should change it after signing in."</p>
                            <p>"Sign-in link: " <code>{sign_in}</code></p>
                            <p>"One-time password: " <code class="secret" aria-label="One-time password">{password}</code></p>
                        }.into_any(),
                        None => view! { <p>"They already had an account and sign in with their own password: " <code>{sign_in}</code></p> }.into_any(),
                    }}
                </section>
            }
        })}
    }
}
