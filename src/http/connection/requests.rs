//! Tells each connection where its requests begin and end, for the head deadline.
//!
//! actix bounds the first request's head (`--client-timeout` from the connection's start),
//! but after an answer its keep-alive timer is cleared by the first byte read, so a client
//! could trickle every later head forever. The rule kept here: a later request's head must be
//! complete within `--client-timeout` of its first byte, and its first byte must come within
//! `--keep-alive` of the previous answer (actix's keep-alive timer). "Complete" means the
//! request reached the application; the next head begins when the answer's body is done.

use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_http::{Request, Response};
use actix_service::{apply_fn_factory, Service, ServiceFactory};
use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::web::Bytes;
use actix_web::HttpMessage as _;

use super::stream::{BodyToCome, ConnState};
use super::Connection;

/// `app`, telling each request's connection when the request arrives and when its answer's
/// body is done. Errors become their responses here, so every answer is tracked.
pub fn track_requests<F>(
    app: F,
) -> impl ServiceFactory<
    Request,
    Config = (),
    Response = Response<Tracked>,
    Error = actix_web::Error,
    InitError = (),
>
where
    F: ServiceFactory<
        Request,
        Config = (),
        Response = actix_web::dev::ServiceResponse<BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
    F::Service: 'static,
{
    apply_fn_factory(app, |request: Request, app: &F::Service| {
        let conn = request.conn_data::<Connection>().map(|c| c.0.clone());
        if let Some(conn) = &conn {
            conn.request_arrived(body_to_come(&request));
        }
        let answer = app.call(request);
        async move {
            let response: Response<BoxBody> = match answer.await {
                Ok(response) => response.into(),
                Err(error) => error.into(),
            };
            Ok(response.map_body(|_, body| Tracked { body, conn }))
        }
    })
}

/// What the dispatcher will read as `request`'s body (as actix decides: chunked wins).
fn body_to_come(request: &Request) -> BodyToCome {
    if request.chunked().unwrap_or(false) {
        return BodyToCome::Chunked;
    }
    let length = request
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    BodyToCome::Length(length)
}

/// An answer's body; when it is dropped (written, or abandoned), its connection starts
/// waiting for the next head.
pub struct Tracked {
    body: BoxBody,
    conn: Option<Rc<ConnState>>,
}

impl MessageBody for Tracked {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some(conn) = &self.conn {
            conn.response_done();
        }
    }
}
