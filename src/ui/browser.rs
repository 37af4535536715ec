//! Thin wrappers over the browser APIs the pages need (local storage, downloads, notifications,
//! the clock, files). In the WASM build they call `web-sys`; on the server they do nothing, so
//! components can call them from event handlers and effects without `cfg` noise.

#[cfg(feature = "hydrate")]
mod imp {
    use wasm_bindgen::JsCast;
    use web_sys::js_sys;

    fn storage() -> Option<web_sys::Storage> {
        web_sys::window()?.local_storage().ok().flatten()
    }

    pub fn local_get(key: &str) -> Option<String> {
        storage()?.get_item(key).ok().flatten()
    }

    pub fn local_set(key: &str, value: &str) {
        if let Some(s) = storage() {
            let _ = s.set_item(key, value);
        }
    }

    /// A full page load of `href` (the server then decides: a signed-out visitor meets the
    /// sign-in page).
    pub fn go_to(href: &str) {
        if let Some(w) = web_sys::window() {
            let _ = w.location().set_href(href);
        }
    }

    /// The current path and query, e.g. `/batches/3?page=2`.
    pub fn current_path() -> String {
        web_sys::window()
            .and_then(|w| {
                let l = w.location();
                Some(format!("{}{}", l.pathname().ok()?, l.search().ok()?))
            })
            .unwrap_or_else(|| "/".into())
    }

    pub fn download(filename: &str, mime: &str, content: &str) {
        let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(content));
        let opts = web_sys::BlobPropertyBag::new();
        opts.set_type(mime);
        let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &opts) else {
            return;
        };
        let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
            return;
        };
        let doc = leptos::prelude::document();
        if let Some(a) = doc
            .create_element("a")
            .ok()
            .and_then(|e| e.dyn_into::<web_sys::HtmlAnchorElement>().ok())
        {
            a.set_href(&url);
            a.set_download(filename);
            a.click();
        }
        let _ = web_sys::Url::revoke_object_url(&url);
    }

    pub fn document_hidden() -> bool {
        leptos::prelude::document().hidden()
    }

    pub fn notify(title: &str, body: &str) {
        if web_sys::Notification::permission() != web_sys::NotificationPermission::Granted {
            return;
        }
        let opts = web_sys::NotificationOptions::new();
        opts.set_body(body);
        let _ = web_sys::Notification::new_with_options(title, &opts);
    }

    /// Asks once per browser (remembered in local storage); must be called from a user action.
    pub fn ask_notification_permission_once() {
        const ASKED: &str = "dify-bench.notifications-asked";
        if local_get(ASKED).is_some()
            || web_sys::Notification::permission() != web_sys::NotificationPermission::Default
        {
            return;
        }
        local_set(ASKED, "1");
        if let Ok(promise) = web_sys::Notification::request_permission() {
            leptos::task::spawn_local(async move {
                let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
            });
        }
    }

    pub fn random() -> f64 {
        js_sys::Math::random()
    }

    /// The page's origin, e.g. `http://127.0.0.1:3000` (for links meant to be shared).
    pub fn origin() -> String {
        web_sys::window()
            .and_then(|w| w.location().origin().ok())
            .unwrap_or_default()
    }

    /// Puts `text` on the clipboard (`navigator.clipboard.writeText`, reached by name so no
    /// extra web-sys feature is compiled in); whether the browser took it.
    pub async fn copy_text(text: &str) -> bool {
        use js_sys::{Function, Promise, Reflect};
        use wasm_bindgen::JsValue;
        let Some(window) = web_sys::window() else {
            return false;
        };
        let clipboard = Reflect::get(&window, &JsValue::from_str("navigator"))
            .and_then(|n| Reflect::get(&n, &JsValue::from_str("clipboard")));
        let Ok(clipboard) = clipboard else {
            return false;
        };
        let Ok(write) = Reflect::get(&clipboard, &JsValue::from_str("writeText"))
            .and_then(|f| f.dyn_into::<Function>())
        else {
            return false;
        };
        let Ok(promise) = write
            .call1(&clipboard, &JsValue::from_str(text))
            .and_then(|p| p.dyn_into::<Promise>())
        else {
            return false;
        };
        wasm_bindgen_futures::JsFuture::from(promise).await.is_ok()
    }

    /// `YYYY-MM-DD HH:mm` in the browser's time zone.
    pub fn local_datetime(ms: f64) -> String {
        let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms));
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}",
            d.get_full_year(),
            d.get_month() + 1,
            d.get_date(),
            d.get_hours(),
            d.get_minutes()
        )
    }

    pub fn now_ms() -> f64 {
        js_sys::Date::now()
    }

    /// The text of the first file chosen in an `<input type=file>`.
    pub async fn read_first_file(input: &web_sys::HtmlInputElement) -> Option<(String, String)> {
        let file = input.files()?.get(0)?;
        let text = wasm_bindgen_futures::JsFuture::from(file.text())
            .await
            .ok()?;
        Some((file.name(), text.as_string()?))
    }
}

#[cfg(not(feature = "hydrate"))]
mod imp {
    pub fn local_get(_key: &str) -> Option<String> {
        None
    }
    pub fn local_set(_key: &str, _value: &str) {}
    pub fn go_to(_href: &str) {}
    pub fn current_path() -> String {
        "/".into()
    }
    pub fn download(_filename: &str, _mime: &str, _content: &str) {}
    pub fn document_hidden() -> bool {
        false
    }
    pub fn notify(_title: &str, _body: &str) {}
    pub fn ask_notification_permission_once() {}
    pub fn random() -> f64 {
        0.5
    }
    pub fn origin() -> String {
        String::new()
    }
    pub async fn copy_text(_text: &str) -> bool {
        false
    }
    pub fn local_datetime(ms: f64) -> String {
        super::super::format::utc_datetime(ms as i64)
    }
    pub fn now_ms() -> f64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as f64)
            .unwrap_or(0.0)
    }
}

pub use imp::*;
