//! Who may reach which route: the one table access is decided by.
//!
//! Every server function is listed by name with the least role it needs; a name missing from the
//! list needs `admin` (fail closed) and the route-walk tests fail until it is listed. Pages need a
//! viewer, the admin page an admin; the login and setup pages, health checks and the compiled
//! front end (`/pkg/…`) are public.

use crate::model::Role;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// A session or token with at least this role.
    Role(Role),
}

use Access::Public;
const VIEWER: Access = Access::Role(Role::Viewer);
const EDITOR: Access = Access::Role(Role::Editor);
const ADMIN: Access = Access::Role(Role::Admin);

/// Every server function (`POST /api/<name>`) and what it needs.
pub const SERVER_FNS: &[(&str, Access)] = &[
    // Accounts: signing in and out, first-run setup, who am I.
    ("login", Public),
    ("logout", Public),
    ("current_user", Public),
    ("setup_admin", Public),
    ("link_sign_in", Public),
    // Reading.
    ("list_versions", VIEWER),
    ("latest_version_results", VIEWER),
    ("list_cases", VIEWER),
    ("export_cases", VIEWER),
    ("get_batch", VIEWER),
    ("list_batches", VIEWER),
    ("batch_history", VIEWER),
    ("dashboard", VIEWER),
    ("running_batches", VIEWER),
    ("batch_page", VIEWER),
    ("batch_result", VIEWER),
    ("batch_result_repeats", VIEWER),
    ("batch_case", VIEWER),
    ("batch_results", VIEWER),
    ("batch_identity", VIEWER),
    ("batch_timeline", VIEWER),
    ("compare_runs", VIEWER),
    ("compare_case", VIEWER),
    ("list_judges", VIEWER),
    ("judge_calibration", VIEWER),
    ("get_review", VIEWER),
    ("review_queue", VIEWER),
    ("case_revisions", VIEWER),
    // The test set and running it.
    ("save_case", EDITOR),
    ("set_case_enabled", EDITOR),
    ("delete_case", EDITOR),
    ("import_cases", EDITOR),
    // Reads a version's app with its stored key (server side) for the case form's input fields.
    ("version_input_form", EDITOR),
    ("start_batch", EDITOR),
    ("cancel_batch", EDITOR),
    ("rerun_failed", EDITOR),
    // Deleting a finished batch removes its results, as deleting a case removes the case.
    ("delete_batch", EDITOR),
    // Human review writes verdicts beside results, and may change a case's expected answer.
    ("set_review", EDITOR),
    ("promote_answer", EDITOR),
    // Versions hold the Dify keys; accounts hold everyone's access.
    ("save_version", ADMIN),
    ("set_version_enabled", ADMIN),
    ("delete_version", ADMIN),
    ("test_connection", ADMIN),
    // Judges hold keys too.
    ("save_judge", ADMIN),
    ("delete_judge", ADMIN),
    ("test_judge", ADMIN),
    // Webhooks hold signing secrets and aim the server at addresses.
    ("list_webhooks", ADMIN),
    ("save_webhook", ADMIN),
    ("delete_webhook", ADMIN),
    ("test_webhook", ADMIN),
    ("webhook_deliveries", ADMIN),
    ("list_users", ADMIN),
    ("create_user", ADMIN),
    ("set_user_role", ADMIN),
    ("set_user_password", ADMIN),
    ("delete_user", ADMIN),
    ("list_tokens", ADMIN),
    ("create_token", ADMIN),
    ("revoke_token", ADMIN),
];

/// Every page route (as the router spells it) and what it needs.
pub const PAGES: &[(&str, Access)] = &[
    ("/", VIEWER),
    ("/cases", VIEWER),
    ("/batches", VIEWER),
    ("/batches/:id", VIEWER),
    ("/compare", VIEWER),
    ("/dashboard", VIEWER),
    ("/admin", ADMIN),
    ("/judges/:id", VIEWER),
    ("/login", Public),
    ("/setup", Public),
];

