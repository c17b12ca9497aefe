//! `Endpoint::parse` and `Subscription::parse`: never panic; an accepted endpoint is http(s)
//! with a host, no credentials, and re-parses to itself.
#![no_main]
use herald_push::subscription::{Endpoint, Subscription, MAX_ENDPOINT_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(endpoint) = Endpoint::parse(text) {
        assert!(text.len() <= MAX_ENDPOINT_LEN);
        let url = endpoint.url();
        assert!(url.scheme() == "https" || url.scheme() == "http");
        assert!(url.host_str().is_some_and(|h| !h.is_empty()));
        assert!(url.username().is_empty() && url.password().is_none());
        assert!(endpoint.origin().starts_with(url.scheme()));
        // What is stored is the normalised form; it must parse again to the same endpoint
        // (the delivery engine re-parses stored endpoints).
        if endpoint.as_str().len() <= MAX_ENDPOINT_LEN {
            assert_eq!(Endpoint::parse(endpoint.as_str()).unwrap(), endpoint);
        }
    }
    // The three fields of PushSubscription.toJSON(), split at the first two newlines.
    let mut parts = text.splitn(3, '\n');
    if let (Some(e), Some(k), Some(a)) = (parts.next(), parts.next(), parts.next()) {
        let _ = Subscription::parse(e, k, a);
    }
});
