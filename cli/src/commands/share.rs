//! `elo share`, `authorize`, `revoke-authorization` and `restrict`: what
//! this company sends to the group, receives from it and keeps to itself.

use anyhow::Result;
use elo_node::DataDir;

use crate::api::{self, PolicyChange};
use crate::client::Client;
use crate::output::show_policy;

/// Asks for a policy change (or none) and shows the policy after it.
fn change(data: &DataDir, change: PolicyChange, json_out: bool) -> Result<()> {
    let policy = api::policy(&Client::open(data)?, change)?;
    show_policy(&policy, json_out);
    Ok(())
}

/// `elo share [--send …] [--receive …]`: shows the policy, or sets it.
pub fn share(
    data: &DataDir,
    sends: Option<String>,
    receives: Option<String>,
    json_out: bool,
) -> Result<()> {
    let asked = if sends.is_none() && receives.is_none() {
        PolicyChange::Show
    } else {
        PolicyChange::Share { sends, receives }
    };
    change(data, asked, json_out)
}

pub fn authorize(data: &DataDir, from: String, categories: String, json_out: bool) -> Result<()> {
    change(data, PolicyChange::Authorize { from, categories }, json_out)
}

pub fn revoke(data: &DataDir, from: String, json_out: bool) -> Result<()> {
    change(data, PolicyChange::Revoke { from }, json_out)
}

/// `elo restrict --fields …`; `none` shares them all again.
pub fn restrict(data: &DataDir, fields: Vec<String>, json_out: bool) -> Result<()> {
    let fields = fields.into_iter().filter(|f| f != "none").collect();
    change(data, PolicyChange::Restrict { fields }, json_out)
}
