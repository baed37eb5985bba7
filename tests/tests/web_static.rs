//! The web front end as served by a real `boxoffice dev` over HTTP (web/README.md, "What the
//! server must serve").

mod support;

use support::api::Api;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_front_end_is_served_with_its_types_caching_and_policy() {
    let api = Api::start().await;
    let index = api.http.get(format!("{}/", api.base)).send().await.unwrap();
    assert_eq!(index.status(), 200);
    let headers = index.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-cache");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    assert!(csp.contains("connect-src 'self'") && csp.contains("worker-src 'self'"));
    let etag = headers["etag"].clone();
    assert!(index.text().await.unwrap().contains("/assets/js/main.js"));

    let again = api
        .http
        .get(format!("{}/", api.base))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    for (path, mime) in [
        ("/assets/js/main.js", "text/javascript; charset=utf-8"),
        ("/assets/js/views/show.js", "text/javascript; charset=utf-8"),
        ("/assets/app.css", "text/css; charset=utf-8"),
    ] {
        let asset = api
            .http
            .get(format!("{}{path}", api.base))
            .send()
            .await
            .unwrap();
        assert_eq!(asset.status(), 200, "{path}");
        assert_eq!(asset.headers()["content-type"], mime, "{path}");
        assert_eq!(asset.headers()["cache-control"], "no-cache", "{path}");
    }
    for missing in [
        "/assets/nope.js",
        "/assets/../Cargo.toml",
        "/index.html",
        "/README.md",
    ] {
        let answer = api.get(missing, None).await;
        assert_eq!(answer.status.as_u16(), 404, "{missing}");
    }
}
