//! The role matrix lives in `switchyard_types::roles`, shared with the console so that both read the same
//! table; the admin API checks it through `Session::require`. The test below holds it to `docs/roles.md`.

pub use switchyard_types::roles::{Action, Role, Scope, permits};

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the matrix table out of docs/roles.md: rows are actions, columns are roles.
    fn documented_matrix() -> Vec<(String, Vec<String>)> {
        let doc = include_str!("../../../../docs/roles.md");
        doc.lines()
            .filter(|l| l.starts_with("| `") && l.matches('|').count() == 7)
            .map(|l| {
                let cells: Vec<String> = l
                    .trim_matches('|')
                    .split('|')
                    .map(|c| c.trim().to_owned())
                    .collect();
                (cells[0].trim_matches('`').to_owned(), cells[1..=5].to_vec())
            })
            .collect()
    }

    #[test]
    fn the_code_enforces_exactly_the_documented_matrix() {
        let documented = documented_matrix();
        assert_eq!(
            documented.len(),
            Action::ALL.len(),
            "every action is documented once"
        );
        for action in Action::ALL {
            let (_, cells) = documented
                .iter()
                .find(|(name, _)| name == action.as_str())
                .unwrap_or_else(|| panic!("{} missing from docs/roles.md", action.as_str()));
            for (role, cell) in Role::ALL.into_iter().zip(cells) {
                assert_eq!(
                    permits(role, action).symbol(),
                    cell,
                    "{} / {}",
                    role.as_str(),
                    action.as_str()
                );
            }
        }
    }

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
