//! Named scoped threads, so `top -H`, `perf` and panic messages say which
//! stage of the pipeline a thread belongs to.

use std::thread::{Builder, Scope, ScopedJoinHandle};

/// Spawns `work` on a thread called `name` (at most 15 bytes show on
/// Linux) inside `scope`. Panics, like [`Scope::spawn`], if the operating
/// system cannot create the thread.
pub(crate) fn spawn_named<'scope, 'env, T, F>(
    scope: &'scope Scope<'scope, 'env>,
    name: &str,
    work: F,
) -> ScopedJoinHandle<'scope, T>
where
    F: FnOnce() -> T + Send + 'scope,
    T: Send + 'scope,
{
    Builder::new()
        .name(name.to_owned())
        .spawn_scoped(scope, work)
        .unwrap_or_else(|e| panic!("cannot start the {name} thread: {e}"))
}
