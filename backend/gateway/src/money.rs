//! Exact money. Prices are integers in micro-units of the tenant currency per million tokens; costs are integers
//! in pico-units (1e-12). Then `tokens x price_micros_per_mtok = cost_picos` exactly, with no division, on every
//! database (SQLite has no decimal type). A price like $0.075 per million tokens is 75,000 micros and one token of
//! it costs 75,000 picos: nothing rounds away.

use rust_decimal::Decimal;
use std::fmt;
use std::str::FromStr;

/// Pico-units in one currency unit.
const PICOS_PER_UNIT: i64 = 1_000_000_000_000;
/// Micro-units in one currency unit.
const MICROS_PER_UNIT: i64 = 1_000_000;

/// A per-million-token price in micro-units of the currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct PricePerMTok(pub i64);

/// Why a price string was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PriceError {
    #[error("`{0}` is not a decimal number")]
    NotANumber(String),
    #[error("`{0}` is negative; prices are zero or more")]
    Negative(String),
    #[error(
        "`{0}` has more than 6 decimal places; prices are exact to 0.000001 per million tokens"
    )]
    TooPrecise(String),
    #[error("`{0}` is too large")]
    TooLarge(String),
}

impl FromStr for PricePerMTok {
    type Err = PriceError;

    /// Parses a decimal price per million tokens such as `0.075` or `15`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let value =
            Decimal::from_str(s.trim()).map_err(|_| PriceError::NotANumber(s.to_owned()))?;
        if value.is_sign_negative() && !value.is_zero() {
            return Err(PriceError::Negative(s.to_owned()));
        }
        let micros = value
            .checked_mul(Decimal::from(MICROS_PER_UNIT))
            .ok_or_else(|| PriceError::TooLarge(s.to_owned()))?;
        if micros.fract() != Decimal::ZERO {
            return Err(PriceError::TooPrecise(s.to_owned()));
        }
        i64::try_from(micros)
            .map(PricePerMTok)
            .map_err(|_| PriceError::TooLarge(s.to_owned()))
    }
}

impl fmt::Display for PricePerMTok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&Decimal::new(self.0, 6).normalize().to_string())
    }
}

impl PricePerMTok {
    /// Exact cost of `tokens` at this price, in picos; saturates instead of wrapping on absurd inputs.
    pub fn cost_of(self, tokens: u64) -> Picos {
        let tokens = i64::try_from(tokens).unwrap_or(i64::MAX);
        Picos(tokens.saturating_mul(self.0))
    }
}

/// An amount in pico-units (1e-12) of the currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Picos(pub i64);

impl Picos {
    /// Sum that saturates rather than wraps.
    pub fn saturating_add(self, other: Picos) -> Picos {
        Picos(self.0.saturating_add(other.0))
    }

    /// The exact decimal amount in currency units (e.g. `0.000000075`).
    pub fn to_decimal(self) -> Decimal {
        Decimal::from_i128_with_scale(i128::from(self.0), 12).normalize()
    }

    /// Whole currency units per pico, for callers that convert back.
    pub const PER_UNIT: i64 = PICOS_PER_UNIT;
}

impl FromStr for Picos {
    type Err = PriceError;

    /// Parses an exact amount of currency such as `250` or `0.005`; at most 12 decimal places.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let value =
            Decimal::from_str(s.trim()).map_err(|_| PriceError::NotANumber(s.to_owned()))?;
        if value.is_sign_negative() && !value.is_zero() {
            return Err(PriceError::Negative(s.to_owned()));
        }
        let picos = value
            .checked_mul(Decimal::from(PICOS_PER_UNIT))
            .ok_or_else(|| PriceError::TooLarge(s.to_owned()))?;
        if picos.fract() != Decimal::ZERO {
            return Err(PriceError::TooPrecise(s.to_owned()));
        }
        i64::try_from(picos)
            .map(Picos)
            .map_err(|_| PriceError::TooLarge(s.to_owned()))
    }
}

impl fmt::Display for Picos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_decimal())
    }
}

/// An exact decimal string for a sum of pico-units that may exceed `i64` (report totals): `12.5`, `0.000000075`,
/// `0`. The same digits as `Picos`'s `Display` for every amount that fits in it.
pub fn picos_sum_to_string(picos: i128) -> String {
    let sign = if picos < 0 { "-" } else { "" };
    let magnitude = picos.unsigned_abs();
    let per_unit = PICOS_PER_UNIT.unsigned_abs() as u128;
    let (units, fraction) = (magnitude / per_unit, magnitude % per_unit);
    if fraction == 0 {
        return format!("{sign}{units}");
    }
    let digits = format!("{fraction:012}");
    format!("{sign}{units}.{}", digits.trim_end_matches('0'))
}

/// The prices one call is charged at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Prices {
    pub input: PricePerMTok,
    pub output: PricePerMTok,
    /// Price of input tokens served from the provider's prompt cache; the input price when unset.
    pub cached_input: Option<PricePerMTok>,
    /// Price of the output tokens spent on reasoning; the output price when unset (as every major provider
    /// bills today).
    pub reasoning: Option<PricePerMTok>,
}

