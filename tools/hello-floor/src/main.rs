//! A hello world with the same host choice as the functions (Lambda when AWS_LAMBDA_RUNTIME_API is set, else a
//! local server on PORT) and nothing else: `make bench` compares every function's start-up with this floor.

use axum::Router;
use axum::routing::get;

fn main() {
    let app = Router::new().fallback(get(|| async { "hello" }));
    let lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    let runtime = if lambda {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().enable_all().build()
    }
    .expect("a tokio runtime");
    runtime.block_on(async move {
        if lambda {
            lambda_http::run(app).await.expect("the Lambda runtime runs");
        } else {
            let port = std::env::var("PORT").unwrap_or_else(|_| "8080".into());
            let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await.expect("a free port");
            axum::serve(listener, app).await.expect("the server runs");
        }
    });
}
