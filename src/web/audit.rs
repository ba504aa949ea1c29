//! Security events: one structured line per event (target `security`), written once, where the
//! acting caller is known, with the same fields everywhere: `event`, `actor` (who acted: an
//! account, `(open)` or `(anonymous)`), `target` (what was acted upon: an account, `import 3`,
//! `token 5`, or `-`), `client` (address) and `request.id`.

use std::net::IpAddr;

use super::gate::Caller;

/// A change someone made, or a session begun or ended.
pub fn changed(caller: &Caller, event: &'static str, target: &str) {
    tracing::info!(target: "security", event, actor = caller.account(), target, client = %caller.ip, request.id = %caller.request_id, "security event");
}

/// A refusal or a failure: a bad login, a throttled one, a rejected request.
pub fn refused(event: &'static str, actor: &str, target: &str, ip: IpAddr, request_id: &str) {
    tracing::warn!(target: "security", event, actor, target, client = %ip, request.id = request_id, "security event");
}
