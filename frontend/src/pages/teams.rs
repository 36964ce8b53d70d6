//! Teams: create, rename, delete (confirmed), and who is in each team.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::json;
use switchyard_types::roles::Action;

use crate::api::{self, ApiError, Method};
use crate::auth::use_auth;
use crate::components::{
    FormError, Page, Pager, PagerControls, SelectField, TextField, load, loaded, short_time,
    use_confirm,
};
use crate::model::{Member, Team, TeamMember};

#[component]
pub fn Teams() -> impl IntoView {
    let auth = use_auth();
    let confirm = use_confirm();
    let pager = Pager::new();
    let reload = RwSignal::new(0u32);
    let teams = pager.load::<Team>(auth, "/teams", move || {
        reload.track();
        Vec::new()
    });
    let open_team: RwSignal<Option<Team>> = RwSignal::new(None);
    let status = RwSignal::new(String::new());
    let manage = auth.can(Action::TeamsManage);

    let delete = move |team: Team| {
        confirm.ask(
            format!("Delete the team {}?", team.name),
            "Its revoked keys and its team members are deleted with it. A team with active keys cannot be deleted.",
            "Delete team",
            move || {
                let id = team.id.clone();
                let name = team.name.clone();
                spawn_local(async move {
                    match api::no_content(auth, Method::Delete, &format!("/teams/{id}")).await {
                        Ok(()) => {
                            status.set(format!("Deleted {name}."));
                            reload.update(|n| *n += 1);
                        }
                        Err(e) => status.set(e.message),
                    }
                });
            },
        );
    };

    view! {
        <h1>"Teams"</h1>
        {manage.then(|| view! { <NewTeam on_created=Callback::new(move |()| { pager.reset(); reload.update(|n| *n += 1); })/> })}
        <p role="status" class="status">{move || status.get()}</p>
        {loaded(teams, move |page: Page<Team>| view! {
            <table>
                <thead><tr><th scope="col">"Name"</th><th scope="col">"Slug"</th><th scope="col">"Limits"</th><th scope="col">"Created"</th><th scope="col"><span class="sr-only">"Actions"</span></th></tr></thead>
                <tbody>
                    {page.data.into_iter().map(|team| {
                        let limits = format!("{} rpm · {} tpm", team.rpm_limit.map_or("∞".into(), |v| v.to_string()), team.tpm_limit.map_or("∞".into(), |v| v.to_string()));
                        let for_members = team.clone();
                        let for_delete = team.clone();
                        view! {
                            <tr>
                                <td>{team.name.clone()}</td>
                                <td><code>{team.slug.clone()}</code></td>
                                <td>{limits}</td>
                                <td>{short_time(&team.created_at)}</td>
                                <td class="actions">
                                    <button type="button" on:click=move |_| open_team.set(Some(for_members.clone()))>"Members"</button>
                                    {manage.then(|| view! { <button type="button" class="danger" on:click=move |_| delete(for_delete.clone())>"Delete"</button> })}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        })}
        <PagerControls pager=pager/>
        {move || open_team.get().map(|team| view! { <TeamMembers team=team manage=manage/> })}
    }
}

#[component]
fn NewTeam(on_created: Callback<()>) -> impl IntoView {
    let auth = use_auth();
    let slug = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    let status = RwSignal::new(String::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        let body =
            json!({"slug": slug.get_untracked().trim(), "name": name.get_untracked().trim()});
        spawn_local(async move {
            match api::post::<Team>(auth, "/teams", &body).await {
                Ok(team) => {
                    status.set(format!("Created the team {}.", team.name));
                    slug.set(String::new());
                    name.set(String::new());
                    on_created.try_run(());
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <form class="panel" on:submit=submit aria-labelledby="new-team">
            <h2 id="new-team">"New team"</h2>
            <div class="row">
                <TextField label="Slug" id="team-slug" value=slug required=true field="slug" error=error hint="2–48 lower-case letters, digits, hyphens"/>
                <TextField label="Name" id="team-name" value=name required=true field="name" error=error/>
            </div>
            <FormError error=error/>
            <button type="submit" class="primary">"Create team"</button>
            <p role="status" class="status">{move || status.get()}</p>
        </form>
    }
}

/// The members of one team, with add and remove for those who manage teams.
#[component]
fn TeamMembers(team: Team, manage: bool) -> impl IntoView {
    let auth = use_auth();
    let reload = RwSignal::new(0u32);
    let team_id = team.id.clone();
    let in_team = load::<Page<TeamMember>>(auth, {
        let team_id = team_id.clone();
        move || {
            reload.track();
            format!("/teams/{team_id}/members")
        }
    });
    let members = load::<Page<Member>>(auth, || "/members?limit=200".into());
    let chosen = RwSignal::new(String::new());
    let error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    let all_members = move || {
        members
            .get()
            .and_then(Result::ok)
            .map(|p| p.data)
            .unwrap_or_default()
    };
    let options = Signal::derive(move || {
        let mut options = vec![(String::new(), "Choose a member".to_owned())];
        options.extend(all_members().into_iter().map(|m| (m.user_id, m.email)));
        options
    });
    let add = {
        let team_id = team_id.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let user = chosen.get_untracked();
            if user.is_empty() {
                return;
            }
            let path = format!("/teams/{team_id}/members/{user}");
            spawn_local(async move {
                match api::no_content(auth, Method::Put, &path).await {
                    Ok(()) => {
                        error.set(None);
                        reload.update(|n| *n += 1);
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        }
    };
    let remove = move |user_id: String| {
        let path = format!("/teams/{team_id}/members/{user_id}");
        spawn_local(async move {
            match api::no_content(auth, Method::Delete, &path).await {
                Ok(()) => reload.update(|n| *n += 1),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <section class="panel" aria-labelledby="team-members">
            <h2 id="team-members">{format!("Members of {}", team.name)}</h2>
            {loaded(in_team, move |page: Page<TeamMember>| {
                let everyone = all_members();
                let remove = remove.clone();
                if page.data.is_empty() {
                    return view! { <p class="muted">"Nobody is in this team yet."</p> }.into_any();
                }
                view! {
                    <ul class="plain">
                        {page.data.into_iter().map(|m| {
                            let email = everyone.iter().find(|e| e.user_id == m.user_id).map_or_else(|| m.user_id.clone(), |e| e.email.clone());
                            let remove = remove.clone();
                            let user_id = m.user_id.clone();
                            view! {
                                <li>
                                    {email.clone()}
                                    {manage.then(|| view! {
                                        <button type="button" class="link" aria-label=format!("Remove {email} from the team") on:click=move |_| remove(user_id.clone())>"Remove"</button>
                                    })}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            })}
            {manage.then(|| view! {
                <form on:submit=add class="row">
                    <SelectField label="Add member" id="team-add-member" value=chosen options=options/>
                    <button type="submit">"Add to team"</button>
                </form>
            })}
            <FormError error=error/>
        </section>
    }
}
