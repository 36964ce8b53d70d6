//! The routing engine's domain parts: passive health per deployment (`health`), the strategies that order a
//! model group's deployments for one call (`strategy`), and the caller's narrowing of the choice
//! (`x-switchyard-route`). The proxy's `route` module puts them together with residency and fallbacks.

pub mod health;
pub mod quota;
pub mod strategy;

pub use health::{Circuit, DeploymentHealth, HealthPolicy, InFlight, Unavailable};
pub use quota::{OwnLimits, Quota};
pub use strategy::{CallShape, Routable, Strategy};

/// Most attempts one call makes across its group and fallbacks unless the group says otherwise.
pub const DEFAULT_MAX_ATTEMPTS: usize = 3;

/// A model group's routing settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSettings {
    pub strategy: Strategy,
    /// Public models tried in order when every deployment of this one failed or is unavailable.
    pub fallbacks: Vec<String>,
    pub max_attempts: usize,
}

impl Default for GroupSettings {
    fn default() -> Self {
        Self {
            strategy: Strategy::default(),
            fallbacks: Vec::new(),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }
}

/// What a caller asked for with `x-switchyard-route: region=eu;strategy=cost`. It can only narrow what the
/// key allows: a region outside the key's residency is refused, never granted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteRequest {
    pub region: Option<String>,
    pub strategy: Option<Strategy>,
    /// `fallbacks=none`: fail rather than fall back to another model.
    pub no_fallbacks: bool,
}

impl RouteRequest {
    /// Parses the header; the error says which part is wrong.
    pub fn parse(header: &str) -> Result<Self, String> {
        let mut request = Self::default();
        for part in header.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .map(|(n, v)| (n.trim(), v.trim()))
                .ok_or_else(|| format!("`{part}` is not name=value"))?;
            match name {
                "region" if !value.is_empty() => request.region = Some(value.to_owned()),
                "strategy" => {
                    request.strategy = Some(Strategy::parse(value).ok_or_else(|| {
                        format!("unknown strategy `{value}` (latency, cost, weighted or priority)")
                    })?);
                }
                "fallbacks" if value == "none" => request.no_fallbacks = true,
                _ => {
                    return Err(format!(
                        "unknown setting `{part}` (region=…, strategy=…, fallbacks=none)"
                    ));
                }
            }
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_header_narrows_region_strategy_and_fallbacks() {
        assert_eq!(
            RouteRequest::parse("region=eu; strategy=cost;fallbacks=none"),
            Ok(RouteRequest {
                region: Some("eu".into()),
                strategy: Some(Strategy::Cost),
                no_fallbacks: true,
            })
        );
        assert!(RouteRequest::parse("strategy=fastest").is_err());
        assert!(RouteRequest::parse("provider=openai").is_err());
        assert!(RouteRequest::parse("region").is_err());
    }
}