/// The routes that are neither pages nor server functions.
pub const OTHER: &[(&str, Access)] = &[
    ("/healthz", Public),
    ("/readyz", Public),
    ("/pkg/*", Public),
    ("/metrics", VIEWER),
    ("/api/batches/:id/progress", VIEWER),
    ("/api/batches/:id/results.csv", VIEWER),
    ("/api/batches/:id/results.json", VIEWER),
    ("/api/batches/:id/results.junit.xml", VIEWER),
    ("/api/compare/cases.csv", VIEWER),
    ("/api/compare/cases.json", VIEWER),
];

/// What a request path needs.
pub fn access(path: &str) -> Access {
    if path == "/healthz" || path == "/readyz" || path.starts_with("/pkg/") {
        return Public;
    }
    if let Some(rest) = path.strip_prefix("/api/") {
        if let Some(name) = rest.strip_suffix('/').or(Some(rest)) {
            if !name.contains('/') {
                return SERVER_FNS
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map_or(ADMIN, |(_, a)| *a);
            }
        }
        // The progress stream and the exports are reads; anything else under /api/ is an
        // unknown route (404 to a viewer; nothing to protect, nothing to reveal).
        return VIEWER;
    }
    let page = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    match page {
        "/login" | "/setup" => Public,
        "/admin" => ADMIN,
        // Every other page, the 404 page included, needs a viewer.
        _ => VIEWER,
    }
}

/// Whether a request path is a page (a browser without credentials is sent to sign in) rather
/// than an API route (which answers 401 with a JSON body).
pub fn is_page(path: &str) -> bool {
    !(path.starts_with("/api/")
        || path.starts_with("/pkg/")
        || path == "/healthz"
        || path == "/readyz"
        || path == "/metrics")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_decides_and_unknown_functions_fail_closed() {
        assert_eq!(access("/api/login"), Public);
        assert_eq!(access("/api/list_versions"), VIEWER);
        assert_eq!(access("/api/start_batch"), EDITOR);
        assert_eq!(access("/api/save_version"), ADMIN);
        assert_eq!(access("/api/some_new_function"), ADMIN);
        assert_eq!(access("/api/batches/7/progress"), VIEWER);
        assert_eq!(access("/api/batches/7/results.csv"), VIEWER);
        assert_eq!(access("/healthz"), Public);
        assert_eq!(access("/metrics"), VIEWER);
        assert_eq!(access("/pkg/dify-bench.wasm"), Public);
        assert_eq!(access("/"), VIEWER);
        assert_eq!(access("/batches/3"), VIEWER);
        assert_eq!(access("/dashboard"), VIEWER);
        assert_eq!(access("/api/delete_batch"), EDITOR);
        assert_eq!(access("/api/batch_timeline"), VIEWER);
        assert_eq!(access("/admin"), ADMIN);
        assert_eq!(access("/admin/"), ADMIN);
        assert_eq!(access("/login"), Public);
        assert_eq!(access("/no-such-page"), VIEWER);
    }

    #[test]
    fn every_page_and_route_in_the_tables_is_classified_as_listed() {
        for (path, want) in PAGES.iter().chain(OTHER) {
            let concrete = path.replace(":id", "1").replace('*', "x.js");
            assert_eq!(access(&concrete), *want, "{path}");
        }
        for (name, want) in SERVER_FNS {
            assert_eq!(access(&format!("/api/{name}")), *want, "{name}");
        }
    }

    #[test]
    fn pages_are_told_from_api_routes() {
        assert!(is_page("/"));
        assert!(is_page("/batches/1"));
        assert!(!is_page("/api/list_cases"));
        assert!(!is_page("/pkg/x.js"));
        assert!(
            !is_page("/metrics"),
            "a scraper is told 401, not sent to sign in"
        );
    }
}
