//! Invitations, on the Members page: invite by email with a role, the invitation link shown once (whoever
//! holds it can accept, so it goes to the invitee only), and the tenant's invitations with their status, a
//! pending one revocable (confirmed). Nobody joins until the invitee accepts on `/invite` (`invite.rs`).

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::json;
use switchyard_types::roles::{Action, Role};

use super::members::role_options;
use crate::api::{self, ApiError, Method};
use crate::auth::use_auth;
use crate::components::{
    FormError, Page, Pager, PagerControls, SelectField, TextField, copy_to_clipboard, loaded,
    short_time, use_confirm,
};
use crate::model::{Invitation, NewInvitation};

/// The invite form, and the link of the invitation it just made.
#[component]
pub fn InviteForm(on_invited: Callback<()>) -> impl IntoView {
    let auth = use_auth();
    let owner = auth.role() == Some(Role::Owner);
    let email = RwSignal::new(String::new());
    let role = RwSignal::new("developer".to_owned());
    let error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let invited: RwSignal<Option<NewInvitation>> = RwSignal::new(None);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        invited.set(None);
        let body = json!({"email": email.get_untracked().trim(), "role": role.get_untracked()});
        spawn_local(async move {
            let result = api::post::<NewInvitation>(auth, "/members", &body).await;
            busy.set(false);
            match result {
                Ok(invitation) => {
                    invited.set(Some(invitation));
                    email.set(String::new());
                    on_invited.try_run(());
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <form class="panel" on:submit=submit aria-labelledby="invite">
            <h2 id="invite">"Invite a member"</h2>
            <div class="row">
                <TextField label="Email" id="invite-email" value=email kind="email" required=true field="email" error=error/>
                <SelectField label="Role" id="invite-role" value=role options=Signal::derive(move || role_options(owner))/>
            </div>
            <p class="muted">"They join once they accept with the link shown here. Add them to teams after that, on the Teams page."</p>
            <FormError error=error/>
            <button type="submit" class="primary" disabled=move || busy.get()>"Invite"</button>
        </form>
        {move || invited.get().map(|invitation| view! {
            <InvitationLink invitation=invitation on_done=Callback::new(move |()| invited.set(None))/>
        })}
    }
}

/// The link of a new invitation, shown once: the gateway keeps only a hash of its token.
#[component]
fn InvitationLink(invitation: NewInvitation, on_done: Callback<()>) -> impl IntoView {
    let origin = web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default();
    let link = format!("{origin}{}", invitation.accept_path);
    let copied = RwSignal::new(String::new());
    let to_copy = link.clone();
    let copy = move |_| copy_to_clipboard(to_copy.clone(), "link", copied);
    let Invitation {
        email,
        role,
        expires_at,
        ..
    } = invitation.invitation;
    view! {
        <section class="panel notice" aria-labelledby="invitation-link">
            <h2 id="invitation-link">"Send the invitation link"</h2>
            <p class="warning">
                <strong>"Whoever has this link can accept the invitation"</strong>
                {format!(
                    " and join as {role}. Send it to {email} only, over a channel you trust. It is shown only \
                     once, works once, and expires at {} UTC.",
                    short_time(&expires_at)
                )}
            </p>
            <p><code class="secret" aria-label="Invitation link">{link}</code></p>
            <div class="actions">
                <button type="button" class="primary" on:click=copy>"Copy link"</button>
                <button type="button" on:click=move |_| on_done.run(())>"Done"</button>
            </div>
            <p role="status" class="status">{move || copied.get()}</p>
        </section>
    }
}

/// The tenant's invitations, newest first, with **Revoke** on pending ones for those who manage members.
/// `invited` changes after each new invitation: the list goes back to its first page, where that one is.
#[component]
pub fn Invitations(invited: RwSignal<u32>) -> impl IntoView {
    let auth = use_auth();
    let confirm = use_confirm();
    let pager = Pager::new();
    let reload = RwSignal::new(0u32);
    Effect::new(move |first: Option<()>| {
        invited.track();
        if first.is_some() {
            pager.reset();
            reload.update(|n| *n += 1);
        }
    });
    let invitations = pager.load::<Invitation>(auth, "/invitations", move || {
        reload.track();
        Vec::new()
    });
    let manage = auth.can(Action::MembersManage);
    let status = RwSignal::new(String::new());
    let revoke = move |invitation: Invitation| {
        confirm.ask(
            format!("Revoke the invitation of {}?", invitation.email),
            "Its link stops working at once. You can invite the same address again.",
            "Revoke invitation",
            move || {
                let invitation = invitation.clone();
                spawn_local(async move {
                    let path = format!("/invitations/{}", invitation.id);
                    match api::no_content(auth, Method::Delete, &path).await {
                        Ok(()) => {
                            status.set(format!("Revoked the invitation of {}.", invitation.email))
                        }
                        Err(e) => status.set(e.message),
                    }
                    reload.update(|n| *n += 1);
                });
            },
        );
    };
    view! {
        <section aria-labelledby="invitations">
            <h2 id="invitations">"Invitations"</h2>
            <p role="status" class="status">{move || status.get()}</p>
            {loaded(invitations, move |page: Page<Invitation>| {
                if page.data.is_empty() {
                    return view! { <p class="muted">"No invitations yet."</p> }.into_any();
                }
                view! {
                    <table aria-labelledby="invitations">
                        <thead><tr>
                            <th scope="col">"Email"</th><th scope="col">"Role"</th><th scope="col">"Status"</th>
                            <th scope="col">"Invited"</th><th scope="col">"Expires"</th>
                            <th scope="col"><span class="sr-only">"Actions"</span></th>
                        </tr></thead>
                        <tbody>
                            {page.data.into_iter().map(|i| {
                                let pending = i.status == "pending";
                                let pill = match i.status.as_str() {
                                    "pending" => "pill warn",
                                    "accepted" => "pill ok",
                                    _ => "pill",
                                };
                                let label = format!("Revoke the invitation of {}", i.email);
                                let for_revoke = i.clone();
                                view! {
                                    <tr>
                                        <td>{i.email.clone()}</td>
                                        <td><span class="role">{i.role.clone()}</span></td>
                                        <td><span class=pill>{i.status.clone()}</span></td>
                                        <td>{short_time(&i.created_at)}</td>
                                        <td>{short_time(&i.expires_at)}</td>
                                        <td class="actions">
                                            {(manage && pending).then(|| view! {
                                                <button type="button" class="danger" aria-label=label on:click=move |_| revoke(for_revoke.clone())>"Revoke"</button>
                                            })}
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            })}
            <PagerControls pager=pager label="Pages of invitations"/>
        </section>
    }
}
