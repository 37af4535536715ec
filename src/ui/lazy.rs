//! Code loaded on demand. With `cargo leptos build --split` (scripts/build.sh) the body of each
//! `#[lazy]` function, and whatever only it uses, is a WASM chunk of its own that the browser
//! fetches the first time the function is called; the pages (app.rs, `lazy_page!`), the
//! overlays a click opens (the progress modal, the batch configuration, the version form, the
//! confirmation dialog, the running-batches menu), the toast list, and code that runs only after
//! a click or while a batch runs (the versions page's row actions, signing out, the progress
//! stream, the running batches' details) are split this way, so the first page loads only the
//! WASM it shows (BENCHMARKS.md § f2, f2.1). A `#[lazy]` function runs in a task, outside the
//! caller's reactive owner: pass it what it needs rather than reading the context there, unless
//! it only builds a view that `on_demand` renders. The WASM is only usable split: it imports the
//! loader that `--split` writes (`__wasm_split.*.js`). On the server a `#[lazy]` function is an
//! ordinary async function.

use leptos::prelude::*;
use std::future::Future;

/// Renders the view a `#[lazy]` function returns, once its chunk is there (nothing before: a
/// chunk is a few kB to tens of kB and cached after the first use).
///
/// Only for views that are never part of a server-rendered page (overlays opened on the
/// client), so hydration never meets the placeholder.
#[cfg(feature = "hydrate")]
pub fn on_demand(view: impl Future<Output = AnyView> + 'static) -> impl IntoView {
    // The browser runs the app on one thread; `Suspend` asks for `Send` because the same
    // component also renders on the multi-threaded server.
    let view = send_wrapper::SendWrapper::new(view);
    view! { <Suspense fallback=|| ()>{Suspend::new(view)}</Suspense> }
}

/// The server never renders these views open; the function exists so the components compile
/// for both targets.
#[cfg(not(feature = "hydrate"))]
pub fn on_demand(view: impl Future<Output = AnyView> + Send + 'static) -> impl IntoView {
    view! { <Suspense fallback=|| ()>{Suspend::new(view)}</Suspense> }
}

/// Room for wasm-split to move static data out of the main file. Nothing reads it.
///
/// wasm-split (cargo-leptos 0.3.10, crate `wasm_split_cli_support`, `emit.rs`
/// `DataEmitInfo::new`) gives each data symbol of the linked `.rodata` segment to the module
/// (main or a chunk) that uses it, and lays each module's share out again inside the
/// segment's original address range: in module order, larger alignment first, with padding.
/// When the re-laid segment comes out longer than the original (padding, and bytes two
/// symbols of different modules shared in the linker's output are copied), it could overwrite
/// the segment after it, so wasm-split gives up and puts the *whole* segment — every string
/// table and constant of every page — in the main file ("Overlong segment 0 by 114 after
/// relocation, putting it in main module" for this crate before this array). This array is
/// kept in `.rodata` by `#[used]` but is reached by no function, so no module includes it:
/// the segment it lengthens leaves that much room for the re-laid data, which then goes to
/// the chunks that use it. The array costs no byte in any file (unused data is not emitted)
/// and 8 KiB of address space. Measured in BENCHMARKS.md § f2.1.
#[cfg(feature = "hydrate")]
#[used]
static RODATA_SLACK: [u8; 8192] = [0; 8192];
