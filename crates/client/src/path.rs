//! Slash-separated paths for callers that think in paths rather than walk elements.

use ninefold_fs::{Error, Result};

use crate::RemoteNode;

/// The walk elements of a path; a leading `/` is optional and empty elements are dropped.
pub fn split_path(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|e| !e.is_empty() && *e != ".")
        .map(str::to_owned)
        .collect()
}

/// Walks from `from` to `path`, failing with the Plan 9 error for the first missing element.
pub async fn walk_path(from: &RemoteNode, path: &str) -> Result<RemoteNode> {
    let names = split_path(path);
    let walked = from.walk_remote(&names).await?;
    match walked {
        (_, Some(node)) => Ok(node),
        (qids, None) => {
            let failed = names.get(qids.len()).map_or("", String::as_str);
            Err(Error::new(format!("'{failed}' {}", Error::NOT_FOUND)))
        }
    }
}
