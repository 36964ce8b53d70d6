//! Resolution order and effective dates, without a database.

use super::*;
use chrono::TimeZone;

fn time(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, day, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

fn row(tenant: Option<Uuid>, kind: &str, model: &str, from: u32, input: i64) -> model_price::Model {
    model_price::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant,
        provider_kind: kind.into(),
        upstream_model: model.into(),
        input_price_micros: input,
        output_price_micros: input * 4,
        cached_input_price_micros: None,
        reasoning_price_micros: None,
        effective_from: time(from),
        created_at: time(1),
        created_by: None,
        note: None,
    }
}

fn input_at(schedule: &PriceSchedule, day: u32) -> Option<i64> {
    schedule.at(time(day)).map(|p| p.input.0)
}

#[test]
fn the_latest_price_that_has_started_applies_and_a_future_one_takes_over_at_its_time() {
    let book = PriceBook::new([
        row(None, "openai", "gpt", 10, 3),
        row(None, "openai", "gpt", 2, 1),
        row(None, "openai", "gpt", 5, 2),
    ]);
    let schedule = book.schedule(Uuid::now_v7(), "openai", "gpt");
    assert_eq!(
        input_at(&schedule, 1),
        None,
        "nothing before the first price"
    );
    assert_eq!(
        input_at(&schedule, 2),
        Some(1),
        "a price applies from its instant on"
    );
    assert_eq!(input_at(&schedule, 7), Some(2));
    assert_eq!(input_at(&schedule, 10), Some(3));
}

#[test]
fn a_tenant_price_overrides_the_global_one_only_once_it_is_in_force_and_only_for_that_tenant() {
    let (tenant, other) = (Uuid::now_v7(), Uuid::now_v7());
    let book = PriceBook::new([
        row(None, "openai", "gpt", 1, 10),
        row(Some(tenant), "openai", "gpt", 5, 7),
    ]);
    let mine = book.schedule(tenant, "openai", "gpt");
    assert_eq!(
        input_at(&mine, 3),
        Some(10),
        "the tenant's price has not started yet"
    );
    assert_eq!(input_at(&mine, 6), Some(7));
    let theirs = book.schedule(other, "openai", "gpt");
    assert_eq!(
        input_at(&theirs, 6),
        Some(10),
        "another tenant's row never applies"
    );
}

#[test]
fn an_openai_compatible_provider_uses_the_vendors_price_but_other_kinds_do_not_borrow() {
    let tenant = Uuid::now_v7();
    let book = PriceBook::new([
        row(None, "mistral", "mistral-large-latest", 1, 5),
        row(None, "openai", "gpt", 1, 9),
        row(None, "anthropic", "both", 1, 20),
        row(None, "gemini", "both", 1, 30),
    ]);
    let via_compat = book.schedule(tenant, "openai", "mistral-large-latest");
    assert_eq!(input_at(&via_compat, 2), Some(5));
    let native = book.schedule(tenant, "mistral", "gpt");
    assert_eq!(input_at(&native, 2), None, "only the openai kind borrows");
    let ambiguous = book.schedule(tenant, "openai", "both");
    assert_eq!(
        input_at(&ambiguous, 2),
        Some(20),
        "other kinds in name order"
    );
}

#[test]
fn an_exact_kind_wins_over_a_borrowed_one_in_the_same_scope() {
    let tenant = Uuid::now_v7();
    let book = PriceBook::new([
        row(None, "anthropic", "claude", 1, 3),
        row(None, "openai", "claude", 1, 4),
    ]);
    assert_eq!(
        input_at(&book.schedule(tenant, "openai", "claude"), 2),
        Some(4)
    );
}

#[test]
fn a_catalog_deployment_falls_back_to_its_columns_only_when_no_price_is_in_force() {
    let tenant = Uuid::now_v7();
    let book = PriceBook::new([row(None, "openai", "gpt", 5, 2)]);
    let deployment = deployment::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant,
        public_model: "public".into(),
        provider_id: Uuid::now_v7(),
        upstream_model: "gpt".into(),
        region: "eu".into(),
        input_price_micros: 99,
        output_price_micros: 99,
        cached_input_price_micros: None,
        created_at: time(1),
        updated_at: time(1),
        price_source: "catalog".into(),
        weight: 1,
        priority: 0,
        rpm_limit: None,
        tpm_limit: None,
    };
    let pricing = book.pricing_of(&deployment, "openai");
    assert_eq!(pricing.source(), PriceSource::Catalog);
    assert_eq!(pricing.at(time(6)).input.0, 2);
    assert_eq!(pricing.at(time(4)).input.0, 99);
    let own = book.pricing_of(
        &deployment::Model {
            price_source: "deployment".into(),
            weight: 1,
            priority: 0,
            rpm_limit: None,
            tpm_limit: None,
            ..deployment
        },
        "openai",
    );
    assert_eq!(own.at(time(6)).input.0, 99);
}

#[test]
fn the_price_list_at_an_instant_shows_one_row_per_model_preferring_the_tenants_own() {
    let (tenant, other) = (Uuid::now_v7(), Uuid::now_v7());
    let rows = vec![
        row(None, "openai", "a", 1, 1),
        row(None, "openai", "a", 3, 2),
        row(Some(tenant), "openai", "b", 2, 3),
        row(None, "openai", "b", 4, 4),
        row(Some(other), "openai", "c", 1, 5),
        row(None, "mistral", "a", 1, 6),
    ];
    let mut listed: Vec<(String, String, i64)> = in_force(rows, tenant)
        .into_iter()
        .map(|r| (r.provider_kind, r.upstream_model, r.input_price_micros))
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        vec![
            ("mistral".into(), "a".into(), 6),
            ("openai".into(), "a".into(), 2),
            ("openai".into(), "b".into(), 3),
        ]
    );
}
