//! The FUSE bridge as a session mounts it: each projected mount point is a FUSE mount of
//! that subtree of the session's name space.

use std::sync::Arc;

use ninefold_fuse::{MountOptions, mount};
use ninefold_session::{FuseMount, FuseMounter};

pub fn mounter() -> FuseMounter {
    let user = std::env::var("USER").unwrap_or_else(|_| "none".into());
    Arc::new(move |tree, at| {
        let user = user.clone();
        Box::pin(async move {
            let m = mount(tree, &user, "", &at, MountOptions::default()).await?;
            Ok(Box::new(m) as Box<dyn std::any::Any + Send>) as FuseMount
        })
    })
}