/// The token counts of one call, as billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenCounts {
    /// All prompt tokens, cached ones included (OpenAI's `prompt_tokens`).
    pub input: u64,
    /// All output tokens, reasoning included (OpenAI's `completion_tokens`).
    pub output: u64,
    /// The part of `input` served from cache.
    pub cached: u64,
    /// The part of `output` spent on reasoning.
    pub reasoning: u64,
}

impl Prices {
    /// Exact cost: uncached input at the input price, cached input at the cached price, the reasoning part of
    /// the output at the reasoning price and the rest of the output at the output price. Token counts follow
    /// OpenAI: `input` includes `cached` and `output` includes `reasoning`.
    pub fn cost(&self, tokens: TokenCounts) -> Picos {
        let cached = tokens.cached.min(tokens.input);
        let uncached = tokens.input - cached;
        let reasoning = tokens.reasoning.min(tokens.output);
        let visible = tokens.output - reasoning;
        self.input
            .cost_of(uncached)
            .saturating_add(self.cached_input.unwrap_or(self.input).cost_of(cached))
            .saturating_add(self.output.cost_of(visible))
            .saturating_add(self.reasoning.unwrap_or(self.output).cost_of(reasoning))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tiny_price_survives_exactly() {
        let p: PricePerMTok = "0.075".parse().unwrap_or_default();
        assert_eq!(p, PricePerMTok(75_000));
        assert_eq!(p.cost_of(1), Picos(75_000));
        assert_eq!(p.cost_of(1).to_decimal().to_string(), "0.000000075");
        assert_eq!(p.to_string(), "0.075");
    }

    #[test]
    fn prices_that_cannot_be_exact_or_valid_are_refused() {
        assert!(matches!(
            "0.0000001".parse::<PricePerMTok>(),
            Err(PriceError::TooPrecise(_))
        ));
        assert!(matches!(
            "-1".parse::<PricePerMTok>(),
            Err(PriceError::Negative(_))
        ));
        assert!(matches!(
            "abc".parse::<PricePerMTok>(),
            Err(PriceError::NotANumber(_))
        ));
        assert!(matches!(
            "99999999999999999".parse::<PricePerMTok>(),
            Err(PriceError::TooLarge(_))
        ));
    }

    #[test]
    fn amounts_parse_exactly_and_print_back() {
        let amount: Picos = "250.005".parse().unwrap_or_default();
        assert_eq!(amount, Picos(250_005_000_000_000));
        assert_eq!(amount.to_string(), "250.005");
        assert!("1.0000000000001".parse::<Picos>().is_err());
        assert!("10000000".parse::<Picos>().is_err(), "beyond i64 picos");
    }

    #[test]
    fn sums_beyond_i64_print_exactly_like_picos() {
        for picos in [0, 1, 75_000, 250_005_000_000_000, i64::MAX] {
            assert_eq!(
                picos_sum_to_string(i128::from(picos)),
                Picos(picos).to_string()
            );
        }
        let beyond = i128::from(i64::MAX) * 3 + 7;
        assert_eq!(picos_sum_to_string(beyond), "27670116.110564327428");
        assert_eq!(picos_sum_to_string(-1_500_000_000_000), "-1.5");
    }

    #[test]
    fn cost_splits_cached_input_and_counts_reasoning_as_output() {
        let prices = Prices {
            input: PricePerMTok(2_500_000),
            output: PricePerMTok(10_000_000),
            cached_input: Some(PricePerMTok(1_250_000)),
            reasoning: None,
        };
        let tokens = TokenCounts {
            input: 1000,
            output: 500,
            cached: 400,
            reasoning: 100,
        };
        // 600 x 2.5 + 400 x 1.25 + 500 x 10 = 1500 + 500 + 5000 = 7000 micro-units = 0.007
        assert_eq!(prices.cost(tokens).to_decimal().to_string(), "0.007");
        let no_cache_price = Prices {
            cached_input: None,
            ..prices
        };
        assert_eq!(
            no_cache_price.cost(tokens).to_decimal().to_string(),
            "0.0075"
        );
    }

    #[test]
    fn reasoning_tokens_are_priced_at_the_reasoning_price_and_the_rest_of_the_output_at_the_output_price()
     {
        let prices = Prices {
            input: PricePerMTok(1_250_000),
            output: PricePerMTok(10_000_000),
            cached_input: Some(PricePerMTok(125_000)),
            reasoning: Some(PricePerMTok(15_000_000)),
        };
        let tokens = TokenCounts {
            input: 1000,
            output: 500,
            cached: 400,
            reasoning: 300,
        };
        // 600 x 1.25 + 400 x 0.125 + 200 x 10 + 300 x 15 = 750 + 50 + 2000 + 4500 = 7300 micro-units
        assert_eq!(prices.cost(tokens), Picos(7_300_000_000));
        // Without a reasoning price, reasoning is output: 750 + 50 + 500 x 10 = 5800 micro-units.
        let plain = Prices {
            reasoning: None,
            ..prices
        };
        assert_eq!(plain.cost(tokens), Picos(5_800_000_000));
        // More reasoning than output (a provider bug) never bills more tokens than the output.
        let odd = TokenCounts {
            reasoning: 900,
            ..tokens
        };
        assert_eq!(prices.cost(odd), Picos(800_000_000 + 7_500_000_000));
    }
}
