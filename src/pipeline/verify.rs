//! `verify`'s verdict: every valid row's assignments against what the account holds.
//! A balance moves with use and accrual: holding the policy is what counts.

use super::Refreshed;
use crate::holdings::Change;

/// One assignment the account does not hold as the sheet says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub row: u64,
    pub user_id: Option<u64>,
    pub kind: crate::plan::Kind,
    pub policy_id: String,
    pub policy_name: String,
    /// What the account holds instead, in words (empty: nothing of it).
    pub holds: String,
}

/// The comparison of a sheet with the account.
#[derive(Debug, Clone)]
pub struct Verified {
    pub base_url: String,
    pub sheet: String,
    pub assignments: usize,
    pub differences: Vec<Difference>,
}

/// Compares every valid row's assignments with what the account holds.
pub fn compare(refreshed: &Refreshed) -> Verified {
    let mut differences = Vec::new();
    let mut assignments = 0usize;
    for row in refreshed.checked.plan.valid_rows() {
        for (a, diff) in row.assignments.iter().zip(refreshed.diffs(row)) {
            assignments += 1;
            if matches!(diff.change, Change::Unchanged | Change::SetBalance) {
                continue;
            }
            let (policy_id, policy_name) = a.policy_id_and_name();
            differences.push(Difference {
                row: row.number,
                user_id: row.user_id,
                kind: a.kind(),
                policy_id,
                policy_name,
                holds: diff.holds_in_words(),
            });
        }
    }
    Verified {
        base_url: refreshed
            .checked
            .client()
            .map_or_else(String::new, |c| c.base_url().to_owned()),
        sheet: refreshed.checked.inputs.sheet.file.clone(),
        assignments,
        differences,
    }
}
